"""HTTP load from wrk, a C client (Debian's package), with bench/load.lua.

A client written in Python tops out near 1,000 requests/s on the benchmark's machine, so the
baseline (/healthz) measured the client more than the server and every ratio looked better than
it is. wrk runs with 2 threads and 8 connections; each run prints its latency histogram (see
load.lua), so that the slices of a subject merge into exact percentiles.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "load.lua"
THREADS = 2
CONNECTIONS = 8


def ensure_wrk() -> str:
    """wrk's path; installed with apt-get when missing and running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("The HTTP benchmark needs wrk, a C load generator: "
                         "`sudo apt-get install -y wrk` (Debian's package), then run again; "
                         "or leave the HTTP section out with --only csv or --only pdf.")
    print("wrk is not installed: apt-get install -y wrk", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, env=env, check=False).returncode:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=False)
        subprocess.run(install, env=env, check=False)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("apt-get could not install wrk: the HTTP benchmark needs it.")
    return found


@dataclass
class Load:
    """What wrk measured for one subject, over all its slices."""

    seconds: float = 0.0
    requests: int = 0  # answers read
    sent: int = 0  # requests begun (counted by load.lua when it builds them)
    socket_errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)  # when load.lua counted them
    over_399: int = 0  # wrk's "Non-2xx or 3xx responses" (it counts status > 399)
    latency: Counter[int] = field(default_factory=Counter)  # microseconds -> count

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        """The p-th percentile latency in milliseconds, ranked as wrk ranks it."""
        total = sum(self.latency.values())
        if not total:
            return float("nan")
        rank = max(round(p / 100 * total + 0.5), 1)
        seen = 0
        for value in sorted(self.latency):
            seen += self.latency[value]
            if seen >= rank:
                return value / 1000
        return max(self.latency) / 1000

    def add(self, other: Load) -> None:
        self.seconds += other.seconds
        self.requests += other.requests
        self.sent += other.sent
        self.socket_errors += other.socket_errors
        self.statuses.update(other.statuses)
        self.over_399 += other.over_399
        self.latency.update(other.latency)


NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")


def parse(output: str) -> Load:
    """A Load from wrk's output: the JSON line of load.lua's done(), checked against wrk's own
    "Non-2xx or 3xx responses" line (absent when there were none)."""
    line = next((x for x in output.splitlines() if x.startswith("bench-json ")), None)
    if line is None:
        raise SystemExit("wrk printed no results:\n" + output[-2000:])
    data = json.loads(line.removeprefix("bench-json "))
    errors = data["errors"]
    printed = NON_2XX.search(output)
    over_399 = int(printed.group(1)) if printed else 0
    assert over_399 == errors["status"], (over_399, errors)
    return Load(
        seconds=data["duration"] / 1e6, requests=data["requests"], sent=data["sent"],
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        statuses=Counter({int(k): v for k, v in data["statuses"].items()}), over_399=over_399,
        latency=Counter({value: count for value, count in data["latency"]}),
    )


def lua_string(text: str) -> str:
    if not re.fullmatch(r"[\x20-\x7e]*", text) or '"' in text or "\\" in text:
        raise ValueError(f"not a plain ASCII string for Lua: {text!r}")
    return f'"{text}"'


def sign_script(path: str, sessions: list[tuple[str, str]], forms: list[str], run: str) -> str:
    """load.lua with a header that makes it sign: `sessions` are (Cookie header, URL-encoded
    CSRF token) pairs, one per wrk thread; `forms` URL-encoded bodies without token and email."""
    lines = [f"path = {lua_string(path)}", f"run = {lua_string(run)}", "sessions = {"]
    lines += [f"  {{cookie = {lua_string(c)}, token = {lua_string(t)}}}," for c, t in sessions]
    lines += ["}", "forms = {"]
    lines += [f"  {lua_string(form)}," for form in forms]
    lines += ["}", ""]
    return "\n".join(lines) + SCRIPT.read_text()


class Wrk:
    """Runs wrk against one server: `wrk -t2 -c8 -d<s> --latency -s load.lua <url>`."""

    def __init__(self, port: int) -> None:
        self.binary = ensure_wrk()
        self.base = f"http://127.0.0.1:{port}"
        # wrk's Lua finds modules in the working directory first: run it in an empty one.
        self.folder = Path(tempfile.mkdtemp(prefix="campaign-wrk-"))

    def run(self, path: str, seconds: int, script: str | None = None) -> Load:
        script_path = SCRIPT
        if script is not None:
            script_path = self.folder / f"sign-{os.urandom(4).hex()}.lua"
            script_path.write_text(script)
        command = [self.binary, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
                   "--timeout", "10s", "-s", str(script_path), self.base + path]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.folder,
                              timeout=seconds + 120, check=False)
        if done.returncode:
            raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        if done.stderr.strip():  # a Lua error does not stop wrk: it only says so here
            raise SystemExit(f"wrk: {done.stderr.strip()[-2000:]}")
        return parse(done.stdout)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
