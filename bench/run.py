"""Campaign benchmark: every figure is a ratio against a baseline measured in the same run.

    .venv/bin/python bench/run.py            # full run (a few minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # small sizes only

It sets everything up itself: a temp instance folder and database (SQLite, and PostgreSQL when
Debian's server binaries are present), generated signatories with realistic names (accents, long
names), gunicorn with 2 workers on loopback. Nothing leaves the machine; all it makes is deleted.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sys
import tempfile
import urllib.parse
from pathlib import Path

from harness import (
    PLACES,
    ROOT,
    SCOPES,
    Call,
    Server,
    interleaved,
    measured,
    org_name,
    request,
    seed_signatories,
)

sys.path.insert(0, str(ROOT / "tests"))

Row = tuple[str, ...]
CLIENTS = 8


def trivial(port: int):  # type: ignore[no-untyped-def]
    def make(_: int) -> Call:
        return lambda: request(port, "GET", "/healthz")[0] == 200
    return make


def get_page(port: int, path: str):  # type: ignore[no-untyped-def]
    def make(_: int) -> Call:
        return lambda: request(port, "GET", path)[0] == 200
    return make


class Signers:
    """Clients that each keep a session (cookie and CSRF token, from the letter page, as a
    browser would) and sign with a new email every time, across all the slices of a run."""

    def __init__(self, port: int, slug: str) -> None:
        self.port, self.slug, self.run = port, slug, os.urandom(3).hex()
        self.sessions: dict[int, tuple[str, str]] = {}
        self.counters: dict[int, int] = {}
        self.sent = 0

    def __call__(self, index: int) -> Call:
        if index not in self.sessions:
            _, body, headers = request(self.port, "GET", f"/letters/{self.slug}")
            token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', body)
            assert token, "no CSRF token on the letter page"
            self.sessions[index] = (headers.get("Set-Cookie", "").split(";")[0],
                                    token.group(1).decode())
        cookie, token = self.sessions[index]
        rng = random.Random(index)

        def call() -> bool:
            n = self.counters.get(index, 0)
            self.counters[index] = n + 1
            city, region = rng.choice(PLACES)
            form = {
                "csrf_token": token, "organization": org_name(rng, n),
                "contact_name": "María Pérez", "email": f"c{index}-{n}-{self.run}@example.org",
                "city": city, "region": region, "country": "United States",
                "scope": rng.choice(SCOPES), "consent": "y", "authorized": "y",
            }
            status, _, _ = request(self.port, "POST", f"/letters/{self.slug}",
                                   urllib.parse.urlencode(form),
                                   {"Content-Type": "application/x-www-form-urlencoded",
                                    "Cookie": cookie})
            self.sent += 1
            return status == 303

        return call


def bench_http(database: str, url: str, folder: Path, quick: bool) -> list[Row]:
    server = Server(url, folder)
    server.cli("init-db")
    slug = server.add_letter("bench-letter")
    server.start()
    rows: list[Row] = []
    try:
        seconds = 4 if quick else 10
        signers = Signers(server.port, slug)
        loads = interleaved(CLIENTS, seconds, {"trivial": trivial(server.port), "sign": signers})
        base, sign = loads["trivial"], loads["sign"]
        # Every 303 must be a stored signature with its queued email: count them.
        [(stored,)] = server.sql("SELECT count(*) FROM signature")
        [(queued,)] = server.sql("SELECT count(*) FROM outbox_message WHERE kind = 'confirm'")
        missing = (signers.sent - sign.errors - int(stored)) + (int(stored) - int(queued))
        rows.append((database, f"trivial endpoint /healthz, {CLIENTS} clients",
                     f"{base.rate:.0f}/s", f"{base.pct(.5):.1f}", f"{base.pct(.95):.1f}",
                     str(base.errors), "baseline"))
        rows.append((database, f"sign submissions, {CLIENTS} clients", f"{sign.rate:.0f}/s",
                     f"{sign.pct(.5):.1f}", f"{sign.pct(.95):.1f}", str(sign.errors + missing),
                     f"{sign.rate / base.rate:.2f} of trivial's rate"))

        listed = 1_000 if quick else 10_000
        seed_signatories(server, slug, listed)
        loads = interleaved(CLIENTS, seconds / 2, {
            "trivial": trivial(server.port),
            "page": get_page(server.port, f"/letters/{slug}/signers"),
            "deep page": get_page(server.port, f"/letters/{slug}/signers?page={listed // 400}"),
            "json": get_page(server.port, f"/letters/{slug}/signers.json"),
        })
        base = loads["trivial"]
        rows.append((database, f"trivial endpoint, while listing {listed:,}",
                     f"{base.rate:.0f}/s", f"{base.pct(.5):.1f}", f"{base.pct(.95):.1f}",
                     str(base.errors), "baseline"))
        for name, label in (("page", "signer list, first page"),
                            ("deep page", f"signer list, page {listed // 400}"),
                            ("json", "signer list JSON, first page")):
            load = loads[name]
            rows.append((database, f"{label}, {listed:,} listed", f"{load.rate:.0f}/s",
                         f"{load.pct(.5):.1f}", f"{load.pct(.95):.1f}", str(load.errors),
                         f"p95 {load.pct(.95) / base.pct(.95):.2f}x trivial's"))
    finally:
        server.stop()
    return rows


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
             f"{full[0]:.2f} s, peak {full[1]:.0f} MB", "", "", "0",
             f"+{full[1] - empty[1]:.0f} MB over an empty letter's export "
             f"({empty[0]:.2f} s, {empty[1]:.0f} MB)")]


def start_postgres():  # type: ignore[no-untyped-def]
    from conftest import PostgresCluster, _pg_bin

    bindir = _pg_bin()
    if bindir is None:
        return None
    cluster = PostgresCluster(bindir)
    import sqlalchemy as sa

    engine = sa.create_engine(cluster.admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE bench")
    engine.dispose()
    return cluster


HEAD = ("db", "what", "result", "p50 ms", "p95 ms", "errors", "against the baseline of the run")


def table(rows: list[Row]) -> str:
    """A Markdown table, readable as it is printed and pasted in the README."""
    lines = [HEAD, tuple("---" for _ in HEAD), *rows]
    widths = [max(len(r[i]) for r in lines) for i in range(len(HEAD))]
    return "\n".join("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
                     for r in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--only", choices=["http", "csv", "pdf"], help="run one section")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL run")
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
