"""Spreadsheets in and out: signatories imported from a CSV file (all rows or none, problems
named by line), and the list written as CSV (formulas neutralized, streamed)."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import select

from . import signing
from .errors import ImportProblem, SigningError
from .extensions import db
from .listing import Listed
from .models import SCOPES, Letter, Signature, utcnow
from .text import clean_text, normalize_email

IMPORT_COLUMNS = ("organization", "contact_name", "contact_title", "email", "phone", "website",
                  "city", "region", "country", "scope")
# The longest value each column may hold (the email is checked as an address instead).
IMPORT_LIMITS = {"organization": 300, "contact_name": 200, "contact_title": 200, "phone": 50,
                 "website": 300, "city": 120, "region": 120, "country": 120}
SCOPE_WORDS = {
    "national": "national", "state": "state", "regional": "state", "state or regional": "state",
    "state/regional": "state", "local": "local", "international": "international",
}

PUBLIC_FIELDS = ("organization", "city", "region", "country", "scope")
PRIVATE_FIELDS = PUBLIC_FIELDS + ("contact_name", "contact_title", "email", "phone", "website")
# A column of the CSV -> the field of a Listed row it shows.
FIELD_OF = {"organization": "shown_name"}


# ------------------------------------------------------------------ in


def decode_csv(data: bytes) -> str:
    """The text of a CSV file; one that is not UTF-8 is refused naming its first bad line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportProblem([f"line {line}: not UTF-8 text (save the file as CSV UTF-8)"]) from None


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, its cells); malformed CSV is an ImportProblem."""
    reader = csv.reader(io.StringIO(text), strict=True)
    start = 1
    try:
        for cells in reader:
            yield start, cells
            start = reader.line_num + 1
    except csv.Error as exc:
        reason = ("a cell is too long" if "field larger" in str(exc)
                  else f"not valid CSV ({exc}; is a quote left open?)")
        raise ImportProblem([f"line {start}: {reason}"]) from None


def _import_header(cells: list[str]) -> list[str]:
    header = [cell.strip().lower() for cell in cells]
    named = [h for h in header if h]
    if "organization" not in header:
        raise ImportProblem([f"line 1: the header row must name an 'organization' column "
                             f"(it names: {', '.join(named)[:200] or 'nothing'})"])
    unknown = [h for h in named if h not in IMPORT_COLUMNS]
    if unknown:
        raise ImportProblem([f"line 1: unknown column {unknown[0][:80]!r} "
                             f"(known: {', '.join(IMPORT_COLUMNS)})"])
    twice = sorted({h for h in named if named.count(h) > 1})
    if twice:
        raise ImportProblem([f"line 1: the column {twice[0]!r} appears twice"])
    return header


def import_csv(letter: Letter, text: str, approved: bool) -> int:
    """Import signatories from CSV text: every row or none; problems are named by line."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ImportProblem(["line 1: the file is empty (it needs a header row such as "
                             "organization,email,city)"])
    records = _records(text)
    _, first = next(records)
    header = _import_header(first)
    taken = set(db.session.scalars(select(Signature.email).where(
        Signature.letter_id == letter.id, Signature.email.is_not(None))))

    problems: list[str] = []
    rows: list[tuple[signing.SignerInput, str | None]] = []
    for line, cells in records:
        problem, parsed = _import_row(header, cells, taken)
        if problem:
            problems.append(f"line {line}: {problem}")
        elif parsed is not None:
            rows.append(parsed)
    if problems:
        raise ImportProblem(problems)
    if not rows:
        raise ImportProblem(["line 2: the file has no rows under its header"])

    now = utcnow()
    version = letter.current_version
    status = "approved" if approved else "pending"
    db.session.add_all(
        Signature(**signing.signature_values(letter, data, email=email, status=status,
                                             source="import"),
                  version_id=version.id if version else None, confirmed_at=now,
                  decided_at=now if approved else None)
        for data, email in rows)
    db.session.flush()
    return len(rows)


def _import_row(header: list[str], cells: list[str], taken: set[str | None]
                ) -> tuple[str | None, tuple[signing.SignerInput, str | None] | None]:
    """One record checked: (the problem, None) or (None, the row); a blank record is (None, None).
    An email it carries is added to `taken`, so that the file cannot hold it twice."""
    if len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
        return f"{len(cells)} cells, but the header has {len(header)} columns", None
    values = {h: c.strip() for h, c in zip(header, cells, strict=False) if h}
    unnamed = [c for h, c in zip(header, cells, strict=False) if not h and c.strip()]
    if not any(values.values()) and not unnamed:
        return None, None
    if unnamed:
        return "a cell is under a column with no name", None
    if not clean_text(values.get("organization")):
        return "no organization", None
    for column, limit in IMPORT_LIMITS.items():
        if len(values.get(column, "")) > limit:
            return f"{column} is longer than {limit} characters", None
    scope = SCOPE_WORDS.get(values.get("scope", "").lower() or "local")
    if scope is None:
        return f"scope {values['scope'][:40]!r} is not one of {', '.join(SCOPES)}", None
    email = None
    if values.get("email"):
        try:
            email = normalize_email(values["email"])
        except SigningError:
            return f"{values['email'][:80]!r} is not an email address", None
        if email in taken:
            return f"{email} has already signed this letter (or is in the file twice)", None
        taken.add(email)
    get = values.get
    data = signing.SignerInput(
        organization=get("organization", ""), email=email, contact_name=get("contact_name", ""),
        contact_title=get("contact_title", ""), phone=get("phone", ""), website=get("website", ""),
        city=get("city", ""), region=get("region", ""), country=get("country", ""), scope=scope)
    return None, (data, email)


# ------------------------------------------------------------------ out


def safe_cell(value: str) -> str:
    """Neutralize spreadsheet formulas: a cell starting with = + - @ (or tab/CR) gets a quote."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def public_fields(letter: Letter) -> tuple[str, ...]:
    """The columns anyone may see: contact names only where the organizer chose to show them."""
    return PUBLIC_FIELDS + (("contact_name",) if letter.show_contact_names else ())


def public_row(row: Listed, contact: bool = False) -> dict[str, str]:
    """A listed signatory as the public JSON shows it."""
    return {column: getattr(row, FIELD_OF.get(column, column))
            for column in PUBLIC_FIELDS + (("contact_name",) if contact else ())}


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
