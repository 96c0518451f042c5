"""What the benchmark sections share: the server under test, its data and measurement
(HTTP load is loadgen.py's)."""
from __future__ import annotations

import http.client
import os
import random
import socket
import subprocess
import sys
import time
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
        """Rows of one statement on the server's database (checks and set-up, not measured)."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.database_url)
        try:
            with engine.begin() as conn:
                result = conn.exec_driver_sql(query)
                return [tuple(row) for row in result] if result.returns_rows else []
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
import contextlib, random, sys
sys.path.insert(0, {bench!r})
from harness import org_name, PLACES, SCOPES
from campaign import create_app, database, letters
try:  # the names' keys moved to campaign/text.py; older code has them in campaign/signing.py
    from campaign.text import sort_key, org_key
except ImportError:
    from campaign.signing import sort_key, org_key
from campaign.extensions import db
from campaign.models import Signature
# Newer code writes only inside database.writing(), which commits; older code commits itself.
writing = getattr(database, "writing", None)
app = create_app()
with app.app_context():
    letter = letters.get_letter({slug!r})
    letter_id = letter.id
    rng = random.Random({seed})
    rows = []
    for n in range({count}):
        name = org_name(rng, n)
        city, region = rng.choice(PLACES)
        rows.append(dict(letter_id=letter_id, organization=name, sort_key=sort_key(name),
                         org_key=org_key(name), contact_name="Ana Ruiz",
                         email=f"s{{n}}@example.org", phone="555 0100", city=city, region=region,
                         country="United States", scope=rng.choice(SCOPES), status="approved",
                         source="import"))
    with writing() if writing else contextlib.nullcontext():
        for start in range(0, len(rows), 5000):
            db.session.execute(db.insert(Signature), rows[start:start + 5000])
    if writing is None:
        db.session.commit()
    if db.engine.dialect.name == "postgresql":  # statistics, as autovacuum keeps them
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
"""


def seed_signatories(server: Server, slug: str, count: int, seed: int = 7) -> None:
    """Insert `count` approved signatories straight into the database (setup, not measured)."""
    code = SEED.format(bench=str(ROOT / "bench"), slug=slug, count=count, seed=seed)
    subprocess.run([sys.executable, "-c", code], env=server.env, check=True, cwd=ROOT)


# ------------------------------------------------------------------ one command, measured


def measured(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak memory (MB) of one command and its children, measured by measure.py."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "measure.py"), *command], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()[-2000:]}")
    seconds, peak = done.stdout.split()[-2:]
    return float(seconds), float(peak)
