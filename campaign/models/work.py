"""What the workers do and keep: the email outbox, rate-limit events, uploaded images, render
jobs, imports of signatories (and the uploads waiting for their preview's confirmation), and the
PDFs with their parts."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from .columns import UTCDateTime, utcnow
from .letters import Letter


class OutboxMessage(Model):
    """One email, written in the transaction that caused it and delivered by the worker."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_due", "status", "send_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    # What the message is about (ids and flags, as JSON): emails.py makes its subject and body
    # from them when it is sent; subject and bodies are then kept as they were sent.
    params: Mapped[str | None] = mapped_column(Text)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued, sending, sent, dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When it is due: queued, when to try it; being sent, when the worker's lease runs out.
    due: Mapped[datetime] = mapped_column("send_after", UTCDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    attachments: Mapped[list[OutboxAttachment]] = relationship(
        cascade="all, delete-orphan", order_by="OutboxAttachment.id")


class OutboxAttachment(Model):
    """A file sent with an outbox message (the delivered PDF)."""

    __tablename__ = "outbox_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("outbox_message.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class RateEvent(Model):
    """One counted attempt (a failed login, an email to a mailbox or asked for from a network)
    for the limits that must hold across workers and hosts; see ratelimit.py."""

    __tablename__ = "rate_event"
    __table_args__ = (Index("ix_rate_event_key", "key", "created_at"),
                      Index("ix_rate_event_created_at", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# ------------------------------------------------------------------ the signed letter's PDFs


class Upload(Model):
    """An uploaded image (the letterhead's logo), named by its content's hash and kept in the
    database, so that a worker on any host can put it in a PDF."""

    __tablename__ = "upload"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(50))
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


RENDER_KINDS = ("refresh", "deliver")


class RenderJob(Model):
    """Work on a letter's PDFs for the worker (renders.py): 'refresh' brings them up to date with
    the letter and its list; 'deliver' makes the final copy and records the delivery.

    Queued in the transaction of the change that calls for it (triggers on signature, for the
    list; letters.py and delivery.py for the letter); at most one of each kind waits per letter,
    so a change made while one waits needs nothing more, and one runs at a time per letter."""

    __tablename__ = "render_job"
    __table_args__ = (
        CheckConstraint(f"kind IN {RENDER_KINDS}", name="kind"),
        Index("uq_render_job_waiting", "letter_id", "kind", unique=True,
              sqlite_where=text("status = 'queued'"), postgresql_where=text("status = 'queued'")),
        Index("ix_render_job_due", "status", "due"),
        Index("ix_render_job_letter_id", "letter_id", "id"),  # a letter's jobs, newest first
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letter.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="refresh")
    status: Mapped[str] = mapped_column(String(16), default="queued")  # working, done, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When it is due: queued, when to try it; being worked on, when the worker's lease runs out.
    due: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    params: Mapped[str] = mapped_column(Text, default="{}")  # JSON: who delivers, whom to tell
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seconds: Mapped[float | None] = mapped_column(Float)  # how long the work took

    letter: Mapped[Letter] = relationship()


IMPORT_STATUSES = ("queued", "running", "done", "failed")


class SignatureImport(Model):
    """A spreadsheet of signatories too large to write in one request, checked whole and kept
    here until the worker has written it, a few hundred rows per short writing unit, through the
    durable queue (imports.py, queue.py). `rows_done` says how far it got, so that a worker that
    dies resumes there; once it has failed for good, how many of its rows are still to be taken
    back. The CSV text is erased when it ends: the contacts live only in the signatures."""

    __tablename__ = "signature_import"
    __table_args__ = (
        CheckConstraint(f"status IN {IMPORT_STATUSES}", name="status"),
        Index("ix_signature_import_due", "status", "due"),
        Index("ix_signature_import_letter_id", "letter_id", "id"),  # a letter's, newest first
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letter.id", ondelete="CASCADE"))
    organizer_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizer.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(200), default="")
    approved: Mapped[bool] = mapped_column(Boolean, default=False)
    csv_text: Mapped[str] = mapped_column(Text, default="", deferred=True)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When it is due: queued, when to try it; running, when the worker's lease runs out.
    due: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    letter: Mapped[Letter] = relationship()


class ImportWaiting(Model):
    """An uploaded spreadsheet between its preview and the organizer's confirmation (see
    import_previews.py): its decoded text, under a random token, for the organizer who sent it
    and the letter it was sent to. Kept in the database, so that the confirmation may reach any
    host; deleted on confirm or cancel, and swept away once it has waited an hour."""

    __tablename__ = "import_waiting"
    __table_args__ = (Index("ix_import_waiting_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letter.id", ondelete="CASCADE"))
    organizer_id: Mapped[int] = mapped_column(ForeignKey("organizer.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(200), default="")
    approved: Mapped[bool] = mapped_column(Boolean, default=False)
    encoding: Mapped[str] = mapped_column(String(40), default="")  # as the preview names it
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


PDF_KINDS = ("signed", "addendum")


class PdfFile(Model):
    """The newest rendered PDF of a letter: 'signed' (the letter with its list) or 'addendum'
    (those listed after delivery); served as it is, never rendered in a request."""

    __tablename__ = "pdf_file"
    __table_args__ = (UniqueConstraint("letter_id", "kind", "language"),
                      CheckConstraint(f"kind IN {PDF_KINDS}", name="kind"))

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letter.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    # the language of the text it prints; "": the letter's own
    language: Mapped[str] = mapped_column(String(16), default="", server_default="")
    fingerprint: Mapped[str] = mapped_column(String(64))  # of everything it shows
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    size: Mapped[int] = mapped_column(Integer)
    pages: Mapped[int] = mapped_column(Integer)
    signatory_count: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)  # when its list was read
    rendered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seconds: Mapped[float] = mapped_column(Float)  # how long it took to render
    parts: Mapped[int] = mapped_column(Integer, default=0)
    reused: Mapped[int] = mapped_column(Integer, default=0)  # parts taken from an earlier render


class PdfPart(Model):
    """A rendered part of a list's pages, under a key of exactly what it shows, so that the next
    render of the letter uses it again instead of laying it out again."""

    __tablename__ = "pdf_part"
    __table_args__ = (Index("ix_pdf_part_used_at", "used_at"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
