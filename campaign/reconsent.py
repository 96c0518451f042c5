"""Re-consent: who agreed to which text of a letter, and asking them again when it changes.

A letter's text is kept as numbered versions (letters.record_version). A new text of a letter
that has signatures is either a *correction* (typos, formatting: whoever signed agreed to it as
it was, and nobody is asked) or a *change*. The letter's latest change (or its original) is the
text that asks for consent: a signature on an earlier version, or on none, has not agreed to
the current text. A change emails every earlier signer the difference and a personal link
(signer_links.py) to a page with a Confirm button (views/reconsent.py); until they confirm, the
list and the PDF show them under a heading that says they signed an earlier version (listing.py).
Organizers see who has not reconfirmed and can remind them, once each. What changed between two
texts is shown by differences.py.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, exists, false, func, literal, or_, select, update

from . import audit, letters, outbox, renders, signer_links
from .database import changed
from .errors import CampaignError
from .extensions import db
from .letters import LetterText
from .models import Letter, LetterVersion, Signature, UTCDateTime, text_hash, utcnow

CORRECTION, CHANGE = "correction", "change"
# A signature that counts as signed: confirmed, and neither withdrawn nor rejected.
CONFIRMED = ("pending", "approved")


class NothingToConfirm(CampaignError):
    """The signature is not (or no longer) one that can confirm a text: withdrawn, rejected or
    never confirmed."""


# ------------------------------------------------------------------ who agreed to what


def consent_version(letter: Letter, language: str | None = None) -> LetterVersion | None:
    """The text that asks for consent in `language` (the letter's own by default): its latest
    change, else its original. Each language's text has its own versions (translations.py)."""
    for version in reversed(letter.versions_in(language)):
        if version.kind != CORRECTION:
            return version
    return None


def text_language(signature: Signature) -> str:
    """The language of the text the signature agreed to (a signature on no version, from before
    versions were kept, is on the letter's own text)."""
    return signature.version.language if signature.version else signature.letter.language


def _earlier(letter: Letter, version: LetterVersion) -> ColumnElement[bool]:
    """The predicate of a signature made on a version of `version`'s text before it, or (for
    the letter's own text) on none."""
    if all(v.language == letter.language for v in letter.versions):
        return or_(Signature.version_id.is_(None), Signature.version_id < version.id)
    ids = sorted(v.id for v in letter.versions_in(version.language) if v.id < version.id)
    return or_(Signature.version_id.is_(None) if version.language == letter.language
               else false(), Signature.version_id.in_(ids))


def has_agreed(signature: Signature) -> bool:
    """Whether the signature agreed to the current text in its language (a correction changes
    no one's answer; only a change does)."""
    consent = consent_version(signature.letter, text_language(signature))
    if consent is None or consent.kind != CHANGE:
        return True
    return signature.version_id is not None and signature.version_id >= consent.id


def may_confirm(signature: Signature) -> bool:
    """Whether the signer can confirm the current text now (their own page shows the box)."""
    return signature.status in CONFIRMED and not has_agreed(signature)


def _waiting(letter: Letter) -> list[ColumnElement[bool]]:
    """The predicate of a confirmed signature that has not agreed to the current text; false
    for a letter whose text never changed."""
    earlier = [_earlier(letter, consent) for consent in _changes(letter)]
    if not earlier:
        return [Signature.id.is_(None)]  # nobody
    return [Signature.letter_id == letter.id, Signature.status.in_(CONFIRMED), or_(*earlier)]


def _changes(letter: Letter) -> list[LetterVersion]:
    """The text of each language that asks for consent, where it is a change."""
    found = (consent_version(letter, language) for language in letter.languages())
    return [consent for consent in found if consent is not None and consent.kind == CHANGE]


def waiting(letter: Letter, limit: int = 500) -> tuple[int, list[Signature]]:
    """How many confirmed signers have not agreed to the current text, and the first `limit` of
    them by name (the versions page)."""
    where = _waiting(letter)
    total = int(db.session.scalar(select(func.count()).where(*where)) or 0)
    rows = list(db.session.scalars(select(Signature).where(*where)
                                   .order_by(Signature.sort_key, Signature.id).limit(limit)))
    return total, rows


def has_signers(letter: Letter) -> bool:
    """Whether anyone confirmed a signature of the letter (a new text then asks which it is)."""
    return bool(db.session.scalar(select(exists().where(
        Signature.letter_id == letter.id, Signature.status.in_(CONFIRMED)))))


def changes_version(letter: Letter, text: LetterText) -> bool:
    """Whether saving `text` would record a new version of the letter's public text (not the
    first: that is the original)."""
    current = letter.current_version
    return (current is not None and text.status != "draft"
            and text_hash(text.title, text.recipient, text.body) != current.content_hash)


def needs_choice(letter: Letter, text: LetterText) -> bool:
    """Whether the organizer must say if `text` is a correction or a change."""
    return changes_version(letter, text) and has_signers(letter)


# ------------------------------------------------------------------ saving a new text


@dataclass(frozen=True)
class Saved:
    letter: Letter
    version: LetterVersion | None  # the version recorded now, if any
    asked: int  # how many signers were asked to confirm it


def save(letter: Letter | None, text: LetterText, kind: str,
         options: Mapping[str, bool] | None = None) -> Saved:
    """Create the letter, or change it to `text` and `options` (its form's require_approval and
    show_contact_names, if given), in the caller's writing unit; the settings changed are
    audited with their values before and after. A new version of its text is of `kind` and
    audited with the fingerprints before and after; a change asks every earlier signer to
    confirm it (`ask`)."""
    if letter is None:
        created = letters.create(text)
        for name, value in (options or {}).items():
            setattr(created, name, value)
        audit.record(created, "letter.create", created.title,
                     after={**audit.settings(created), "status": created.status,
                            "signers": created.signers})
        return Saved(created, created.current_version, 0)
    if kind not in (CORRECTION, CHANGE):
        raise ValueError(f"a new text is a correction or a change, not {kind!r}")
    before = letter.current_version
    settings = audit.settings(letter)
    letters.update(letter, text, kind)
    for name, value in (options or {}).items():
        setattr(letter, name, value)
    audit.record_settings(letter, settings)
    version = letter.current_version
    if version is None or version is before:
        return Saved(letter, None, 0)
    asked = ask(letter, version) if version.kind == CHANGE else 0
    audit.record(letter, "letter.version", f"version {version.number}",
                 before=None if before is None else {"version": before.number,
                                                     "content_hash": before.content_hash},
                 after={"version": version.number, "content_hash": version.content_hash,
                        "kind": version.kind, "signers_asked": asked})
    return Saved(letter, version, asked)


def ask(letter: Letter, version: LetterVersion) -> int:
    """Email every confirmed signer of an earlier text the difference and a personal link to
    confirm `version` (in the caller's writing unit); returns how many. Set-wise: one UPDATE that
    marks them asked (and free to be reminded again), one INSERT of their links and one of their
    emails, so thousands of signers hold the write lock for a moment."""
    found = db.session.execute(
        update(Signature)
        .where(Signature.letter_id == letter.id, Signature.status.in_(CONFIRMED),
               Signature.held.is_(False), _earlier(letter, version), Signature.email.is_not(None),
               Signature.email != "")
        .values(reconsent_asked_at=utcnow(), reminded_at=None)
        .returning(Signature.id, Signature.email, Signature.version_id)
        .execution_options(synchronize_session=False)).all()
    _mail(version, found, reminder=False)
    return len(found)


def _mail(version: LetterVersion, found: Sequence[Any], reminder: bool) -> None:
    """Each found (signature id, email, version agreed to) gets its own link and email."""
    tokens = signer_links.create_many([ident for ident, *__ in found])
    outbox.enqueue_many("reconsent", [
        (email, {"signature": ident, "version": version.id, "agreed": agreed,
                 "reminder": reminder, "token": tokens[ident]})
        for ident, email, agreed in found])


def remind(letter: Letter) -> int:
    """Send one reminder to each confirmed signer who has not agreed to the current text and
    was not reminded since they were last asked (in the caller's writing unit); one who was
    never asked (they confirmed their signature after the change) is asked now. A conditional
    UPDATE, so two presses at once remind nobody twice. Audited; returns how many."""
    reminded = 0
    now = utcnow()
    for consent in _changes(letter):  # each language's text asks its own signers
        found = db.session.execute(
            update(Signature)
            .where(Signature.letter_id == letter.id, Signature.status.in_(CONFIRMED),
                   _earlier(letter, consent), Signature.reminded_at.is_(None),
                   Signature.email.is_not(None), Signature.email != "")
            .values(reminded_at=now,
                    reconsent_asked_at=func.coalesce(Signature.reconsent_asked_at,
                                                     literal(now, UTCDateTime)))
            .returning(Signature.id, Signature.email, Signature.version_id)
            .execution_options(synchronize_session=False)).all()
        if found:
            _mail(consent, found, reminder=True)
            audit.record(letter, "reconsent.remind", f"version {consent.number}",
                         after={"reminded": len(found)})
        reminded += len(found)
    return reminded


def confirm(signature: Signature) -> bool:
    """The signer agrees to the letter's current text (in the caller's writing unit): their
    signature moves to the current version. True when this call made the change (a second
    press, or two at once, make one). NothingToConfirm for a signature that is not signed."""
    if signature.status not in CONFIRMED:
        raise NothingToConfirm(_("This signature is not on the letter any more, so there is "
                                 "nothing to confirm."))
    letter = signature.letter
    language = text_language(signature)
    consent, current = consent_version(letter, language), letter.latest_version(language)
    if consent is None or current is None or has_agreed(signature):
        return False
    before = signature.version.number if signature.version else None
    result = db.session.execute(
        update(Signature)
        .where(Signature.id == signature.id, Signature.status.in_(CONFIRMED),
               _earlier(letter, consent))
        .values(version_id=current.id)
        .execution_options(synchronize_session=False))
    if not changed(result):
        return False
    db.session.refresh(signature)
    audit.record(letter, "signature.reconfirm", signature.shown_name,
                 before={"version": before}, after={"version": current.number}, actor="signer")
    if signature.listed:
        renders.want(letter)  # the PDF lists them under the current text now
    return True
