"""The public list's reads: pages of listed signatories and their count, cheap at any size.

A page is read scope by scope in listing order (national, state, local, international), each
scope a range of the listing index in name order, so that no query sorts the whole list; the
counts per scope say which scopes a page spans (usually one, two at a boundary).

The counts are read fresh on every view (one GROUP BY along the same index): they decide which
rows a page reads, so a kept count could hide a signatory another worker has just approved.
"""
from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import func, literal, select, union_all

from .extensions import db
from .models import SCOPES, Letter, Signature
from .signing import _listed_where


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
    """How many signatories each scope lists, in listing order (empty scopes left out).

    Always counted fresh: the counts decide which rows a page reads, so a count kept from
    before another worker's approval would hide that signatory from the list."""
    return _scope_counts(letter, search)


def _scope_counts(letter: Letter, search: str) -> dict[str, int]:
    found = dict(db.session.execute(
        select(Signature.scope, func.count()).where(*_listed_where(letter, search))
        .group_by(Signature.scope)).all())
    return {scope: int(found[scope]) for scope in SCOPES if found.get(scope)}
