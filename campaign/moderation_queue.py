"""The moderation work queue: which of a letter's signatures an organizer is looking at (a state
tab, a search, filters by flag, scope, version, source and partner), in what order, a page at a
time, and the entry each possible duplicate matches.

The same filters read from the page's address choose the signatures of a bulk action on "all
N matching" (`chosen()`): the server runs them again rather than trusting a list of thousands of
ids from the browser. A partner's role (`partner_id`) sees its own signatures only, in every
count, search and action here.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import aliased

from . import listing, moderation
from .extensions import db
from .models import SCOPES, Letter, Signature
from .text import clean_text, page_number, parse_id, sort_key

TABS = ("pending", "unconfirmed", "approved", "rejected", "held", "withdrawn", "requested")
FLAGS = ("duplicate", "free_mail")
SOURCES = ("web", "import")
PAGE_SIZES = (50, 100)
SORTS = {  # what a column heading sorts by; the id breaks ties, so paging is stable
    "name": (Signature.sort_key,),
    "signed": (Signature.created_at,),
    "place": (func.lower(Signature.city), func.lower(Signature.region)),
    "scope": (listing.SCOPE_ORDER, Signature.sort_key),
}
SEARCH_LIMIT = 100  # characters of a search that reach the query


@dataclass(frozen=True)
class Filters:
    """What the organizer chose to see: a state tab, a search, filters, an order and a page.
    Empty values filter nothing; `sort` is a key of SORTS, "-" in front for descending."""

    status: str = "pending"
    search: str = ""
    flag: str = ""
    level: str = ""  # the signature's scope (national ... individual); "scope" names a bulk choice
    version: int | None = None
    source: str = ""
    partner: str = ""  # a partner's code
    sort: str = ""
    size: int = PAGE_SIZES[0]
    page: int = 1

    def query(self, **changes: Any) -> dict[str, Any]:
        """The filters as an address's query string keeps them (only those not at their
        default), with `changes` made: for links, hidden fields and redirects."""
        values = {"status": self.status, "q": self.search, "flag": self.flag,
                  "level": self.level, "version": str(self.version or ""),
                  "source": self.source, "partner": self.partner, "sort": self.sort,
                  "size": str(self.size), "page": str(self.page)}
        values.update({key: str(value) for key, value in changes.items()})
        defaults = {"status": "pending", "size": str(PAGE_SIZES[0]), "page": "1"}
        return {key: value for key, value in values.items()
                if value and value != defaults.get(key)}

    @property
    def narrowed(self) -> bool:
        """Whether anything besides the tab narrows what is shown."""
        return bool(self.search or self.flag or self.level or self.version or self.source
                    or self.partner)


def parse(values: Mapping[str, str]) -> Filters:
    """Filters from a query string or a form; anything unknown is left out, never an error."""
    status = values.get("status", "")
    sort = values.get("sort", "")
    size = parse_id(values.get("size", "")) or PAGE_SIZES[0]
    return Filters(
        status=status if status in TABS else "pending",
        search=clean_text(values.get("q", ""), SEARCH_LIMIT),
        flag=_one_of(values.get("flag", ""), FLAGS),
        level=_one_of(values.get("level", ""), SCOPES),
        version=parse_id(values.get("version", "")),
        source=_one_of(values.get("source", ""), SOURCES),
        partner=clean_text(values.get("partner", ""), 40).lower(),
        sort=sort if sort.removeprefix("-") in SORTS else "",
        size=size if size in PAGE_SIZES else PAGE_SIZES[0],
        page=page_number(values.get("page")),
    )


def _one_of(value: str, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else ""


# ------------------------------------------------------------------ what is shown


def where(letter: Letter, chosen: Filters, partner_id: int | None = None, *,
          contacts: bool = False) -> list[ColumnElement[bool]]:
    """The signatures `chosen` selects on the letter (those the partner brought, with
    `partner_id`). The search looks in email addresses only for those who may see them
    (`contacts`): else a search would tell them an address it cannot show."""
    conditions = [Signature.letter_id == letter.id, *_of_partner(partner_id),
                  *_tab(chosen.status)]
    if chosen.search:
        conditions.append(_searched(chosen.search, contacts))
    if chosen.level:
        conditions.append(Signature.scope == chosen.level)
    if chosen.version:
        conditions.append(Signature.version_id == chosen.version)
    if chosen.source:
        conditions.append(Signature.source == chosen.source)
    if chosen.flag == "duplicate":
        conditions.append(_has_duplicate(partner_id))
    elif chosen.flag == "free_mail":
        conditions.append(_free_mail())
    return conditions


def _of_partner(partner_id: int | None) -> tuple[ColumnElement[bool], ...]:
    return () if partner_id is None else (Signature.partner_id == partner_id,)


def _tab(status: str) -> tuple[ColumnElement[bool], ...]:
    """A state tab: held ones apart from their status; those asked to be withdrawn apart too."""
    if status == "held":
        return (Signature.held.is_(True),)
    if status == "requested":
        return (Signature.withdraw_requested_at.is_not(None), Signature.status != "withdrawn")
    return (Signature.status == status, Signature.held.is_(False))


def _searched(search: str, contacts: bool) -> ColumnElement[bool]:
    """A search for words anywhere in the name (as listed or as submitted), the contact's name,
    the city or, with `contacts`, the email address; case and accents ignored in the name."""
    folded, lower = _contains(sort_key(search)), _contains(search.lower())
    found = [Signature.sort_key.like(folded, escape="\\"),
             func.lower(Signature.organization).like(lower, escape="\\"),
             func.lower(Signature.contact_name).like(lower, escape="\\"),
             func.lower(Signature.city).like(lower, escape="\\")]
    if contacts:
        found.append(func.lower(Signature.email).like(lower, escape="\\"))
    return or_(*found)


def _contains(pattern: str) -> str:
    """A LIKE pattern for `pattern` anywhere, its own % and _ taken literally."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _has_duplicate(partner_id: int | None) -> ColumnElement[bool]:
    """Another signature of the letter, not rejected, has the same organization key."""
    other = aliased(Signature)
    return exists(select(other.id).where(
        other.letter_id == Signature.letter_id, other.org_key == Signature.org_key,
        other.id != Signature.id, other.status != "rejected", other.org_key != "",
        *(() if partner_id is None else (other.partner_id == partner_id,))))


def _free_mail() -> ColumnElement[bool]:
    """An organization's address at a free-mail provider (moderation.FREE_MAIL)."""
    email = func.lower(Signature.email)
    return (Signature.scope != "individual") & or_(
        *(email.like(f"%@{domain}") for domain in sorted(moderation.FREE_MAIL)))


def order(chosen: Filters) -> tuple[Any, ...]:
    """The order of the rows: the chosen column's, else each tab's own (the queues oldest
    first, the approved and rejected in list order, withdrawals newest first)."""
    if chosen.sort:
        keys = SORTS[chosen.sort.removeprefix("-")]
        if chosen.sort.startswith("-"):
            return (*(key.desc() for key in keys), Signature.id.desc())
        return (*keys, Signature.id)
    if chosen.status in ("pending", "unconfirmed", "held"):
        return (Signature.created_at, Signature.id)
    if chosen.status == "requested":
        return (Signature.withdraw_requested_at, Signature.id)
    if chosen.status == "withdrawn":
        return (Signature.withdrawn_at.desc(), Signature.id)
    return listing.ORDER


class Page(NamedTuple):
    rows: list[Signature]
    number: int
    pages: int
    total: int  # how many the filters select, on every page


def page(letter: Letter, chosen: Filters, partner_id: int | None = None, *,
         contacts: bool = False, tab_counts: Mapping[str, int] | None = None) -> Page:
    """One page of the signatures `chosen` selects; a number past the last page shows the last.
    A whole tab's total is its count in `tab_counts` (moderation.status_counts, read for the
    tabs anyway): only a search or a filter is counted again."""
    conditions = where(letter, chosen, partner_id, contacts=contacts)
    if tab_counts is not None and not chosen.narrowed:
        total = tab_counts[chosen.status]
    else:
        total = int(db.session.scalar(select(func.count()).select_from(Signature)
                                      .where(*conditions)) or 0)
    pages = max(1, -(-total // chosen.size))
    number = min(chosen.page, pages)
    rows = db.session.scalars(select(Signature).where(*conditions).order_by(*order(chosen))
                              .offset((number - 1) * chosen.size).limit(chosen.size))
    return Page(list(rows), number, pages, total)


def chosen(letter: Letter, filters: Filters, partner_id: int | None = None, *,
           contacts: bool = False) -> ColumnElement[bool]:
    """Every signature `filters` selects, as the condition of a bulk action (moderation.Choice)."""
    return and_(*where(letter, filters, partner_id, contacts=contacts))


def picked(letter: Letter, ids: list[int], partner_id: int | None = None) -> ColumnElement[bool]:
    """The signatures ticked on the page, of this letter (and partner) only."""
    return and_(Signature.letter_id == letter.id, Signature.id.in_(ids),
                *_of_partner(partner_id))


# ------------------------------------------------------------------ possible duplicates


class Match(NamedTuple):
    """The entry a possible duplicate matches: the oldest other signature, not rejected, with the
    same organization key; and how many others share it."""

    id: int
    name: str
    others: int


@dataclass
class _Key:
    oldest: list[tuple[int, str]] = field(default_factory=list)
    count: int = 0


def matches(letter: Letter, rows: list[Signature],
            partner_id: int | None = None) -> dict[int, Match]:
    """The match of each row that has one, by row id: one query reads the two oldest
    signatures of each key on the page and the count of each key."""
    keys = {row.org_key for row in rows if row.org_key}
    if not keys:
        return {}
    ranked = select(
        Signature.id, Signature.org_key, Signature.shown_name.label("name"),
        func.row_number().over(partition_by=Signature.org_key,
                               order_by=(Signature.created_at, Signature.id)).label("rank"),
        func.count().over(partition_by=Signature.org_key).label("n"),
    ).where(Signature.letter_id == letter.id, Signature.status != "rejected",
            Signature.org_key.in_(keys), *_of_partner(partner_id)).subquery()
    found: dict[str, _Key] = {}
    for entry in db.session.execute(select(ranked).where(ranked.c.rank <= 2)
                                    .order_by(ranked.c.org_key, ranked.c.rank)):
        kept = found.setdefault(entry.org_key, _Key())
        kept.oldest.append((entry.id, entry.name))
        kept.count = int(entry.n)
    shown = {}
    for row in rows:
        key = found.get(row.org_key)
        if key is None:
            continue
        others = key.count - (row.status != "rejected")
        other = next(((i, name) for i, name in key.oldest if i != row.id), None)
        if others > 0 and other is not None:
            shown[row.id] = Match(other[0], other[1], others)
    return shown
