"""Units of work (database.py): writes happen only in a writing unit, which commits or writes
nothing; on SQLite it holds the write lock exactly while its block runs, and slow work (a
password hash, a letter's Markdown, an email) happens outside it."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from flask import Flask
from support import PASSWORD, SIGNER, form_fields, password_hash, submit
from support_apps import build_app, migrate

from campaign import accounts, letters, outbox, signing
from campaign.database import WriteOutsideUnit, reading, writing
from campaign.extensions import db
from campaign.models import Letter, OutboxMessage, Signature


def letter_titles() -> list[str]:
    with db.engine.connect() as conn:  # another connection: sees only what was committed
        return list(conn.scalars(sa.select(Letter.title).order_by(Letter.id)))


def test_a_change_flushed_outside_a_writing_unit_is_refused(app, make_letter):
    letter = make_letter()
    letter.title = "Changed Behind Everyone's Back"
    with pytest.raises(WriteOutsideUnit):
        db.session.flush()
    db.session.rollback()
    assert letter_titles() == ["Stop Forwarding Fingerprints"]


def test_a_statement_that_writes_outside_a_writing_unit_is_refused(app, make_letter):
    make_letter()
    with pytest.raises(WriteOutsideUnit):
        db.session.execute(sa.update(Letter).values(title="Changed"))
    db.session.rollback()
    assert letter_titles() == ["Stop Forwarding Fingerprints"]


def test_a_signature_or_an_email_queued_outside_a_writing_unit_is_refused(app, make_letter):
    letter = make_letter()
    with pytest.raises(WriteOutsideUnit):
        signing.sign(letter.slug, signing.submission(
            signing.SignerInput("Sunrise", email="rosa@example.org")))
    with pytest.raises(WriteOutsideUnit):
        outbox.enqueue("confirm", "rosa@example.org", signature=1)
    db.session.rollback()
    with db.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Signature)) == 0
        assert conn.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


def test_a_writing_unit_commits_when_its_block_ends(app, make_letter):
    letter = make_letter()
    with writing():
        letter.title = "A Better Title"
        assert letter_titles() == ["Stop Forwarding Fingerprints"]  # not before the end
    assert letter_titles() == ["A Better Title"]


def test_a_writing_unit_that_raises_writes_nothing(app, make_letter):
    letter = make_letter()
    with pytest.raises(ZeroDivisionError), writing():
        letter.title = "Half Written"
        db.session.flush()
        raise ZeroDivisionError
    assert letter_titles() == ["Stop Forwarding Fingerprints"]


def test_a_writing_unit_inside_another_is_part_of_it(app, make_letter):
    letter = make_letter()
    with pytest.raises(ZeroDivisionError), writing():
        with writing():
            letter.title = "Inner"
        assert letter_titles() == ["Stop Forwarding Fingerprints"]  # the outer unit commits
        raise ZeroDivisionError
    assert letter_titles() == ["Stop Forwarding Fingerprints"]


def test_a_writing_unit_cannot_begin_inside_a_reading_unit(app, make_letter):
    with pytest.raises(WriteOutsideUnit), reading(), writing():
        pass


def test_what_was_read_before_a_writing_unit_stays_loaded_in_it(app, make_letter):
    make_letter()
    letter = db.session.scalar(sa.select(Letter))
    with writing():
        assert not sa.inspect(letter).expired_attributes
        letter.title = "Edited"
    assert letter_titles() == ["Edited"]


# ------------------------------------------------------------------ SQLite's write lock


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[Flask]:
    """An app on its own SQLite file (the write lock is SQLite's)."""
    url = f"sqlite:///{tmp_path / 'campaign.sqlite3'}"
    migrate(url, tmp_path / "instance")
    app = build_app(url, tmp_path / "instance")
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def write_lock_is_free(app: Flask) -> bool:
    """Whether another connection could take SQLite's write lock at this moment."""
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    finally:
        other.close()


def test_a_writing_unit_holds_the_write_lock_from_its_start_to_its_end(sqlite_app):
    assert write_lock_is_free(sqlite_app)
    with writing():
        assert not write_lock_is_free(sqlite_app)  # taken as it begins, before any write
    assert write_lock_is_free(sqlite_app)


def test_reading_never_takes_the_write_lock(sqlite_app):
    with reading():
        db.session.scalars(sa.select(Letter)).all()
        assert write_lock_is_free(sqlite_app)
    db.session.scalars(sa.select(Letter)).all()  # a transaction begun without a unit only reads
    assert write_lock_is_free(sqlite_app)


def test_a_login_holds_no_write_lock_while_it_hashes(sqlite_app, monkeypatch):
    with writing():
        accounts.create_organizer("staff@example.org", password_hash(), "Staff")
    seen = []

    class Watched(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            seen.append(write_lock_is_free(sqlite_app))
            return super().verify(hash, password)

    monkeypatch.setattr(accounts, "hasher", Watched())
    client = sqlite_app.test_client()
    for password in ("wrong password here", PASSWORD):
        submit(client, "/login", {"email": "staff@example.org", "password": password}, "Log in")
    assert seen == [True, True]
    assert client.get("/admin/").status_code == 200  # the outcome was written: a session


def test_a_letter_is_made_html_before_the_write_lock_is_taken(sqlite_app, monkeypatch):
    with writing():
        accounts.create_organizer("staff@example.org", password_hash(), "Staff")
    client = sqlite_app.test_client()
    submit(client, "/login", {"email": "staff@example.org", "password": PASSWORD}, "Log in")
    seen = []
    markdown = letters.markdown_to_html

    def watched(text: str):  # type: ignore[no-untyped-def]
        seen.append(write_lock_is_free(sqlite_app))
        return markdown(text)

    monkeypatch.setattr(letters, "markdown_to_html", watched)
    response = submit(client, "/admin/letters/new", {
        "title": "Fund the Libraries", "slug": "libraries", "status": "open",
        "body": "We ask the city to **fund** its libraries.\n"}, "Save")
    assert response.status_code == 303
    assert seen == [True]
    db.session.rollback()
    assert "<strong>fund</strong>" in letters.get_letter("libraries").body_html


def test_a_signature_writes_two_rows_and_no_email_on_the_request_path(sqlite_app, monkeypatch):
    """The email is written by the worker; the request only inserts the signature and a row
    that names it."""
    with writing():
        letters.create(letters.LetterText(title="Fund the Libraries", slug="libraries",
                                          status="open", body="Fund them.\n"))
    from campaign import emails

    def not_here(*args: object, **kwargs: object) -> None:
        raise AssertionError("an email was written during the request")

    monkeypatch.setattr(emails, "write", not_here)
    response = submit(sqlite_app.test_client(), "/letters/libraries", SIGNER, "Sign")
    assert response.status_code == 303
    db.session.rollback()
    [message] = db.session.scalars(sa.select(OutboxMessage)).all()
    [signature] = db.session.scalars(sa.select(Signature)).all()
    assert (message.kind, message.body_text) == ("confirm", "")
    assert f'"signature": {signature.id}' in (message.params or "")


def test_a_signature_is_cleaned_up_before_the_write_lock_is_taken(sqlite_app, monkeypatch):
    with writing():
        letters.create(letters.LetterText(title="Fund the Libraries", slug="libraries",
                                          status="open", body="Fund them.\n"))
    seen = []
    sort_key = signing.sort_key

    def watched(name: str) -> str:
        seen.append(write_lock_is_free(sqlite_app))
        return sort_key(name)

    monkeypatch.setattr(signing, "sort_key", watched)
    response = submit(sqlite_app.test_client(), "/letters/libraries", SIGNER, "Sign")
    assert response.status_code == 303
    assert seen == [True]


def test_a_signature_is_one_writing_unit_of_three_inserts_with_nothing_read(sqlite_app):
    """Before the unit, only the mail limits are read (taking no lock); in it, under SQLite's
    write lock, one statement finds the letter and inserts the signature, one counts its email
    against the limits and one queues it; nothing is read after."""
    with writing():
        letters.create(letters.LetterText(title="Fund the Libraries", slug="libraries",
                                          status="open", body="Fund them.\n"))
    client = sqlite_app.test_client()
    _, fields = form_fields(client.get("/letters/libraries").get_data(as_text=True), "Sign")
    db.session.remove()
    seen: list[str] = []

    def trace(sql: str) -> None:  # every statement the driver runs, BEGIN and COMMIT included
        words = " ".join(sql.split()[:3])
        # not the busy timeout set around BEGIN IMMEDIATE; an INSERT ... RETURNING is traced
        # twice in a row by SQLite, for one statement
        if not sql.startswith("PRAGMA") and seen[-1:] != [words]:
            seen.append(words)

    def checkout(dbapi_conn, record, proxy):  # type: ignore[no-untyped-def]
        dbapi_conn.set_trace_callback(trace)

    def checkin(dbapi_conn, record):  # type: ignore[no-untyped-def]
        dbapi_conn.set_trace_callback(None)

    sa.event.listen(db.engine, "checkout", checkout)
    sa.event.listen(db.engine, "checkin", checkin)
    try:
        response = client.post("/letters/libraries", data={**fields, **SIGNER})
    finally:
        sa.event.remove(db.engine, "checkout", checkout)
        sa.event.remove(db.engine, "checkin", checkin)
    assert response.status_code == 303
    unit = seen.index("BEGIN IMMEDIATE")
    assert seen[unit:] == ["BEGIN IMMEDIATE", "INSERT INTO signature", "INSERT INTO rate_event",
                           "INSERT INTO outbox_message", "COMMIT"]
    # before the write lock: the mail limits read, in a transaction that takes no lock
    assert seen[:unit] == ["BEGIN", "SELECT count(*) AS", "COMMIT"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # it can end a session
def test_a_page_made_before_its_connection_died_is_answered_not_turned_into_a_500(
        app, new_client, make_letter, database_url):
    """A page reads, then answers; if the database ends the connection in between (a restart),
    ending the request's read transaction fails. The page is answered all the same."""
    letter = make_letter()
    ended: list[int] = []

    def end_my_connection(response):  # type: ignore[no-untyped-def]
        pid = db.session.connection().connection.dbapi_connection.info.backend_pid
        other = sa.create_engine(database_url)
        with other.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        other.dispose()
        ended.append(pid)
        return response

    app.after_request_funcs.setdefault(None, []).append(end_my_connection)
    try:
        response = new_client().get(f"/letters/{letter.slug}")
    finally:
        app.after_request_funcs[None].remove(end_my_connection)
    assert ended and response.status_code == 200
    assert letter.title in response.get_data(as_text=True)
    assert new_client().get("/healthz").status_code == 200  # the next request is served
