"""Engine behaviour per database: SQLite gets WAL, a busy timeout and immediate write transactions."""
from __future__ import annotations

from typing import Any

from flask import Flask, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

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
        conn.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")
