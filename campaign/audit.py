"""The audit log: who changed what on a letter, when, and the values before and after.

`record()` adds an entry in the caller's writing unit, so that the entry and the change commit
together or not at all. The actor is the organizer logged in to the request, or what is named:
"signer" (from their own page), "worker", "command line". Nothing in the app edits or deletes an
entry; the letter's history lists them (`page()`, filtered by action, actor and dates) and
downloads them as CSV (`csv_lines()`). Changes of no one letter (an organizer account, the
outbox) have entries without a letter: they are kept, and listed on no letter's history.

A bulk decision on thousands of signatures is one entry (the count from each status and the
first names), not one per signature: it stays a short unit, and a person can read it.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, time, tzinfo
from typing import Any

from flask import has_request_context
from flask_babel import gettext as _
from sqlalchemy import Select, func, select

from . import dates
from .database import UNIT, WriteOutsideUnit, reading
from .errors import LetterError
from .extensions import db
from .i18n import _l
from .models import AuditEntry, Letter, text_hash
from .spreadsheets import safe_cell
from .text import clean_text

RECENT = 50
HISTORY_ROWS = 200  # the entries one page of the history shows
# What each action is called on the letter's history page.
ACTIONS = {
    "letter.status": _l("Status changed"),
    "letter.open": _l("Opened to the public"),
    "letter.signers": _l("Who can sign changed"),
    "letter.embed_origins": _l("Sites that may embed the sign form changed"),
    "letter.version": _l("New version of the text"),
    "letter.translation": _l("Translation saved"),
    "letter.translation.delete": _l("Translation deleted"),
    "partner.add": _l("Partner added"),
    "partner.rename": _l("Partner renamed"),
    "partner.remove": _l("Partner removed"),
    "reconsent.remind": _l("Signers of an earlier text reminded"),
    "signature.correct": _l("Details corrected by the signer"),
    "signature.withdraw": _l("Signature withdrawn"),
    "signature.withdraw_request": _l("Withdrawal asked for"),
    "signature.reconfirm": _l("New text confirmed by the signer"),
    "signature.unsubscribe": _l("Unsubscribed from updates"),
    "update.send": _l("Update sent to signers"),
    "contacts.erase": _l("Contact details erased"),
    # what organizers do (and the worker or the command line for them)
    "letter.create": _l("Letter created"),
    "letter.settings": _l("Settings changed"),
    "letter.letterhead": _l("Letterhead changed"),
    "letter.recipients": _l("Delivery recipients changed"),
    "letter.pdf_refresh": _l("PDF asked for again"),
    "delivery.request": _l("Closed and delivery asked for"),
    "delivery.retry": _l("Failed delivery tried again"),
    "delivery.made": _l("Letter delivered"),
    "letter.reopen": _l("Reopened for an addendum"),
    "delivery.addendum": _l("Addendum emailed to the recipients"),
    "signature.approve": _l("Approved"),
    "signature.reject": _l("Rejected"),
    "signature.release": _l("Held submissions released"),
    "signature.discard": _l("Held submissions discarded"),
    "signature.rename": _l("Shown name changed"),
    "signature.edit": _l("Signatory's details edited"),
    "signature.merge": _l("Duplicate signature merged"),
    "signatures.import": _l("Signatories imported"),
    "contacts.export": _l("Private contacts downloaded"),
    "outbox.retry": _l("Failed emails queued again"),
    "account.create": _l("Organizer account created"),
    "account.password": _l("Organizer password set"),
    "counts.repair": _l("Kept counts repaired"),
    "role.grant": _l("Organizer's role given"),
    "role.revoke": _l("Organizer's role taken away"),
    "invitation.send": _l("Organizer invited"),
    "invitation.accept": _l("Invitation accepted"),
    "organizer.language": _l("Organizer's language chosen"),
}
NAMES_SHOWN = 10  # the names an entry for many signatures keeps: the first ones, in list order


def record(letter: Letter | None, action: str, subject: str = "", *, before: Any = None,
           after: Any = None, actor: str | None = None) -> AuditEntry:
    """Add an entry for `action` on `letter` (e.g. "signature.withdraw", "contacts.erase"),
    about `subject` (a signatory's name, a version number), in the caller's writing unit."""
    if db.session.info.get(UNIT) != "writing":
        raise WriteOutsideUnit("an audit entry is written in the unit of its change")
    organizer = _organizer()
    detail = {} if before is None and after is None else {"before": before, "after": after}
    entry = AuditEntry(
        letter_id=letter.id if letter is not None else None,
        organizer_id=organizer.id if organizer is not None and actor is None else None,
        actor=actor or (organizer.email if organizer is not None else "command line"),
        action=action, subject=subject[:300],
        detail=json.dumps(detail, ensure_ascii=False, default=str) if detail else "")
    db.session.add(entry)
    return entry


# ------------------------------------------------------------------ a letter's settings


def settings(letter: Letter) -> dict[str, Any]:
    """The settings of a letter an organizer changes on its form or in its file, as the history
    shows them (its status, who can sign and its versions have entries of their own; its text
    is shown by fingerprint: the versions page shows the texts themselves)."""
    return {
        "title": letter.title, "address": letter.slug, "addressee": letter.recipient,
        "deadline": dates.deadline_text(letter.deadline),
        "opens at": dates.moment_text(letter.publish_at), "language": letter.language,
        "approval needed": bool(letter.require_approval),
        "contact names shown": bool(letter.show_contact_names),
        "text": text_hash("", "", letter.body or "")[:12],
    }


def record_settings(letter: Letter, before: Mapping[str, Any]) -> None:
    """A "letter.settings" entry with the values before and after of the settings that changed
    since `before` (settings() as it was), if any did; in the caller's writing unit."""
    after = settings(letter)
    changed = [key for key, value in after.items() if before.get(key) != value]
    if changed:
        record(letter, "letter.settings", letter.title,
               before={key: before.get(key) for key in changed},
               after={key: after[key] for key in changed})


def entries(letter: Letter, action: str = "", limit: int = RECENT) -> list[AuditEntry]:
    """The letter's newest entries first; only those of `action` when it is given."""
    return list(db.session.scalars(_newest_first(_selected(letter.id, Filters(action=action)))
                                   .limit(limit)))


# ------------------------------------------------------------------ reading the history


@dataclass(frozen=True)
class Filters:
    """Which of a letter's entries the history shows: of one action, by one actor, made from
    `since` to `until` (both included); empty ones select every entry."""

    action: str = ""
    actor: str = ""
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Page:
    entries: list[AuditEntry]
    number: int  # from 1, at most `pages`
    pages: int
    total: int  # the entries the filters select, on every page


def filters(args: Mapping[str, str], zone: tzinfo) -> tuple[Filters, list[str]]:
    """The filters asked for in a query string (action, actor, from, to), and what was wrong
    with them: an unknown action or a date that is none is left out, never an error page."""
    problems: list[str] = []
    action = args.get("action", "")
    if action not in ACTIONS:
        action = ""
    typed = [args.get("from", "")[:40], args.get("to", "")[:40]]
    since, until = _bounds(typed, zone, problems)
    if since is not None and until is not None and since > until:
        problems.append(_("“from” is after “to”: they were swapped."))
        since, until = _bounds(typed[::-1], zone, [])
    actor = clean_text(args.get("actor", ""), 254)  # no NUL: PostgreSQL refuses it even here
    return Filters(action, actor, since, until), problems


def _bounds(typed: list[str], zone: tzinfo, problems: list[str]
            ) -> tuple[datetime | None, datetime | None]:
    """The start of the first day typed and the end of the second (a date and time is read as
    it is); one that is no date is None, and `problems` says so."""
    found: list[datetime | None] = []
    for name, text, day_time in ((_("“from”"), typed[0], time.min),
                                 (_("“to”"), typed[1], time.max)):
        try:
            found.append(dates.parse_deadline(text, zone, name=name, day_time=day_time))
        except LetterError as exc:
            problems.append(_("%(problem)s: it was left out.", problem=str(exc)[:120]))
            found.append(None)
    return found[0], found[1]


def page(letter: Letter, chosen: Filters, number: int, rows: int = HISTORY_ROWS) -> Page:
    """One page of the entries `chosen` selects, newest first; a number past the last page
    shows the last."""
    query = _selected(letter.id, chosen)
    total = int(db.session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    pages = max(1, -(-total // rows))
    number = min(max(number, 1), pages)
    found = db.session.scalars(_newest_first(query).limit(rows).offset((number - 1) * rows))
    return Page(list(found), number, pages, total)


def actors(letter: Letter) -> list[str]:
    """Everyone who made an entry on the letter: the choices of the history's "who" filter."""
    return list(db.session.scalars(select(AuditEntry.actor).distinct()
                                   .where(AuditEntry.letter_id == letter.id)
                                   .order_by(AuditEntry.actor)))


CSV_COLUMNS = ("at", "actor", "action", "label", "subject", "before", "after")
CSV_BATCH = 1000  # entries read in one short reading unit while the download streams


def csv_lines(letter_id: int, chosen: Filters) -> Iterator[str]:
    """Every entry `chosen` selects as CSV, newest first, a batch of rows per reading unit (a
    history of 100,000 entries never sits in memory); cells that a spreadsheet would run as a
    formula are neutralized as the other downloads' are."""
    yield _csv_row(CSV_COLUMNS)
    below: int | None = None
    while True:
        with reading():
            query = _selected(letter_id, chosen)
            if below is not None:
                query = query.where(AuditEntry.id < below)
            batch = list(db.session.scalars(query.order_by(AuditEntry.id.desc())
                                            .limit(CSV_BATCH)))
            lines = []
            for entry in batch:
                values = changes(entry) or ("", "")
                lines.append(_csv_row([safe_cell(cell) for cell in (
                    entry.at.isoformat(), entry.actor, entry.action,
                    str(ACTIONS.get(entry.action, entry.action)), entry.subject, *values)]))
        if lines:
            yield "".join(lines)
        if len(batch) < CSV_BATCH:
            return
        below = batch[-1].id


def _csv_row(cells: Any) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(cells)
    return out.getvalue()


def _selected(letter_id: int, chosen: Filters) -> Select[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.letter_id == letter_id)
    if chosen.action:
        query = query.where(AuditEntry.action == chosen.action)
    if chosen.actor:
        query = query.where(AuditEntry.actor == chosen.actor)
    if chosen.since is not None:
        query = query.where(AuditEntry.at >= chosen.since)
    if chosen.until is not None:
        query = query.where(AuditEntry.at <= chosen.until)
    return query


def _newest_first(query: Select[AuditEntry]) -> Select[AuditEntry]:
    return query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


def changes(entry: AuditEntry) -> tuple[str, str] | None:
    """An entry's values before and after as a person reads them (text as it is, anything else
    as JSON, nothing as ""), or None when it kept none."""
    try:
        detail = json.loads(entry.detail) if entry.detail else None
    except ValueError:
        return None
    if not isinstance(detail, dict):
        return None
    return _shown(detail.get("before")), _shown(detail.get("after"))


def _shown(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _organizer() -> Any:
    if not has_request_context():
        return None
    from flask_login import current_user

    return current_user if getattr(current_user, "is_authenticated", False) else None
