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

A letter whose text changed after some signed it (a version of kind "change", see reconsent.py)
lists those who have not agreed to the current text after everyone else, scope by scope, until
they confirm it (Split): each row then says which version it agreed to. A page of such a list
also counts, once, those listed who agreed to an earlier text (earlier_counts), so that it still
reads ranges rather than sorting the list.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from flask_babel import format_number, ngettext
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import ColumnElement, bindparam, case, func, literal, select, union_all

from . import text
from .agreed import Split, split_of
from .extensions import db
from .models import (
    SCOPES,
    Letter,
    ListedCount,
    Partner,
    ShareImage,
    Signature,
    effective_status,
    takes_signatures,
)
from .text import SLUG_RE

SEARCH_COUNT_LIMIT = 1000  # a search counts its matches up to this many, then says "more than"


class Listed(NamedTuple):
    """A listed signatory as every output shows it. The contact fields from `contact_title` to
    `website` are read only for the organizers' private export (`rows(private=True)`); elsewhere
    they are empty. An individual (scope "individual") is listed by name (`shown_name`) with
    their `title` and `affiliation`, both public; an organization has neither."""

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
    affiliation: str = ""
    title: str = ""
    keep_updated: str = ""  # "yes" or "no" in the private export, as the two below
    unsubscribed: str = ""  # from the letter's updates, with an update's link
    partner: str = ""  # the code of the partner whose link it came through (partners.py)
    # Read only for a letter whose text changed after it was signed (Split): the number of the
    # version this signatory agreed to (0: before the letter had any), and whether that text is
    # earlier than the one now asking for consent. Elsewhere None and False.
    signed_version: int | None = None
    earlier: bool = False

    @property
    def version(self) -> str:
        """The version agreed to, as the CSV export writes it ("" where not read)."""
        return "" if self.signed_version is None else str(self.signed_version)

    @property
    def current_text(self) -> str:
        """Whether it agreed to the current text, as the CSV export writes it."""
        return "no" if self.earlier else "yes"

    @property
    def place(self) -> str:
        return text.place(self.city, self.region)

    @property
    def kind(self) -> str:
        """"individual" or "organization", as the exports name them."""
        return INDIVIDUAL if self.scope == INDIVIDUAL else "organization"

    @property
    def identification(self) -> str:
        """An individual's title and affiliation as listed ("Professor, Sample College*"): the
        star refers to the note under the group's heading that affiliations are for
        identification only. "" for an organization."""
        affiliation = f"{self.affiliation}*" if self.affiliation else ""
        return ", ".join(part for part in (self.title, affiliation) if part)

    @property
    def contact(self) -> str:
        """The contact person shown beside the name where the letter shows contacts: an
        organization's; none for an individual, whose name it is."""
        return "" if self.scope == INDIVIDUAL else self.contact_name


INDIVIDUAL = "individual"  # the scope of a person signing for themselves, listed last
# An individual's title is public (it identifies them); an organization's contact's is not.
PUBLIC_TITLE = case((Signature.scope == INDIVIDUAL, Signature.contact_title), else_="")
PUBLIC_COLUMNS = (Signature.id, Signature.shown_name, Signature.city, Signature.region,
                  Signature.country, Signature.scope, Signature.contact_name,
                  Signature.affiliation, PUBLIC_TITLE)
PRIVATE_COLUMNS = (*PUBLIC_COLUMNS, Signature.contact_title, Signature.email, Signature.phone,
                   Signature.website, case((Signature.keep_updated, "yes"), else_="no"),
                   case((Signature.unsubscribed_at.is_not(None), "yes"), else_="no"),
                   select(Partner.code).where(Partner.id == Signature.partner_id)
                   .scalar_subquery())
# The Listed field each column of PRIVATE_COLUMNS (and so of PUBLIC_COLUMNS) fills.
COLUMN_FIELDS = ("id", "shown_name", "city", "region", "country", "scope", "contact_name",
                 "affiliation", "title", "contact_title", "email", "phone", "website",
                 "keep_updated", "unsubscribed", "partner")
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
    values: dict[str, Any] = {field: value or "" for field, value in
                              zip(COLUMN_FIELDS[1:], row[1:len(COLUMN_FIELDS)], strict=False)}
    return Listed(row[0], **values)


# ------------------------------------------------------------------ counts


class ListState(NamedTuple):
    """What the kept counts say of a letter's list: how many each scope lists, in listing order
    (empty scopes left out), and a key that changes whenever anything listed changes."""

    counts: dict[str, int]
    revision: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def individuals(self) -> int:
        return self.counts.get(INDIVIDUAL, 0)

    @property
    def organizations(self) -> int:
        return self.total - self.individuals


def tally(organizations: int, individuals: int, signers: str | None = "organizations"
          ) -> list[tuple[int, str]]:
    """A count as pages and the PDF write it, in parts: [(3, "organizations"), (1,
    "individual")]. A letter says the kinds it takes (both, even at 0), and a kind it no longer
    takes only while some of that kind are listed. A letter not yet saved (None) takes
    organizations, as its column's default says."""
    signers = signers or "organizations"
    parts = []
    if signers != "individuals" or organizations:
        parts.append((organizations, "organization" if organizations == 1 else "organizations"))
    if signers != "organizations" or individuals:
        parts.append((individuals, "individual" if individuals == 1 else "individuals"))
    return parts


def count_words(organizations: int, individuals: int, signers: str | None = "organizations", *,
                strong: bool = False, signed: bool = False) -> str:
    """A count in words, in the interface's language: "3 organizations and 1 individual" or,
    `signed`, "3 organizations and 1 individual have signed"; each a whole sentence to
    translate, whose translation orders its parts as its language does. The kinds said are
    tally's: those the letter takes (both, even at 0), and a kind it no longer takes
    only while some of that kind are listed. `strong`: each number in <strong> (Markup, for a
    page); else plain text (the count badge)."""
    signers = signers or "organizations"

    def number(n: int) -> str:
        shown = format_number(n)
        return f"<strong>{shown}</strong>" if strong else shown

    if (signers != "individuals" or organizations) and (signers != "organizations"
                                                          or individuals):
        parts = {"organizations": ngettext("%(count)s organization", "%(count)s organizations",
                                           organizations, count=number(organizations)),
                 "individuals": ngettext("%(count)s individual", "%(count)s individuals",
                                         individuals, count=number(individuals))}
        words = (_("%(organizations)s and %(individuals)s have signed", **parts) if signed
                 else _("%(organizations)s and %(individuals)s", **parts))
    elif signers == "individuals" and not organizations:
        n = number(individuals)
        words = (ngettext("%(count)s individual has signed", "%(count)s individuals have signed",
                          individuals, count=n) if signed
                 else ngettext("%(count)s individual", "%(count)s individuals", individuals,
                               count=n))
    else:
        n = number(organizations)
        words = (ngettext("%(count)s organization has signed",
                          "%(count)s organizations have signed", organizations, count=n)
                 if signed
                 else ngettext("%(count)s organization", "%(count)s organizations",
                               organizations, count=n))
    return Markup(words) if strong else words  # only numbers in trusted msgids: safe


class Stamp(NamedTuple):
    """What a public page needs to know of its letter before it can answer from what it kept."""

    id: int
    status: str
    deadline: datetime | None
    updated_at: datetime
    share_image: str | None = None  # the hash of its preview image (share_image.py), if made
    language: str = "en"  # its own language
    translated_to: str = ""  # its translations' (Letter.translated_to)

    def languages(self) -> list[str]:
        return [self.language, *(c for c in self.translated_to.split(",") if c)]

    def accepts_signatures(self) -> bool:
        return takes_signatures(self.status, self.deadline)

    def state(self) -> str:
        """As Letter.state: an open letter past its deadline reads as closed."""
        return effective_status(self.status, self.deadline)

    def list_is_public(self) -> bool:
        """As Letter.list_is_public: not while the letter is collecting."""
        return self.status != "collecting"


# The letter, its kept counts and its preview image's hash in one query: a public page that kept
# its answer needs no more.
STAMPED = (select(Letter.id, Letter.status, Letter.deadline, Letter.updated_at,
                  Letter.language, Letter.translated_to,
                  ListedCount.scope, ListedCount.listed, ListedCount.revision,
                  ShareImage.content_hash.label("share_image"))
           .outerjoin(ListedCount, ListedCount.letter_id == Letter.id)
           .outerjoin(ShareImage, ShareImage.letter_id == Letter.id)
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
    stamp = Stamp(first.id, first.status, first.deadline, first.updated_at, first.share_image,
                  first.language, first.translated_to)
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


# ------------------------------------------------------------------ texts agreed to (agreed.py)


def earlier_counts(letter: Letter, split: Split) -> dict[str, int]:
    """How many listed signatories of each scope agreed to an earlier text, in listing order
    (empty scopes left out): one count made when a page of the list is made (a kept page is not
    made again until the list changes, pagecache.py). It reads the earlier signatures only, along
    ix_signature_version, one part of Split.earlier() at a time: with their OR the databases read
    the whole list of the letter along the listing index."""
    earlier = union_all(*(select(Signature.scope).where(*where_listed(letter), part)
                          for part in split.earlier_parts())).subquery()
    found = {scope: n for scope, n in db.session.execute(
        select(earlier.c.scope, func.count()).group_by(earlier.c.scope))}
    return {scope: int(found[scope]) for scope in SCOPES if found.get(scope)}


def _marks(split: Split | None) -> tuple[Any, ...]:
    """The columns a split letter's rows read after the others: the version agreed to."""
    return () if split is None else (Signature.version_id,)


def _order(split: Split | None) -> tuple[Any, ...]:
    """The list's order: a split letter's earlier signatories after all the others."""
    return ORDER if split is None else (case((split.earlier(), 1), else_=0), *ORDER)


def _marked(row: Any, split: Split | None) -> Listed:
    """A row of the list's columns, and of _marks(split) after them."""
    if split is None:
        return _listed(row)
    version_id = row[-1]
    return _listed(row[:-1])._replace(signed_version=split.numbers.get(version_id, 0),
                                      earlier=split.is_earlier(version_id))


def _ranges(letter: Letter, counts: dict[str, int],
            split: Split | None) -> Sequence[tuple[str, ColumnElement[bool] | None, int]]:
    """The list as consecutive ranges of the listing index: (scope, a predicate or None, how
    many); one per scope, or for a split letter, its current signatories' scopes, then its
    earlier ones'."""
    if split is None:
        return [(scope, None, listed) for scope, listed in counts.items()]
    earlier = earlier_counts(letter, split)
    return ([(scope, split.current(), max(listed - earlier.get(scope, 0), 0))
             for scope, listed in counts.items()]
            + [(scope, split.earlier(), listed) for scope, listed in earlier.items()])


# ------------------------------------------------------------------ rows


def page(letter: Letter, search: str = "", offset: int = 0, limit: int = 200,
         counts: dict[str, int] | None = None) -> list[Listed]:
    """Up to `limit` listed signatories from position `offset` of the list (of those matching
    `search`, if given), in order.

    Without a search, the kept counts (`counts`, read now if not given) say which scopes the
    page spans (with a split letter's earlier signatories counted apart): one query reads each
    as a range of the listing index (UNION ALL where it spans several), so no query sorts the
    list."""
    split = split_of(letter)
    marks = _marks(split)
    if search:
        return [_marked(row, split) for row in db.session.execute(
            select(*PUBLIC_COLUMNS, *marks).where(*_matching(letter, search))
            .order_by(*_order(split)).offset(offset).limit(limit))]
    parts = []
    start = wanted = 0
    counts = scope_counts(letter) if counts is None else counts
    for position, (scope, side, listed) in enumerate(_ranges(letter, counts, split)):
        skip = max(offset - start, 0)
        take = min(limit - wanted, listed - skip)
        if take > 0:
            where = [*where_listed(letter), Signature.scope == scope]
            parts.append(select(*PUBLIC_COLUMNS, *marks, Signature.sort_key,
                                literal(position).label("part"))
                         .where(*where, *([] if side is None else [side]))
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
    width = len(PUBLIC_COLUMNS) + len(marks)
    return [_marked(row[:width], split) for row in db.session.execute(query)]


def rows(letter: Letter, *, private: bool = False, exclude: Sequence[int] = ()) -> list[Listed]:
    """The whole list in order (the PDF, delivery); with `private`, the contact fields too;
    without the signatures whose ids are in `exclude`."""
    split = split_of(letter)
    query = select(*(PRIVATE_COLUMNS if private else PUBLIC_COLUMNS), *_marks(split)) \
        .where(*where_listed(letter))
    if exclude:
        query = query.where(Signature.id.not_in(list(exclude)))
    return [_marked(row, split) for row in db.session.execute(query.order_by(*_order(split)))]


def stream(letter: Letter, *, private: bool = False) -> Iterator[Listed]:
    """The whole list in order, streamed on a connection of its own (a long export holds
    neither the session's identity map nor the whole list in memory)."""
    split = split_of(letter)
    columns = PRIVATE_COLUMNS if private else PUBLIC_COLUMNS
    query = select(*columns, *_marks(split)).where(*where_listed(letter)) \
        .order_by(*_order(split))
    with db.engine.connect() as conn:
        conn.execution_options(stream_results=True, yield_per=1000)
        for row in conn.execute(query):
            yield _marked(row, split)

