"""Organizer accounts: creation, Argon2id password hashes, logins slowed down after failures.

Failures are counted per email and address together, and per address across all emails, in the
database (ratelimit.py), the same way whether or not an account has that email: the answers say
nothing about which accounts exist, and nothing is kept on an account that would let a stranger
elsewhere lock its owner out. Counts are of the last 15 minutes, so a lock ends by itself.

A password hash takes a tenth of a second or more, on purpose: it is made before any writing
unit begins (hash_password, check_login), and only what it decided is written after
(create_organizer, record_login), so that no login or new account holds SQLite's write lock
while it hashes.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from flask import Flask, g
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import delete, func, select

from . import ratelimit, sessions
from .errors import AccountError
from .extensions import db, login
from .i18n import _l
from .models import Organizer, RateEvent

__all__ = ["AccountError"]

# argon2-cffi's defaults are RFC 9106's low-memory profile (Argon2id, t=3, m=64 MiB, p=4),
# above OWASP's minimum (m=19 MiB, t=2, p=1).
hasher = PasswordHasher()
MIN_PASSWORD = 10
PAIR_TRIES = 5  # failed logins for one email from one address within PAIR_WINDOW
PAIR_WINDOW = timedelta(minutes=15)
IP_TRIES = 20  # failed logins from one address, whatever the email, within IP_WINDOW
IP_WINDOW = timedelta(minutes=15)
WIDE_TRIES = 100  # failed logins from one IPv6 /48 (65,536 /64s), within IP_WINDOW
NO_ADDRESS = "unknown"  # what the limits count a request without a remote address as


def init_app(app: Flask) -> None:
    """Flask-Login: where to send a visitor who must log in, and how to find the organizer."""
    login.init_app(app)
    login.login_view = "auth.login_page"
    login.login_message = _l("Please log in to see that page.")
    login.localize_callback = str  # flashed in the request's language, as a plain string
    login.login_message_category = "info"
    login.user_loader(sessions.load_user)
    app.before_request(_forget_loaded_organizer)


def _forget_loaded_organizer() -> None:
    """Each request finds its organizer afresh from the session cookie. A request's context is
    new anyway when served; one kept across requests (the test client's) could otherwise hand
    on an account loaded, and then let go of, by an earlier unit."""
    g.pop("_login_user", None)


def normalized(email: str) -> str:
    return email.strip().lower()


def find(email: str) -> Organizer | None:
    address = normalized(email)
    if "\x00" in address:  # no account has one, and PostgreSQL refuses it even in a query
        return None
    return db.session.scalar(select(Organizer).where(func.lower(Organizer.email) == address))


# ------------------------------------------------------------------ accounts


def hash_password(password: str) -> str:
    """The hash to keep of a new password, which must be long enough (slow: before any unit)."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(_("the password must have at least %(num)d characters",
                             num=MIN_PASSWORD))
    return hasher.hash(password)


def checked_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError(_("%(email)s is not an email address: %(reason)s",
                             email=repr(email), reason=str(exc))) from None


def create_organizer(email: str, password_hash: str, name: str = "",
                     admin: bool = True) -> Organizer:
    """A new staff account (in the caller's writing unit), its password hashed already: a site
    administrator, or (`admin=False`) one that reaches only the letters it has a role on."""
    address = checked_email(email)
    if find(address) is not None:
        raise AccountError(_("an organizer with the email %(email)s already exists",
                             email=address))
    organizer = Organizer(email=address, name=" ".join(name.split()), password_hash=password_hash,
                          is_admin=admin)
    db.session.add(organizer)
    db.session.flush()
    return organizer


def set_password_hash(organizer: Organizer, password_hash: str) -> None:
    """A new password (hashed already) for an account (in the caller's writing unit); every
    session of the account ends."""
    organizer.password_hash = password_hash
    sessions.end_all(organizer.id)


# ------------------------------------------------------------------ logging in


@dataclass(frozen=True)
class Attempt:
    """What one login attempt found: the organizer it logs in (or None); the message when it was
    refused unchecked (too many failures); the failure counts it adds to if it failed, or the one
    it clears if it succeeded; a new hash of the password if the old one's parameters aged."""

    organizer_id: int | None
    throttled: str | None = None
    counts: tuple[str, ...] = ()
    clears: str | None = None
    rehash: str | None = None


@functools.cache
def _no_account_hash() -> str:
    """What a password is checked against when no account has the email: the same work."""
    return hasher.hash("no organizer account has this email")


def check_login(email: str, password: str, ip: str | None = None) -> Attempt:
    """Check a login (reads and hashes, writes nothing); record_login() then keeps what it found.

    While this email from the address `ip`, or the address whatever the email, has failed too
    often, the attempt is refused unchecked (and counted against the address until that is over
    its own limit). Nothing here depends on whether an account has the email but the password
    it is checked against."""
    ip = ip or NO_ADDRESS  # counted all the same (behind a proxy, set CAMPAIGN_PROXIES)
    address = ratelimit.address_key("login-ip", ip)
    pair = ratelimit.key("login-pair", f"{ratelimit.network(ip)}\n{normalized(email)}")
    limits = [(address, IP_TRIES, IP_WINDOW), (pair, PAIR_TRIES, PAIR_WINDOW)]
    wide = ratelimit.wide_network(ip)
    if wide is not None:
        limits.append((ratelimit.key("login-wide", wide), WIDE_TRIES, IP_WINDOW))
    over = [(key, n, window) for key, n, window in limits
            if ratelimit.exceeded(key, n, window, always=True)]
    if over:
        wait = max(ratelimit.wait(key, n, window) for key, n, window in over)
        minutes = max(1, round(wait.total_seconds() / 60))
        counts = tuple(key for key, __, ___ in limits if key != pair
                       and all(key != full for full, __, ___ in over))
        # "minute(s)" in English whatever the number, as it always was; a language with
        # plurals of its own gives each its form
        throttled = ngettext("Too many failed logins. Try again in about %(num)d minute(s).",
                             "Too many failed logins. Try again in about %(num)d minute(s).",
                             minutes)
        return Attempt(None, throttled=throttled, counts=counts)
    organizer = find(email)
    try:
        hasher.verify(organizer.password_hash if organizer else _no_account_hash(), password)
    except (VerificationError, InvalidHashError):
        organizer = None
    if organizer is None:
        return Attempt(None, counts=tuple(key for key, __, ___ in limits))
    rehash = hasher.hash(password) if hasher.check_needs_rehash(organizer.password_hash) else None
    return Attempt(organizer.id, clears=pair, rehash=rehash)


def record_login(attempt: Attempt) -> Organizer | None:
    """Keep what a login attempt found (in the caller's writing unit): a failure is counted; a
    success forgets the failures of its email from its address. Returns the organizer logged in,
    if any (a new session is sessions.start()'s)."""
    if attempt.organizer_id is None:
        ratelimit.hit(*attempt.counts, always=True)
        return None
    organizer = db.session.get(Organizer, attempt.organizer_id)
    if organizer is None:
        return None
    if attempt.clears:
        db.session.execute(delete(RateEvent).where(RateEvent.key == attempt.clears))
    if attempt.rehash:
        organizer.password_hash = attempt.rehash
    return organizer
