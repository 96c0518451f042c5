"""A letter run by a coalition: its partners (who bring signatories through their own links and
embeds), the organizers' roles on it, invitations to join as an organizer, and the preview image
its shared links show."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from .columns import UTCDateTime, utcnow
from .letters import Letter, Organizer

# What an organizer may do on one letter, from most to least (roles.py says what each allows).
ROLES = ("owner", "editor", "moderator", "viewer", "partner")


class Partner(Model):
    """An organization that brings signatories to a letter: its link is the letter's address
    with `?ref=<code>`, and each signature made through it records the partner."""

    __tablename__ = "partner"
    __table_args__ = (UniqueConstraint("letter_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letter.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))  # lowercase letters, digits and hyphens
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    letter: Mapped[Letter] = relationship()


class LetterRole(Model):
    """An organizer's role on one letter. Site administrators (Organizer.is_admin) need none."""

    __tablename__ = "letter_role"
    __table_args__ = (UniqueConstraint("letter_id", "organizer_id"),
                      CheckConstraint(f"role IN {ROLES}", name="role"),
                      Index("ix_letter_role_organizer_id", "organizer_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letter.id", ondelete="CASCADE"))
    organizer_id: Mapped[int] = mapped_column(ForeignKey("organizer.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    # a "partner" role sees this partner's signatures and counts only
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    letter: Mapped[Letter] = relationship()
    organizer: Mapped[Organizer] = relationship()
    partner: Mapped[Partner | None] = relationship()


class Invitation(Model):
    """An invitation to become an organizer: a link (its token's SHA-256 kept here) valid until
    `expires_at` to set a password; with a letter and role, the role on that letter too."""

    __tablename__ = "invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[int | None] = mapped_column(ForeignKey("organizer.id", ondelete="SET NULL"))
    letter_id: Mapped[int | None] = mapped_column(ForeignKey("letter.id", ondelete="CASCADE"))
    role: Mapped[str | None] = mapped_column(String(16))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    letter: Mapped[Letter | None] = relationship()


class ShareImage(Model):
    """The letter's preview image for shared links (1200x630 PNG), made by the worker and kept
    under the hash of what it shows, so that it is made again only when that changes."""

    __tablename__ = "share_image"

    letter_id: Mapped[int] = mapped_column(ForeignKey("letter.id", ondelete="CASCADE"),
                                           primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    png: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    made_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
