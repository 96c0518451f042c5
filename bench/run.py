"""Campaign benchmark: every figure is a ratio against a baseline measured in the same run.

    .venv/bin/python bench/run.py            # full run (a few minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # small sizes only
    .venv/bin/python bench/run.py --only http --no-postgres   # one section, SQLite only

It sets everything up itself: a temp instance folder and database (SQLite, and PostgreSQL when
Debian's server binaries are present), generated signatories with realistic names (accents, long
names), gunicorn with 2 workers on loopback. Nothing leaves the machine; all it makes is deleted.
HTTP load comes from wrk (Debian's package, a C client; installed with apt-get when missing and
run as root), 2 threads and 8 connections, as loadgen.py and load.lua say.
"""
from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import shutil
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from harness import PLACES, ROOT, SCOPES, Server, measured, org_name, request, seed_signatories
from loadgen import THREADS, Load, Wrk, ensure_wrk, sign_script

sys.path.insert(0, str(ROOT / "tests"))

Row = tuple[str, ...]
PAGE_SIZE = 200  # signatories on a page of the public list


def session(port: int, slug: str) -> tuple[str, str]:
    """A browser's session for signing: the Cookie header the letter page sets and the page's
    CSRF token (URL-encoded); Flask-WTF accepts the token only with the cookie that goes with it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", f"/letters/{slug}")
        response = conn.getresponse()
        body = response.read()
        cookies = [c.split(";")[0].strip() for c in response.headers.get_all("Set-Cookie") or []]
    finally:
        conn.close()
    token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', body)
    assert response.status == 200 and token and cookies, "no session or CSRF token on the page"
    return "; ".join(cookies), urllib.parse.quote_plus(token.group(1).decode())


def sign_forms(count: int = 200) -> list[str]:
    """URL-encoded sign forms, without the CSRF token and the email, which load.lua adds."""
    rng = random.Random(11)
    forms = []
    for n in range(count):
        city, region = rng.choice(PLACES)
        forms.append(urllib.parse.urlencode({
            "organization": org_name(rng, n), "contact_name": "María Pérez", "city": city,
            "region": region, "country": "United States", "scope": rng.choice(SCOPES),
            "consent": "y", "authorized": "y", "leave_empty": ""}))
    return forms


def bench_http(database: str, url: str, folder: Path, quick: bool) -> list[Row]:
    """At `listed` approved signatories: /healthz (the baseline), the letter page (also in
    Spanish, ?lang=es: the interface's translations, and a page kept per language), the public
    list (first page, the middle page, the JSON's first page) and sign submissions, each loaded
    by wrk in slices taken in turn, so that the baseline and each subject share the moments of a
    shared, noisy machine; the ratios are taken within the run."""
    listed = 1_000 if quick else 10_000
    rounds, seconds = (2, 3) if quick else (4, 5)
    server = Server(url, folder)
    server.cli("init-db")
    slug = server.add_letter("bench-letter")
    seed_signatories(server, slug, listed)
    server.start()
    wrk = Wrk(server.port)
    rows: list[Row] = []
    try:
        middle = max((listed + PAGE_SIZE - 1) // PAGE_SIZE // 2, 1)
        pages = {
            "healthz": ("/healthz", "/healthz (baseline)"),
            "letter": (f"/letters/{slug}", "letter page"),
            "letter_es": (f"/letters/{slug}?lang=es", "letter page in Spanish (?lang=es)"),
            "first": (f"/letters/{slug}/signers", "signer list, first page"),
            "middle": (f"/letters/{slug}/signers?page={middle}", f"signer list, page {middle}"),
            "json": (f"/letters/{slug}/signers.json", "signer list JSON, first page"),
        }
        for path, _ in pages.values():  # each answers, before it is measured
            status, body, _ = request(server.port, "GET", path)
            assert status == 200 and body, (path, status)
        sessions = [session(server.port, slug) for _ in range(THREADS)]
        forms = sign_forms()
        loads = {name: Load() for name in [*pages, "sign"]}
        for turn in range(rounds):
            print(f"{database}: round {turn + 1} of {rounds} ({len(loads)} slices of {seconds} s)",
                  flush=True)
            for name, (path, _) in pages.items():
                loads[name].add(wrk.run(path, seconds))
            script = sign_script(f"/letters/{slug}", sessions, forms, os.urandom(4).hex())
            loads["sign"].add(wrk.run(f"/letters/{slug}", seconds, script))

        base = loads["healthz"]
        rows.append((database, f"{pages['healthz'][1]}, {listed:,} listed", *figures(base),
                     str(base.over_399 + base.socket_errors), "baseline"))
        for name in ("letter", "letter_es", "first", "middle", "json"):
            load = loads[name]
            rows.append((database, f"{pages[name][1]}, {listed:,} listed", *figures(load),
                         str(load.over_399 + load.socket_errors),
                         f"p90 = {load.pct(90) / base.pct(90):.2f}x /healthz's p90"))

        # Every 303 must be a stored signature with its queued email. wrk stops with requests
        # in flight, whose answers it never reads; the server may have stored them or not.
        sign = loads["sign"]
        signed = sign.statuses[303]
        unanswered = sign.sent - sign.requests
        stored, queued = signed_and_queued(server)
        errors = (sign.requests - signed) + sign.socket_errors + max(signed - stored, 0) \
            + max(stored - (signed + unanswered), 0) + abs(stored - queued)
        rate = signed / sign.seconds
        rows.append((database, f"sign submissions (303, stored, email queued), {listed:,} listed",
                     f"{rate:.0f}/s", *figures(sign)[1:], str(errors),
                     f"{rate / base.rate:.2f} of /healthz's rate"))
        if errors:
            print(f"{database}: sign answers {dict(sign.statuses)}, socket errors "
                  f"{sign.socket_errors}; {stored} stored, {queued} queued, {unanswered} "
                  "unanswered when wrk stopped", flush=True)
    finally:
        wrk.close()
        server.stop()
    return rows


def signed_and_queued(server: Server) -> tuple[int, int]:
    """Signatures from the web and confirmation emails queued, in one snapshot, once the server
    has finished the requests that were in flight when wrk stopped (the counts stay put)."""
    query = ("SELECT (SELECT count(*) FROM signature WHERE source = 'web'), "
             "(SELECT count(*) FROM outbox_message WHERE kind = 'confirm')")
    counts = None
    for _ in range(60):
        [row] = server.sql(query)
        if row == counts:
            break
        counts = row
        time.sleep(0.5)
    assert counts is not None
    return int(counts[0]), int(counts[1])  # type: ignore[call-overload]


def figures(load: Load) -> tuple[str, str, str, str]:
    return (f"{load.rate:.0f}/s", f"{load.pct(50):.1f}", f"{load.pct(90):.1f}",
            f"{load.pct(99):.1f}")


def bench_csv(folder: Path, quick: bool) -> list[Row]:
    """export-csv at 100,000 signatories against the same command on an empty letter."""
    count = 10_000 if quick else 100_000
    server = Server(f"sqlite:///{folder / 'csv.sqlite3'}", folder)
    server.cli("init-db")
    slug = server.add_letter("full-letter")
    server.add_letter("empty-letter")
    seed_signatories(server, slug, count)
    empty = measured([server.campaign, "export-csv", "empty-letter", "-o",
                      str(folder / "e.csv"), "--private"], server.env)
    full = measured([server.campaign, "export-csv", slug, "-o", str(folder / "f.csv"),
                     "--private"], server.env)
    with open(folder / "f.csv", encoding="utf-8") as exported:
        lines = sum(1 for _ in exported) - 1
    assert lines == count, f"the export has {lines} rows, not {count}"
    return [("sqlite", f"CSV export (--private), {count:,} signatories",
             f"{full[0]:.2f} s, peak {full[1]:.0f} MB", "", "", "", "0",
             f"+{full[1] - empty[1]:.0f} MB over an empty letter's export "
             f"({empty[0]:.2f} s, {empty[1]:.0f} MB)")]


def start_postgres():  # type: ignore[no-untyped-def]
    try:  # the tests' throwaway cluster: tests/support.py, or tests/conftest.py in older code
        from support import PostgresCluster, pg_bin
    except ImportError:
        from conftest import PostgresCluster  # type: ignore[no-redef]
        from conftest import _pg_bin as pg_bin  # type: ignore[no-redef]

    bindir = pg_bin()
    if bindir is None:
        return None
    cluster = PostgresCluster(bindir)
    import sqlalchemy as sa

    engine = sa.create_engine(cluster.admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE bench")
        conn.exec_driver_sql("CREATE DATABASE bench_render")
        conn.exec_driver_sql("CREATE DATABASE bench_moderation")
    engine.dispose()
    return cluster


HEAD = ("db", "what", "result", "p50 ms", "p90 ms", "p99 ms", "errors",
        "against the baseline of the run")


def table(rows: list[Row]) -> str:
    """A Markdown table, readable as it is printed and pasted in the README."""
    lines = [HEAD, tuple("---" for _ in HEAD), *rows]
    widths = [max(len(r[i]) for r in lines) for i in range(len(HEAD))]
    return "\n".join("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
                     for r in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--only", choices=["http", "moderation", "render", "csv", "pdf"],
                        help="run one section")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL run")
    args = parser.parse_args()
    if args.only in (None, "http", "moderation", "render"):
        ensure_wrk()  # before anything slow: it may have to be installed, or be missing
    tmp = Path(tempfile.mkdtemp(prefix="campaign-bench-"))
    rows: list[Row] = []
    cluster = None
    try:
        if args.only in (None, "http"):
            rows += bench_http("sqlite", f"sqlite:///{tmp / 'bench.sqlite3'}", tmp / "sqlite",
                               args.quick)
            cluster = None if args.no_postgres else start_postgres()
            if cluster is None and not args.no_postgres:
                print("PostgreSQL's server binaries are not installed: SQLite only.")
            if cluster is not None:
                rows += bench_http("postgresql", cluster.url("bench"), tmp / "postgresql",
                                   args.quick)
        if args.only in (None, "moderation"):
            from moderation_bench import bench_moderation

            rows += bench_moderation("sqlite", f"sqlite:///{tmp / 'moderation.sqlite3'}",
                                     tmp / "moderation-sqlite", args.quick)
            if cluster is None and not args.no_postgres:
                cluster = start_postgres()
            if cluster is not None:
                rows += bench_moderation("postgresql", cluster.url("bench_moderation"),
                                         tmp / "moderation-postgresql", args.quick)
        if args.only in (None, "render"):
            from render_bench import bench_render

            rows += bench_render("sqlite", f"sqlite:///{tmp / 'render.sqlite3'}",
                                 tmp / "render-sqlite", args.quick)
            if cluster is None and not args.no_postgres:
                cluster = start_postgres()
            if cluster is not None:
                rows += bench_render("postgresql", cluster.url("bench_render"),
                                     tmp / "render-postgresql", args.quick)
        if args.only in (None, "csv"):
            rows += bench_csv(tmp / "csv", args.quick)
        if args.only in (None, "pdf"):
            from pdf_bench import bench_pdf

            rows += bench_pdf(tmp / "pdf", args.quick)
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(table(rows))
    print("\nTargets: each page's p90 within 2x /healthz's p90 (issue #9); sign submissions "
          "at least 0.25 of /healthz's rate, with 0 errors, also while a render runs; the PDF "
          "address's p90 within 3x /healthz's while a render runs; a fresh PDF after one approval "
          "at 10,000 in at most a fifth of a full render's time; the full render at 10,000 in at "
          "most a third of the naive render's time, under 400 MB (issue #10).")


if __name__ == "__main__":
    main()
