"""The one read model of a listed signatory, for every output: the public list and its JSON, the
CSV exports, the signed letter's PDF and its delivery.

A signature is listed when it is approved and not held (where_listed); the list is in scope order
(national, state, local, international), then by name (ORDER), along the listing index. Each
output reads `Listed` rows: one query, plain tuples, the shown name computed once in SQL.

The number listed per letter and scope is kept in `listed_count` by triggers on the signature
table (migration 0004): whatever changes a signature (an approval, a rejection, an import, a
deletion; from a page, a command or another host) changes its count in the same transaction. So
a page reads a handful of rows instead of counting the list, and the counts also say which
scopes a page spans, so that it reads one range of the listing index per scope.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, bindparam, case, func, literal, select, union_all

from . import text
from .extensions import db
from .models import SCOPES, Letter, ListedCount, Signature, takes_signatures
from .text import SLUG_RE

SEARCH_COUNT_LIMIT = 1000  # a search counts its matches up to this many, then says "more than"


class Listed(NamedTuple):
    """A listed signatory as every output shows it. The contact fields after `contact_name` are
    read only for the organizers' private export (`rows(private=True)`); elsewhere they are
    empty."""

    id: int
    shown_name: str
    city: str
    region: str
    country: str
    scope: str
    contact_name: str
    contact_title: str = ""
    email: str = ""
    phone: str = ""
    website: str = ""

    @property
    def place(self) -> str:
        return text.place(self.city, self.region)


PUBLIC_COLUMNS = (Signature.id, Signature.shown_name, Signature.city, Signature.region,
                  Signature.country, Signature.scope, Signature.contact_name)
PRIVATE_COLUMNS = (*PUBLIC_COLUMNS, Signature.contact_title, Signature.email, Signature.phone,
                   Signature.website)
SCOPE_ORDER = case({scope: i for i, scope in enumerate(SCOPES)}, value=Signature.scope, else_=9)
ORDER = (SCOPE_ORDER, Signature.sort_key, Signature.id)


def where_listed(letter: Letter) -> list[ColumnElement[bool]]:
    """The predicate of a listed signature of `letter`."""
    return [Signature.letter_id == letter.id, Signature.status == "approved",
            Signature.held.is_(False)]


def _matching(letter: Letter, search: str) -> list[ColumnElement[bool]]:
    where = where_listed(letter)
    search = text.clean_text(search, 100)  # no NUL or controls reach the query
    if search:
        name, city = _contains(text.sort_key(search)), _contains(search.lower())
        where.append(Signature.sort_key.like(name, escape="\\")
                     | func.lower(Signature.city).like(name, escape="\\")
                     | func.lower(Signature.city).like(city, escape="\\"))
    return where


def _contains(pattern: str) -> str:
    """A LIKE pattern for `pattern` anywhere, its own % and _ taken literally."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _listed(row: Any) -> Listed:
    """A row of PUBLIC_COLUMNS or PRIVATE_COLUMNS; an email left out (None) reads as ""."""
    return Listed(row[0], *(value or "" for value in row[1:]))


# ------------------------------------------------------------------ counts


class ListState(NamedTuple):
    """What the kept counts say of a letter's list: how many each scope lists, in listing order
    (empty scopes left out), and a key that changes whenever anything listed changes."""

    counts: dict[str, int]
    revision: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class Stamp(NamedTuple):
    """What a public page needs to know of its letter before it can answer from what it kept."""

    id: int
    status: str
    deadline: datetime | None
    updated_at: datetime

    def accepts_signatures(self) -> bool:
        return takes_signatures(self.status, self.deadline)


# The letter and its kept counts in one query: a public page that kept its answer needs no more.
STAMPED = (select(Letter.id, Letter.status, Letter.deadline, Letter.updated_at,
                  ListedCount.scope, ListedCount.listed, ListedCount.revision)
           .outerjoin(ListedCount, ListedCount.letter_id == Letter.id)
           .where(Letter.slug == bindparam("slug")))
STATE = select(ListedCount.scope, ListedCount.listed, ListedCount.revision) \
    .where(ListedCount.letter_id == bindparam("letter_id"))


def stamped(slug: str) -> tuple[Stamp, ListState] | None:
    """The public letter at `slug` (None for a draft or no letter) and its list's state."""
    if not SLUG_RE.match(slug):
        return None
    rows = db.session.execute(STAMPED, {"slug": slug}).all()
    if not rows or rows[0].status == "draft":
        return None
    first = rows[0]
    stamp = Stamp(first.id, first.status, first.deadline, first.updated_at)
    return stamp, _state([(row.scope, row.listed, row.revision) for row in rows if row.scope])


def state(letter: Letter) -> ListState:
    """The kept counts and revisions of the letter's list: one query of a few rows."""
    return _state(db.session.execute(STATE, {"letter_id": letter.id}).all())


def _state(rows: Iterable[tuple[str, int, int]]) -> ListState:
    rows = list(rows)
    listed = {scope: int(n) for scope, n, _ in rows if n}
    return ListState({scope: listed[scope] for scope in SCOPES if scope in listed},
                     tuple(sorted((scope, int(revision)) for scope, _, revision in rows)))


def scope_counts(letter: Letter) -> dict[str, int]:
    """How many signatories each scope lists, in listing order (empty scopes left out)."""
    return state(letter).counts


def count(letter: Letter) -> int:
    """How many signatories the letter lists."""
    return state(letter).total


def search_count(letter: Letter, search: str) -> int:
    """How many listed signatories match `search`, counted up to SEARCH_COUNT_LIMIT + 1 (a search
    has to look at each row; it stops once the answer is "more than the limit")."""
    matches = select(literal(1)).where(*_matching(letter, search)).limit(SEARCH_COUNT_LIMIT + 1)
    return int(db.session.scalar(select(func.count()).select_from(matches.subquery())) or 0)


def fresh_counts(letter_id: int | None = None) -> dict[tuple[int, str], int]:
    """Listed signatures per (letter, scope), counted now from the signature table."""
    query = (select(Signature.letter_id, Signature.scope, func.count())
             .where(Signature.status == "approved", Signature.held.is_(False))
             .group_by(Signature.letter_id, Signature.scope))
    if letter_id is not None:
        query = query.where(Signature.letter_id == letter_id)
    return {(lid, scope): int(n) for lid, scope, n in db.session.execute(query)}


def kept_counts(letter_id: int | None = None) -> dict[tuple[int, str], int]:
    """The kept counts per (letter, scope), zeros left out."""
    query = select(ListedCount.letter_id, ListedCount.scope, ListedCount.listed) \
        .where(ListedCount.listed != 0)
    if letter_id is not None:
        query = query.where(ListedCount.letter_id == letter_id)
    return {(lid, scope): int(n) for lid, scope, n in db.session.execute(query)}


def count_mismatches() -> dict[tuple[int, str], tuple[int, int]]:
    """Every (letter, scope) whose kept count differs from a fresh count: (kept, fresh)."""
    kept, fresh = kept_counts(), fresh_counts()
    return {key: (kept.get(key, 0), fresh.get(key, 0)) for key in kept.keys() | fresh.keys()
            if kept.get(key, 0) != fresh.get(key, 0)}


def repair_counts() -> int:
    """Set every kept count to a fresh count (in the caller's writing unit); returns how many
    were wrong."""
    wrong = count_mismatches()
    for (letter_id, scope), (_, fresh) in wrong.items():
        row = db.session.get(ListedCount, (letter_id, scope))
        if row is None:
            db.session.add(ListedCount(letter_id=letter_id, scope=scope, listed=fresh))
        else:
            row.listed = fresh
    db.session.flush()
    return len(wrong)


# ------------------------------------------------------------------ rows


def page(letter: Letter, search: str = "", offset: int = 0, limit: int = 200,
         counts: dict[str, int] | None = None) -> list[Listed]:
    """Up to `limit` listed signatories from position `offset` of the list (of those matching
    `search`, if given), in order.

    Without a search, the kept counts (`counts`, read now if not given) say which scopes the
    page spans: one query reads each as a range of the listing index (UNION ALL where it spans
    several), so no query sorts the list."""
    if search:
        return [_listed(row) for row in db.session.execute(
            select(*PUBLIC_COLUMNS).where(*_matching(letter, search)).order_by(*ORDER)
            .offset(offset).limit(limit))]
    parts = []
    start = wanted = 0
    counts = scope_counts(letter) if counts is None else counts
    for position, (scope, listed) in enumerate(counts.items()):
        skip = max(offset - start, 0)
        take = min(limit - wanted, listed - skip)
        if take > 0:
            parts.append(select(*PUBLIC_COLUMNS, Signature.sort_key,
                                literal(position).label("part"))
                         .where(*where_listed(letter), Signature.scope == scope)
                         .order_by(Signature.sort_key, Signature.id).offset(skip).limit(take))
            wanted += take
        start += listed
    if not parts:
        return []
    if len(parts) == 1:
        query = parts[0]
    else:
        spanned = union_all(*(select(part.subquery()) for part in parts)).subquery()
        query = select(spanned).order_by(spanned.c.part, spanned.c.sort_key, spanned.c.id)
    return [_listed(row[:len(PUBLIC_COLUMNS)]) for row in db.session.execute(query)]


def rows(letter: Letter, *, private: bool = False, exclude: Sequence[int] = ()) -> list[Listed]:
    """The whole list in order (the PDF, delivery); with `private`, the contact fields too;
    without the signatures whose ids are in `exclude`."""
    query = select(*(PRIVATE_COLUMNS if private else PUBLIC_COLUMNS)).where(*where_listed(letter))
    if exclude:
        query = query.where(Signature.id.not_in(list(exclude)))
    return [_listed(row) for row in db.session.execute(query.order_by(*ORDER))]


def stream(letter: Letter, *, private: bool = False) -> Iterator[Listed]:
    """The whole list in order, streamed on a connection of its own (a long export holds
    neither the session's identity map nor the whole list in memory)."""
    columns = PRIVATE_COLUMNS if private else PUBLIC_COLUMNS
    query = select(*columns).where(*where_listed(letter)).order_by(*ORDER)
    with db.engine.connect() as conn:
        conn.execution_options(stream_results=True, yield_per=1000)
        for row in conn.execute(query):
            yield _listed(row)

