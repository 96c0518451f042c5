"""After delivery: reopening a delivered letter for an addendum, an explicit and recorded step
(the letter form and letter files cannot set a delivered letter back: letters.py), and emailing
the addendum (the signatories listed since delivery) to the letter's recipients.

The delivered copy never changes (delivery.py); the addendum is the worker's PDF of those listed
since (worker.snapshot), and is emailed only when it is up to date with the list.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select

from . import audit, outbox, renders
from .dates import deadline_text
from .delivery import addendum_count, checked_recipients, delivery_of
from .errors import DeliveryError
from .extensions import db
from .models import AuditEntry, Letter, past, utcnow
from .pdf import storage

REOPEN = "letter.reopen"
EMAILED = "delivery.addendum"


@dataclass(frozen=True)
class Emailed:
    """When the addendum was last emailed, with how many signatories, to how many addresses."""

    at: datetime
    signatories: int
    addresses: int


def reopen(letter: Letter, deadline: datetime | None, now: datetime | None = None) -> None:
    """Open a delivered, closed letter again (in the caller's writing unit, audited), with a
    new deadline if given: signatories approved from now on go into the addendum. DeliveryError
    when it is not delivered, not closed, or its deadline (the new one, else its own) has passed,
    which would leave it closed."""
    db.session.execute(select(Letter.id).where(Letter.id == letter.id).with_for_update())
    db.session.refresh(letter)  # as it is now, not as the page that asked read it
    if delivery_of(letter) is None:
        raise DeliveryError(_("This letter has not been delivered: open it from its edit page."))
    if letter.status != "closed":
        raise DeliveryError(_("This letter is open already: nothing changed."))
    when = now or utcnow()
    chosen = deadline or letter.deadline
    if past(chosen, when):
        raise DeliveryError(_("Its deadline has passed: give a new deadline, or it would stay "
                              "closed."))
    audit.record(letter, REOPEN, letter.title,
                 before={"status": "closed", "deadline": deadline_text(letter.deadline)},
                 after={"status": "open", "deadline": deadline_text(chosen)})
    letter.status = "open"
    letter.closed_at = None
    letter.deadline = chosen
    letter.updated_at = when  # the keys of its kept pages change
    db.session.flush()


def fresh_addendum(letter: Letter) -> storage.Stored | None:
    """The addendum PDF when it shows everyone listed since delivery (no refresh waiting or
    running, and its count is the list's); None while it is being made."""
    record = delivery_of(letter)
    if record is None:
        return None
    stored = storage.newest(letter.id, "addendum")
    if stored is None or renders.state(letter).updating:
        return None
    return stored if stored.signatory_count == addendum_count(letter, record.id) else None


def email(letter: Letter, addresses: str) -> int:
    """Queue the addendum to `addresses` (checked: delivery.checked_recipients) in the caller's
    writing unit, the PDF attached, audited; returns how many emails. DeliveryError when the
    letter is not delivered, nobody was listed since, or the addendum is still being made."""
    record = delivery_of(letter)
    if record is None:
        raise DeliveryError(_("This letter has not been delivered: there is no addendum."))
    recipients = checked_recipients(addresses, by_email=True).splitlines()
    count = addendum_count(letter, record.id)
    if not count:
        raise DeliveryError(_("Nobody has been listed since delivery: there is no addendum."))
    stored = fresh_addendum(letter)
    data = storage.data(stored) if stored is not None else None
    if stored is None or data is None:
        raise DeliveryError(_("The addendum is being made with the latest signatories: try "
                              "again in a minute."))
    attachment = (f"{letter.slug}-addendum.pdf", "application/pdf", data)
    for address in recipients:
        outbox.enqueue("addendum", address, attachments=[attachment], delivery=record.id,
                       signatories=count, sha256=stored.sha256)
    audit.record(letter, EMAILED, letter.title,
                 after={"signatories": count, "emailed to": len(recipients),
                        "sha256": stored.sha256})
    return len(recipients)


def last_emailed(letter: Letter) -> Emailed | None:
    """When the addendum was last emailed (its audit entry), or None."""
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.letter_id == letter.id,
                                                       AuditEntry.action == EMAILED)
                              .order_by(AuditEntry.id.desc()).limit(1))
    if entry is None:
        return None
    after = json.loads(entry.detail or "{}").get("after") or {}
    return Emailed(entry.at, int(after.get("signatories", 0)), int(after.get("emailed to", 0)))
