"""Faults with real parts: gunicorn on loopback while the mail server is down, a mail server that
hangs, PostgreSQL restarted under load. Nothing is lost, nothing is sent twice, no 500."""
from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import support_figures as figures
from sqlalchemy import func, select, update
from support import BACKENDS, SECRET, SIGNER, PostgresCluster, pg_bin
from support_apps import build_app, migrate
from support_servers import (
    VENV_BIN,
    Browser,
    Gunicorn,
    HangingSMTP,
    SMTPRecorder,
    campaign_env,
    gunicorn,
)

from campaign import letters, outbox
from campaign.database import writing
from campaign.extensions import db
from campaign.models import OutboxMessage, Signature, utcnow

SIGNATURES = 500
CLIENTS = 50
SLUG = "fault-letter"


def signer(email: str) -> dict[str, str]:
    return {**SIGNER, "organization": f"Neighbors United {email.split('@')[0]}", "email": email}


def open_letter(app) -> None:  # type: ignore[no-untyped-def]
    """An open letter in the test's database, and the test's session let go of it."""
    text = letters.LetterText(title="Fund the Libraries", slug=SLUG, status="open",
                              body="We ask the city to fund its libraries.\n")
    with writing():
        letters.create(text)
    db.session.remove()
    db.engine.dispose()


def sign_in_parallel(base: str, emails: list[str], clients: int) -> list[tuple[str, int]]:
    """Each client signs its share, each time fetching the letter page for a CSRF token."""
    shares = [emails[i::clients] for i in range(clients)]

    def client(share: list[str]) -> list[tuple[str, int]]:
        browser = Browser(base)
        results = []
        for email in share:
            response = browser.submit(f"/letters/{SLUG}", signer(email))
            results.append((email, figures.response(response.status_code, hostile=False)))
        return results

    with ThreadPoolExecutor(clients) as pool:
        return [r for share in pool.map(client, shares) for r in share]


def stored_emails(app) -> set[str]:  # type: ignore[no-untyped-def]
    with app.app_context():
        found = set(db.session.scalars(select(Signature.email)))
        db.session.remove()
        return found  # type: ignore[return-value]


def outbox_states(app) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with app.app_context():
        rows = db.session.execute(select(OutboxMessage.status, func.count())
                                  .group_by(OutboxMessage.status)).all()
        db.session.remove()
        return {status: int(n) for status, n in rows}


def make_due(app) -> None:  # type: ignore[no-untyped-def]
    """Bring every waiting message's retry time forward instead of waiting out the backoff."""
    with app.app_context():
        with writing():
            db.session.execute(update(OutboxMessage).where(OutboxMessage.status != "sent")
                               .values(due=utcnow()))
        db.session.remove()


def no_traceback(server: Gunicorn) -> None:
    log = server.log_text()
    assert "Traceback" not in log, log[-4000:]


# ------------------------------------------------------------------ mail server down under load


def test_mail_server_down_while_500_signatures_arrive_stores_all_and_mails_each_once(
        app, database_url, tmp_path):
    open_letter(app)
    smtp = SMTPRecorder()  # its port is configured, but nothing listens there yet
    emails = [f"signer{n}@neighbors.example.org" for n in range(SIGNATURES)]
    with gunicorn(tmp_path, DATABASE_URL=database_url, MAIL_SERVER="127.0.0.1",
                  MAIL_PORT=smtp.port, RATELIMIT_ENABLED="false") as server:
        results = sign_in_parallel(server.base, emails, CLIENTS)
        no_traceback(server)
    assert [status for _, status in results] == [303] * SIGNATURES

    worker = build_app(database_url, tmp_path / "worker", MAIL_SERVER="127.0.0.1",
                       MAIL_PORT=smtp.port, MAIL_TIMEOUT=2.0)
    lost = set(emails) - stored_emails(worker)
    figures.lost(len(lost))
    assert lost == set()
    with worker.app_context():
        assert outbox.send_due(limit=SIGNATURES) == 0  # the server is still down
        db.session.remove()
    assert outbox_states(worker) == {"queued": SIGNATURES}

    smtp.start()
    try:
        make_due(worker)
        with worker.app_context():
            for _ in range(20):
                if not outbox.send_due():
                    break
            db.session.remove()
    finally:
        smtp.stop()
    figures.duplicates(smtp.duplicates())
    assert smtp.duplicates() == 0
    assert sorted(smtp.recipients) == sorted(emails)
    assert outbox_states(worker) == {"sent": SIGNATURES}
    with worker.app_context():
        db.engine.dispose()


# ------------------------------------------------------------------ a mail server that hangs


@pytest.fixture
def one_queued_message(make_letter, make_signature) -> None:
    """A confirmation email queued for dana@tenants.example.org, and the test's session let go."""
    signature = make_signature(make_letter(), status="unconfirmed",
                               email="dana@tenants.example.org")
    with writing():
        outbox.enqueue("confirm", "dana@tenants.example.org", signature=signature.id)
    db.session.remove()


def the_message(app) -> OutboxMessage:  # type: ignore[no-untyped-def]
    with app.app_context():
        message = db.session.scalars(select(OutboxMessage)).one()
        db.session.expunge(message)
        db.session.remove()
        return message


@pytest.mark.parametrize("greet", [False, True], ids=["silent", "greets-then-hangs"])
def test_a_hung_mail_server_makes_the_worker_give_up_within_its_timeout(database_url, tmp_path,
                                                                        one_queued_message,
                                                                        greet):
    hung = HangingSMTP(greet=greet)
    worker = build_app(database_url, tmp_path / "worker", MAIL_SERVER="127.0.0.1",
                       MAIL_PORT=hung.port, MAIL_TIMEOUT=1.0)
    try:
        started = time.monotonic()
        with worker.app_context():
            assert outbox.send_due() == 0
            db.session.remove()
        elapsed = time.monotonic() - started
    finally:
        hung.close()
    assert hung.accepted == 1
    assert elapsed < 3, f"the worker waited {elapsed:.1f}s on a hung server (timeout 1s)"
    message = the_message(worker)
    assert (message.status, message.attempts) == ("queued", 1)
    assert "timed out" in message.last_error.lower()
    assert message.due > utcnow()  # retried later, after its backoff
    with worker.app_context():
        db.engine.dispose()


def test_a_message_a_hung_server_held_up_is_delivered_once_when_retried(database_url, tmp_path,
                                                                        one_queued_message):
    hung = HangingSMTP()
    stuck = build_app(database_url, tmp_path / "stuck", MAIL_SERVER="127.0.0.1",
                      MAIL_PORT=hung.port, MAIL_TIMEOUT=1.0)
    with stuck.app_context():
        outbox.send_due()
        db.session.remove()
        db.engine.dispose()
    hung.close()
    smtp = SMTPRecorder().start()
    healthy = build_app(database_url, tmp_path / "healthy", MAIL_SERVER="127.0.0.1",
                        MAIL_PORT=smtp.port)
    try:
        with healthy.app_context():
            assert outbox.send_due() == 0  # not before its backoff is over
            db.session.remove()
        make_due(healthy)
        with healthy.app_context():
            assert outbox.send_due() == 1
            db.session.remove()
    finally:
        smtp.stop()
    assert smtp.recipients == ["dana@tenants.example.org"]
    message = the_message(healthy)
    assert (message.status, message.attempts) == ("sent", 2)
    with healthy.app_context():
        db.engine.dispose()


def test_campaign_worker_honours_campaign_mail_timeout_against_a_hung_server(
        app, database_url, tmp_path, one_queued_message):
    hung = HangingSMTP(greet=True)
    env = campaign_env(DATABASE_URL=database_url, SECRET_KEY=SECRET, MAIL_SERVER="127.0.0.1",
                       MAIL_PORT=hung.port, MAIL_TIMEOUT="1", INSTANCE_PATH=tmp_path / "instance")
    try:
        run = subprocess.run([str(VENV_BIN / "campaign"), "worker", "--once"], env=env,
                             capture_output=True, text=True, timeout=60)
    finally:
        hung.close()
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    message = the_message(app)
    assert (message.status, message.attempts) == ("queued", 1)
    assert "timed out" in message.last_error.lower()


# ------------------------------------------------------------------ PostgreSQL restarted


class RestartableCluster(PostgresCluster):
    """A PostgreSQL cluster of this module's own, so stopping it disturbs no other test."""

    def pg_ctl(self, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"),
                        *args], check=True, capture_output=True, cwd="/", timeout=60)

    def halt(self) -> None:
        self.pg_ctl("-m", "fast", "-w", "stop")

    def resume(self) -> None:
        self.pg_ctl("-l", str(self.dir / "log"), "-w", "-o",
                    f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off", "start")

    def restart(self) -> None:
        """Stop and start at once (pg_ctl restart would keep our pipes open: no -l for it)."""
        self.halt()
        self.resume()


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[RestartableCluster]:
    bindir = pg_bin()
    assert bindir is not None
    cluster = RestartableCluster(bindir)
    yield cluster
    cluster.stop()


@pytest.fixture
def served(own_cluster: RestartableCluster, tmp_path: Path) -> Iterator[tuple[Gunicorn, object]]:
    """gunicorn on a fresh database of the module's own cluster, with an open letter."""
    import sqlalchemy as sa

    admin = sa.create_engine(own_cluster.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("DROP DATABASE IF EXISTS outage WITH (FORCE)")
        conn.exec_driver_sql("CREATE DATABASE outage")
    admin.dispose()
    url = own_cluster.url("outage")
    migrate(url, tmp_path / "setup")
    inspector = build_app(url, tmp_path / "inspector")
    with inspector.app_context():
        open_letter(inspector)
    with gunicorn(tmp_path, DATABASE_URL=url, RATELIMIT_ENABLED="false") as server:
        yield server, inspector
    with inspector.app_context():
        db.engine.dispose()


def wait_healthy(server: Gunicorn, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if requests.get(server.base + "/healthz", timeout=5).status_code == 200:
            return
        time.sleep(0.2)
    raise AssertionError("the app did not recover after the database came back")


if "postgresql" in BACKENDS:

    def test_requests_during_a_database_outage_get_503_and_the_app_recovers(own_cluster, served):
        server, inspector = served
        browser = Browser(server.base)
        token = browser.token(f"/letters/{SLUG}")
        before = browser.post(f"/letters/{SLUG}", signer("before@example.org"), token)
        assert before.status_code == 303

        own_cluster.halt()
        try:
            page = requests.get(f"{server.base}/letters/{SLUG}", timeout=10)
            sign = browser.post(f"/letters/{SLUG}", signer("during@example.org"), token)
            health = requests.get(f"{server.base}/healthz", timeout=10)
        finally:
            own_cluster.resume()
        figures.outage(sum(r.status_code == 503 for r in (page, sign, health)))
        assert (page.status_code, sign.status_code, health.status_code) == (503, 503, 503)
        assert "Please try again in a minute" in page.text
        assert page.headers["Retry-After"] == "30"

        wait_healthy(server)  # the same gunicorn, not restarted
        assert requests.get(f"{server.base}/letters/{SLUG}", timeout=10).status_code == 200
        after = browser.post(f"/letters/{SLUG}", signer("after@example.org"), token)
        assert after.status_code == 303
        assert stored_emails(inspector) == {"before@example.org", "after@example.org"}
        log = server.log_text()
        assert "Traceback" not in log, log[-4000:]
        assert "database unavailable" in log

    def test_signatures_sent_across_a_database_restart_are_stored_or_refused_never_lost(
            own_cluster, served):
        server, inspector = served
        results: list[tuple[str, int]] = []
        stop = threading.Event()

        def keep_signing(worker: int) -> None:
            browser = Browser(server.base)
            token = browser.token(f"/letters/{SLUG}")
            n = 0
            while not stop.is_set():
                email = f"load{worker}-{n}@example.org"
                try:
                    status = browser.post(f"/letters/{SLUG}", signer(email), token).status_code
                except requests.ConnectionError:
                    status = -1
                results.append((email, status))
                n += 1
                time.sleep(0.02)

        threads = [threading.Thread(target=keep_signing, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1)
        own_cluster.halt()
        time.sleep(1.5)
        own_cluster.resume()
        wait_healthy(server)
        time.sleep(1)
        stop.set()
        for thread in threads:
            thread.join(30)

        statuses = [status for _, status in results]
        figures.outage(statuses.count(503))
        for status in statuses:
            if status != 503:
                figures.response(status, hostile=False)
        assert set(statuses) <= {303, 503}, sorted(set(statuses))
        assert statuses.count(503) > 0, "the outage was never seen; the test proves nothing"
        assert statuses[-1] == 303
        accepted = {email for email, status in results if status == 303}
        lost = accepted - stored_emails(inspector)
        figures.lost(len(lost))
        assert lost == set()
        assert "Traceback" not in server.log_text()

    def test_after_a_quick_database_restart_the_first_request_already_succeeds(own_cluster,
                                                                                served):
        server, _ = served
        for _ in range(4):  # every gunicorn worker holds a pooled connection
            assert requests.get(f"{server.base}/letters/{SLUG}", timeout=10).status_code == 200
        own_cluster.restart()
        statuses = [requests.get(f"{server.base}/letters/{SLUG}", timeout=10).status_code
                    for _ in range(4)]
        for status in statuses:
            figures.response(status, hostile=False)
        assert statuses == [200] * 4
