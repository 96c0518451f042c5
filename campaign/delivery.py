"""Final export and delivery: close a letter, keep its delivered PDF, contacts and record, send it.

The delivered copy is fixed: its bytes are stored with their SHA-256, served as they are from
then on, and never re-rendered. Signatories approved after delivery go into an addendum.

Delivering never renders in a request nor holds the write lock while it renders: an organizer's
"Close and deliver" closes the letter and queues a 'deliver' render job (`request`); the worker
reads the list (`check_deliverable`), renders its PDF, and in one writing unit records the
delivery (`close_and_deliver`), having checked that the list is still the one rendered.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from . import audit, letters, listing, outbox, pdf, renders, spreadsheets, uploads
from .dates import local
from .errors import (
    AlreadyDelivered,
    DeliveryError,
    DeliveryUnderway,
    ListChanged,
    SigningError,
)
from .extensions import db
from .links import external_url
from .listing import Listed
from .models import DeliveredSignature, Delivery, Letter, Signature, utcnow
from .pdf import storage
from .text import clean_text, normalize_email

__all__ = ["AlreadyDelivered", "DeliveryError", "DeliveryUnderway", "ListChanged"]


@dataclass(frozen=True)
class Summary:
    """What the public page says about a delivered letter."""

    delivered_at: datetime
    signatory_count: int
    sha256: str
    addendum_count: int


@dataclass(frozen=True)
class Prepared:
    """The list as it was read for delivery, the PDF rendered of it, and the page of the PDF
    each signatory is listed on, by id (pdf/pages.py; one not found is not in it)."""

    rows: list[Listed]
    pdf: bytes
    pages: Mapping[int, int] = field(default_factory=dict)


# ------------------------------------------------------------------ settings


def set_letterhead(letter: Letter, coalition_name: str, closing: str,
                   logo: uploads.CheckedImage | None = None, remove_logo: bool = False) -> None:
    """The coalition's name and logo (checked already: uploads.check_image) over the letter,
    and the closing line under it; refused while the letter is being delivered (its final PDF
    is being made)."""
    if renders.delivering(letter):
        raise DeliveryUnderway(_("The letter is being delivered: its letterhead can no longer "
                                 "change."))
    before = _letterhead(letter)
    letter.coalition_name = clean_text(coalition_name, 200)
    letter.closing = "\n".join(clean_text(line, 300) for line in closing.splitlines()
                               if line.strip())[:300]
    if logo is not None:
        letter.logo_file = uploads.store_image(logo)
    elif remove_logo:
        letter.logo_file = None
    _audit_changes(letter, "letter.letterhead", before, _letterhead(letter))
    renders.want(letter)  # the PDF shows them


def _letterhead(letter: Letter) -> dict[str, str | None]:
    return {"coalition name": letter.coalition_name, "closing": letter.closing,
            "logo": letter.logo_file}


def _audit_changes(letter: Letter, action: str, before: Mapping[str, object],
                   after: Mapping[str, object]) -> None:
    """An entry with the values that changed, before and after, if any did."""
    changed = [key for key, value in after.items() if before.get(key) != value]
    if changed:
        audit.record(letter, action, letter.title, before={k: before.get(k) for k in changed},
                     after={k: after[k] for k in changed})


MAX_RECIPIENTS = 50  # the final PDF goes to a letter's addressees, not to a mailing list


def checked_recipients(addresses: str, by_email: bool) -> str:
    """The addresses the final PDF is emailed to, if it is, checked (before any writing unit):
    one a line (or separated by commas), at most MAX_RECIPIENTS; DeliveryError says what is
    wrong."""
    parts = addresses.replace(",", "\n").replace(";", "\n").splitlines()
    given = list(dict.fromkeys(filter(None, (part.strip() for part in parts))))
    if len(given) > MAX_RECIPIENTS:
        raise DeliveryError(_("Give at most %(limit)s addresses: the final PDF goes to the "
                              "letter's addressees (tell the signatories with the box on "
                              "delivery).", limit=MAX_RECIPIENTS))
    checked = []
    for address in given:
        try:
            checked.append(normalize_email(address))
        except SigningError:
            raise DeliveryError(_("%(address)s is not an email address.",
                                  address=repr(address[:100]))) from None
    if by_email and not checked:
        raise DeliveryError(_("Give at least one address to email the letter to."))
    return "\n".join(dict.fromkeys(checked))


def set_recipients(letter: Letter, recipients: str, by_email: bool) -> None:
    """Where the final PDF is emailed (checked_recipients()), and whether it is."""
    before = {"emailed to": letter.delivery_emails, "by email": bool(letter.deliver_by_email)}
    letter.delivery_emails = recipients
    letter.deliver_by_email = by_email
    _audit_changes(letter, "letter.recipients", before,
                   {"emailed to": recipients, "by email": by_email})


# ------------------------------------------------------------------ delivering


def request(letter: Letter, organizer_id: int | None, notify_signatories: bool) -> None:
    """Close the letter and queue its delivery (in the caller's writing unit): the worker makes
    the final PDF and records the delivery when it is made. Says at once why the letter cannot
    be delivered, if it cannot."""
    _lock_undelivered(letter)
    _check(letter, listing.count(letter))
    letters.set_status(letter, "closed")  # CAMPAIGN_RETAIN_CONTACTS_DAYS counts from here
    renders.request_delivery(letter, organizer_id, notify_signatories)
    audit.record(letter, "delivery.request", letter.title,
                 after={"signatories told": notify_signatories,
                        "emailed to": len(letter.recipient_addresses())
                        if letter.deliver_by_email else 0})


def retry(letter: Letter) -> None:
    """Queue again a delivery that failed, as it was asked for (in the caller's writing unit);
    says at once why it cannot be delivered, if it still cannot."""
    _lock_undelivered(letter)
    _check(letter, listing.count(letter))
    renders.retry_delivery(letter)
    audit.record(letter, "delivery.retry", letter.title)


def _lock_undelivered(letter: Letter) -> None:
    """Lock the letter's row for this unit, and refuse a letter delivered already. The row lock
    keeps two organizers on PostgreSQL from both passing the check (SQLite's immediate write
    transaction already serializes them)."""
    db.session.execute(select(Letter.id).where(Letter.id == letter.id).with_for_update())
    if delivery_of(letter) is not None:
        raise AlreadyDelivered(_("This letter has already been delivered."))


def check_deliverable(letter: Letter) -> list[Listed]:
    """The list as delivery records it (the contacts too); DeliveryError says why the letter
    cannot be delivered now."""
    rows = listing.rows(letter, private=True)
    _check(letter, len(rows))
    return rows


def _check(letter: Letter, listed: int) -> None:
    if letter.status == "draft":
        raise DeliveryError(_("This letter is a draft: publish it before delivering it."))
    if not listed:
        raise DeliveryError(_("No signatory is listed yet: approve signatures before "
                              "delivering."))
    if letter.deliver_by_email and not letter.recipient_addresses():
        raise DeliveryError(_("The letter is set to be emailed, but has no recipient "
                              "addresses."))


def close_and_deliver(letter: Letter, prepared: Prepared, organizer_id: int | None = None,
                      notify_signatories: bool = True, now: datetime | None = None) -> Delivery:
    """Close the letter and record its final copy (in the caller's writing unit): the prepared
    PDF, its SHA-256, the private CSV of the signatories' contacts; queue the PDF to the
    recipients (if the letter is set to be delivered by email) and a note to each signatory.
    ListChanged if the list is no longer the one the PDF shows."""
    _lock_undelivered(letter)
    if listing.rows(letter, private=True) != prepared.rows:
        raise ListChanged(_("The list changed while the PDF was being made: deliver it "
                            "again."))
    rows = prepared.rows
    letter.updated_at = now or utcnow()  # its public page now says it was delivered
    record = Delivery(
        letter_id=letter.id,
        delivered_at=now or utcnow(),
        organizer_id=organizer_id,
        recipients=letter.recipient,
        emailed_to="\n".join(letter.recipient_addresses()) if letter.deliver_by_email else "",
        signatory_count=len(rows),
        sha256=hashlib.sha256(prepared.pdf).hexdigest(),
        pdf=prepared.pdf,
        contacts_csv="".join(spreadsheets.csv_lines(rows, spreadsheets.PRIVATE_FIELDS)),
    )
    try:
        with db.session.begin_nested():
            db.session.add(record)
            db.session.flush()
    except IntegrityError:
        raise AlreadyDelivered(_("This letter has already been delivered.")) from None
    db.session.execute(insert(DeliveredSignature), [
        {"delivery_id": record.id, "signature_id": row.id, "page": prepared.pages.get(row.id)}
        for row in rows])
    if letter.deliver_by_email:
        attachment = (f"{letter.slug}.pdf", "application/pdf", prepared.pdf)
        for address in letter.recipient_addresses():
            outbox.enqueue("final-pdf", address, attachments=[attachment], delivery=record.id)
    if notify_signatories:
        for row in rows:
            if row.email:
                outbox.enqueue("delivered", row.email, signature=row.id, delivery=record.id)
    audit.record(letter, "delivery.made", letter.title, actor="worker",
                 after={"signatories": record.signatory_count, "sha256": record.sha256,
                        "emailed to": len(record.emailed_to.splitlines())})
    db.session.flush()
    return record


# ------------------------------------------------------------------ after delivery


def delivery_of(letter: Letter) -> Delivery | None:
    return db.session.scalar(select(Delivery).where(Delivery.letter_id == letter.id))


def delivered_ids(record: Delivery) -> list[int]:
    return list(db.session.scalars(select(DeliveredSignature.signature_id)
                                   .where(DeliveredSignature.delivery_id == record.id)))


def letter_pdf(letter: Letter) -> pdf.Pdf | None:
    """The signed letter: the delivered copy, byte for byte, once there is one; else the newest
    the worker made (None while none is made yet)."""
    record = delivery_of(letter)
    if record is not None:  # its bytes never change: kept by this process once read
        data = storage.BYTES.get(("delivered", record.id, record.sha256), lambda: record.pdf)
        return pdf.Pdf(data, record.sha256, record.delivered_at)
    return _stored(letter, "signed")


def addendum_pdf(letter: Letter) -> pdf.Pdf | None:
    """The newest addendum of signatories listed after delivery (None: not made, not delivered,
    or nobody joined since)."""
    return _stored(letter, "addendum") if delivery_of(letter) is not None else None


def translated_pdf(letter: Letter, language: str) -> pdf.Pdf | None:
    """The newest signed letter in one of its translations (the worker makes one for each, with
    the same list; None while none is made yet)."""
    return _stored(letter, "signed", language)


def _stored(letter: Letter, kind: str, language: str = "") -> pdf.Pdf | None:
    for __ in range(2):  # read again once if the worker replaced it between the two reads
        stored = storage.newest(letter.id, kind, language)
        if stored is None:
            return None
        data = storage.data(stored)
        if data is not None:
            return pdf.Pdf(data, stored.fingerprint, stored.as_of)
    return None


def has_addendum(letter: Letter) -> bool:
    """Whether the letter was delivered and someone was listed since."""
    record = delivery_of(letter)
    return record is not None and addendum_count(letter, record.id) > 0


def addendum_count(letter: Letter, delivery_id: int) -> int:
    """How many signatories are listed now that the delivered copy does not hold."""
    return int(db.session.scalar(
        select(func.count()).select_from(Signature)
        .where(*listing.where_listed(letter),
               Signature.id.not_in(select(DeliveredSignature.signature_id)
                                   .where(DeliveredSignature.delivery_id == delivery_id)))) or 0)


def summary(letter: Letter) -> Summary | None:
    """What the public page says of the letter's delivery, or None (one light query for the
    letters not delivered)."""
    found = db.session.execute(
        select(Delivery.id, Delivery.delivered_at, Delivery.signatory_count, Delivery.sha256)
        .where(Delivery.letter_id == letter.id)).first()
    if found is None:
        return None
    return Summary(found.delivered_at, found.signatory_count, found.sha256,
                   addendum_count(letter, found.id))


def package(letter: Letter, record: Delivery) -> bytes:
    """The final package as a ZIP: the delivered PDF, the private contacts CSV, the record."""
    lines = [
        _("Letter: %(title)s", title=letter.title),
        _("Address: %(url)s", url=external_url("public.letter", slug=letter.slug)),
        _("Delivered: %(when)s", when=local(record.delivered_at).strftime("%Y-%m-%d %H:%M %Z")),
        _("Delivered by: %(email)s", email=record.organizer.email if record.organizer else "-"),
        _("Recipients:"), *(f"  {line}" for line in record.recipients.splitlines()),
        _("Emailed to: %(addresses)s", addresses=", ".join(record.emailed_to.splitlines()) or "-"),
        _("Signatories: %(count)s", count=record.signatory_count),
        _("SHA-256 of %(file)s: %(sha256)s", file=letter.slug + ".pdf", sha256=record.sha256),
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{letter.slug}.pdf", record.pdf)
        archive.writestr(f"{letter.slug}-contacts.csv", record.contacts_csv)
        archive.writestr("delivery.txt", "\n".join(lines) + "\n")
    return buffer.getvalue()
