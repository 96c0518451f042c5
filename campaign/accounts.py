"""Organizer accounts: creation, Argon2id password hashes, logins slowed down after failures
(per account, and per address across all accounts)."""
from __future__ import annotations

from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select

from . import ratelimit
from .extensions import db, login
from .models import Organizer, utcnow

# argon2-cffi's defaults are RFC 9106's low-memory profile (Argon2id, t=3, m=64 MiB, p=4),
# above OWASP's minimum (m=19 MiB, t=2, p=1).
hasher = PasswordHasher()
MIN_PASSWORD = 10
FREE_TRIES = 5  # failed logins before the account is slowed down
MAX_LOCK = timedelta(minutes=15)
IP_TRIES = 20  # failed logins from one address, whatever the account, within IP_WINDOW
IP_WINDOW = timedelta(minutes=15)


class AccountError(ValueError):
    pass


class LoginThrottled(AccountError):
    pass


@login.user_loader
def load_user(user_id: str) -> Organizer | None:
    return db.session.get(Organizer, int(user_id)) if user_id.isdigit() else None


def find(email: str) -> Organizer | None:
    address = email.strip().lower()
    if "\x00" in address:  # no account has one, and PostgreSQL refuses it even in a query
        return None
    return db.session.scalar(select(Organizer).where(func.lower(Organizer.email) == address))


def create_organizer(email: str, password: str, name: str = "") -> Organizer:
    try:
        address = validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError(f"{email!r} is not an email address: {exc}") from None
    if find(address) is not None:
        raise AccountError(f"an organizer with the email {address} already exists")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    organizer = Organizer(email=address, name=" ".join(name.split()),
                          password_hash=hasher.hash(password))
    db.session.add(organizer)
    db.session.flush()
    return organizer


def lock_remaining(organizer: Organizer) -> timedelta:
    """How long this account must wait before the next try (doubling after FREE_TRIES failures)."""
    if organizer.failed_logins < FREE_TRIES or organizer.last_failed_login is None:
        return timedelta(0)
    wait = min(timedelta(seconds=30 * 2 ** (organizer.failed_logins - FREE_TRIES)), MAX_LOCK)
    return max(organizer.last_failed_login + wait - utcnow(), timedelta(0))


def authenticate(email: str, password: str, ip: str | None = None) -> Organizer | None:
    """The organizer for these credentials, or None; LoginThrottled while the account or the
    address `ip` waits. Failures are counted in the caller's transaction."""
    address_key = ratelimit.key("login-ip", ip) if ip else None
    if address_key and ratelimit.exceeded(address_key, IP_TRIES, IP_WINDOW):
        wait = ratelimit.wait(address_key, IP_TRIES, IP_WINDOW)
        minutes = max(1, round(wait.total_seconds() / 60))
        raise LoginThrottled(
            f"Too many failed logins from your network. Try again in about {minutes} minute(s)."
        )
    organizer = _check_password(email, password)
    if organizer is None and address_key:
        ratelimit.hit(address_key)
    return organizer


def _check_password(email: str, password: str) -> Organizer | None:
    organizer = find(email)
    if organizer is None:
        hasher.hash(password)  # spend the same time as for a real account
        return None
    remaining = lock_remaining(organizer)
    if remaining:
        minutes = max(1, round(remaining.total_seconds() / 60))
        raise LoginThrottled(
            f"Too many failed attempts for this account. Try again in about {minutes} minute(s)."
        )
    try:
        hasher.verify(organizer.password_hash, password)
    except (VerificationError, InvalidHashError):
        organizer.failed_logins += 1
        organizer.last_failed_login = utcnow()
        return None
    organizer.failed_logins = 0
    if hasher.check_needs_rehash(organizer.password_hash):
        organizer.password_hash = hasher.hash(password)
    return organizer
