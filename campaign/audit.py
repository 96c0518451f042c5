"""The audit log: who changed what on a letter, when, and the values before and after.

`record()` adds an entry in the caller's writing unit, so that the entry and the change commit
together or not at all. The actor is the organizer logged in to the request, or what is named:
"signer" (from their own page), "worker", "command line". Nothing in the app edits or deletes an
entry; the letter's history lists them (`entries()`).
"""
from __future__ import annotations

import json
from typing import Any

from flask import has_request_context
from sqlalchemy import select

from .database import UNIT, WriteOutsideUnit
from .extensions import db
from .models import AuditEntry, Letter

RECENT = 50
HISTORY_ROWS = 500  # the newest entries the history page shows
# What each action is called on the letter's history page.
ACTIONS = {
    "letter.status": "Status changed",
    "letter.open": "Opened to the public",
    "letter.signers": "Who can sign changed",
    "letter.version": "New version of the text",
    "reconsent.remind": "Signers of an earlier text reminded",
    "signature.correct": "Details corrected by the signer",
    "signature.withdraw": "Signature withdrawn",
    "signature.withdraw_request": "Withdrawal asked for",
    "signature.reconfirm": "New text confirmed by the signer",
    "signature.unsubscribe": "Unsubscribed from updates",
    "update.send": "Update sent to signers",
    "contacts.erase": "Contact details erased",
}


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


def entries(letter: Letter, action: str = "", limit: int = RECENT) -> list[AuditEntry]:
    """The letter's newest entries first; only those of `action` when it is given."""
    query = select(AuditEntry).where(AuditEntry.letter_id == letter.id)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(db.session.scalars(
        query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)))


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
