"""What the benchmark sections share: the server under test, its data, load and measurement."""
from __future__ import annotations

import http.client
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

LETTER = """---
title: End the Automatic Forwarding of Local Fingerprints
slug: bench-letter
recipient: |
  Director
  Federal Bureau of Investigation
status: open
---
The undersigned organizations ask the Bureau to **stop forwarding** fingerprints.

Respectfully,
"""

# Realistic names: accents, long names, a leading "The", several languages.
FIRST = ["Asociación", "Coalición", "Centro", "Red", "Alianza", "Comité", "Union", "Workers",
         "Heartland", "Voces", "Faith", "Community", "The Neighborhood", "Fundación", "Liga",
         "Mothers", "Youth", "Immigrant", "Legal", "Day Laborer", "Église", "Ñandutí", "Hermanas"]
MIDDLE = ["de Trabajadores", "for Justice", "Unidos", "of the Valley", "por la Dignidad",
          "for Fair Policing", "Latino", "Solidarity", "de Défense des Droits", "and Families",
          "for Immigrant Rights and Economic Justice in the Greater Metropolitan Region"]
PLACES = [("Los Angeles", "CA"), ("Tucson", "AZ"), ("Omaha", "NE"), ("Chicago", "IL"),
          ("San José", "CA"), ("Montréal", "QC"), ("Austin", "TX"), ("Durham", "NC"),
          ("Española", "NM"), ("Miami", "FL")]
SCOPES = ["national", "state", "local", "local", "local", "international"]


def org_name(rng: random.Random, n: int) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(MIDDLE)} {n}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------ the server under test


class Server:
    """An instance folder, a database and `gunicorn -w 2 wsgi:app` on a free loopback port."""

    def __init__(self, database_url: str, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.database_url = database_url
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_")}
        self.env.update({
            "CAMPAIGN_DATABASE_URL": database_url,
            "CAMPAIGN_INSTANCE_PATH": str(folder),
            "CAMPAIGN_SECRET_KEY": "bench-" + os.urandom(8).hex(),
            "CAMPAIGN_BASE_URL": f"http://127.0.0.1:{self.port}",
            "CAMPAIGN_RATELIMIT_ENABLED": "false",
        })
        self.proc: subprocess.Popen[bytes] | None = None
        self.campaign = str(BIN / "campaign")

    def cli(self, *args: str) -> str:
        done = subprocess.run([self.campaign, *args], env=self.env, capture_output=True,
                              text=True, cwd=self.folder)
        if done.returncode:
            raise SystemExit(f"campaign {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def add_letter(self, slug: str) -> str:
        path = self.folder / f"{slug}.md"
        path.write_text(LETTER.replace("bench-letter", slug))
        return self.cli("import-letter", str(path)).strip()

    def start(self) -> None:
        log = open(self.folder / "gunicorn.log", "w")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{self.port}", "--chdir", str(ROOT),
             "wsgi:app"], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        end = time.time() + 30
        while time.time() < end:
            try:
                if request(self.port, "GET", "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("gunicorn did not start: see " + str(self.folder / "gunicorn.log"))

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def sql(self, query: str) -> list[tuple[object, ...]]:
        """Rows of one query on the server's database (checks, not measured)."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.database_url)
        try:
            with engine.begin() as conn:
                return [tuple(row) for row in conn.exec_driver_sql(query)]
        finally:
            engine.dispose()


def request(port: int, method: str, path: str, body: str | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


# ------------------------------------------------------------------ data


SEED = """
import random, sys
sys.path.insert(0, {bench!r})
from harness import org_name, PLACES, SCOPES
from campaign import create_app, letters, signing
from campaign.extensions import db
from campaign.models import Signature
app = create_app()
with app.app_context():
    letter = letters.get_letter({slug!r})
    rng = random.Random({seed})
    rows = []
    for n in range({count}):
        name = org_name(rng, n)
        city, region = rng.choice(PLACES)
        rows.append(dict(letter_id=letter.id, organization=name, sort_key=signing.sort_key(name),
                         org_key=signing.org_key(name), contact_name="Ana Ruiz",
                         email=f"s{{n}}@example.org", phone="555 0100", city=city, region=region,
                         country="United States", scope=rng.choice(SCOPES), status="approved",
                         source="import"))
        if len(rows) == 5000:
            db.session.execute(db.insert(Signature), rows)
            rows = []
    if rows:
        db.session.execute(db.insert(Signature), rows)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":  # statistics, as autovacuum keeps them
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
"""


def seed_signatories(server: Server, slug: str, count: int, seed: int = 7) -> None:
    """Insert `count` approved signatories straight into the database (setup, not measured)."""
    code = SEED.format(bench=str(ROOT / "bench"), slug=slug, count=count, seed=seed)
    subprocess.run([sys.executable, "-c", code], env=server.env, check=True, cwd=ROOT)


# ------------------------------------------------------------------ load


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        """The q-quantile latency in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000

    def add(self, other: Load) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.seconds += other.seconds


Call = Callable[[], bool]


def run_load(clients: int, seconds: float, make_call: Callable[[int], Call]) -> Load:
    """`clients` threads call their own callable until time is up; each call returns success."""
    result = Load()
    lock = threading.Lock()
    calls = [make_call(i) for i in range(clients)]
    stop_at = time.perf_counter() + seconds

    def worker(call: Call) -> None:
        local: list[float] = []
        errors = 0
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            ok = call()
            local.append(time.perf_counter() - t0)
            errors += not ok
        with lock:
            result.latencies.extend(local)
            result.errors += errors

    threads = [threading.Thread(target=worker, args=(call,)) for call in calls]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - start
    return result


def interleaved(clients: int, seconds: float, subjects: dict[str, Callable[[int], Call]],
                rounds: int = 4) -> dict[str, Load]:
    """Each subject loaded for `seconds` in all, in `rounds` slices taken in turn, so that a
    baseline and what is compared with it see the same moments of a shared, noisy machine."""
    loads = {name: Load() for name in subjects}
    for _ in range(rounds):
        for name, make in subjects.items():
            loads[name].add(run_load(clients, seconds / rounds, make))
    return loads


# ------------------------------------------------------------------ one command, measured


def measured(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak memory (MB) of one command and its children, measured by measure.py."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "measure.py"), *command], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()[-2000:]}")
    seconds, peak = done.stdout.split()[-2:]
    return float(seconds), float(peak)
