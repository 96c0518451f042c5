"""Units of work, and the engine's behaviour on each database.

Views and commands run each transaction as a unit: `writing()` for one that writes, `reading()`
for one that only reads (a transaction begun without either only reads, too). A writing unit
commits when its block ends and rolls back if the block raises. On SQLite it takes the write lock
as it begins (BEGIN IMMEDIATE): a transaction that reads and then writes could otherwise fail at
once with "database is locked", whatever the busy timeout; a reading unit never takes it. So the
write lock is held exactly as long as a writing block runs, and slow work (a password hash, a
render) belongs before or after it. On PostgreSQL both are plain transactions.

A write outside a writing unit is a bug, on every database: the session refuses to flush it or
to run an INSERT, UPDATE or DELETE (WriteOutsideUnit).
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from flask import Flask
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Engine, Result
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ORMExecuteState, Session

from .extensions import db

SQLITE_BUSY_MS = 15000
UNIT = "campaign.unit"  # session.info key: "writing" or "reading" while a unit runs


class WriteOutsideUnit(RuntimeError):
    """Something tried to write outside `database.writing()`."""


def init_app(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)
    if not event.contains(db.session, "before_flush", _refuse_flush_outside_unit):
        event.listen(db.session, "before_flush", _refuse_flush_outside_unit)
        event.listen(db.session, "do_orm_execute", _refuse_dml_outside_unit)
    app.teardown_appcontext(_end_session)  # runs before Flask-SQLAlchemy's own teardown


def _end_session(error: BaseException | None) -> None:
    """End the request's session before Flask-SQLAlchemy removes it. A page that read and then
    answered still holds its read transaction; if the database went away meanwhile (a restart),
    rolling it back fails, and the answer already made would become a 500. The connection is
    gone: drop it instead."""
    try:
        db.session.close()
    except DBAPIError:
        db.session().invalidate()


# ------------------------------------------------------------------ units


@contextmanager
def writing() -> Iterator[Session]:
    """A unit that writes: begins now (on SQLite with the write lock), commits at the end of the
    block, rolls back if it raises. Inside another writing unit it is part of that one.

    A read transaction open before it is ended first, keeping what it loaded: views read and
    check what was sent before they write, and the objects they read stay usable."""
    session = db.session()
    if session.info.get(UNIT) == "writing":
        yield session
        return
    if session.info.get(UNIT) == "reading":
        raise WriteOutsideUnit("a writing unit cannot begin inside a reading unit")
    _end_quietly(session)
    session.info[UNIT] = "writing"
    try:
        session.connection(execution_options={"writing": True})
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info.pop(UNIT, None)


@contextmanager
def reading() -> Iterator[Session]:
    """A unit that only reads, ended when the block ends (what it loaded stays usable). Long-lived
    processes (the worker, a command) use it so that no snapshot outlives its use."""
    session = db.session()
    if session.info.get(UNIT):
        yield session
        return
    _end_quietly(session)
    session.info[UNIT] = "reading"
    try:
        yield session
    finally:
        session.info.pop(UNIT, None)
        _end_quietly(session)


def _end_quietly(session: Session) -> None:
    """End a read transaction without expiring what it loaded (there is nothing to write: a
    pending change here fails as a write outside a unit)."""
    if not session.in_transaction():
        return
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


def _refuse_flush_outside_unit(session: Session, flush_context: Any, instances: Any) -> None:
    if session.info.get(UNIT) != "writing":
        raise WriteOutsideUnit(
            "a change was flushed outside database.writing(): "
            f"{[type(o).__name__ for o in [*session.new, *session.dirty, *session.deleted]][:5]}")


def _refuse_dml_outside_unit(state: ORMExecuteState) -> None:
    if (state.is_insert or state.is_update or state.is_delete) \
            and state.session.info.get(UNIT) != "writing":
        raise WriteOutsideUnit(f"{type(state.statement).__name__} outside database.writing()")


def upsert_insert(dialect: str | None = None) -> Any:
    """`insert` of the database's dialect (of `dialect`, if given), the one with ON CONFLICT
    (PostgreSQL and SQLite both have it; SQLAlchemy's generic insert does not)."""
    name = dialect or db.engine.dialect.name
    return postgresql.insert if name == "postgresql" else sqlite.insert


def changed(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed."""
    return int(cast("CursorResult[Any]", result).rowcount or 0)


# ------------------------------------------------------------------ SQLite


def _tune_sqlite(engine: Engine) -> None:
    """WAL and foreign keys on every connection; BEGIN IMMEDIATE for a writing unit.

    pysqlite's own transaction handling is turned off so that SQLAlchemy's begin event decides
    how each transaction begins."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("writing"):
            _begin_immediate(conn)
        else:
            conn.exec_driver_sql("BEGIN")


def _begin_immediate(conn: Any) -> None:
    """BEGIN IMMEDIATE, tried again every half millisecond while another writer holds the lock,
    for up to the busy timeout. SQLite's own busy handler sleeps 1, 2, 5, 10, 15... ms between
    tries, so workers that take turns writing would spend more time asleep than writing. The
    tries go straight to the driver: this runs for every writing unit."""
    raw = conn.connection.driver_connection
    deadline = time.monotonic() + SQLITE_BUSY_MS / 1000
    raw.execute("PRAGMA busy_timeout=0")
    try:
        while time.monotonic() < deadline:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    break  # not the lock: the last try below raises it as SQLAlchemy's error
            time.sleep(0.0005)
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
