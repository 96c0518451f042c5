"""Imports of signatories from a spreadsheet: the whole file checked first (spreadsheets.py),
then written at once when small, else in chunks that never hold SQLite's write lock for long.

A file of up to IMPORT_BACKGROUND_ROWS rows is written in one writing unit, in the request or
the command. A larger one is kept as a SignatureImport row and written through the durable
queue (queue.py): by the worker for an upload, by the command itself for `campaign
import-signatures`. Each chunk of IMPORT_CHUNK_ROWS rows is one short writing unit that inserts
the rows, tagged with the import's id, and moves `rows_done` on, if this worker still holds the
import and `rows_done` is still where it read it: so a worker that dies is taken over where it
stopped (when its lease runs out), and no row is written twice.

All rows or none: an import that fails for good (a row that can no longer be written, such as an
email that signed meanwhile; a letter deleted; too many failed attempts) takes its rows back, a
chunk per unit too, and `rows_done` counts down the rows still to remove. Meanwhile the rows are
seen as they are written (and, if it failed, as they are removed).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import undefer

from . import audit, spreadsheets
from .database import changed, reading, writing
from .errors import ImportProblem
from .extensions import db
from .models import Letter, Organizer, Signature, SignatureImport, utcnow
from .queue import Claim, Queue

log = logging.getLogger(__name__)
LEASE_SECONDS = 120  # a chunk takes well under a second; the first read of the file, a few
QUEUE = Queue(SignatureImport, working="running", done="done", dead="failed",
              lease_seconds=lambda: LEASE_SECONDS, max_attempts=lambda: 5)
ACTIVE = ("queued", "running")

Progress = Callable[[int, int], None]  # (rows written, rows in all)


@dataclass(frozen=True)
class Started:
    """What start() did: `count` rows checked; written already, or queued as import `queued`
    (with `claim` when the caller writes it itself, as the command does)."""

    count: int
    queued: int | None = None
    claim: Claim | None = None
    rows: list[dict[str, object]] | None = field(default=None, repr=False)  # checked, if claimed


def start(letter: Letter, text: str, approved: bool, *, organizer_id: int | None = None,
          filename: str = "", claim: bool = False) -> Started:
    """A small file: checked whole (ImportProblem when any row has a problem: nothing is written)
    and written now. A large one: kept for the worker, which checks every row before it writes
    any (so that a request spends milliseconds, not the seconds a check of 50,000 rows takes);
    with `claim`, checked here and taken for the caller, which then calls run() (the command,
    which says what is wrong at once). Runs its own writing units: call it outside any."""
    total = spreadsheets.count_rows(text)
    if total > int(current_app.config["IMPORT_BACKGROUND_ROWS"]) and not claim:
        return _keep(letter, text, approved, total, organizer_id, filename, claim=False)
    rows = spreadsheets.check_import(letter, text, approved)
    if len(rows) <= int(current_app.config["IMPORT_BACKGROUND_ROWS"]):
        try:
            with writing():
                spreadsheets.insert_rows(letter, rows)
                _audit(letter, filename, len(rows), approved)
        except IntegrityError:  # an email in the file signed since it was checked
            spreadsheets.check_import(letter, text, approved)  # names it
            raise ImportProblem(
                [_("a row could not be written; import the file again")]) from None
        return Started(len(rows))
    started = _keep(letter, text, approved, len(rows), organizer_id, filename, claim=claim)
    return replace(started, rows=rows)


def _keep(letter: Letter, text: str, approved: bool, total: int, organizer_id: int | None,
          filename: str, claim: bool) -> Started:
    """The file kept as an import of `total` rows for the queue, or taken for the caller."""
    now = utcnow()
    with writing():
        job = SignatureImport(
            letter_id=letter.id, organizer_id=organizer_id, filename=filename[:200],
            approved=approved, csv_text=text, total_rows=total,
            status="running" if claim else "queued", attempts=1 if claim else 0,
            due=now + timedelta(seconds=LEASE_SECONDS) if claim else now, created_at=now)
        db.session.add(job)
        db.session.flush()
        job_id = job.id
    return Started(total, job_id, Claim(job_id, 1) if claim else None)


# ------------------------------------------------------------------ the work


def run_due(now: datetime | None = None) -> bool:
    """Take back a chunk of an import that failed, or claim a due import and write it; False
    when there was nothing to do (the worker's step)."""
    if undo_chunk():
        return True
    if not QUEUE.any_due(now):
        return False
    with writing():
        claims = QUEUE.claim(1, now)
    if not claims:
        return False
    run(claims[0])
    return True


def run_here(each: Claim, progress: Progress | None = None,
             rows: list[dict[str, object]] | None = None) -> None:
    """Write an import claimed by this process (the command) to the end; ImportProblem if it
    fails, once its rows are taken back. Stopped (Ctrl+C), it fails and takes them back too."""
    try:
        status = run(each, progress, retry=False, checked=rows)
    except KeyboardInterrupt:
        db.session.rollback()
        _fail(each, [_("stopped before the end")], final=True)
        undo(each.id)
        raise
    if status == "done":
        return
    if status is None:
        raise ImportProblem([_("import %(id)s was taken over by `campaign worker`, which goes "
                               "on with it (this command was paused too long)", id=each.id)])
    undo(each.id)
    with reading():
        reason = db.session.scalar(select(SignatureImport.last_error)
                                   .where(SignatureImport.id == each.id))
    raise ImportProblem([(reason or "").removeprefix(nothing_imported([]))])


def run(each: Claim, progress: Progress | None = None, retry: bool = True,
        checked: list[dict[str, object]] | None = None) -> str | None:
    """Write the claimed import from where it stopped, a chunk per writing unit, its file checked
    first (unless the caller just did: `checked`); returns its status at the end ("done",
    "failed", "queued" again after an error that may pass unless not `retry`), or None when it
    is no longer this worker's."""
    with reading():
        job = db.session.get(SignatureImport, each.id, options=[undefer(SignatureImport.csv_text)])
        letter = job.letter if job is not None else None
    if job is None or letter is None:
        return None
    text, approved, total, done = job.csv_text, job.approved, job.total_rows, job.rows_done
    filename, organizer_id = job.filename, job.organizer_id
    try:
        rows = checked if checked is not None else spreadsheets.check_import(
            letter, text, approved, own_import=each.id, max_rows=total)
        if len(rows) != total:  # blank-looking rows the count took for rows
            with writing():
                db.session.execute(update(SignatureImport).where(SignatureImport.id == each.id)
                                   .values(total_rows=len(rows))
                                   .execution_options(synchronize_session=False))
        size = max(1, int(current_app.config["IMPORT_CHUNK_ROWS"]))
        while done < len(rows):
            chunk = rows[done:done + size]
            if not _write_chunk(each, letter, chunk, done):
                return None  # taken over by another worker: it goes on from rows_done
            done += len(chunk)
            if progress:
                progress(done, len(rows))
        with writing():
            finished = QUEUE.finish(each, finished_at=utcnow(), csv_text="")
            if finished:
                _audit(letter, filename, len(rows), approved, organizer_id, background=True)
        return "done" if finished else None
    except ImportProblem as exc:  # a row can no longer be written: give up, take the rows back
        return _fail(each, exc.problems, final=True)
    except IntegrityError:  # a row's email signed between the check and its chunk
        db.session.rollback()
        return _fail(each, _why(letter, text, approved, each.id, total), final=True)
    except Exception as exc:  # an outage or a bug: tried again later, taken back in the end
        db.session.rollback()
        log.exception("import %s of letter %s failed", each.id, letter.id)
        return _fail(each, [f"{type(exc).__name__}: {exc}"], final=not retry)


def _audit(letter: Letter, filename: str, rows: int, approved: bool,
           organizer_id: int | None = None, background: bool = False) -> None:
    """The import's entry in the letter's history, in the unit that writes its last rows: by
    the organizer who uploaded it (also when the worker wrote it), or the command line."""
    organizer = db.session.get(Organizer, organizer_id) if organizer_id is not None else None
    actor = None  # written in the request or the command: its organizer, or "command line"
    if organizer is not None:
        actor = organizer.email
    elif background:
        actor = "worker" if organizer_id is not None else "command line"  # the account is gone
    entry = audit.record(letter, "signatures.import", filename or "a CSV file", actor=actor,
                         after={"rows": rows, "listed at once": approved})
    if organizer is not None:
        entry.organizer_id = organizer.id


def _write_chunk(each: Claim, letter: Letter, chunk: list[dict[str, object]], done: int) -> bool:
    """Insert one chunk and move rows_done on, together, if the import is still this worker's
    and rows_done is still `done`; the lease is renewed with it."""
    with writing():
        moved = db.session.execute(
            update(SignatureImport)
            .where(*QUEUE.holds(each), SignatureImport.rows_done == done)
            .values(rows_done=done + len(chunk),
                    due=utcnow() + timedelta(seconds=LEASE_SECONDS))
            .execution_options(synchronize_session=False))
        if not changed(moved):
            return False
        spreadsheets.insert_rows(letter, chunk, import_id=each.id)
    return True


def _why(letter: Letter, text: str, approved: bool, import_id: int, total: int) -> list[str]:
    """The problems that stopped an import, read again from its file."""
    try:
        spreadsheets.check_import(letter, text, approved, own_import=import_id, max_rows=total)
    except ImportProblem as exc:
        return exc.problems
    return [_("a row could not be written; import the file again")]


def _fail(each: Claim, problems: list[str], final: bool = False) -> str | None:
    """Not done: tried again later (unless `final`, or too many attempts failed); once it has
    failed for good its file is erased, and undo_chunk() takes its rows back."""
    status = QUEUE.fail(each, nothing_imported(problems), final=final)
    if status == "failed":
        with writing():
            db.session.execute(update(SignatureImport).where(SignatureImport.id == each.id)
                               .values(finished_at=utcnow(), csv_text="")
                               .execution_options(synchronize_session=False))
    return status


def nothing_imported(problems: list[str]) -> str:
    """What an import that failed says, with the first ten of its problems (run_here takes the
    words before them off again: it says the problems only)."""
    return _("Nothing was imported: %(problems)s", problems="; ".join(problems[:10]))


def undo_chunk(import_id: int | None = None) -> bool:
    """Delete a chunk of the rows of an import that failed for good (of `import_id`, if given);
    False when none has rows left to take back."""
    waiting = select(SignatureImport.id).where(SignatureImport.status == "failed",
                                               SignatureImport.rows_done > 0)
    if import_id is not None:
        waiting = waiting.where(SignatureImport.id == import_id)
    with reading():
        found = db.session.scalar(waiting.limit(1))
    if found is None:
        return False
    size = max(1, int(current_app.config["IMPORT_CHUNK_ROWS"]))
    with writing():
        some = (select(Signature.id).where(Signature.import_id == found)
                .limit(size).scalar_subquery())
        gone = changed(db.session.execute(
            delete(Signature).where(Signature.id.in_(some))
            .execution_options(synchronize_session=False)))
        left = SignatureImport.rows_done - gone if gone == size else 0
        db.session.execute(update(SignatureImport).where(SignatureImport.id == found)
                           .values(rows_done=left)
                           .execution_options(synchronize_session=False))
    return True


def undo(import_id: int) -> None:
    """Take back every row of an import that failed for good, a chunk per unit."""
    while undo_chunk(import_id):
        pass


# ------------------------------------------------------------------ what organizers see


def get(letter: Letter, import_id: int) -> SignatureImport | None:
    """The letter's import with this id."""
    job = db.session.get(SignatureImport, import_id)
    return job if job is not None and job.letter_id == letter.id else None


def active(letter: Letter) -> list[SignatureImport]:
    """The letter's imports waiting, running, or taking their rows back."""
    return list(db.session.scalars(
        select(SignatureImport)
        .where(SignatureImport.letter_id == letter.id,
               SignatureImport.status.in_(ACTIVE)
               | ((SignatureImport.status == "failed") & (SignatureImport.rows_done > 0)))
        .order_by(SignatureImport.id)))
