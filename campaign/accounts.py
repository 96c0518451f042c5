"""Organizer accounts: creation, Argon2id password hashes, logins slowed down after failures
(per account, and per address across all accounts).

A password hash takes a tenth of a second or more, on purpose: it is made before any writing
unit begins (hash_password, check_login), and only what it decided is written after
(create_organizer, record_login), so that no login or new account holds SQLite's write lock
while it hashes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from flask import Flask
from sqlalchemy import func, select, update

from . import ratelimit
from .errors import AccountError, LoginThrottled
from .extensions import db, login
from .models import Organizer, utcnow

__all__ = ["AccountError", "LoginThrottled"]

# argon2-cffi's defaults are RFC 9106's low-memory profile (Argon2id, t=3, m=64 MiB, p=4),
# above OWASP's minimum (m=19 MiB, t=2, p=1).
hasher = PasswordHasher()
MIN_PASSWORD = 10
FREE_TRIES = 5  # failed logins before the account is slowed down
MAX_LOCK = timedelta(minutes=15)
IP_TRIES = 20  # failed logins from one address, whatever the account, within IP_WINDOW
IP_WINDOW = timedelta(minutes=15)


def init_app(app: Flask) -> None:
    """Flask-Login: where to send a visitor who must log in, and how to find the organizer."""
    login.init_app(app)
    login.login_view = "auth.login_page"
    login.login_message = "Please log in to see that page."
    login.login_message_category = "info"
    login.user_loader(load_user)


def load_user(user_id: str) -> Organizer | None:
    return db.session.get(Organizer, int(user_id)) if user_id.isdigit() else None


def find(email: str) -> Organizer | None:
    address = email.strip().lower()
    if "\x00" in address:  # no account has one, and PostgreSQL refuses it even in a query
        return None
    return db.session.scalar(select(Organizer).where(func.lower(Organizer.email) == address))


# ------------------------------------------------------------------ accounts


def hash_password(password: str) -> str:
    """The hash to keep of a new password, which must be long enough (slow: before any unit)."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    return hasher.hash(password)


def checked_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError(f"{email!r} is not an email address: {exc}") from None


def create_organizer(email: str, password_hash: str, name: str = "") -> Organizer:
    """A new staff account (in the caller's writing unit), its password hashed already."""
    address = checked_email(email)
    if find(address) is not None:
        raise AccountError(f"an organizer with the email {address} already exists")
    organizer = Organizer(email=address, name=" ".join(name.split()), password_hash=password_hash)
    db.session.add(organizer)
    db.session.flush()
    return organizer


def set_password_hash(organizer: Organizer, password_hash: str) -> None:
    """A new password (hashed already) for an account, whose failed logins are forgotten."""
    organizer.password_hash = password_hash
    organizer.failed_logins = 0


# ------------------------------------------------------------------ logging in


@dataclass(frozen=True)
class Attempt:
    """What one login attempt found: the organizer it logs in (or None), the account whose
    password did not match, and what to count against the address it came from."""

    organizer_id: int | None
    failed_id: int | None = None
    address_key: str | None = None
    rehash: str | None = None


def lock_remaining(organizer: Organizer) -> timedelta:
    """How long this account must wait before the next try (doubling after FREE_TRIES failures)."""
    if organizer.failed_logins < FREE_TRIES or organizer.last_failed_login is None:
        return timedelta(0)
    wait = min(timedelta(seconds=30 * 2 ** (organizer.failed_logins - FREE_TRIES)), MAX_LOCK)
    return max(organizer.last_failed_login + wait - utcnow(), timedelta(0))


def check_login(email: str, password: str, ip: str | None = None) -> Attempt:
    """Check a login (reads and hashes, writes nothing); LoginThrottled while the account or the
    address `ip` waits. record_login() then keeps what it found."""
    address_key = ratelimit.key("login-ip", ip) if ip else None
    if address_key and ratelimit.exceeded(address_key, IP_TRIES, IP_WINDOW):
        wait = ratelimit.wait(address_key, IP_TRIES, IP_WINDOW)
        minutes = max(1, round(wait.total_seconds() / 60))
        raise LoginThrottled(
            f"Too many failed logins from your network. Try again in about {minutes} minute(s)."
        )
    organizer = find(email)
    if organizer is None:
        hasher.hash(password)  # spend the same time as for a real account
        return Attempt(None, address_key=address_key)
    remaining = lock_remaining(organizer)
    if remaining:
        minutes = max(1, round(remaining.total_seconds() / 60))
        raise LoginThrottled(
            f"Too many failed attempts for this account. Try again in about {minutes} minute(s)."
        )
    try:
        hasher.verify(organizer.password_hash, password)
    except (VerificationError, InvalidHashError):
        return Attempt(None, failed_id=organizer.id, address_key=address_key)
    rehash = hasher.hash(password) if hasher.check_needs_rehash(organizer.password_hash) else None
    return Attempt(organizer.id, rehash=rehash)


def record_login(attempt: Attempt) -> Organizer | None:
    """Keep what a login attempt found (in the caller's writing unit): a failure is counted on
    the account and against the address; a success clears the account's count. Returns the
    organizer logged in, if any."""
    if attempt.organizer_id is None:
        if attempt.failed_id is not None:
            db.session.execute(
                update(Organizer).where(Organizer.id == attempt.failed_id)
                .values(failed_logins=Organizer.failed_logins + 1, last_failed_login=utcnow())
                .execution_options(synchronize_session=False))
        if attempt.address_key:
            ratelimit.hit(attempt.address_key)
        return None
    organizer = db.session.get(Organizer, attempt.organizer_id)
    if organizer is None:
        return None
    organizer.failed_logins = 0
    if attempt.rehash:
        organizer.password_hash = attempt.rehash
    return organizer
