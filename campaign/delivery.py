"""Final export and delivery: close a letter, keep its delivered PDF, contacts and record, send it.

The delivered copy is fixed: its bytes are stored with their SHA-256, served as they are from
then on, and never re-rendered. Signatories approved after delivery go into an addendum.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from . import outbox, render, signing
from .extensions import db
from .models import DeliveredSignature, Delivery, Letter, Signature, utcnow
from .render import Pdf


class DeliveryError(Exception):
    """Why a letter cannot be delivered or set up as asked; the message is for organizers."""


class AlreadyDelivered(DeliveryError):
    pass


@dataclass(frozen=True)
class Summary:
    """What the public page says about a delivered letter."""

    delivered_at: datetime
    signatory_count: int
    sha256: str
    addendum_count: int


# ------------------------------------------------------------------ settings


def set_letterhead(letter: Letter, coalition_name: str, closing: str,
                   logo: bytes | None = None, remove_logo: bool = False) -> None:
    """The coalition's name and logo over the letter, and the closing line under it."""
    letter.coalition_name = signing.clean_text(coalition_name, 200)
    letter.closing = "\n".join(signing.clean_text(line, 300) for line in closing.splitlines()
                               if line.strip())[:300]
    if logo is not None:
        letter.logo_file = render.store_image(logo)
    elif remove_logo:
        letter.logo_file = None


def set_recipients(letter: Letter, addresses: str, by_email: bool) -> None:
    """Where the final PDF is emailed, if it is: one address a line (or separated by commas)."""
    parts = [a.strip() for a in addresses.replace(",", "\n").replace(";", "\n").splitlines()]
    checked = []
    for address in filter(None, parts):
        try:
            checked.append(signing.normalize_email(address))
        except signing.SigningError:
            raise DeliveryError(f"{address[:100]!r} is not an email address.") from None
    if by_email and not checked:
        raise DeliveryError("Give at least one address to email the letter to.")
    letter.delivery_emails = "\n".join(dict.fromkeys(checked))
    letter.deliver_by_email = by_email


# ------------------------------------------------------------------ delivering


def deliver(letter: Letter, organizer_id: int | None = None, notify_signatories: bool = True,
            now: datetime | None = None) -> Delivery:
    """Close the letter and record its final copy: the PDF of the signatories listed now, its
    SHA-256, the private CSV of their contacts; queue the PDF to the recipients (if the letter is
    set to be delivered by email) and a note to each signatory. Flushes; the caller commits."""
    # One delivery per letter: the row lock keeps two organizers on PostgreSQL from both passing
    # the check (SQLite's immediate write transaction already serializes them).
    db.session.execute(select(Letter.id).where(Letter.id == letter.id).with_for_update())
    if delivery_of(letter) is not None:
        raise AlreadyDelivered("This letter has already been delivered.")
    if letter.status == "draft":
        raise DeliveryError("This letter is a draft: publish it before delivering it.")
    entries = render.listed_entries(letter)
    if not entries:
        raise DeliveryError("No signatory is listed yet: approve signatures before delivering.")
    if letter.deliver_by_email and not letter.recipient_addresses():
        raise DeliveryError("The letter is set to be emailed, but has no recipient addresses.")

    pdf = render.current_pdf(letter, entries)
    by_id = {s.id: s for s in signing.listed(letter)}
    signatures = [by_id[e.id] for e in entries if e.id in by_id]
    letter.status = "closed"
    record = Delivery(
        letter_id=letter.id,
        delivered_at=now or utcnow(),
        organizer_id=organizer_id,
        recipients=letter.recipient,
        emailed_to="\n".join(letter.recipient_addresses()) if letter.deliver_by_email else "",
        signatory_count=len(entries),
        sha256=hashlib.sha256(pdf.data).hexdigest(),
        pdf=pdf.data,
        contacts_csv="".join(signing.csv_lines(map(contact_row, signatures), private=True)),
    )
    try:
        with db.session.begin_nested():
            db.session.add(record)
            db.session.flush()
    except IntegrityError:
        raise AlreadyDelivered("This letter has already been delivered.") from None
    db.session.execute(insert(DeliveredSignature), [
        {"delivery_id": record.id, "signature_id": e.id} for e in entries])
    _send(letter, record, pdf, signatures if notify_signatories else [])
    db.session.flush()
    return record


def contact_row(signature: Signature) -> dict[str, str]:
    """A row of the private contacts CSV (the columns of signing.export_rows(private=True))."""
    return {**signing.public_row(signature), "contact_name": signature.contact_name,
            "contact_title": signature.contact_title, "email": signature.email or "",
            "phone": signature.phone, "website": signature.website}


def _send(letter: Letter, record: Delivery, pdf: Pdf, signatories: Sequence[Signature]) -> None:
    letter_url = signing.external_url("public.letter", slug=letter.slug)
    pdf_url = signing.external_url("public.letter_pdf", slug=letter.slug)
    if letter.deliver_by_email:
        attachment = (f"{letter.slug}.pdf", "application/pdf", pdf.data)
        for address in letter.recipient_addresses():
            outbox.enqueue("final-pdf", address, letter.title, "final_pdf",
                           attachments=[attachment], letter=letter, delivery=record,
                           letter_url=letter_url)
    for signature in signatories:
        if signature.email:
            outbox.enqueue("delivered", signature.email, f"Delivered: {letter.title}", "delivered",
                           letter=letter, delivery=record, signature=signature,
                           letter_url=letter_url, pdf_url=pdf_url)


# ------------------------------------------------------------------ after delivery


def delivery_of(letter: Letter) -> Delivery | None:
    return db.session.scalar(select(Delivery).where(Delivery.letter_id == letter.id))


def delivered_ids(record: Delivery) -> list[int]:
    return list(db.session.scalars(select(DeliveredSignature.signature_id)
                                   .where(DeliveredSignature.delivery_id == record.id)))


def letter_pdf(letter: Letter) -> Pdf:
    """The signed letter: the delivered copy, byte for byte, once there is one; else the current."""
    record = delivery_of(letter)
    if record is None:
        return render.current_pdf(letter)
    return Pdf(record.pdf, record.sha256)


def addendum_pdf(letter: Letter) -> Pdf | None:
    """Signatories listed after delivery, or None (not delivered, or nobody joined since)."""
    record = delivery_of(letter)
    if record is None:
        return None
    return render.addendum_pdf(letter, delivered_ids(record), record.delivered_at, record.sha256)


def addendum_count(letter: Letter, record: Delivery) -> int:
    later = signing.listed_query(letter).order_by(None).where(
        Signature.id.not_in(select(DeliveredSignature.signature_id)
                            .where(DeliveredSignature.delivery_id == record.id)))
    return int(db.session.scalar(select(func.count()).select_from(later.subquery())) or 0)


def summary(letter: Letter) -> Summary | None:
    record = delivery_of(letter)
    if record is None:
        return None
    return Summary(record.delivered_at, record.signatory_count, record.sha256,
                   addendum_count(letter, record))


def package(letter: Letter, record: Delivery) -> bytes:
    """The final package as a ZIP: the delivered PDF, the private contacts CSV, the record."""
    zone = current_app.config["TZ"]
    lines = [
        f"Letter: {letter.title}",
        f"Address: {signing.external_url('public.letter', slug=letter.slug)}",
        f"Delivered: {record.delivered_at.astimezone(zone):%Y-%m-%d %H:%M %Z}",
        f"Delivered by: {record.organizer.email if record.organizer else '-'}",
        "Recipients:", *(f"  {line}" for line in record.recipients.splitlines()),
        f"Emailed to: {', '.join(record.emailed_to.splitlines()) or '-'}",
        f"Signatories: {record.signatory_count}",
        f"SHA-256 of {letter.slug}.pdf: {record.sha256}",
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{letter.slug}.pdf", record.pdf)
        archive.writestr(f"{letter.slug}-contacts.csv", record.contacts_csv)
        archive.writestr("delivery.txt", "\n".join(lines) + "\n")
    return buffer.getvalue()
