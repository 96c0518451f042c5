"""The PDF section of the benchmark: the signed letter at 100, 1,000 and 10,000 signatories.

For each size, in the same run and on the same names:
- the naive baseline (naive_pdf.py: one WeasyPrint pass, CSS columns): seconds and peak memory;
- the app's full render (`campaign export-pdf`, a fresh process as a deploy script would run it,
  with no parts kept): seconds and peak memory of the whole process tree, its renderers included.
Each is run 3 times (2 at 10,000), the two taken in turn, and the best time of each counts (the
highest peak memory): the machine's neighbours come and go, and the best run is the one they
disturbed least.
Then what each step of the full render gains, at the largest size (pdf_steps.py).
Then, at 1,000 and 10,000, the incremental render (incremental_pdf.py, a process of its own):
a full render with an empty parts store, one more signatory approved in the middle of the list,
and a render again with the same store, its time against the first's; with a child process
started for each render, and with the renderer kept started ahead, as the worker keeps it.
Then over HTTP (gunicorn, 2 workers), once `campaign worker --once` has rendered the PDFs: the
first request (read from the database) and the same PDF asked for again (the median of 5).
"""
from __future__ import annotations

import io
import json
import statistics
import sys
import time
from pathlib import Path

from harness import Server, measured, request, seed_signatories

HERE = Path(__file__).resolve().parent
Row = tuple[str, ...]


def page_count(data: bytes) -> int:
    import pypdf

    return len(pypdf.PdfReader(io.BytesIO(data)).pages)


def bench_pdf(folder: Path, quick: bool) -> list[Row]:
    sizes = (100, 1_000) if quick else (100, 1_000, 10_000)
    server = Server(f"sqlite:///{folder / 'pdf.sqlite3'}", folder / "served")
    server.cli("init-db")
    slugs = {n: server.add_letter(f"pdf-{n}") for n in sizes}
    for n in sizes:
        seed_signatories(server, slugs[n], n, seed=n)

    # The command line renders in instance folders of its own, so that its cache is not the
    # server's (the server's first request must render too) and no attempt finds another's.
    rows: list[Row] = []
    times: dict[int, float] = {}
    for n in sizes:
        listing = folder / f"signers-{n}.csv"
        server.cli("export-csv", slugs[n], "-o", str(listing))
        naive_pdf, ours_pdf = folder / f"naive-{n}.pdf", folder / f"ours-{n}.pdf"
        naives, ourses = [], []
        for attempt in range(2 if n >= 10_000 else 3):  # taken in turn; the best of each counts
            naives.append(measured([sys.executable, str(HERE / "naive_pdf.py"), str(listing),
                                    str(naive_pdf)], server.env))
            fresh = {**server.env, "CAMPAIGN_INSTANCE_PATH": str(folder / f"cli-{n}-{attempt}")}
            ourses.append(measured([server.campaign, "export-pdf", slugs[n], "-o",
                                    str(ours_pdf)], fresh))
        naive = (min(t for t, _ in naives), max(m for _, m in naives))
        ours = (min(t for t, _ in ourses), max(m for _, m in ourses))
        times[n] = ours[0]
        pages = page_count(ours_pdf.read_bytes())
        rows.append(("sqlite", f"signed letter PDF, {n:,} signatories ({pages} pages)",
                     f"{ours[0]:.2f} s, peak {ours[1]:.0f} MB", "", "", "", "0",
                     f"{ours[0] / naive[0]:.2f} of the naive render's time "
                     f"({naive[0]:.2f} s, peak {naive[1]:.0f} MB)"))
    if 10_000 in times:
        rows.append(("sqlite", "PDF render time, 10,000 against 1,000 signatories",
                     f"{times[10_000] / times[1_000]:.1f}x", "", "", "", "", "linear: 10x"))
    rows += steps(server, folder, slugs[max(sizes)], max(sizes))
    for n in sizes:
        if n >= 1_000:
            rows += incremental(server, folder, slugs[n], n)

    server.cli("worker", "--once")  # the web never renders: the worker makes the PDFs first
    server.start()
    try:
        for n in sizes:
            path = f"/letters/{slugs[n]}.pdf"
            t0 = time.perf_counter()
            status, body, _ = request(server.port, "GET", path)
            first = time.perf_counter() - t0
            assert status == 200 and body.startswith(b"%PDF"), status
            again = []
            for _ in range(5):
                t0 = time.perf_counter()
                status, body_again, _ = request(server.port, "GET", path)
                again.append(time.perf_counter() - t0)
                assert status == 200 and body_again == body
            second = statistics.median(again)
            size = f"{len(body) // 1024} kB"
            rows.append(("sqlite", f"PDF over HTTP, {n:,} signatories ({size})",
                         f"{second * 1000:.1f} ms", "", "", "", "0",
                         f"{first / second:.0f}x faster than its first request, read from the "
                         f"database ({first * 1000:.1f} ms)"))
    finally:
        server.stop()
    return rows


def steps(server: Server, folder: Path, slug: str, n: int) -> list[Row]:
    """What each step of the full render gains (pdf_steps.py), each step's time against the
    step before it."""
    result = folder / "steps.json"
    measured([sys.executable, str(HERE / "pdf_steps.py"), slug, str(result)], server.env)
    seconds: dict[str, float] = json.loads(result.read_text())
    rows: list[Row] = []
    before: tuple[str, float] | None = None
    for name, took in seconds.items():
        against = "" if before is None else f"{took / before[1]:.2f} of the step before"
        rows.append(("sqlite", f"full render step at {n:,}: {name}", f"{took:.2f} s", "", "",
                     "", "0", against))
        before = (name, took)
    return rows


def incremental(server: Server, folder: Path, slug: str, n: int) -> list[Row]:
    """The incremental render's rows at one size: cold (a child started for each render) and
    warm (kept started ahead), each run in turn, 3 times (2 at 10,000), the best of each time
    counting."""
    runs: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    for _ in range(2 if n >= 10_000 else 3):
        for mode in runs:
            result = folder / f"incremental-{n}-{mode}.json"
            _, peak = measured([sys.executable, str(HERE / "incremental_pdf.py"), slug,
                                str(result)] + (["--warm"] if mode == "warm" else []),
                               server.env)
            runs[mode].append({**json.loads(result.read_text()), "peak": peak})
    rows: list[Row] = []
    for mode, done in runs.items():
        first, second = min(r["first"] for r in done), min(r["second"] for r in done)
        last = done[-1]
        how = "a child started for each render" if mode == "cold" else "the renderer kept warm"
        rows.append(("sqlite", f"PDF after one more approval, {n:,} signatories ({how})",
                     f"{second:.2f} s, {last['reused']:.0f} of {last['parts']:.0f} parts kept, "
                     f"peak {max(r['peak'] for r in done):.0f} MB", "", "", "", "0",
                     f"{second / first:.2f} of a full render's time ({first:.2f} s, no parts "
                     f"kept)"))
    return rows
