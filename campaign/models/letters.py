"""Organizers and their sessions, letters and their versions, signatures and the counts of those
listed (records.py keeps what follows from them: deliveries, signers' links, updates, the audit
log)."""
from __future__ import annotations

import hashlib
import unicodedata
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false

from .. import text as texts
from ..extensions import Model
from .columns import UTCDateTime, utcnow

if TYPE_CHECKING:
    from .records import Delivery

# collecting: signing works at the letter's address, but nothing about who signed is public
# until it opens (by hand, or by the worker at publish_at).
LETTER_STATUSES = ("draft", "collecting", "open", "closed")
SIGNER_KINDS = ("organizations", "individuals", "both")  # who a letter takes signatures from
# The groups of the list, in order; individuals come after every organization.
ORGANIZATION_SCOPES = ("national", "state", "local", "international")
SCOPES = (*ORGANIZATION_SCOPES, "individual")
SCOPE_LABELS = {
    "national": "National organizations",
    "state": "State and regional organizations",
    "local": "Local organizations",
    "international": "International organizations",
    "individual": "Individuals",
}
# withdrawn: by the signer, from their own page; kept for the record, never listed.
SIGNATURE_STATUSES = ("unconfirmed", "pending", "approved", "rejected", "withdrawn")
# A version of a letter's text: the first, a correction (typo, formatting: its signers are not
# asked again) or a change (signers of earlier texts are asked to confirm the new one).
VERSION_KINDS = ("original", "correction", "change")


class Organizer(UserMixin, Model):
    __tablename__ = "organizer"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # sees and does everything, creates letters; others only what their roles on letters allow
    # (migration 0008 made every account before it an administrator)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # the language of the organizer pages for them; None: their browser's
    language: Mapped[str | None] = mapped_column(String(16))


class OrganizerSession(Model):
    """A logged-in organizer's session, kept on the server: the browser's session cookie holds
    a random token and this row only its SHA-256. Logging out, a new password and the account's
    deletion end it; so do an idle time and an absolute lifetime (sessions.py)."""

    __tablename__ = "organizer_session"
    __table_args__ = (Index("ix_organizer_session_organizer_id", "organizer_id"),
                      Index("ix_organizer_session_last_seen_at", "last_seen_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    organizer_id: Mapped[int] = mapped_column(ForeignKey("organizer.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Letter(Model):
    __tablename__ = "letter"
    __table_args__ = (
        CheckConstraint(f"status IN {LETTER_STATUSES}", name="status"),
        CheckConstraint(f"signers IN {SIGNER_KINDS}", name="signers"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    recipient: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    # The body as sanitized HTML, made once when the text is saved (letters.py), never per view.
    body_html: Mapped[str] = mapped_column(Text, default="", server_default="")
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    language: Mapped[str] = mapped_column(String(16), default="en")
    require_approval: Mapped[bool] = mapped_column(Boolean, default=True)
    show_contact_names: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    versions: Mapped[list[LetterVersion]] = relationship(
        back_populates="letter", order_by="LetterVersion.number", cascade="all, delete-orphan"
    )

    @property
    def current_version(self) -> LetterVersion | None:
        """The latest version of the letter's own text (translations have theirs)."""
        return self.latest_version(self.language)

    def versions_in(self, language: str | None = None) -> list[LetterVersion]:
        """The versions of the text in `language` (the letter's own by default), oldest first."""
        language = language or self.language
        return [v for v in self.versions if v.language == language]

    def latest_version(self, language: str) -> LetterVersion | None:
        found = self.versions_in(language)
        return found[-1] if found else None

    def languages(self) -> list[str]:
        """Its own language, then its translations'."""
        return [self.language, *(c for c in self.translated_to.split(",") if c)]

    def content_hash(self) -> str:
        return text_hash(self.title, self.recipient, self.body)

    def is_past_deadline(self, now: datetime | None = None) -> bool:
        return past(self.deadline, now)

    def accepts_signatures(self, now: datetime | None = None) -> bool:
        return takes_signatures(self.status, self.deadline, now)

    def state(self, now: datetime | None = None) -> str:
        """Its status as every page shows it (effective_status): an open letter past its
        deadline reads as closed, with no person or job having to close it."""
        return effective_status(self.status, self.deadline, now)

    def is_public(self) -> bool:
        """Its page answers (a collecting letter's too, at its address)."""
        return self.status != "draft"

    def list_is_public(self) -> bool:
        """Its count, list, exports and PDF are public: not while it is a draft or collecting."""
        return self.status not in ("draft", "collecting")

    # The signed letter's presentation and its delivery (appended with migration 0002).
    coalition_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    logo_file: Mapped[str | None] = mapped_column(String(100))
    closing: Mapped[str] = mapped_column(String(300), default="", server_default="")
    delivery_emails: Mapped[str] = mapped_column(Text, default="", server_default="")
    deliver_by_email: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    delivery: Mapped[Delivery | None] = relationship(back_populates="letter",
                                                      cascade="all, delete-orphan")

    # Signers, embargo, retention (appended with migration 0007).
    signers: Mapped[str] = mapped_column(String(16), default="organizations",
                                         server_default="organizations")
    # Origins that may frame /letters/<slug>/embed, one a line, or "*" (migration 0008).
    embed_origins: Mapped[str] = mapped_column(Text, default="", server_default="")
    publish_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a collecting letter opens
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when it last closed
    contacts_erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the languages of its translations (LetterTranslation), comma-separated, in step with them:
    # the letter's page chooses its language without reading them
    translated_to: Mapped[str] = mapped_column(String(200), default="", server_default="")

    def takes_organizations(self) -> bool:
        return self.signers in ("organizations", "both")

    def takes_individuals(self) -> bool:
        return self.signers in ("individuals", "both")

    def recipient_addresses(self) -> list[str]:
        """The delivery addresses, one per line or separated by commas, blanks dropped."""
        return [a for a in (part.strip() for part in
                            self.delivery_emails.replace(",", "\n").splitlines()) if a]


def past(deadline: datetime | None, now: datetime | None = None) -> bool:
    return deadline is not None and (now or utcnow()) > deadline


def takes_signatures(status: str, deadline: datetime | None, now: datetime | None = None) -> bool:
    """Whether a letter in this status, with this deadline, takes signatures now (a collecting
    letter does: only its list is private)."""
    return status in ("open", "collecting") and not past(deadline, now)


def effective_status(status: str, deadline: datetime | None, now: datetime | None = None) -> str:
    """A letter's status as of `now`: the stored one, but "closed" for an open letter whose
    deadline has passed. The stored status stays "open" (moving the deadline opens it again);
    a collecting letter stays private, its form closed (takes_signatures)."""
    return "closed" if status == "open" and past(deadline, now) else status


def text_hash(title: str, recipient: str, body: str) -> str:
    """SHA-256 of a letter's text, normalized: line endings and trailing spaces don't count."""

    def norm(value: str) -> str:
        value = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
        return "\n".join(line.rstrip() for line in value.strip().split("\n"))

    joined = "\x1e".join(norm(part) for part in (title, recipient, body))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


class LetterVersion(Model):
    """The text of a letter as it was public at some point; signatures point at one."""

    __tablename__ = "letter_version"
    __table_args__ = (UniqueConstraint("letter_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letter.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    recipient: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(16), default="change", server_default="change")
    language: Mapped[str] = mapped_column(String(16), default="en", server_default="en")

    letter: Mapped[Letter] = relationship(back_populates="versions")


class LetterTranslation(Model):
    """A letter's text in another language than its own: one list of signatories, one count,
    and a PDF of its own (translations.py)."""

    __tablename__ = "letter_translation"
    __table_args__ = (UniqueConstraint("letter_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letter.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    recipient: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Signature(Model):
    __tablename__ = "signature"
    __table_args__ = (
        UniqueConstraint("letter_id", "email"),
        CheckConstraint(f"status IN {SIGNATURE_STATUSES}", name="status"),
        CheckConstraint(f"scope IN {SCOPES}", name="scope"),
        Index("ix_signature_listing", "letter_id", "status", "scope", "sort_key"),
        Index("ix_signature_letter_org", "letter_id", "org_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letter.id", ondelete="CASCADE"))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("letter_version.id"))
    organization: Mapped[str] = mapped_column(String(300))
    display_name: Mapped[str | None] = mapped_column(String(300))
    sort_key: Mapped[str] = mapped_column(String(300))
    org_key: Mapped[str] = mapped_column(String(300))
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    contact_title: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(50), default="")
    website: Mapped[str] = mapped_column(String(300), default="")
    city: Mapped[str] = mapped_column(String(120), default="")
    region: Mapped[str] = mapped_column(String(120), default="")
    country: Mapped[str] = mapped_column(String(120), default="")
    scope: Mapped[str] = mapped_column(String(16), default="local")
    keep_updated: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="unconfirmed")
    source: Mapped[str] = mapped_column(String(16), default="web")
    held: Mapped[bool] = mapped_column(Boolean, default=False)
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The background import (SignatureImport) that wrote it, so that one that fails for good
    # takes its rows back. No foreign key: SQLite adds (and drops) a plain column without
    # rebuilding the table, and so keeps its triggers.
    import_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # An individual (scope "individual"): the name is `organization`, shown "for identification
    # only" with this affiliation (appended with migration 0007, as the columns below).
    affiliation: Mapped[str] = mapped_column(String(300), default="", server_default="")
    # the interface's language they signed in (their emails are in it)
    language: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # after delivery a signer can only ask to be withdrawn; the organizers see the request
    withdraw_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # re-consent: when the signer was asked to confirm a changed text, and reminded (once)
    reconsent_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # from updates
    # The partner (coalition.Partner) whose link or embed it came through (migration 0008). No
    # foreign key, as import_id: SQLite adds the column without rebuilding the table.
    partner_id: Mapped[int | None] = mapped_column(Integer)

    letter: Mapped[Letter] = relationship()
    version: Mapped[LetterVersion | None] = relationship()

    @hybrid_property
    def shown_name(self) -> str:
        """The name as listed: the organizers' rename, else what was submitted."""
        return self.display_name or self.organization

    @shown_name.inplace.expression
    @classmethod
    def _shown_name_expression(cls) -> Any:
        return func.coalesce(cls.display_name, cls.organization)

    @property
    def place(self) -> str:
        return texts.place(self.city, self.region)

    @property
    def is_individual(self) -> bool:
        return self.scope == "individual"

    @property
    def listed(self) -> bool:
        """On the public list, its exports and the PDF (listing.LISTED says it in SQL)."""
        return self.status == "approved" and not self.held


Index("ix_signature_ip", Signature.letter_id, Signature.ip_hash, Signature.created_at)
Index("ix_signature_partner", Signature.letter_id, Signature.partner_id, Signature.status)
# the moderation queue: its tabs' counts read this index alone, and a tab's oldest first come in
# its order (moderation.status_counts, moderation_queue.page)
Index("ix_signature_queue", Signature.letter_id, Signature.status, Signature.held,
      Signature.created_at)
# listing.earlier_counts: a letter's signatures of versions before its latest change, without
# reading the rest of its list
Index("ix_signature_version", Signature.letter_id, Signature.version_id)
# sign() counts a letter's held ones; the condition is written as SQLAlchemy writes `held` in a
# query on each database, else SQLite does not use the index
Index("ix_signature_held", Signature.letter_id,
      sqlite_where=text("held = 1"), postgresql_where=text("held"))


class ListedCount(Model):
    """How many signatures of a letter are listed (approved, not held), per scope, and a
    revision bumped by every change to a listed signature of that letter and scope.

    Kept by triggers on the signature table (migration 0004), so every change of a signature,
    from any process, changes its count in the same transaction; pages read these few rows
    instead of counting thousands, and keep what they made until a revision moves
    (pagecache.py). `campaign check-counts` compares the counts with a fresh count.
    """

    __tablename__ = "listed_count"

    letter_id: Mapped[int] = mapped_column(ForeignKey("letter.id", ondelete="CASCADE"),
                                           primary_key=True)
    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    listed: Mapped[int] = mapped_column(Integer, default=0)
    revision: Mapped[int] = mapped_column(Integer, default=0)
