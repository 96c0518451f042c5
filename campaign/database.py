"""Engine behaviour per database: SQLite gets WAL, a busy timeout and immediate write
transactions."""
from __future__ import annotations

import time
from typing import Any, cast

from flask import Flask, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import CursorResult, Engine, Result
from sqlalchemy.exc import OperationalError

from .extensions import db

SQLITE_BUSY_MS = 15000


def init_app(app: Flask) -> None:
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            _tune_sqlite(db.engine)


def _tune_sqlite(engine: Engine) -> None:
    """WAL and foreign keys on every connection; BEGIN IMMEDIATE for anything that may write.

    pysqlite's own transaction handling is turned off so that SQLAlchemy's begin event decides:
    a read-then-write transaction that began deferred can fail at once with "database is locked"
    whatever the busy timeout, so every transaction outside a GET request takes the write lock
    up front and waits its turn instead. A connection marked `readonly` (a streamed export) never
    takes it.
    """

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
        reading = conn.get_execution_options().get("readonly") or (
            has_request_context() and request.method in ("GET", "HEAD"))
        if reading:
            conn.exec_driver_sql("BEGIN")
        else:
            _begin_immediate(conn)


def _begin_immediate(conn: Any) -> None:
    """BEGIN IMMEDIATE, tried again every half millisecond while another writer holds the lock,
    for up to the busy timeout. SQLite's own busy handler sleeps 1, 2, 5, 10, 15... ms between
    tries, so workers that take turns writing would spend more time asleep than writing."""
    deadline = time.monotonic() + SQLITE_BUSY_MS / 1000
    conn.exec_driver_sql("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as exc:
                if "locked" not in str(exc.orig) or time.monotonic() > deadline:
                    raise
            time.sleep(0.0005)
    finally:
        conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")


def changed(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed."""
    return int(cast("CursorResult[Any]", result).rowcount or 0)


def read_first() -> None:
    """Begin a request that reads before it writes with a read-only transaction: on SQLite it
    takes no write lock, so loading and checking what was sent run alongside other writers.
    Call write_next() before the first write."""
    if not db.session().in_transaction():
        db.session.connection(execution_options={"readonly": True})


def write_next() -> None:
    """End read_first()'s transaction on SQLite: the writes that follow begin their own, which
    takes the write lock (BEGIN IMMEDIATE) only for as long as they last. On PostgreSQL, whose
    writers do not lock each other out, the request goes on in the same transaction."""
    if db.engine.dialect.name == "sqlite":
        session = db.session()
        expire, session.expire_on_commit = session.expire_on_commit, False
        try:
            session.commit()  # nothing to commit; what was read stays loaded for the writes
        finally:
            session.expire_on_commit = expire
