"""What a signer does on their own page (correct their details, withdraw, ask to be withdrawn
once the letter is delivered), and the organizers carrying out such a request. Each change is
audited in its writing unit; the list's count, revision and PDF follow by the signature
table's triggers (migrations 0004, 0005)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select, update

from . import audit, delivery, signer_links
from .database import changed
from .extensions import db
from .models import ORGANIZATION_SCOPES, DeliveredSignature, Signature, SignerLink, utcnow
from .text import clean_text, country_name, org_key, sort_key

# Fields the public list, its exports and the PDF show: changing the name or the scope of an
# approved signature puts it back before the organizers (REVIEWED); the others are shown as
# the signer gives them.
REVIEWED = ("organization", "scope")
PUBLIC = ("organization", "affiliation", "website", "city", "region", "country", "scope")
PRIVATE = ("contact_name", "contact_title", "phone")  # audited by name only, never by value
MAX_LINKS = 20  # personal links one signature may have: each one asked for again makes one


class NotChangeable(Exception):
    """The signature can no longer be changed from the signer's page (the letter is delivered,
    or the signature is withdrawn)."""


@dataclass(frozen=True)
class Details:
    """What a signer may correct, as their form gives it (stripped); None: not on their form
    (an individual's has no phone, website or scope)."""

    organization: str
    contact_name: str | None = None
    contact_title: str | None = None
    phone: str | None = None
    website: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None
    scope: str | None = None
    affiliation: str | None = None


@dataclass(frozen=True)
class Corrected:
    """What correct() did: the fields that changed, and whether the signature went back to
    the organizers for review."""

    fields: tuple[str, ...]
    to_review: bool


@dataclass(frozen=True)
class Placement:
    """Where a signature stands in the delivered copy of its letter."""

    delivery_id: int
    sha256: str
    in_delivered: bool  # listed in the delivered PDF (else: in the addendum, or not listed)
    page: int | None  # its page in the delivered PDF, when known


def changeable(signature: Signature) -> bool:
    """Whether the signer may still correct or withdraw it themselves: until the letter is
    delivered, and not once withdrawn."""
    return signature.status != "withdrawn" and delivery.delivery_of(signature.letter) is None


def placement(signature: Signature) -> Placement | None:
    """Where the signature is in its letter's delivered copy; None before delivery."""
    record = delivery.delivery_of(signature.letter)
    if record is None:
        return None
    found = db.session.execute(
        select(DeliveredSignature.page)
        .where(DeliveredSignature.delivery_id == record.id,
               DeliveredSignature.signature_id == signature.id)).first()
    return Placement(record.id, record.sha256, found is not None,
                     found.page if found is not None else None)


def fresh_link(signature: Signature) -> str | None:
    """A new personal link for a signer who asked for it again from their confirm link's page
    (in the caller's writing unit); None when the signature has MAX_LINKS already."""
    count = db.session.scalar(select(func.count()).select_from(SignerLink)
                              .where(SignerLink.signature_id == signature.id)) or 0
    return signer_links.create(signature) if count < MAX_LINKS else None


# How each field is cleaned up, as signing cleans it (signing._signer_columns).
CLEAN = {"website": clean_text, "city": lambda v: clean_text(v, 120),
         "region": lambda v: clean_text(v, 120), "country": country_name,
         "contact_name": lambda v: clean_text(v, 200),
         "contact_title": lambda v: clean_text(v, 200), "phone": lambda v: clean_text(v, 50),
         "affiliation": lambda v: clean_text(v, 300),
         "scope": lambda v: v if v in ORGANIZATION_SCOPES else "local"}


def _columns(details: Details, signature: Signature) -> dict[str, Any]:
    """The signature's columns from what the signer sent, cleaned up; an individual's name is
    also their contact name, as when they signed."""
    values = {key: clean(getattr(details, key)) for key, clean in CLEAN.items()
              if getattr(details, key) is not None}
    values["organization"] = clean_text(details.organization) or signature.organization
    if signature.is_individual:
        values.pop("scope", None)  # an individual stays one
        values["contact_name"] = values["organization"]
    return values


def correct(signature: Signature, details: Details) -> Corrected:
    """Apply the signer's corrections (in the caller's writing unit). A changed name or scope
    of an approved signature goes back to moderation when the letter has it; the organizers'
    rename gives way to the signer's new name. NotChangeable after delivery or withdrawal."""
    db.session.refresh(signature)  # as it is now, not as the request first read it
    if not changeable(signature):
        raise NotChangeable(_("This signature can no longer be changed here."))
    values = _columns(details, signature)
    changes = {key: value for key, value in values.items() if getattr(signature, key) != value}
    if not changes:
        return Corrected((), False)
    before = {key: getattr(signature, key) for key in changes if key in PUBLIC}
    after = {**{key: changes[key] for key in before},
             **{key: "changed" for key in changes if key in PRIVATE}}
    for key, value in changes.items():
        setattr(signature, key, value)
    if "organization" in changes:
        signature.display_name = None
        signature.sort_key = sort_key(signature.organization)
        signature.org_key = org_key(signature.organization)
    to_review = (any(key in REVIEWED for key in changes) and signature.status == "approved"
                 and signature.letter.require_approval)
    if to_review:
        signature.status = "pending"
        signature.decided_at = None
        before["status"], after["status"] = "approved", "pending"
    audit.record(signature.letter, "signature.correct", signature.shown_name, actor="signer",
                 before=before, after=after)
    db.session.flush()
    return Corrected(tuple(changes), to_review)


def withdraw(signature: Signature) -> bool:
    """The signer withdraws their signature before delivery (in the caller's writing unit):
    off the public list, its count, its exports and the next PDF at once. False when it was
    withdrawn already (two clicks make one withdrawal); NotChangeable after delivery."""
    if delivery.delivery_of(signature.letter) is not None:
        raise NotChangeable(_("The letter is delivered: ask the organizers to withdraw it."))
    return _withdraw(signature, actor="signer")


def _withdraw(signature: Signature, actor: str | None) -> bool:
    before = signature.status
    result = db.session.execute(
        update(Signature)
        .where(Signature.id == signature.id, Signature.status != "withdrawn")
        .values(status="withdrawn", withdrawn_at=utcnow())
        .execution_options(synchronize_session=False))
    db.session.refresh(signature)
    if not changed(result):
        return False
    audit.record(signature.letter, "signature.withdraw", signature.shown_name, actor=actor,
                 before={"status": before}, after={"status": "withdrawn"})
    return True


def request_withdrawal(signature: Signature) -> bool:
    """After delivery: the signer asks the organizers to withdraw the signature (in the
    caller's writing unit); they see the request on their moderation page. False when asked
    already, or withdrawn."""
    result = db.session.execute(
        update(Signature)
        .where(Signature.id == signature.id, Signature.status != "withdrawn",
               Signature.withdraw_requested_at.is_(None))
        .values(withdraw_requested_at=utcnow())
        .execution_options(synchronize_session=False))
    db.session.refresh(signature)
    if not changed(result):
        return False
    audit.record(signature.letter, "signature.withdraw_request", signature.shown_name,
                 actor="signer")
    return True


def carry_out(letter_id: int, ids: Iterable[int]) -> int:
    """The organizers withdraw signatures of the letter whose signers asked them to (in the
    caller's writing unit, audited as the logged-in organizer); returns how many."""
    asked = db.session.scalars(
        select(Signature).where(Signature.letter_id == letter_id, Signature.id.in_(list(ids)),
                                Signature.withdraw_requested_at.is_not(None),
                                Signature.status != "withdrawn")).all()
    return sum(_withdraw(signature, actor=None) for signature in asked)
