"""Organizer sessions kept on the server: the session cookie holds a random token, the database
its SHA-256 (organizer_session). Logging out ends a session, a new password ends all of the
account's, and each ends after CAMPAIGN_SESSION_IDLE_MINUTES unused or CAMPAIGN_SESSION_MAX_HOURS
after logging in; a copied cookie opens nothing after that."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app, session
from sqlalchemy import delete, or_, select, update

from .database import UNIT, writing
from .extensions import db
from .models import Organizer, OrganizerSession, utcnow
from .text import parse_id

KEY = "sid"  # the token's name in Flask's session
SEEN_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _idle() -> timedelta:
    return timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])


def _lifetime() -> timedelta:
    return timedelta(hours=current_app.config["SESSION_MAX_HOURS"])


def start(organizer_id: int) -> str:
    """A new session for the organizer (in the caller's writing unit), its token for the cookie;
    sessions that have ended by time are deleted."""
    now = utcnow()
    db.session.execute(delete(OrganizerSession).where(or_(
        OrganizerSession.created_at < now - _lifetime(),
        OrganizerSession.last_seen_at < now - _idle())))
    token = secrets.token_urlsafe(32)
    db.session.add(OrganizerSession(organizer_id=organizer_id, token_hash=_digest(token),
                                    created_at=now, last_seen_at=now))
    db.session.flush()
    return token


def end(token: object) -> None:
    """End the session with this token, if any (in the caller's writing unit)."""
    if isinstance(token, str):
        db.session.execute(delete(OrganizerSession)
                           .where(OrganizerSession.token_hash == _digest(token)))


def end_all(organizer_id: int) -> None:
    """End every session of an organizer (in the caller's writing unit)."""
    db.session.execute(delete(OrganizerSession)
                       .where(OrganizerSession.organizer_id == organizer_id))


def ended(kept: OrganizerSession, now: datetime) -> bool:
    return kept.created_at <= now - _lifetime() or kept.last_seen_at <= now - _idle()


def load_user(user_id: str) -> Organizer | None:
    """Flask-Login's user loader: the organizer whose live session the cookie's token names, or
    None (logged out). The time it was last used is written at most once a minute."""
    token, organizer_id = session.get(KEY), parse_id(user_id)
    if not isinstance(token, str) or organizer_id is None:
        return None
    found = db.session.execute(
        select(OrganizerSession, Organizer).join(Organizer)
        .where(OrganizerSession.token_hash == _digest(token))).first()
    if found is None:
        return None
    kept, organizer = found
    now = utcnow()
    if organizer.id != organizer_id or ended(kept, now):
        return None
    if now - kept.last_seen_at >= SEEN_EVERY and db.session.info.get(UNIT) != "reading":
        with writing():  # part of the view's unit if one has begun
            db.session.execute(update(OrganizerSession).where(OrganizerSession.id == kept.id)
                               .values(last_seen_at=now)
                               .execution_options(synchronize_session=False))
    return organizer
