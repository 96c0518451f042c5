"""Durable work queues in the database, shared by the outbox (emails) and the renders (PDFs).

A row is work to do. Workers on any host claim due rows with a lease (FOR UPDATE SKIP LOCKED on
PostgreSQL; SQLite's write lock serializes claims), renew the lease just before the slow part,
and mark each row done, or failed: queued again after a pause that grows with each attempt
(BACKOFF), or given up after too many. A worker that dies gives its rows back when their lease
runs out, and a worker whose lease ran out can no longer mark a row: each claim carries the
attempt number it made, so the same work is never done twice at once.

Rows are queued in the caller's transaction (a rolled-back request queues nothing); claiming,
renewing and marking run in writing units of their own, held only for those few statements.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update

from .database import changed, reading, writing
from .extensions import db
from .models import utcnow

# Seconds to wait before retry N (the first retry comes within 30 seconds).
BACKOFF = (20, 60, 300, 900, 1800, 3600, 7200)


@dataclass(frozen=True)
class Claim:
    """A row this worker took: `attempt` is the attempt number its claim made, so a claim that
    another worker has since taken over (after this one's lease ran out) no longer matches."""

    id: int
    attempt: int


@dataclass(frozen=True)
class Queue:
    """The queue kept in `model`'s table: its rows' `status` ("queued", then `working` while a
    worker holds the lease in `due`, then `done` or `dead`), `attempts` and `last_error`."""

    model: Any
    working: str
    done: str
    dead: str
    lease_seconds: Callable[[], float]
    max_attempts: Callable[[], int]

    def any_due(self, now: datetime | None = None,
                where: Sequence[ColumnElement[bool]] = ()) -> bool:
        """Whether a row is due (matching `where`): a read, so that a worker looking at an
        empty queue never takes SQLite's write lock."""
        with reading():
            return bool(db.session.scalar(
                select(select(self.model.id).where(*self._due(now or utcnow(), where)).exists())))

    def _due(self, now: datetime, where: Sequence[ColumnElement[bool]]) -> list[Any]:
        """The condition of a due row (matching `where`)."""
        model = self.model
        return [model.status.in_(("queued", self.working)), model.due <= now, *where]

    def claim(self, limit: int, now: datetime | None = None,
              where: Sequence[ColumnElement[bool]] = ()) -> list[Claim]:
        """Take up to `limit` due rows (and matching `where`) for this worker, in the caller's
        writing unit. A row held by a worker whose lease ran out is due again."""
        model, now = self.model, now or utcnow()
        due = (
            select(model)
            .where(*self._due(now, where))
            .order_by(model.due, model.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = list(db.session.scalars(due))
        lease = now + timedelta(seconds=self.lease_seconds())
        for row in rows:
            row.status = self.working
            row.attempts += 1
            row.due = lease
        return [Claim(row.id, row.attempts) for row in rows]

    def holds(self, each: Claim) -> list[ColumnElement[bool]]:
        """The condition that this worker still holds the claimed row."""
        model = self.model
        return [model.id == each.id, model.status == self.working,
                model.attempts == each.attempt]

    def renew(self, each: Claim) -> bool:
        """Renew the lease on a claimed row just before working on it; False when the row is no
        longer this worker's (done, failed, or taken over after the lease ran out)."""
        with writing():
            result = db.session.execute(
                update(self.model).where(*self.holds(each))
                .values(due=utcnow() + timedelta(seconds=self.lease_seconds()))
                .execution_options(synchronize_session=False))
        return bool(changed(result))

    def finish(self, each: Claim, **values: Any) -> bool:
        """Mark the row done (with `values` set too), if this worker still holds it: in the
        caller's writing unit, so that the work's own writes and its end commit together."""
        result = db.session.execute(
            update(self.model).where(*self.holds(each))
            .values(status=self.done, last_error="", **values)
            .execution_options(synchronize_session=False))
        return bool(changed(result))

    def fail(self, each: Claim, reason: str, final: bool = False, **values: Any) -> str | None:
        """Not done: queued again after a pause that grows with each attempt, or given up after
        max_attempts (or at once when `final`), with `values` set too; unless this worker's claim
        on it has ended meanwhile. Returns the status it now has (None: not this worker's)."""
        with writing():
            row = db.session.get(self.model, each.id, with_for_update=True,
                                 populate_existing=True)
            if row is None or row.status != self.working or row.attempts != each.attempt:
                return None
            row.last_error = reason[:500]
            for key, value in values.items():
                setattr(row, key, value)
            if final or row.attempts >= self.max_attempts():
                row.status = self.dead
            else:
                row.status = "queued"
                row.due = utcnow() + timedelta(
                    seconds=BACKOFF[min(row.attempts, len(BACKOFF)) - 1])
            return str(row.status)
