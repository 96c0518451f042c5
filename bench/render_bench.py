"""The render section of the benchmark: renders as the worker does them, beside a live server.

gunicorn (2 workers) and `campaign worker` (its default interval) run on one database, with a
letter of 1,000 and one of 10,000 approved signatories (10,000 only without --quick):
- **An approval to a fresh PDF**: one signatory in the middle of the list is approved (the
  UPDATE a moderator's approval makes, whose trigger queues the refresh), and the clock runs
  until the worker has kept a PDF that lists it; the same again after the kept parts are
  deleted (a full render); 3 times each, taken in turn, the median of each counting.
- **The PDF address under load while a render runs**: wrk loads `/healthz`, `/letters/<slug>.pdf`
  of the largest letter and sign submissions in turn, first with no render running, then while
  the letter is rendered again and again (its parts deleted and a signatory approved or taken
  back whenever no render of it waits or runs); p90 against `/healthz`'s p90, and signing's rate
  against `/healthz`'s, as in the HTTP section.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from harness import BIN, Server, request, seed_signatories
from loadgen import THREADS, Load, Wrk, sign_script

Row = tuple[str, ...]
SPARE = 8  # signatories per letter set aside, not approved, for the approvals measured


def bench_render(database: str, url: str, folder: Path, quick: bool) -> list[Row]:
    from run import session, sign_forms

    sizes = (1_000,) if quick else (1_000, 10_000)
    rounds, seconds = (2, 3) if quick else (3, 5)
    server = Server(url, folder)
    server.cli("init-db")
    slugs = {n: server.add_letter(f"render-{n}") for n in sizes}
    for n in sizes:
        seed_signatories(server, slugs[n], n + SPARE, seed=n)
    ids = {n: letter_id(server, slugs[n]) for n in sizes}
    spare = {n: set_aside(server, ids[n], n) for n in sizes}
    server.start()
    work = start_worker(server)
    wrk = Wrk(server.port)
    rows: list[Row] = []
    try:
        for n in sizes:
            wait_for_pdf(server, ids[n], n, 900)
        for n in sizes:
            timings: dict[str, list[float]] = {"kept": [], "full": []}
            for turn in range(3):
                for mode in timings:
                    if mode == "full":
                        server.sql("DELETE FROM pdf_part")
                    sid = spare[n][turn * 2 + (mode == "full")]
                    timings[mode].append(approve_and_wait(server, ids[n], sid, n))
            kept, full = statistics.median(timings["kept"]), statistics.median(timings["full"])
            rows.append((database, f"approval to a fresh PDF, {n:,} signatories (worker, parts "
                         "kept)", f"{kept:.2f} s", "", "", "", "0",
                         f"{kept / full:.2f} of the time with no parts kept ({full:.2f} s)"))

        largest = max(sizes)
        slug = slugs[largest]
        status, body, _ = request(server.port, "GET", f"/letters/{slug}.pdf")
        assert status == 200 and body.startswith(b"%PDF"), status
        sessions = [session(server.port, slug) for _ in range(THREADS)]
        forms = sign_forms()
        for rendering in (False, True):
            keeper = Rerender(server, ids[largest], spare[largest][-2:])
            if rendering:
                keeper.start()
            try:
                loads = under_load(server, wrk, slug, sessions, forms, rounds, seconds,
                                   f"{database}, {'while renders run' if rendering else 'quiet'}")
            finally:
                keeper.stop()
            when = f"while renders run ({keeper.renders} begun)" if rendering else \
                "no render running"
            rows += load_rows(database, f"{largest:,} signatories, {when}", loads)
    finally:
        wrk.close()
        work.terminate()
        work.wait(30)
        server.stop()
    return rows


def under_load(server: Server, wrk: Wrk, slug: str, sessions: list[tuple[str, str]],
               forms: list[str], rounds: int, seconds: int, what: str) -> dict[str, Any]:
    """/healthz, the PDF address and sign submissions loaded by wrk in turn; with the signatures
    and emails the submissions stored."""
    from run import signed_and_queued

    loads = {name: Load() for name in ("healthz", "pdf", "sign")}
    signed_before, queued_before = signed_and_queued(server)
    for turn in range(rounds):
        print(f"{what}: round {turn + 1} of {rounds}", flush=True)
        loads["healthz"].add(wrk.run("/healthz", seconds))
        loads["pdf"].add(wrk.run(f"/letters/{slug}.pdf", seconds))
        script = sign_script(f"/letters/{slug}", sessions, forms, os.urandom(4).hex())
        loads["sign"].add(wrk.run(f"/letters/{slug}", seconds, script))
    stored, queued = signed_and_queued(server)
    return {**loads, "stored": stored - signed_before, "queued": queued - queued_before}


def load_rows(database: str, what: str, loads: dict[str, Any]) -> list[Row]:
    from run import figures

    base, pdf, sign = loads["healthz"], loads["pdf"], loads["sign"]
    stored, queued = loads["stored"], loads["queued"]
    signed = sign.statuses[303]
    unanswered = sign.sent - sign.requests
    errors = (sign.requests - signed) + sign.socket_errors + max(signed - stored, 0) \
        + max(stored - (signed + unanswered), 0) + abs(stored - queued)
    return [
        (database, f"/healthz (baseline), {what}", *figures(base),
         str(base.over_399 + base.socket_errors), "baseline"),
        (database, f"PDF address, {what}", *figures(pdf), str(pdf.over_399 + pdf.socket_errors),
         f"p90 = {pdf.pct(90) / base.pct(90):.2f}x /healthz's p90"),
        (database, f"sign submissions, {what}", f"{signed / sign.seconds:.0f}/s",
         *figures(sign)[1:], str(errors),
         f"{signed / sign.seconds / base.rate:.2f} of /healthz's rate"),
    ]


def letter_id(server: Server, slug: str) -> int:
    [(found,)] = server.sql(f"SELECT id FROM letter WHERE slug = '{slug}'")
    return int(found)  # type: ignore[call-overload]


def set_aside(server: Server, letter: int, listed: int) -> list[int]:
    """SPARE signatories spread through the list, made pending (waiting for approval), so that
    `listed` are listed; their ids, in the order they will be approved."""
    rows = server.sql(f"SELECT id FROM signature WHERE letter_id = {letter} ORDER BY sort_key")
    step = len(rows) // (SPARE + 1)
    ids = [int(rows[step * (k + 1)][0]) for k in range(SPARE)]  # type: ignore[call-overload]
    server.sql(f"UPDATE signature SET status = 'pending' WHERE id IN ({','.join(map(str, ids))})")
    assert listed_now(server, letter) == listed
    return ids


def listed_now(server: Server, letter: int) -> int:
    [(count,)] = server.sql(f"SELECT sum(listed) FROM listed_count WHERE letter_id = {letter}")
    return int(count or 0)  # type: ignore[call-overload]


def start_worker(server: Server) -> subprocess.Popen[bytes]:
    log = open(server.folder / "worker.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([str(BIN / "campaign"), "worker"], env=server.env, stdout=log,
                            stderr=subprocess.STDOUT)


def kept_count(server: Server, letter: int) -> int:
    rows = server.sql(f"SELECT signatory_count FROM pdf_file WHERE letter_id = {letter} "
                      "AND kind = 'signed'")
    return int(rows[0][0]) if rows else -1  # type: ignore[call-overload]


def wait_for_pdf(server: Server, letter: int, count: int, seconds: float) -> float:
    """Seconds until the worker keeps a PDF of the letter listing `count` signatories."""
    started = time.monotonic()
    while kept_count(server, letter) != count:
        if time.monotonic() - started > seconds:
            raise SystemExit(f"no PDF of {count} signatories after {seconds} s: see "
                             f"{server.folder / 'worker.log'}")
        time.sleep(0.02)
    return time.monotonic() - started


def approve_and_wait(server: Server, letter: int, signature: int, listed: int) -> float:
    """Approve a signatory, and the seconds until a PDF lists it; then take the approval back
    and wait for that PDF too, so that the next measure starts from a quiet worker."""
    server.sql(f"UPDATE signature SET status = 'approved' WHERE id = {signature}")
    took = wait_for_pdf(server, letter, listed + 1, 600)
    server.sql(f"UPDATE signature SET status = 'pending' WHERE id = {signature}")
    wait_for_pdf(server, letter, listed, 600)
    return took


class Rerender(threading.Thread):
    """Keeps the worker rendering the letter's PDF from scratch: whenever no render of it waits
    or runs, its parts are deleted and a signatory approved or taken back."""

    def __init__(self, server: Server, letter: int, signatures: list[int]) -> None:
        super().__init__(daemon=True)
        self.server, self.letter, self.signatures = server, letter, signatures
        self.stopping = threading.Event()
        self.renders = 0

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            [(busy,)] = self.server.sql(
                f"SELECT count(*) FROM render_job WHERE letter_id = {self.letter} "
                "AND status IN ('queued', 'working')")
            if not busy:
                signature = self.signatures[n % 2]
                status = "approved" if n % 4 < 2 else "pending"
                self.server.sql("DELETE FROM pdf_part")
                self.server.sql(f"UPDATE signature SET status = '{status}' "
                                f"WHERE id = {signature}")
                self.renders += 1
                n += 1
            time.sleep(0.05)

    def stop(self) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(60)
