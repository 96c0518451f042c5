"""Retention of signers' contact details (CAMPAIGN_RETAIN_CONTACTS_DAYS): that many days after a
letter is delivered or closed, the contact name, title, email, phone and IP hash of its signatures
are erased, and the mail sent to those addresses. The public record stays: the names, places,
scopes and statuses of the signatories, an individual's title (shown with their name), the
delivered PDF (byte for byte), the counts.
`campaign purge-contacts` erases what is due now; the worker does it once a day.

A letter's signatures are erased a few hundred at a time, each batch a short writing unit (a
letter may have thousands); the letter is marked erased, and the audit log says so, in the last
one. A letter that opens again and closes later is due again for those who signed meanwhile.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, case, delete, func, or_, select, update

from . import audit
from .database import reading, writing
from .dates import local_date
from .extensions import db
from .models import Delivery, Letter, OutboxMessage, Signature, utcnow

BATCH = 500  # signatures erased per writing unit
INDIVIDUAL = "individual"  # the scope of a person signing for themselves
# What is erased of a signature, and of the delivered contacts CSV: what only organizers saw. An
# individual's title stays: it is public (listing.PUBLIC_TITLE), shown with their name.
ERASED = {"contact_name": "", "email": None, "phone": "", "ip_hash": None,
          "contact_title": case((Signature.scope == INDIVIDUAL, Signature.contact_title),
                                else_="")}
ERASED_COLUMNS = ("contact_name", "contact_title", "email", "phone")


@dataclass(frozen=True)
class Purged:
    """What one run erased: how many letters and signatures."""

    letters: int
    signatures: int


def days() -> int | None:
    """CAMPAIGN_RETAIN_CONTACTS_DAYS: None when contact details are kept."""
    value = current_app.config.get("RETAIN_CONTACTS_DAYS")
    return None if value is None else int(value)


def _ended() -> ColumnElement[datetime]:
    """When a letter stopped taking signatures: its closing, or (closed before closings were
    kept) its delivery."""
    return func.coalesce(Letter.closed_at, Delivery.delivered_at)


def due(now: datetime | None = None) -> list[int]:
    """The closed letters whose contact details are due to be erased now (none when the setting
    is off): closed or delivered at least the setting's days ago, and not erased since."""
    kept = days()
    if kept is None:
        return []
    cutoff = (now or utcnow()) - timedelta(days=kept)
    ended = _ended()
    return list(db.session.scalars(
        select(Letter.id).outerjoin(Delivery, Delivery.letter_id == Letter.id)
        .where(Letter.status == "closed", ended.is_not(None), ended <= cutoff,
               or_(Letter.contacts_erased_at.is_(None), Letter.contacts_erased_at < ended))
        .order_by(Letter.id)))


def closed_on(letter: Letter) -> datetime | None:
    """When the letter stopped taking signatures (None while it takes them)."""
    if letter.status != "closed":
        return None
    return letter.closed_at or db.session.scalar(
        select(Delivery.delivered_at).where(Delivery.letter_id == letter.id))


def notice(letter: Letter) -> str | None:
    """What the letter's organizer pages say of its contact details: when they were or will be
    erased; None when nothing will happen to them (the setting is off, nothing erased)."""
    kept, ended, erased = days(), closed_on(letter), letter.contacts_erased_at
    if erased is not None and (ended is None or erased >= ended or kept is None):
        return _("The signatories' contact details (name, title, email, phone) were erased on "
                 "%(date)s.", date=local_date(erased))
    if kept is None:
        return None
    if ended is None:
        return _("The signatories' contact details (name, title, email, phone) will be erased "
                 "%(days)s days after the letter is delivered or closed.", days=kept)
    return _("The signatories' contact details (name, title, email, phone) will be erased on "
             "%(date)s.", date=local_date(ended + timedelta(days=kept)))


def purge_due(now: datetime | None = None, actor: str = "command line") -> Purged:
    """Erase the contact details of every letter due now; each letter on its own."""
    with reading():
        letter_ids = due(now)
    erased = sum(purge(letter_id, actor=actor, now=now) for letter_id in letter_ids)
    return Purged(len(letter_ids), erased)


def purge(letter_id: int, actor: str = "command line", now: datetime | None = None) -> int:
    """Erase the contact details of the letter's signatures (BATCH per writing unit), and of its
    delivered contacts CSV; mark the letter erased and audit it. How many signatures had any."""
    erased = 0
    while True:
        with writing():
            batch = list(db.session.scalars(
                select(Signature.id).where(Signature.letter_id == letter_id, _has_contact())
                .order_by(Signature.id).limit(BATCH)))
            if batch:
                _forget_mail(batch)
                db.session.execute(update(Signature).where(Signature.id.in_(batch))
                                   .values(**ERASED).execution_options(synchronize_session=False))
        erased += len(batch)
        if len(batch) < BATCH:
            break
    with reading():
        stored = db.session.scalar(select(Delivery.contacts_csv)
                                   .where(Delivery.letter_id == letter_id))
    blanked = blank_contacts(stored) if stored else None  # outside the unit: a long CSV
    with writing():
        letter = db.session.get(Letter, letter_id)
        if letter is None:
            return erased
        if blanked is not None:
            db.session.execute(update(Delivery).where(Delivery.letter_id == letter_id)
                               .values(contacts_csv=blanked))
        letter.contacts_erased_at = now or utcnow()
        audit.record(letter, "contacts.erase", letter.title, after={"signatures": erased},
                     actor=actor)
    return erased


def _forget_mail(signature_ids: list[int]) -> None:
    """The mail already sent (or given up on) to these signatures' addresses goes too: the
    outbox keeps the address and what the message said. Mail still waiting to go stays."""
    addresses = [email for email in db.session.scalars(
        select(Signature.email).where(Signature.id.in_(signature_ids),
                                      Signature.email.is_not(None))) if email]
    if addresses:
        db.session.execute(delete(OutboxMessage).where(
            OutboxMessage.recipient.in_(addresses), OutboxMessage.status.in_(("sent", "dead"))))


def _has_contact() -> ColumnElement[bool]:
    return or_(Signature.contact_name != "",
               and_(Signature.scope != INDIVIDUAL, Signature.contact_title != ""),
               Signature.email.is_not(None), Signature.phone != "", Signature.ip_hash.is_not(None))


def blank_contacts(text: str) -> str:
    """The delivered contacts CSV with its contact columns emptied, its other columns (the public
    record of who was delivered) as they were; an individual's title too stays (public)."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return text
    blank = [i for i, column in enumerate(rows[0]) if column in ERASED_COLUMNS]
    scope = rows[0].index("scope") if "scope" in rows[0] else None
    title = rows[0].index("contact_title") if "contact_title" in rows[0] else None
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(rows[0])
    for row in rows[1:]:
        person = scope is not None and scope < len(row) and row[scope] == INDIVIDUAL
        kept = {title} if person else set()
        writer.writerow(["" if i in blank and i not in kept else value
                         for i, value in enumerate(row)])
    return out.getvalue()
