"""Updates to a letter's signers: who gets one, the update and its emails written in one unit
(one email each through the outbox), and unsubscribing, which the link and the one-click headers
(RFC 8058) of every update lead to."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import format_number
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, String, cast, func, literal, or_, select, update

from . import audit, emails, letters, outbox
from .database import changed
from .errors import UpdateError
from .extensions import db
from .models import Letter, LetterUpdate, Organizer, Signature, utcnow
from .text import clean_text, one_line, storable
from .tokens import unsubscribe_id

AUDIENCES = ("subscribers", "signers")
# Confirmed signatures: waiting for approval or approved. Not unconfirmed (the address was never
# proved), rejected, withdrawn, nor held (a spam trap or the rate limit caught it).
CONFIRMED = ("pending", "approved")
MAX_SUBJECT = 200  # LetterUpdate.subject
MAX_BODY = 20_000
REPEAT_WINDOW = timedelta(minutes=10)  # the same update again within it is a double click


@dataclass(frozen=True)
class Draft:
    """An update as the organizer wrote it, checked (draft())."""

    subject: str
    body: str
    audience: str


def draft(subject: str | None, body: str | None, audience: str | None) -> Draft:
    """The form's values as a Draft; UpdateError naming the field that cannot be used."""
    if audience not in AUDIENCES:
        raise UpdateError(_("Choose who gets the update."), "audience")
    subject = clean_text(one_line(subject or ""), MAX_SUBJECT + 1)
    if not subject:
        raise UpdateError(_("Write a subject."), "subject")
    if len(subject) > MAX_SUBJECT:
        raise UpdateError(_("A subject has at most %(limit)s characters.", limit=MAX_SUBJECT),
                          "subject")
    text = storable(body or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not clean_text(text):
        raise UpdateError(_("Write the update."), "body")
    if len(text) > MAX_BODY:
        raise UpdateError(_("An update has at most %(limit)s characters.",
                            limit=format_number(MAX_BODY)), "body")
    if text.count("[") > letters.MAX_BRACKETS or \
            ("|" in text and letters.table_cells(text) > letters.MAX_TABLE_CELLS):
        raise UpdateError(_("The update has too many links or table cells."), "body")
    return Draft(subject, text + "\n", audience)


# ------------------------------------------------------------------ recipients


def _receiving(letter: Letter, audience: str) -> list[ColumnElement[bool]]:
    """The predicate of a signature of `letter` that gets an update for `audience`."""
    where = [Signature.letter_id == letter.id, Signature.status.in_(CONFIRMED),
             Signature.held.is_(False), Signature.email.is_not(None), Signature.email != "",
             Signature.unsubscribed_at.is_(None)]
    if audience == "subscribers":
        where.append(Signature.keep_updated.is_(True))
    return where


def _one_per_address(letter: Letter, audience: str) -> Select[int]:
    """The ids of the signatures that get an update for `audience`: one per address, whatever
    its case (the first signature with it)."""
    return select(func.min(Signature.id)).where(*_receiving(letter, audience)) \
        .group_by(func.lower(Signature.email))


def counts(letter: Letter) -> dict[str, int]:
    """How many addresses each audience reaches now (one count query each)."""
    return {audience: int(db.session.scalar(
        select(func.count(func.distinct(func.lower(Signature.email))))
        .where(*_receiving(letter, audience))) or 0) for audience in AUDIENCES}


# ------------------------------------------------------------------ sending


def preview(letter: Letter, wanted: Draft) -> emails.Written:
    """The email as its recipients will read it; its unsubscribe link is an example that
    unsubscribes nobody."""
    return emails.update_written(letter, wanted.subject, wanted.body, wanted.audience,
                                 emails.unsubscribe_url(0))


def send(letter: Letter, wanted: Draft, organizer_id: int | None = None,
         now: datetime | None = None) -> LetterUpdate:
    """Record the update and queue one email to each recipient, in the caller's writing unit
    (the recipients are read in it too, so that an address unsubscribed a moment ago gets
    none). UpdateError when nobody would get it, or when the same update went out moments ago
    (a second click of Send)."""
    now = now or utcnow()
    _refuse_repeat(letter, wanted, now)
    record = LetterUpdate(letter_id=letter.id, organizer_id=organizer_id, subject=wanted.subject,
                          body=wanted.body, audience=wanted.audience, created_at=now,
                          sent_at=now, recipients=0)
    db.session.add(record)
    db.session.flush()
    # each message's params, {"update": id, "signature": id}, written by the database
    params = literal(f'{{"update": {record.id}, "signature": ') \
        + cast(Signature.id, String) + literal("}")
    record.recipients = outbox.enqueue_selected("update", select(Signature.email, params).where(
        Signature.id.in_(_one_per_address(letter, wanted.audience))))
    if not record.recipients:  # raised: the unit writes nothing
        raise UpdateError(_("No signer would get this update: nobody in this audience has an "
                            "email address that still takes updates."), "audience")
    audit.record(letter, "update.send", wanted.subject, after={
        "audience": wanted.audience, "recipients": record.recipients, "update": record.id})
    return record


def _refuse_repeat(letter: Letter, wanted: Draft, now: datetime) -> None:
    last = db.session.scalar(
        select(LetterUpdate).where(LetterUpdate.letter_id == letter.id)
        .order_by(LetterUpdate.id.desc()).limit(1))
    if last is not None and now - last.created_at < REPEAT_WINDOW and \
            Draft(last.subject, last.body, last.audience) == wanted:
        raise UpdateError(_("This update was sent a moment ago; it was not sent again."))


def sent(letter: Letter) -> list[tuple[LetterUpdate, str]]:
    """The letter's updates, newest first, each with who sent it ("" if the account is gone)."""
    return [(record, name or email or "") for record, name, email in db.session.execute(
        select(LetterUpdate, Organizer.name, Organizer.email)
        .outerjoin(Organizer, Organizer.id == LetterUpdate.organizer_id)
        .where(LetterUpdate.letter_id == letter.id).order_by(LetterUpdate.id.desc()))]


# ------------------------------------------------------------------ unsubscribing


def signature_for(token: str) -> Signature | None:
    """The signature an unsubscribe link was sent to, or None (not our token, or deleted)."""
    signature_id = unsubscribe_id(token)
    return db.session.get(Signature, signature_id) if signature_id else None


def unsubscribed(signature: Signature) -> bool:
    return signature.unsubscribed_at is not None


def unsubscribe(signature: Signature, now: datetime | None = None) -> bool:
    """Stop updates of its letter to the signer's address: every signature of that letter with
    that email (whatever its case) is unsubscribed and no longer kept updated, in the caller's
    writing unit. Doing it again changes nothing and records nothing. True if it changed
    something."""
    now = now or utcnow()
    was = signature.keep_updated
    same = Signature.id == signature.id if not signature.email else \
        func.lower(Signature.email) == signature.email.lower()
    result = db.session.execute(
        update(Signature)
        .where(Signature.letter_id == signature.letter_id, same,
               or_(Signature.unsubscribed_at.is_(None), Signature.keep_updated.is_(True)))
        .values(unsubscribed_at=func.coalesce(Signature.unsubscribed_at, now),
                keep_updated=False)
        .execution_options(synchronize_session=False))
    if not changed(result):
        return False
    db.session.expire(signature)
    audit.record(signature.letter, "signature.unsubscribe", signature.shown_name,
                 before={"keep_updated": was}, after={"keep_updated": False},
                 actor="signer")
    return True
