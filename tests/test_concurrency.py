"""Races: simultaneous identical signatures make one, simultaneous confirms of one link make one
transition, several outbox workers never send one message twice; on SQLite and PostgreSQL."""
from __future__ import annotations

import subprocess
import threading
from typing import Any

import pytest
import support_figures as figures
from sqlalchemy import event, func, select
from support import SECRET, SIGNER, form_fields
from support_servers import VENV_BIN, SMTPRecorder, campaign_env

from campaign import outbox, tokens
from campaign.database import reading, writing
from campaign.extensions import db
from campaign.models import Signature

THREADS = 8


def in_parallel(count: int, prepare: Any, act: Any) -> list[Any]:
    """Run `prepare(i)` in `count` threads, then `act(i, prepared)` in all of them at once."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            prepared = prepare(i)
            barrier.wait(timeout=30)
            results[i] = act(i, prepared)
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if errors:
        raise errors[0]
    return results


def test_simultaneous_identical_signatures_make_exactly_one(app, make_letter):
    path = f"/letters/{make_letter().slug}"

    def prepare(_: int):  # type: ignore[no-untyped-def]
        client = app.test_client()  # a browser of its own, each request in its own app context
        _, values = form_fields(client.get(path).get_data(as_text=True), "Sign")
        return client, {**values, **SIGNER}

    statuses = in_parallel(THREADS, prepare,
                           lambda _, p: figures.response(p[0].post(path, data=p[1]).status_code,
                                                         hostile=False))
    assert statuses == [303] * THREADS
    with reading():  # a snapshot taken now, after the threads' commits
        stored = db.session.scalar(select(func.count()).select_from(Signature)
                                   .where(Signature.email == SIGNER["email"]))
    assert stored == 1


def test_simultaneous_confirms_of_one_link_make_one_transition(app, make_letter, make_signature):
    letter = make_letter()
    signature = make_signature(letter, status="unconfirmed")
    path = f"/confirm/{tokens.make_token(signature)}"
    transitions: list[int] = []

    @event.listens_for(db.engine, "after_cursor_execute")
    def count_changes(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.startswith("UPDATE signature SET status") and cursor.rowcount > 0:
            transitions.append(cursor.rowcount)

    def prepare(_: int):  # type: ignore[no-untyped-def]
        client = app.test_client()
        _, values = form_fields(client.get(path).get_data(as_text=True), "Confirm")
        return client, values

    try:
        statuses = in_parallel(THREADS, prepare,
                               lambda _, p: figures.response(p[0].post(path, data=p[1]).status_code,
                                                             hostile=False))
    finally:
        event.remove(db.engine, "after_cursor_execute", count_changes)
    assert statuses == [200] * THREADS
    assert transitions == [1]
    with reading():
        db.session.refresh(signature)
    assert signature.status == "pending"


@pytest.fixture
def enqueue(make_letter, make_signature):
    """Queue `count` emails as the app does (each written by the worker that sends it), to as
    many addresses; returns the addresses."""
    signature = make_signature(make_letter())

    def queue(count: int) -> list[str]:
        addresses = [f"member{n}@coalition.example.org" for n in range(count)]
        with writing():
            for address in addresses:
                outbox.enqueue("already-signed", address, signature=signature.id)
        return addresses

    return queue


def test_three_worker_processes_deliver_every_message_exactly_once(app, database_url, tmp_path,
                                                                   enqueue):
    addresses = enqueue(300)
    db.session.remove()
    db.engine.dispose()
    smtp = SMTPRecorder(delay=0.01).start()
    env = campaign_env(DATABASE_URL=database_url, SECRET_KEY=SECRET, MAIL_SERVER="127.0.0.1",
                       MAIL_PORT=smtp.port, INSTANCE_PATH=tmp_path / "instance")
    try:
        workers = [subprocess.Popen([str(VENV_BIN / "campaign"), "worker", "--once"], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                   for _ in range(3)]
        outputs = [w.communicate(timeout=120)[0].decode() for w in workers]
    finally:
        smtp.stop()
    assert [w.returncode for w in workers] == [0, 0, 0], outputs
    figures.duplicates(smtp.duplicates())
    assert smtp.duplicates() == 0
    assert sorted(smtp.recipients) == sorted(addresses)
    assert len(smtp.sender_pids()) >= 2, "the workers did not overlap; the test proves nothing"
    assert outbox.waiting_count() == 0


def test_worker_threads_with_their_own_app_contexts_never_send_twice(app, database_url, tmp_path,
                                                                     enqueue):
    from support_apps import build_app

    addresses = enqueue(200)
    db.session.remove()
    smtp = SMTPRecorder(delay=0.003).start()
    worker_app = build_app(database_url, tmp_path / "instance", MAIL_SERVER="127.0.0.1",
                           MAIL_PORT=smtp.port)

    def prepare(_: int) -> None:
        return None

    def act(_: int, __: None) -> int:
        with worker_app.app_context():
            sent = 0
            while True:
                batch = outbox.send_due(limit=20)
                if not batch:
                    break
                sent += batch
            db.session.remove()
            return sent

    try:
        sent = in_parallel(4, prepare, act)
    finally:
        smtp.stop()
        with worker_app.app_context():
            db.engine.dispose()
    figures.duplicates(smtp.duplicates())
    assert smtp.duplicates() == 0
    assert sorted(smtp.recipients) == sorted(addresses)
    assert sum(sent) == 200
    assert sum(1 for n in sent if n) >= 2, "only one thread sent; the test proves nothing"


@pytest.fixture(autouse=True)
def _no_leftover_session(app):  # type: ignore[no-untyped-def]
    yield
    db.session.remove()
