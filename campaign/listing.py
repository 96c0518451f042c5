"""The public list's reads: pages of listed signatories and their count, cheap at any size.

A page is read scope by scope in listing order (national, state, local, international), each
scope a range of the listing index in name order, so that no query sorts the whole list; the
counts per scope say which scopes a page spans (usually one, two at a boundary).

Counting thousands of rows on every view was most of the list's cost, so the counts without a
search are kept per worker for COUNT_SECONDS. A change to signatures made by this worker drops
them at once; one made by another worker (or host) shows in the count within COUNT_SECONDS,
while the rows themselves are always read fresh.
"""
from __future__ import annotations

import threading
import time
from typing import Any, NamedTuple

from flask import current_app, has_app_context
from flask_sqlalchemy.session import Session
from sqlalchemy import event, func, literal, select, union_all
from sqlalchemy.orm import ORMExecuteState, UOWTransaction

from .extensions import db
from .models import SCOPES, Letter, Signature
from .signing import _listed_where

COUNT_SECONDS = 10.0


class Row(NamedTuple):
    """A listed signatory as the public list, its JSON and its CSV show it."""

    id: int
    shown_name: str
    city: str
    region: str
    country: str
    scope: str
    contact_name: str
    place: str


COLUMNS = (Signature.id, Signature.organization, Signature.display_name, Signature.city,
           Signature.region, Signature.country, Signature.scope, Signature.contact_name)


def page(letter: Letter, search: str = "", offset: int = 0, limit: int = 200) -> list[Row]:
    """Up to `limit` listed signatories from position `offset` of the whole list, in order: one
    query, each scope it spans a range of the listing index (UNION ALL where it spans several)."""
    parts = []
    start = wanted = 0
    for position, (scope, listed) in enumerate(scope_counts(letter, search).items()):
        skip = max(offset - start, 0)
        take = min(limit - wanted, listed - skip)
        if take > 0:
            where = [*_listed_where(letter, search), Signature.scope == scope]
            parts.append(select(*COLUMNS, Signature.sort_key, literal(position).label("part"))
                         .where(*where).order_by(Signature.sort_key, Signature.id)
                         .offset(skip).limit(take))
            wanted += take
        start += listed
    if not parts:
        return []
    if len(parts) == 1:
        query = parts[0]
    else:
        spanned = union_all(*(select(part.subquery()) for part in parts)).subquery()
        query = select(spanned).order_by(spanned.c.part, spanned.c.sort_key, spanned.c.id)
    return [Row(id_, display_name or organization, city, region, country, scope, contact_name,
                f"{city}, {region}" if city and region else city or region)
            for id_, organization, display_name, city, region, country, scope, contact_name, *_
            in db.session.connection().execute(query).all()]


def count(letter: Letter, search: str = "") -> int:
    return sum(scope_counts(letter, search).values())


def scope_counts(letter: Letter, search: str = "") -> dict[str, int]:
    """How many signatories each scope lists, in listing order (empty scopes left out)."""
    if search:
        return _scope_counts(letter, search)
    cache = _cache()
    kept = cache.get(letter.id)
    if kept is not None and time.monotonic() - kept[0] < COUNT_SECONDS:
        return kept[1]
    counts = _scope_counts(letter, "")
    cache[letter.id] = (time.monotonic(), counts)
    return counts


def _scope_counts(letter: Letter, search: str) -> dict[str, int]:
    found = dict(db.session.execute(
        select(Signature.scope, func.count()).where(*_listed_where(letter, search))
        .group_by(Signature.scope)).all())
    return {scope: int(found[scope]) for scope in SCOPES if found.get(scope)}


# ------------------------------------------------------------------ the cache and its upkeep


_lock = threading.Lock()


def _cache() -> dict[int, tuple[float, dict[str, int]]]:
    """This app's counts by letter id (an app of its own per test, so per app, not per process)."""
    with _lock:
        return current_app.extensions.setdefault("campaign.listing_counts", {})  # type: ignore[no-any-return]


def _forget(session: Any) -> None:
    session.info["campaign.listing_changed"] = True
    if has_app_context():
        _cache().clear()


@event.listens_for(Session, "after_flush")
def _after_flush(session: Any, _flush: UOWTransaction) -> None:
    if any(isinstance(o, Signature) for o in (*session.new, *session.dirty, *session.deleted)):
        _forget(session)


@event.listens_for(Session, "do_orm_execute")
def _on_statement(state: ORMExecuteState) -> None:
    if (state.is_insert or state.is_update or state.is_delete) and state.bind_mapper is not None \
            and state.bind_mapper.class_ is Signature:
        _forget(state.session)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _after_transaction(session: Any) -> None:
    """Drop the counts again once the change is committed (or undone): another request may have
    counted while it was in flight."""
    if session.info.pop("campaign.listing_changed", False) and has_app_context():
        _cache().clear()
