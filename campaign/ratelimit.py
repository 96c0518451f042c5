"""Limits that hold across workers and hosts: each counted attempt is a row in the database.
Counting one is a plain insert; the worker's sweep deletes events too old to matter (prune())."""
from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import cast

from flask import current_app
from sqlalchemy import Table, delete, func, select

from .database import UNIT, WriteOutsideUnit, changed
from .extensions import db
from .models import RateEvent, utcnow

EVENTS = cast(Table, RateEvent.__table__)
KEEP = timedelta(days=1)  # longer than any window; older events are deleted as new ones come


def key(kind: str, value: str) -> str:
    """A key for `value` (an address, an id) that keeps no address in clear."""
    secret = current_app.config["SECRET_KEY"]
    return f"{kind}:{hashlib.sha256(f'{secret}:{kind}:{value}'.encode()).hexdigest()[:40]}"


def network(ip: str) -> str:
    """What the limits count as one sender: an IPv4 address, or the /64 network of an IPv6 one
    (a single host is usually given a whole /64, so each of its addresses must not count apart)."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def wide_network(ip: str) -> str | None:
    """The /48 of an IPv6 address (a whole site's, 65,536 /64s), for a wider, higher limit; None
    for anything else."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((address, 48), strict=False))
    return None


def address_key(kind: str, ip: str) -> str:
    """A key for the network of the address `ip` (network())."""
    return key(kind, network(ip))


def enabled() -> bool:
    return bool(current_app.config["RATELIMIT_ENABLED"])


def count(event_key: str, window: timedelta) -> int:
    return int(db.session.scalar(
        select(func.count()).select_from(RateEvent)
        .where(RateEvent.key == event_key, RateEvent.created_at >= utcnow() - window)
    ) or 0)


def exceeded(event_key: str, limit: int, window: timedelta, always: bool = False) -> bool:
    """True when `limit` events happened within `window`; never while limits are off, unless
    `always` (the login limits, which no load test needs off)."""
    return (always or enabled()) and count(event_key, window) >= limit


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


def hit(*event_keys: str, always: bool = False) -> None:
    """Count one event under each key, in the caller's writing unit (one INSERT); nothing while
    limits are off, unless `always`."""
    if not (always or enabled()) or not event_keys:
        return
    if db.session.info.get(UNIT) != "writing":  # a Core statement: the session's guard is not asked
        raise WriteOutsideUnit("a rate event counted outside database.writing()")
    now = utcnow()  # a Core statement: a third of the ORM's cost, in the signing unit
    db.session.connection().execute(EVENTS.insert(), [{"key": event_key, "created_at": now}
                                                      for event_key in event_keys])


def counts(event_keys: Iterable[str], window: timedelta) -> dict[str, int]:
    """How many events each key had within `window`, in one query."""
    keys = list(dict.fromkeys(event_keys))
    if not keys:
        return {}
    rows = db.session.execute(
        select(RateEvent.key, func.count()).where(RateEvent.key.in_(keys),
                                                  RateEvent.created_at >= utcnow() - window)
        .group_by(RateEvent.key))
    return {key: int(n) for key, n in rows}


def allowance(limits: Iterable[tuple[str, int, timedelta]]) -> tuple[str, ...] | None:
    """The keys to count an event under (hit()) when no (key, limit, window) is exceeded, else
    None; () while limits are off. Only reads: it may run before the writing unit that counts
    the event, which keeps SQLite's write lock for the insert alone (two requests at the same
    moment may then both pass a limit's last place: the limits are that approximate)."""
    limits = list(limits)
    if not enabled():
        return ()
    if any(exceeded(event_key, limit, window) for event_key, limit, window in limits):
        return None
    return tuple(dict.fromkeys(event_key for event_key, _, _ in limits))


def prune(now: datetime | None = None) -> int:
    """Delete the events older than any window (the worker's sweep, once a minute)."""
    cutoff = (now or utcnow()) - KEEP
    return changed(db.session.execute(delete(RateEvent).where(RateEvent.created_at < cutoff)))
