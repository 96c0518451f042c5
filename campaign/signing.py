"""Signing: a signer's submission, its verification email and link, confirming, sending the
link again."""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import make_transient_to_detached

from . import outbox, ratelimit
from .database import changed
from .errors import BadToken, LetterNotOpen, SigningError
from .extensions import db
from .models import SCOPES, Letter, LetterVersion, Signature, utcnow
from .text import clean_text, country_name, normalize_email, org_key, sort_key

__all__ = ["BadToken", "LetterNotOpen", "SigningError", "SignerInput", "sign", "confirm",
           "resend"]

MAILS_AGAIN_PER_HOUR = 3  # emails a signature may be sent again (resend, signing again)


@dataclass
class SignerInput:
    """What a signer submits (or a CSV row carries), already stripped."""

    organization: str
    email: str | None = None
    contact_name: str = ""
    contact_title: str = ""
    phone: str = ""
    website: str = ""
    city: str = ""
    region: str = ""
    country: str = "United States"
    scope: str = "local"
    keep_updated: bool = False


@dataclass
class SignOutcome:
    signature: Signature
    created: bool


def closed_message(letter: Letter) -> str:
    if letter.status == "draft":
        return "This letter is not open for signatures yet."
    if letter.status == "closed":
        return "This letter is closed: it no longer takes signatures."
    return "The deadline for this letter has passed: it no longer takes signatures."


def ip_digest(ip: str | None) -> str | None:
    """What a signature keeps of the signer's address: a keyed hash, for the limits."""
    if not ip:
        return None
    key = current_app.config["SECRET_KEY"]
    return hashlib.sha256(f"{key}:{ip}".encode()).hexdigest()


def signature_values(letter: Letter, data: SignerInput, *, email: str | None, status: str,
                     source: str) -> dict[str, Any]:
    """The columns of a new signature of `letter` from what was sent, cleaned up."""
    name = clean_text(data.organization)
    return {
        "letter_id": letter.id,
        "organization": name,
        "sort_key": sort_key(name),
        "org_key": org_key(name),
        "contact_name": clean_text(data.contact_name, 200),
        "contact_title": clean_text(data.contact_title, 200),
        "email": email,
        "phone": clean_text(data.phone, 50),
        "website": clean_text(data.website),
        "city": clean_text(data.city, 120),
        "region": clean_text(data.region, 120),
        "country": country_name(data.country),
        "scope": data.scope if data.scope in SCOPES else "local",
        "keep_updated": data.keep_updated,
        "status": status,
        "source": source,
    }


# ------------------------------------------------------------------ signing


def sign(letter: Letter, data: SignerInput, ip: str | None = None,
         honeypot: bool = False) -> SignOutcome:
    """Record a signature and queue its verification email; a repeat email signs nothing new.

    The insert comes first and the unique constraint on (letter, email) decides whether the
    email has signed already, also between parallel requests: one statement, no savepoint. The
    email is queued as a row naming the signature; the worker writes it (emails.py)."""
    if not letter.accepts_signatures():
        raise LetterNotOpen(closed_message(letter))
    email = normalize_email(data.email or "")
    digest = ip_digest(ip)
    held = honeypot or _over_limit(letter, digest)
    values = signature_values(letter, data, email=email, status="unconfirmed", source="web")
    signature = _insert_unless_signed({**values, "held": held, "ip_hash": digest})
    if signature is None:
        existing = _by_email(letter, email)
        if existing is None:  # cannot happen: the conflict was on this very email
            raise SigningError("This signature could not be recorded; please try again.")
        _tell_repeat_signer(existing)
        return SignOutcome(existing, created=False)
    if not held:
        send_confirmation(signature)
    return SignOutcome(signature, created=True)


def _insert_unless_signed(values: dict[str, Any]) -> Signature | None:
    """INSERT ... ON CONFLICT (letter_id, email) DO NOTHING RETURNING the new row's id, or None
    when this email has signed this letter already (PostgreSQL and SQLite both have it).

    A Core statement, built once: a tenth of the cost of the ORM's INSERT. The row it wrote
    joins the session as a loaded Signature, with no query to read it back."""
    values = {**values, "created_at": utcnow(), "display_name": None, "confirmed_at": None,
              "decided_at": None}
    row = db.session.connection().execute(
        _insert_statement(db.engine.dialect.name),
        {**values, "version_of": values["letter_id"]}).first()
    if row is None:
        return None
    signature = Signature(**{**values, "id": row.id, "version_id": row.version_id})
    make_transient_to_detached(signature)
    db.session.add(signature)
    return signature


@functools.cache
def _insert_statement(dialect: str) -> Any:
    """The INSERT of sign(): the signature on the letter's latest version, unless signed."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = Signature.__table__
    assert isinstance(table, Table)
    latest = (select(LetterVersion.id)
              .where(LetterVersion.letter_id == bindparam("version_of"))
              .order_by(LetterVersion.number.desc()).limit(1).scalar_subquery())
    return (insert(table).values(version_id=latest)
            .on_conflict_do_nothing(index_elements=["letter_id", "email"])
            .returning(table.c.id, table.c.version_id))


def _by_email(letter: Letter, email: str) -> Signature | None:
    return db.session.scalar(
        select(Signature).where(Signature.letter_id == letter.id, Signature.email == email)
    )


def _over_limit(letter: Letter, digest: str | None) -> bool:
    if not digest or not current_app.config["RATELIMIT_ENABLED"]:
        return False
    since = utcnow() - timedelta(hours=1)
    recent = db.session.scalar(
        select(func.count()).select_from(Signature).where(
            Signature.letter_id == letter.id, Signature.ip_hash == digest,
            Signature.created_at >= since)
    )
    return int(recent or 0) >= current_app.config["SIGN_LIMIT_PER_HOUR"]


def _may_mail_again(signature: Signature) -> bool:
    """Counts one more email to this signer, or False when an hour's share is used up: nobody
    can mailbomb a signer through the resend form or by signing again with their address."""
    event_key = f"mail-again:{signature.id}"
    if ratelimit.exceeded(event_key, MAILS_AGAIN_PER_HOUR, timedelta(hours=1)):
        return False
    ratelimit.hit(event_key)
    return True


def _tell_repeat_signer(signature: Signature) -> None:
    if signature.held or not _may_mail_again(signature):
        return
    if signature.status == "unconfirmed":
        send_confirmation(signature, again=True)
    else:
        outbox.enqueue("already-signed", signature.email or "", signature=signature.id)


# ------------------------------------------------------------------ confirming


def send_confirmation(signature: Signature, again: bool = False) -> None:
    """Queue the email with the link to the confirmation page."""
    outbox.enqueue("confirm", signature.email or "", signature=signature.id, again=again)


def confirm(signature: Signature) -> bool:
    """Confirm once; True when this call made the change (parallel confirms make one)."""
    letter = signature.letter
    if letter.status == "closed":
        raise LetterNotOpen(closed_message(letter))
    new_status = "pending" if letter.require_approval else "approved"
    result = db.session.execute(
        update(Signature)
        .where(Signature.id == signature.id, Signature.status == "unconfirmed")
        .values(status=new_status, confirmed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(signature)
    return bool(changed(result))


def resend(letter: Letter, raw_email: str) -> None:
    """Send a fresh link to an unconfirmed signer; says nothing about whether anyone signed."""
    try:
        email = normalize_email(raw_email)
    except SigningError:
        return
    signature = _by_email(letter, email)
    if (signature is not None and signature.status == "unconfirmed" and not signature.held
            and _may_mail_again(signature)):
        send_confirmation(signature, again=True)
