"""Run one command and print its wall time and peak memory: `measure.py COMMAND...`.

Peak memory is the larger of two figures: the largest single process (exact, from the kernel's
ru_maxrss of waited-for children) and the largest sum over the whole process tree, sampled every
50 ms from /proc, of each process's proportional set size (PSS: its own pages, plus its share of
pages it shares with others, so that forked processes are charged for what they really add).
Sampling more often would take a core's time from what it measures.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


def children_of() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        tree.setdefault(ppid, []).append(int(name))
    return tree


def memory_of(pid: int) -> int:
    """Bytes of PSS (or of resident memory, where smaps_rollup is not readable)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:
        return 0


def tree_memory(root: int) -> int:
    tree = children_of()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(tree.get(pid, []))
        total += memory_of(pid)
    return total


def main() -> int:
    peak = 0
    started = time.perf_counter()
    proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_memory(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    single = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(seconds, max(peak, single) / 2**20)
    return code


if __name__ == "__main__":
    sys.exit(main())
