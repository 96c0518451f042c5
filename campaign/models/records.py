"""What follows from letters and signatures, kept as records: the delivered copy of a letter and
the signatories in it, a signer's personal links, the organizers' updates to signers, and the
audit log."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from .columns import UTCDateTime, utcnow
from .letters import Letter, Organizer, Signature


class Delivery(Model):
    """The copy of a letter that was delivered: its PDF bytes, their SHA-256, who got it.

    Written once when an organizer closes and delivers the letter; never changed after, so that
    the file served afterwards is byte for byte the one that was delivered.
    """

    __tablename__ = "delivery"

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letter.id", ondelete="CASCADE"), unique=True)
    delivered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    organizer_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizer.id", ondelete="SET NULL"))
    recipients: Mapped[str] = mapped_column(Text, default="")  # the addressee block as delivered
    emailed_to: Mapped[str] = mapped_column(Text, default="")  # addresses sent the PDF, one a line
    signatory_count: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    pdf: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    contacts_csv: Mapped[str] = mapped_column(Text, deferred=True)

    letter: Mapped[Letter] = relationship(back_populates="delivery")
    organizer: Mapped[Organizer | None] = relationship()


class DeliveredSignature(Model):
    """A signatory in the delivered copy; those approved later make up the addendum."""

    __tablename__ = "delivered_signature"

    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("delivery.id", ondelete="CASCADE"), primary_key=True)
    signature_id: Mapped[int] = mapped_column(
        ForeignKey("signature.id", ondelete="CASCADE"), primary_key=True)
    # the page of the delivered PDF on which it is listed (migration 0007); None before then
    page: Mapped[int | None] = mapped_column(Integer)


class SignerLink(Model):
    """A signer's personal link to their own page (correct, withdraw, confirm a changed text):
    a long random token in the link, its SHA-256 here. A signature may have several (the one
    shown after confirming and mailed in the receipt, one in each re-consent email)."""

    __tablename__ = "signer_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    signature_id: Mapped[int] = mapped_column(
        ForeignKey("signature.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    signature: Mapped[Signature] = relationship()


class LetterUpdate(Model):
    """A message from the organizers to a letter's signers: to those who asked to be kept
    updated ("subscribers") or, for news about their signature, to every confirmed signer
    ("signers"). Sent through the outbox, one email each."""

    __tablename__ = "letter_update"

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letter.id", ondelete="CASCADE"),
                                           index=True)
    organizer_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizer.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(16), default="subscribers")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recipients: Mapped[int] = mapped_column(Integer, default=0)

    letter: Mapped[Letter] = relationship()


class AuditEntry(Model):
    """One change to a letter or its signatures: who (an organizer, the signer, the worker,
    the command line), when, what, and the values before and after, written in the transaction
    of the change (audit.py). Nothing in the app changes or deletes these rows."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_letter", "letter_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int | None] = mapped_column(ForeignKey("letter.id", ondelete="SET NULL"))
    organizer_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizer.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(254), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(300), default="")  # e.g. the signatory's name
    detail: Mapped[str] = mapped_column(Text, default="")  # JSON: {"before": ..., "after": ...}
