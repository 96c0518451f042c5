"""Limits that hold across workers and hosts: each counted attempt is a row in the database."""
from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from .extensions import db
from .models import RateEvent, utcnow

KEEP = timedelta(days=1)  # longer than any window; older events are deleted as new ones come


def key(kind: str, value: str) -> str:
    """A key for `value` (an address, an id) that keeps no address in clear."""
    secret = current_app.config["SECRET_KEY"]
    return f"{kind}:{hashlib.sha256(f'{secret}:{kind}:{value}'.encode()).hexdigest()[:40]}"


def enabled() -> bool:
    return bool(current_app.config["RATELIMIT_ENABLED"])


def count(event_key: str, window: timedelta) -> int:
    return int(db.session.scalar(
        select(func.count()).select_from(RateEvent)
        .where(RateEvent.key == event_key, RateEvent.created_at >= utcnow() - window)
    ) or 0)


def exceeded(event_key: str, limit: int, window: timedelta) -> bool:
    """True when `limit` events happened within `window` (never while limits are off)."""
    return enabled() and count(event_key, window) >= limit


def wait(event_key: str, limit: int, window: timedelta) -> timedelta:
    """How long until an attempt under `event_key` is allowed again."""
    times = db.session.scalars(
        select(RateEvent.created_at)
        .where(RateEvent.key == event_key, RateEvent.created_at >= utcnow() - window)
        .order_by(RateEvent.created_at.desc()).limit(limit)
    ).all()
    if len(times) < limit:
        return timedelta(0)
    return max(times[-1] + window - utcnow(), timedelta(0))


def hit(event_key: str) -> None:
    """Count one event in the caller's transaction, and drop events too old to matter."""
    if not enabled():
        return
    now = utcnow()
    db.session.execute(delete(RateEvent).where(RateEvent.created_at < now - KEEP))
    db.session.add(RateEvent(key=event_key, created_at=now))
    db.session.flush()
