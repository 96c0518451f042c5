"""Spreadsheets in and out: signatories imported from a CSV file (read and its header matched by
csv_headers.py; every field checked as the sign form checks it, all rows or none, problems named
by line; imports.py decides when and in how many units they are written), and the list written
as CSV (formulas neutralized, streamed)."""
from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pycountry
from flask import current_app
from flask_babel import format_number
from flask_babel import gettext as _
from sqlalchemy import insert, or_, select
from wtforms.validators import URL, ValidationError

from . import csv_headers, signing
from .database import reading
from .errors import ImportProblem, SigningError
from .extensions import db
from .listing import Listed
from .models import SCOPES, Letter, Signature, utcnow
from .text import clean_text, country_name, normalize_email

IMPORT_COLUMNS = csv_headers.FIELDS
# The longest value each column may hold, as on the sign form (the email is also checked as
# an address, the website as a web address, the country against the list of countries).
IMPORT_LIMITS = {"organization": 300, "contact_name": 200, "contact_title": 200, "email": 254,
                 "phone": 50, "website": 300, "city": 120, "region": 120, "country": 120,
                 "affiliation": 300}
# The sign form's check of a website (forms.SignForm.website): http or https, a real host name.
WEB_ADDRESS = URL(require_tld=True, schemes=("http", "https"), message="not a web address")
COUNTRIES = frozenset(country.name for country in pycountry.countries)
SCOPE_WORDS = {
    "national": "national", "state": "state", "regional": "state", "state or regional": "state",
    "state/regional": "state", "local": "local", "international": "international",
    "individual": "individual",  # a person: `organization` holds their name
}

PUBLIC_FIELDS = ("organization", "city", "region", "country", "scope")
# Whether a row is an organization or an individual, and an individual's public title and
# affiliation (empty for an organization): after the first columns, which stay as they were.
SIGNER_FIELDS = ("kind", "title", "affiliation")
PRIVATE_FIELDS = PUBLIC_FIELDS + ("contact_name", "contact_title", "email", "phone", "website",
                                  "kind", "affiliation", "keep_updated", "unsubscribed",
                                  "partner")
# A column of the CSV -> the field of a Listed row it shows.
FIELD_OF = {"organization": "shown_name"}


# ------------------------------------------------------------------ in


@dataclass(frozen=True)
class Checked:
    """The rows of a file checked (check_rows): its header matched, the rows as the signatures
    they make, every problem by line, and whether every row was read (the preview reads the
    first ones only)."""

    header: csv_headers.Header
    rows: list[dict[str, Any]]
    problems: list[str]
    complete: bool


def decode_csv(data: bytes) -> str:
    """The text of a CSV file (UTF-8, UTF-16 or Windows-1252); other bytes are refused naming
    their first bad line."""
    return csv_headers.decode(data).text


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, its cells), in the file's own delimiter; malformed CSV is
    an ImportProblem."""
    reader = csv_headers.reader(text)
    start = 1
    try:
        for cells in reader:
            yield start, cells
            start = reader.line_num + 1
    except csv.Error as exc:
        reason = (_("a cell is too long") if "field larger" in str(exc)
                  else _("not valid CSV (%(error)s; is a quote left open?)", error=exc))
        raise ImportProblem([at_line(start, reason)]) from None


def check_size(size: int) -> None:
    """Refuse a file larger than IMPORT_MAX_BYTES, before it is read."""
    if size > int(current_app.config["IMPORT_MAX_BYTES"]):
        raise too_large()


def too_large() -> ImportProblem:
    """The problem of a file larger than IMPORT_MAX_BYTES."""
    limit = int(current_app.config["IMPORT_MAX_BYTES"])
    shown = f"{limit / 1024 / 1024:.1f} MB" if limit >= 1024 * 1024 else f"{limit / 1024:.0f} kB"
    return ImportProblem([_("the file is larger than %(size)s, the most that can be imported "
                            "at once (split it into smaller files)", size=shown)])


def count_rows(text: str) -> int:
    """The rows of a CSV file under its header (not blank ones), its header and its CSV checked,
    without checking the rows: a few milliseconds a thousand rows. ImportProblem when the file is
    empty, its header or CSV malformed, or it has more than IMPORT_MAX_ROWS rows."""
    limit = int(current_app.config["IMPORT_MAX_ROWS"])
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ImportProblem([_("line 1: the file is empty (it needs a header row such as "
                               "organization,email,city)")])
    records = _records(text)
    csv_headers.match(next(records)[1])
    count = 0
    for __, cells in records:
        if any(cell.strip() for cell in cells):
            count += 1
            if count > limit:
                raise too_many_rows(limit)
    if not count:
        raise ImportProblem([_("line 2: the file has no rows under its header")])
    return count


def at_line(line: int, problem: str) -> str:
    """A problem of the file named by its line."""
    return _("line %(line)s: %(problem)s", line=line, problem=problem)


def too_many_rows(limit: int) -> ImportProblem:
    return ImportProblem([_("the file has more than %(limit)s rows: at most %(limit)s can be "
                            "imported at once (split it into smaller files)",
                            limit=format_number(limit))])


def check_import(letter: Letter, text: str, approved: bool, *, own_import: int | None = None,
                 max_rows: int | None = None) -> list[dict[str, Any]]:
    """Every row of a CSV file checked, as the values of the signature it makes (insert_rows
    writes them); or ImportProblem naming each problem by its line, and the file as a whole when
    it has more than IMPORT_MAX_ROWS rows. Only reads: run it before any writing unit.

    An email that has signed the letter is refused, unless the import `own_import` wrote it (a
    background import checks its file again when it resumes)."""
    checked = check_rows(letter, text, approved, own_import=own_import, max_rows=max_rows)
    if checked.problems:
        raise ImportProblem(checked.problems)
    if not checked.rows:
        raise ImportProblem([_("line 2: the file has no rows under its header")])
    return checked.rows


def check_rows(letter: Letter, text: str, approved: bool, *, own_import: int | None = None,
               max_rows: int | None = None, first: int | None = None) -> Checked:
    """The rows of a CSV file checked, without raising for a row's problem (check_import does):
    all of them, or the `first` ones (the preview). ImportProblem for the file as a whole: empty,
    its header unmatched, malformed CSV, more than IMPORT_MAX_ROWS rows."""
    limit = int(current_app.config["IMPORT_MAX_ROWS"]) if max_rows is None else max_rows
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ImportProblem([_("line 1: the file is empty (it needs a header row such as "
                               "organization,email,city)")])
    records = _records(text)
    __, cells = next(records)
    header = csv_headers.match(cells)
    signed = select(Signature.email).where(Signature.letter_id == letter.id,
                                           Signature.email.is_not(None))
    if own_import is not None:
        signed = signed.where(or_(Signature.import_id.is_(None),
                                  Signature.import_id != own_import))
    with reading():
        taken: set[str | None] = set(db.session.scalars(signed))

    status = "approved" if approved else "pending"
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    for line, cells in records:
        if first is not None and len(rows) + len(problems) >= first:
            return Checked(header, rows, problems, complete=False)
        problem, parsed = _import_row(header.fields, cells, taken)
        if parsed is not None and not problem:
            problem = _kind_problem(letter, parsed[0].scope)
        if problem:
            problems.append(at_line(line, problem))
        elif parsed is not None:
            data, email = parsed
            rows.append(signing.signature_values(letter, data, email=email, status=status,
                                                 source="import"))
        if len(rows) + len(problems) > limit:
            raise too_many_rows(limit)
    return Checked(header, rows, problems, complete=True)


def insert_rows(letter: Letter, rows: Sequence[dict[str, Any]], import_id: int | None = None
                ) -> None:
    """Write checked rows (check_import) as signatures of `letter`, confirmed (and decided, if
    approved) now, in the caller's writing unit: one INSERT of many rows, no objects made."""
    if not rows:
        return
    now = utcnow()
    version = letter.current_version
    extra = {"version_id": version.id if version else None, "confirmed_at": now,
             "created_at": now, "import_id": import_id}
    db.session.execute(insert(Signature), [
        {**row, **extra, "decided_at": now if row["status"] == "approved" else None}
        for row in rows])


def import_csv(letter: Letter, text: str, approved: bool) -> int:
    """Import signatories from CSV text in the caller's writing unit: every row or none;
    problems are named by line. For small files (the demo's samples, tests); imports.py writes
    a large file in short units instead."""
    rows = check_import(letter, text, approved)
    insert_rows(letter, rows)
    return len(rows)


def _kind_problem(letter: Letter, scope: str) -> str | None:
    """Why the letter refuses a row of this scope, as sign() refuses a signer of the other kind
    (SignerKindRefused); None when it takes it."""
    if scope == "individual" and not letter.takes_individuals():
        return _("this letter is signed by organizations only")
    if scope != "individual" and not letter.takes_organizations():
        return _("this letter is signed by individuals only (give the scope individual)")
    return None


def _import_row(header: list[str | None], cells: list[str], taken: set[str | None]
                ) -> tuple[str | None, tuple[signing.SignerInput, str | None] | None]:
    """One record checked: (the problem, None) or (None, the row); a blank record is (None, None).
    Cells under an ignored column are not read. An email it carries is added to `taken`, so
    that the file cannot hold it twice."""
    if len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
        return _("%(cells)s cells, but the header has %(columns)s columns", cells=len(cells),
                 columns=len(header)), None
    values = {h: c.strip() for h, c in zip(header, cells, strict=False) if h}
    if not any(values.values()):
        return None, None
    if not clean_text(values.get("organization")):
        return _("no organization"), None
    for column, limit in IMPORT_LIMITS.items():
        if len(values.get(column, "")) > limit:
            return _("%(column)s is longer than %(limit)s characters", column=column,
                     limit=limit), None
    scope = SCOPE_WORDS.get(values.get("scope", "").lower() or "local")
    if scope is None:
        return _("scope %(scope)s is not one of %(choices)s", scope=repr(values["scope"][:40]),
                 choices=", ".join(SCOPES)), None
    website = _web_address(values.get("website", ""))
    if website is None:
        return _("website %(website)s is not a web address (one such as https://example.org)",
                 website=repr(values["website"][:80])), None
    country = _country(values.get("country", ""))
    if country is None:
        return _("country %(country)s is not a country's name or code",
                 country=repr(values["country"][:80])), None
    email = None
    if values.get("email"):
        try:
            email = normalize_email(values["email"])
        except SigningError:
            return _("%(email)s is not an email address", email=repr(values["email"][:80])), None
        if email in taken:
            return _("%(email)s has already signed this letter (or is in the file twice)",
                     email=email), None
        taken.add(email)
    get = values.get
    if get("affiliation") and scope != "individual":
        return _("an affiliation is for an individual (scope individual) only"), None
    person = get("organization", "") if scope == "individual" else ""  # their own contact
    data = signing.SignerInput(
        organization=get("organization", ""), email=email,
        contact_name=get("contact_name", "") or person,
        contact_title=get("contact_title", ""), phone=get("phone", ""), website=website,
        city=get("city", ""), region=get("region", ""), country=country, scope=scope,
        affiliation=get("affiliation", ""))
    return None, (data, email)


def _web_address(value: str) -> str | None:
    """A website as the sign form takes it: one typed without its scheme is https://; anything
    but an http(s) address with a real host name (javascript:, data:, ...) is None."""
    if not value:
        return ""
    address = value if "://" in value else "https://" + value
    try:
        WEB_ADDRESS(None, SimpleNamespace(data=address))
    except ValidationError:
        return None
    return address


@functools.lru_cache(maxsize=1024)
def _country(value: str) -> str | None:
    """A country's name as the sign form offers it, from its name or code ("" for none); None
    when it names no country. Kept: a file names the same few countries again and again."""
    if not value:
        return ""
    name = country_name(value)
    return name if name in COUNTRIES else None


# ------------------------------------------------------------------ out


def safe_cell(value: str) -> str:
    """Neutralize spreadsheet formulas: a cell starting with = + - @ (or tab/CR) gets a quote."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def public_fields(letter: Letter | None = None) -> tuple[str, ...]:
    """The columns anyone may see: contact names only where the organizer chose to show them."""
    contact = ("contact_name",) if letter is not None and letter.show_contact_names else ()
    return PUBLIC_FIELDS + contact + SIGNER_FIELDS


def public_row(row: Listed, contact: bool = False) -> dict[str, str]:
    """A listed signatory as the public JSON shows it: an organization's fields and its kind;
    an individual's also under the names of a person's ("name", "title", "affiliation")."""
    shown = {column: getattr(row, FIELD_OF.get(column, column))
             for column in PUBLIC_FIELDS + (("contact_name",) if contact else ())}
    shown["kind"] = row.kind
    if row.kind == "individual":
        shown.update(name=row.shown_name, title=row.title, affiliation=row.affiliation)
    return shown


def csv_lines(rows: Iterable[Listed], columns: Sequence[str]) -> Iterator[str]:
    """CSV text in chunks, so that a long list streams."""
    fields = [FIELD_OF.get(column, column) for column in columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(getattr(row, field)) for field in fields])
        if buffer.tell() > 16384:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
