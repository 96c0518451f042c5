"""Signing: a signer's submission, its verification email and link, confirming, sending the
link again."""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    Row,
    String,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    text,
    update,
)

from . import letters, outbox, ratelimit, signer_links
from .database import UNIT, WriteOutsideUnit, changed, upsert_insert
from .errors import BadToken, LetterNotOpen, SignerKindRefused, SigningError
from .extensions import db
from .i18n import _l
from .models import SCOPES, Letter, LetterVersion, Signature, UTCDateTime, utcnow
from .text import SLUG_RE, clean_text, country_name, mailbox, normalize_email, org_key, sort_key

__all__ = ["BadToken", "LetterNotOpen", "SigningError", "SignerInput", "submission", "sign",
           "confirm", "resend"]

# Emails to one mailbox (target+1@ and t.arget@gmail.com are target@'s), whatever letter or
# signature they are about, and emails asked for from one network (an IPv6 /64).
MAILBOX_LIMITS = ((3, timedelta(hours=1)), (10, timedelta(days=1)))
NETWORK_LIMITS = ((60, timedelta(hours=1)),)
NO_LETTER = _l("There is no letter at this address.")
INDIVIDUAL = "individual"  # the scope of a person signing for themselves


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
    affiliation: str = ""  # an individual's (scope "individual"), shown for identification only
    partner_id: int | None = None  # the letter's partner whose link it came through (partners.py)
    language: str = ""  # the interface's language it was signed in, for its emails ("": en)
    text_language: str = ""  # the text's language it asks for ("": the letter's own)


@dataclass
class SignOutcome:
    """What sign() did: the signature's id and address, and whether this call made it."""

    signature_id: int | None
    email: str
    created: bool

    @property
    def signature(self) -> Signature:
        """The signature (read when asked for, unless the session has it already)."""
        found = db.session.get(Signature, self.signature_id) if self.signature_id else None
        assert found is not None
        return found


def closed_message(letter: Letter) -> str:
    if letter.status == "draft":
        return _("This letter is not open for signatures yet.")
    if letter.status == "closed":
        return _("This letter is closed: it no longer takes signatures.")
    return _("The deadline for this letter has passed: it no longer takes signatures.")


def kind_message(letter: Letter) -> str:
    """Why a signer of the other kind cannot sign `letter` (SignerKindRefused)."""
    if letter.takes_individuals():
        return _("This letter is signed by individuals only: please use the form for "
                 "individuals.")
    return _("This letter is signed by organizations only: please use the form for "
             "organizations.")


def _refused_signers(scope: str) -> str:
    """The value of Letter.signers that refuses a signature of this scope."""
    return "organizations" if scope == INDIVIDUAL else "individuals"


def ip_digest(ip: str | None) -> str | None:
    """What a signature keeps of the signer's address: a keyed hash of its network (an IPv6
    address's /64), for the limits."""
    if not ip:
        return None
    key = current_app.config["SECRET_KEY"]
    return hashlib.sha256(f"{key}:{ratelimit.network(ip)}".encode()).hexdigest()


def mail_allowance(email: str, ip: str | None) -> tuple[str, ...] | None:
    """The limits an email to `email`'s mailbox, asked for from `ip`, is counted under; None
    when the mailbox's or the network's share is used up: nobody can mailbomb an address by
    signing, signing again or asking for the link again, with plus-addresses or from many
    addresses of one network. Reads only (ratelimit.allowance)."""
    limits = [(ratelimit.key("mailbox", mailbox(email)), n, window) for n, window in MAILBOX_LIMITS]
    if ip:
        sender = ratelimit.address_key("mail-from", ip)
        limits += [(sender, n, window) for n, window in NETWORK_LIMITS]
    return ratelimit.allowance(limits)


def mailable(emails: list[str]) -> list[bool]:
    """For each of `emails` in turn, whether one more email may go to its mailbox
    (MAILBOX_LIMITS), counting those that go, in the caller's writing unit: two reads and one
    insert however many there are (releasing a thousand held submissions at once)."""
    if not ratelimit.enabled():
        return [True] * len(emails)
    keys = [ratelimit.key("mailbox", mailbox(email)) for email in emails]
    seen = [ratelimit.counts(keys, window) for __, window in MAILBOX_LIMITS]
    verdicts, going = [], []
    for key in keys:
        ok = all(counted.get(key, 0) < n for counted, (n, __) in zip(seen, MAILBOX_LIMITS,
                                                                      strict=True))
        if ok:
            going.append(key)
            for counted in seen:
                counted[key] = counted.get(key, 0) + 1
        verdicts.append(ok)
    ratelimit.hit(*going)
    return verdicts


def may_mail(email: str, ip: str | None) -> bool:
    """Counts one more email to `email`'s mailbox (mail_allowance()) in the caller's writing
    unit; False when a share is used up."""
    return _may_mail(mail_allowance(email, ip))


def _may_mail(allowed: tuple[str, ...] | None) -> bool:
    """Counts the email that `allowed` (mail_allowance()) lets go; False when it is None."""
    if allowed is None:
        return False
    ratelimit.hit(*allowed)
    return True


def signature_values(letter: Letter, data: SignerInput, *, email: str | None, status: str,
                     source: str) -> dict[str, Any]:
    """The columns of a new signature of `letter` from what was sent, cleaned up."""
    return {"letter_id": letter.id, **_signer_columns(data, email=email, status=status,
                                                      source=source),
            "language": data.language or letter.language}


def _signer_columns(data: SignerInput, *, email: str | None, status: str,
                    source: str) -> dict[str, Any]:
    name = clean_text(data.organization)
    return {
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
        "affiliation": clean_text(data.affiliation, 300),
        "keep_updated": data.keep_updated,
        "status": status,
        "source": source,
        "partner_id": data.partner_id,
        "language": data.language or "en",
    }


# ------------------------------------------------------------------ signing


@dataclass(frozen=True)
class Submission:
    """A signature as sign() inserts it: what was sent, cleaned up and keyed, and whether the
    honeypot was filled in. Made before the writing unit (submission()), so that SQLite's write
    lock is held for the inserts only."""

    values: dict[str, Any]
    honeypot: bool = False
    mail: tuple[str, ...] | None = ()  # mail_allowance(): None when no email may go

    @property
    def email(self) -> str:
        return str(self.values["email"])


def submission(data: SignerInput, ip: str | None = None, honeypot: bool = False) -> Submission:
    """`data` sent from `ip`, ready for sign(), its mail limits read; SigningError when its email
    is no address."""
    email = normalize_email(data.email or "")
    columns = _signer_columns(data, email=email, status="unconfirmed", source="web")
    return Submission({**columns, "ip_hash": ip_digest(ip), "text_language": data.text_language},
                      honeypot,
                      mail_allowance(email, ip))


def sign(slug: str, sent: Submission) -> SignOutcome:
    """Sign the letter at `slug` and queue the verification email; a repeat email signs nothing
    new. Raises LetterNotOpen when no letter there takes signatures.

    One statement does the work: it finds the letter, checks that it takes signatures, decides
    whether the signature is held (the honeypot; the rate limit counted in the same statement)
    and inserts it, unless the unique constraint on (letter, email) says that this email signed
    already, also between parallel requests. Nothing is read before it; only when it inserts
    nothing is the letter read, to say why. The email is queued as a row naming the signature;
    the worker writes it (emails.py)."""
    if not SLUG_RE.match(slug):  # no letter has such an address: don't send it to the database
        raise LetterNotOpen(str(NO_LETTER))
    row = _insert_unless_signed(slug, {**sent.values, "created_at": utcnow()}, sent.honeypot)
    if row is None:
        return _signed_already(slug, sent)
    if not row.held and _may_mail(sent.mail):
        outbox.enqueue("confirm", sent.email, signature=row.id, again=False)
    return SignOutcome(row.id, sent.email, created=True)


def _signed_already(slug: str, sent: Submission) -> SignOutcome:
    """Nothing was inserted: the letter takes no signatures (LetterNotOpen), or this email has
    signed it (told again, within the limits), or the submission would be held while the letter
    holds HELD_LIMIT already (dropped: its signature_id is None)."""
    letter = letters.get_letter(slug)
    if letter is None:
        raise LetterNotOpen(str(NO_LETTER))
    if not letter.accepts_signatures():
        raise LetterNotOpen(closed_message(letter))
    if letter.signers == _refused_signers(sent.values["scope"]):
        raise SignerKindRefused(kind_message(letter))
    existing = _by_email(letter, sent.email)
    if existing is None:
        return SignOutcome(None, sent.email, created=False)
    if not sent.honeypot:  # a submission caught by a spam trap mails nobody
        _tell_repeat_signer(existing, sent.mail)
    return SignOutcome(existing.id, sent.email, created=False)


def _insert_unless_signed(slug: str, values: dict[str, Any], honeypot: bool) -> Row[Any] | None:
    """INSERT ... SELECT from the letter at `slug` if it takes signatures ... ON CONFLICT
    (letter_id, email) DO NOTHING RETURNING the new row's id and whether it is held; None when
    nothing was inserted (PostgreSQL and SQLite both have it).

    A Core statement, built once, on the writing unit's connection: a tenth of the cost of the
    ORM's INSERT, and no object is made of a row that nobody reads back."""
    session = db.session()
    if session.info.get(UNIT) != "writing":
        raise WriteOutsideUnit("a signature inserted outside database.writing()")
    limited = bool(values["ip_hash"]) and ratelimit.enabled()
    params = {**values, "slug": slug, "honeypot": honeypot,
              "refused_signers": _refused_signers(values["scope"]),
              "held_skip": max(int(current_app.config["HELD_LIMIT"]) - 1, 0)}
    if limited:
        params.update(since=values["created_at"] - timedelta(hours=1),
                      limit=current_app.config["SIGN_LIMIT_PER_HOUR"])
    return session.connection().execute(
        _insert_statement(db.engine.dialect.name, limited), params).first()


@functools.cache
def _insert_statement(dialect: str, limited: bool) -> Any:
    """The INSERT of sign(): the signature on the letter's latest version, if the letter takes
    signatures now from this kind of signer (an individual, an organization), unless this
    email signed it; held when the honeypot was filled in, or (when
    `limited`) when this network sent SIGN_LIMIT_PER_HOUR signatures of it within the hour; not
    inserted at all if it would be held while the letter holds HELD_LIMIT (found through the
    partial index ix_signature_held, reading at most that many entries)."""
    insert = upsert_insert(dialect)
    table, letter = Signature.__table__, Letter.__table__
    assert isinstance(table, Table) and isinstance(letter, Table)
    # the latest version of the text signed: of the language it was signed in when the letter
    # has a text in it (its own, or a translation), else of the letter's own
    asked = bindparam("text_language", type_=String)
    shown = case((or_(letter.c.language == asked,
                      ("," + letter.c.translated_to + ",").contains("," + asked + ",")), asked),
                 else_=letter.c.language)
    latest = (select(LetterVersion.id)
              .where(LetterVersion.letter_id == letter.c.id, LetterVersion.language == shown)
              .order_by(LetterVersion.number.desc()).limit(1).scalar_subquery())
    held: ColumnElement[bool] = bindparam("honeypot", type_=Boolean)
    if limited:
        earlier = table.alias("earlier")
        recent = (select(func.count()).select_from(earlier)
                  .where(earlier.c.letter_id == letter.c.id,
                         earlier.c.ip_hash == bindparam("ip_hash"),
                         earlier.c.created_at >= bindparam("since", type_=UTCDateTime))
                  .scalar_subquery())
        held = or_(held, recent >= bindparam("limit", type_=Integer))
    now = bindparam("created_at", type_=UTCDateTime)
    given = [bindparam(name, type_=table.c[name].type) for name in SIGNER_COLUMNS]
    full = exists(_held_of_letter(dialect, letter)
                  .limit(1).offset(bindparam("held_skip", type_=Integer)))
    source = (select(letter.c.id, latest, held, now, *given)
              .where(letter.c.slug == bindparam("slug"),
                     letter.c.signers != bindparam("refused_signers"),
                     or_(letter.c.status == "open", letter.c.status == "collecting"),
                     or_(letter.c.deadline.is_(None), letter.c.deadline >= now),
                     not_(and_(held, full))))
    return (insert(table)
            .from_select(["letter_id", "version_id", "held", "created_at", *SIGNER_COLUMNS],
                         source)
            .on_conflict_do_nothing(index_elements=["letter_id", "email"])
            .returning(table.c.id, table.c.held))


def _held_of_letter(dialect: str, letter: Table) -> Any:
    """The held signatures of the letter being signed, read along the partial index
    ix_signature_held. SQLite's planner, without statistics, may take any other index that
    starts with letter_id (and read every signature of the letter under the write lock), so
    there the index is named: INDEXED BY, which fails loudly should the index ever be gone."""
    table = Signature.__table__
    assert isinstance(table, Table)
    if dialect == "sqlite":
        return (select(literal(1))
                .select_from(text("signature AS kept INDEXED BY ix_signature_held"))
                .where(text("kept.letter_id = letter.id AND kept.held = 1")))
    kept = table.alias("kept")
    return select(literal(1)).select_from(kept).where(kept.c.letter_id == letter.c.id,
                                                      kept.c.held)


# What sign() inserts as given (cleaned up): every column but the keys, held and created_at.
SIGNER_COLUMNS = ("organization", "sort_key", "org_key", "contact_name", "contact_title", "email",
                  "phone", "website", "city", "region", "country", "scope", "affiliation",
                  "keep_updated", "status", "source", "ip_hash", "partner_id", "language")


def _by_email(letter: Letter, email: str) -> Signature | None:
    return db.session.scalar(
        select(Signature).where(Signature.letter_id == letter.id, Signature.email == email)
    )


def _tell_repeat_signer(signature: Signature, allowed: tuple[str, ...] | None) -> None:
    if signature.held or not _may_mail(allowed):
        return
    if signature.status == "unconfirmed":
        send_confirmation(signature, again=True)
    else:
        outbox.enqueue("already-signed", signature.email or "", signature=signature.id)


# ------------------------------------------------------------------ confirming


def send_confirmation(signature: Signature, again: bool = False) -> None:
    """Queue the email with the link to the confirmation page."""
    outbox.enqueue("confirm", signature.email or "", signature=signature.id, again=again)


def confirm(signature: Signature) -> str | None:
    """Confirm once. When this call made the change (parallel confirms make one), the signer's
    personal link is made, and a receipt carrying it queued: returns the link's token, for the
    page to show; None when the signature was confirmed already."""
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
    if not changed(result):
        return None
    token = signer_links.create(signature)
    if signature.email:
        outbox.enqueue("receipt", signature.email, signature=signature.id, token=token)
    return token


def resend(letter: Letter, raw_email: str, ip: str | None = None) -> None:
    """Send a fresh link to an unconfirmed signer (asked for from `ip`); says nothing about
    whether anyone signed."""
    try:
        email = normalize_email(raw_email)
    except SigningError:
        return
    signature = _by_email(letter, email)
    if (signature is not None and signature.status == "unconfirmed" and not signature.held
            and may_mail(email, ip)):
        send_confirmation(signature, again=True)


def send_own_link(signature: Signature, ip: str | None = None) -> None:
    """Mail a confirmed (or since rejected or withdrawn) signer a fresh link to their own page,
    asked for from the confirm link's page (in the caller's writing unit). Only ever to the
    signature's own address, and under the limits of any email asked for (mail_allowance): the
    confirm link, which lasts and may be read where it was kept, never shows a personal link
    itself. Says nothing: the page answers the same whatever happened."""
    from .signer_changes import fresh_link  # it needs nothing of this module; imported late

    if signature.status == "unconfirmed" or not signature.email or signature.held:
        return
    if not may_mail(signature.email, ip):
        return
    token = fresh_link(signature)  # None once the signature has MAX_LINKS links
    if token is not None:  # in the params, taken out once sent (outbox.TOKEN)
        outbox.enqueue("receipt", signature.email, signature=signature.id, token=token,
                       again=True)
