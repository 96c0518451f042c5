"""The step between an upload and an import: the uploaded file kept, under a random token,
for the organizer who sent it and the letter it was sent to, until they confirm or cancel it
(or it expires); and what the preview shows of it: the columns matched, the ones ignored, the
first rows as they will be stored and every problem by line. Nothing reaches the signatures
until the organizer confirms (imports.start writes it then, checking every row again).

The file is kept in the database (table import_waiting), as the decoded text with a few facts
about it, so that the preview and its confirmation may be answered by different hosts; it holds
contact details, so it is deleted on confirm or cancel and swept away an hour after its upload at
the latest. keep, discard and sweep write (inside the caller's writing unit: they flush)."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select

from . import csv_headers, spreadsheets, text
from .extensions import db
from .models import ImportWaiting, Letter, utcnow

KEEP_SECONDS = 3600  # how long an uploaded file waits for its organizer to confirm it
SHOWN_ROWS = 10  # rows shown as they will be stored
TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


@dataclass(frozen=True)
class Waiting:
    """An uploaded file waiting for its organizer's confirmation."""

    token: str
    letter_id: int
    organizer_id: int
    filename: str
    approved: bool
    encoding: str
    text: str


@dataclass(frozen=True)
class Preview:
    """What the preview page shows of a waiting file."""

    header: csv_headers.Header
    delimiter: str
    total: int  # rows under the header (not blank ones)
    checked: int  # rows checked here: all of them, or the first ones of a large file
    first_rows: list[dict[str, Any]]
    problems: list[str]
    complete: bool  # every row checked


def readable(filename: str, data: bytes) -> tuple[str, str, str]:
    """An uploaded file made ready to keep: its name cleaned, the encoding it was read in and its
    decoded text, once it is known to be readable (decoded, its header matched; ImportProblem
    otherwise). Only reads: call it before the writing unit (it takes about a tenth of a second
    for a file of the default IMPORT_MAX_BYTES, too long to hold SQLite's write lock)."""
    decoded = csv_headers.decode(data)
    # NUL bytes: no database keeps them in text (PostgreSQL refuses them), and every cell
    # loses them anyway when it is stored (text.clean_text)
    kept = decoded.text.replace("\x00", "")
    spreadsheets.count_rows(kept)  # empty, its header unmatched, malformed, too long
    return text.clean_text(filename, 200), decoded.encoding, kept


def keep(letter: Letter, organizer_id: int, file: tuple[str, str, str], approved: bool
         ) -> Waiting:
    """Keep a file readable() made ready, for its preview; files older than KEEP_SECONDS are
    swept away first. Writes: call it inside a writing unit."""
    filename, encoding, kept = file
    sweep()
    waiting = Waiting(secrets.token_urlsafe(32), letter.id, organizer_id, filename, approved,
                      encoding, kept)
    db.session.add(ImportWaiting(
        token=waiting.token, letter_id=waiting.letter_id, organizer_id=waiting.organizer_id,
        filename=waiting.filename, approved=waiting.approved, encoding=waiting.encoding,
        text=waiting.text, created_at=utcnow()))
    db.session.flush()
    return waiting


def get(letter: Letter, organizer_id: int, token: str) -> Waiting | None:
    """The file waiting under this token, if this organizer uploaded it to this letter and it
    has not expired. Only reads (an expired one is left for sweep())."""
    if not TOKEN.match(token):
        return None
    kept = db.session.scalar(select(ImportWaiting).where(
        ImportWaiting.token == token, ImportWaiting.letter_id == letter.id,
        ImportWaiting.organizer_id == organizer_id, ImportWaiting.created_at >= _oldest()))
    if kept is None:
        return None
    return Waiting(kept.token, kept.letter_id, kept.organizer_id, kept.filename, kept.approved,
                   kept.encoding, kept.text)


def discard(waiting: Waiting) -> None:
    """Forget a waiting file (confirmed or cancelled)."""
    db.session.execute(delete(ImportWaiting).where(ImportWaiting.token == waiting.token))


def sweep() -> None:
    """Delete the waiting files older than KEEP_SECONDS."""
    db.session.execute(delete(ImportWaiting).where(ImportWaiting.created_at < _oldest()))


def _oldest() -> datetime:
    """The moment of upload of the oldest file still waiting."""
    return utcnow() - timedelta(seconds=KEEP_SECONDS)


def preview(letter: Letter, waiting: Waiting) -> Preview:
    """The waiting file as it will be imported: every row checked when it is written at once
    in the request, else the rows a request would write (the worker checks all of a large file
    before it writes any). Only reads."""
    first = int(current_app.config["IMPORT_BACKGROUND_ROWS"])
    total = spreadsheets.count_rows(waiting.text)
    checked = spreadsheets.check_rows(letter, waiting.text, waiting.approved, first=first)
    return Preview(checked.header, csv_headers.delimiter(waiting.text), total,
                   len(checked.rows) + len(checked.problems), checked.rows[:SHOWN_ROWS],
                   checked.problems, checked.complete)
