"""Organizers correcting a signature (every field they may change, its keys kept in step) and
merging a duplicate into the signature that stays, with the signatures that look like
duplicates of one. Each change is audited in the caller's writing unit: the public fields with
their values before and after, the contact details by name only, since the history is read by
roles that may not see them (roles.py: "read" without "contacts")."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, exists, or_, select

from . import audit
from .errors import CampaignError, SigningError
from .extensions import db
from .models import (
    ORGANIZATION_SCOPES,
    SCOPES,
    DeliveredSignature,
    Letter,
    Signature,
    SignerLink,
)
from .text import clean_text, country_name, normalize_email, org_key, sort_key

CONTACTS = ("email", "phone")  # shown and changed only with the "contacts" capability
# Audited by name only, never by value (signer_changes.PRIVATE, and the email).
PRIVATE = ("contact_name", "contact_title", "email", "phone")
# What an organizer may change, and how each is cleaned up as signing cleans it
# (signing._signer_columns); the email is checked apart (_email()).
CLEAN: dict[str, Callable[[str], str]] = {
    "organization": clean_text,
    "display_name": clean_text,
    "contact_name": lambda v: clean_text(v, 200),
    "contact_title": lambda v: clean_text(v, 200),
    "phone": lambda v: clean_text(v, 50),
    "website": clean_text,
    "city": lambda v: clean_text(v, 120),
    "region": lambda v: clean_text(v, 120),
    "country": country_name,
    "scope": lambda v: clean_text(v, 16),
    "affiliation": clean_text,
}
EDITABLE = (*CLEAN, "email")
# What a merge may copy from the duplicate into blanks of the signature that stays.
FILLABLE = ("contact_name", "contact_title", "email", "phone", "website", "city", "region",
            "country", "affiliation")
DUPLICATES_SHOWN = 20  # the possible duplicates an edit page lists


class EditRefused(CampaignError):
    """A change to a signature that cannot be made as asked; `field` names the form field the
    message belongs at (None: the change as a whole)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# ------------------------------------------------------------------ editing


def scope_choices(letter: Letter, current: str) -> list[str]:
    """The scopes a signature of `letter` may be given: those of the signers it takes, and the
    one it has (an older signature may have another)."""
    allowed = [s for s in SCOPES if (s == "individual" and letter.takes_individuals())
               or (s in ORGANIZATION_SCOPES and letter.takes_organizations())]
    return allowed if current in allowed or current not in SCOPES else [*allowed, current]


def edit(signature: Signature, values: Mapping[str, str | None]) -> tuple[str, ...]:
    """Change the signature's fields named in `values` (the others stay: a form without the
    contact details leaves them as they are), in the caller's writing unit, and return the
    fields that changed. Its sort and duplicate keys follow its name; its state stays (the
    organizer is the one who reviews it). EditRefused for a scope the letter does not take or
    an email another signature of the letter has."""
    wanted = _cleaned(signature, values)
    changes = {key: value for key, value in wanted.items() if getattr(signature, key) != value}
    if not changes:
        return ()
    before = {key: getattr(signature, key) for key in changes if key not in PRIVATE}
    after = {**{key: changes[key] for key in before},
             **{key: "changed" for key in changes if key in PRIVATE}}
    for key, value in changes.items():
        setattr(signature, key, value)
    _rekey(signature)
    audit.record(signature.letter, "signature.edit", signature.shown_name,
                 before=before, after=after)
    db.session.flush()
    return tuple(changes)


def _cleaned(signature: Signature, values: Mapping[str, str | None]) -> dict[str, Any]:
    """The columns `values` asks for, cleaned up and checked."""
    wanted: dict[str, Any] = {key: CLEAN[key](values[key] or "") for key in CLEAN
                              if key in values}
    if "organization" in wanted and not wanted["organization"]:
        raise EditRefused(_("The name cannot be blank."), "organization")
    name = wanted.get("organization", signature.organization)
    if "display_name" in wanted:  # blank, or the name itself: shown as submitted
        wanted["display_name"] = wanted["display_name"] \
            if wanted["display_name"] not in ("", name) else None
    elif "organization" in wanted and signature.display_name == name:
        wanted["display_name"] = None
    if "scope" in wanted and wanted["scope"] not in scope_choices(signature.letter,
                                                                    signature.scope):
        raise EditRefused(_("This letter does not take signatures of that kind."), "scope")
    if "email" in values:
        wanted["email"] = _email(signature, values["email"] or "")
    return wanted


def _email(signature: Signature, typed: str) -> str | None:
    """The address as signing keeps it (None: none, as an import without one); EditRefused when
    it is no address, or another signature of the letter has it."""
    if not typed.strip():
        return None
    try:
        address = str(normalize_email(typed))
    except SigningError as exc:
        raise EditRefused(str(exc), "email") from None
    other = db.session.scalar(select(Signature.id).where(
        Signature.letter_id == signature.letter_id, Signature.email == address,
        Signature.id != signature.id))
    if other is not None:
        raise EditRefused(_("Another signature of this letter (number %(id)s) has this email "
                            "address: merge the two instead.", id=other), "email")
    return address


def _rekey(signature: Signature) -> None:
    """The keys that follow the name: the list's order (the shown name) and the duplicate key
    (the name as submitted), as signing and moderation.rename make them."""
    signature.sort_key = sort_key(signature.shown_name)
    signature.org_key = org_key(signature.organization)


# ------------------------------------------------------------------ duplicates


def duplicates(signature: Signature, partner_id: int | None = None) -> list[Signature]:
    """Other signatures of the letter that may be the same signer: the same name as the
    duplicate key reads it (moderation.flags), or the same mailbox (an address and its
    +tag variants), oldest first; with `partner_id`, only those the partner brought."""
    same = [Signature.org_key == signature.org_key] if signature.org_key else []
    if signature.email:
        local, __, domain = signature.email.partition("@")
        base = local.split("+", 1)[0]
        pattern = f"{_like(base)}+%@{_like(domain)}"
        same += [Signature.email == f"{base}@{domain}",
                 Signature.email.like(pattern, escape="\\")]
    if not same:
        return []
    query = select(Signature).where(Signature.letter_id == signature.letter_id,
                                    Signature.id != signature.id, or_(*same))
    if partner_id is not None:
        query = query.where(Signature.partner_id == partner_id)
    return list(db.session.scalars(query.order_by(Signature.created_at, Signature.id)
                                   .limit(DUPLICATES_SHOWN)))


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ------------------------------------------------------------------ merging


@dataclass(frozen=True)
class Merged:
    """What merge() did: the names of the signature that stays and of the one merged into it,
    and the blank fields filled from the latter."""

    kept: str
    merged: str
    filled: tuple[str, ...]


def merge(kept: Signature, duplicate: Signature, fill_blanks: bool = False) -> Merged:
    """Merge `duplicate` into `kept`, in the caller's writing unit: the duplicate is deleted
    (off every list, count, export and queue at once, by the signature table's triggers), and
    the audit entry keeps what it was; `kept` keeps its own state and values, and with
    `fill_blanks` takes the duplicate's values for its blank fields (FILLABLE). EditRefused when
    the two are one, are of different letters, or the duplicate is in the letter's delivered
    copy (that record cannot lose it: merge the other way)."""
    if kept.id == duplicate.id or kept.letter_id != duplicate.letter_id:
        raise EditRefused(_("Choose another signature of this letter to merge."))
    if db.session.scalar(select(exists().where(
            DeliveredSignature.signature_id == duplicate.id))):
        raise EditRefused(_("“%(name)s” is in the delivered letter and must stay: keep it and "
                            "merge the other one into it.", name=duplicate.shown_name))
    filled = {key: getattr(duplicate, key) for key in FILLABLE
              if fill_blanks and not getattr(kept, key) and getattr(duplicate, key)}
    if fill_blanks and kept.partner_id is None and duplicate.partner_id is not None:
        filled["partner_id"] = duplicate.partner_id
    before = {"kept": _record(kept), "merged": _record(duplicate)}
    merged_name = duplicate.shown_name
    db.session.execute(delete(SignerLink).where(SignerLink.signature_id == duplicate.id))
    db.session.delete(duplicate)
    db.session.flush()  # its email is free before the kept one may take it
    for key, value in filled.items():
        setattr(kept, key, value)
    audit.record(kept.letter, "signature.merge", kept.shown_name, before=before,
                 after={"kept": _record(kept), "filled": sorted(filled)})
    db.session.flush()
    return Merged(kept.shown_name, merged_name, tuple(sorted(filled)))


def _record(signature: Signature) -> dict[str, Any]:
    """What the history keeps of a signature in a merge: its number, state and public fields,
    and of its contact details only whether it had them."""
    return {
        "number": signature.id, "name": signature.shown_name, "status": signature.status,
        "held": signature.held, "scope": signature.scope, "city": signature.city,
        "region": signature.region, "country": signature.country,
        "website": signature.website, "affiliation": signature.affiliation,
        "source": signature.source,
        "signed": signature.created_at.isoformat() if signature.created_at else None,
        "contacts": [key for key in PRIVATE if getattr(signature, key)],
    }
