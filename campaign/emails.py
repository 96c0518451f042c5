"""What each email says. An outbox row names its kind and what it is about (ids, flags); the
worker writes it from templates/email/ (a .txt and an .html each) when it sends it, so that no
request and no write lock spends time on templates."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from . import differences, markup, translations
from .extensions import db
from .i18n import DEFAULT, _l
from .links import external_url
from .models import (
    Delivery,
    Invitation,
    Letter,
    LetterUpdate,
    LetterVersion,
    Organizer,
    Signature,
)
from .reconsent import has_agreed  # this module has a reconsent() of its own
from .tokens import make_token, unsubscribe_token


@dataclass(frozen=True)
class Written:
    subject: str
    text: str
    html: str


class Unwritable(Exception):
    """What a message is about no longer exists (its signature or delivery was deleted)."""


class Skip(Unwritable):
    """The message is no longer wanted, as its signer stands now (they withdrew, unsubscribed,
    or already agreed to the new text after it was queued): not a failure, so the outbox marks
    it done unsent (outbox._mark_skipped), not among the organizers' undelivered mail."""


# A role as an invitation names it ("as editor"); its code is what is stored (models.ROLES).
ROLE_NAMES = {"owner": _l("owner"), "editor": _l("editor"), "moderator": _l("moderator"),
              "viewer": _l("viewer"), "partner": _l("partner")}
SIGNED = ("pending", "approved")  # the states of a signature still signed (reconsent.CONFIRMED)


def _still_signed(found: Signature) -> None:
    """Skip a message to a signer whose signature was withdrawn or rejected after it was queued."""
    if found.status not in SIGNED:
        raise Skip(f"the signature is {found.status}")


def write(kind: str, params: dict[str, Any]) -> Written:
    """The subject and bodies of a message of `kind` about `params`, as of now."""
    try:
        maker = KINDS[kind]
    except KeyError:
        raise Unwritable(f"no email of the kind {kind!r}") from None
    with force_locale(_language(params)):
        return maker(**params)


def _language(params: dict[str, Any]) -> str:
    """The language a message is written in: a signer's, the one they signed in; the
    recipients of a delivered letter, the letter's own; an organizer's, their own if set."""
    if "signature" in params:
        found = db.session.get(Signature, params["signature"])
        return found.language if found is not None else DEFAULT
    if "delivery" in params:
        delivered = db.session.get(Delivery, params["delivery"])
        return delivered.letter.language if delivered is not None else DEFAULT
    return DEFAULT


def _written(template: str, subject: str, **context: Any) -> Written:
    return Written(subject, render_template(f"email/{template}.txt", **context),
                   render_template(f"email/{template}.html", **context))


def _signature(signature_id: int) -> Signature:
    signature = db.session.get(Signature, signature_id)
    if signature is None:  # merged into another, or discarded as held spam, since it was queued
        raise Skip(f"signature {signature_id} no longer exists")
    return signature


def _delivery(delivery_id: int) -> Delivery:
    record = db.session.get(Delivery, delivery_id)
    if record is None:
        raise Unwritable(f"delivery {delivery_id} no longer exists")
    return record


def confirm(signature: int, again: bool = False) -> Written:
    """The link to the page with the Confirm button. Nothing the signer typed is in it: the
    address is not confirmed yet, so the text could be anyone's, and would be mailed to anyone
    from the campaign's address (the page behind the link shows it)."""
    found = _signature(signature)
    letter = found.letter
    title = translations.title(letter)
    return _written("confirm", _("Confirm your signature: %(title)s", title=title),
                    letter=letter, again=again, individual=found.is_individual,
                    days=current_app.config["TOKEN_MAX_AGE_DAYS"],
                    confirm_url=external_url("public.confirm", token=make_token(found)))


def already_signed(signature: int) -> Written:
    """To an address that signed again: no second signature was made."""
    found = _signature(signature)
    letter = found.letter
    title = translations.title(letter)
    return _written("already_signed", _("You have already signed: %(title)s", title=title),
                    signature=found, letter=letter,
                    letter_url=external_url("public.letter", slug=letter.slug))


def receipt(signature: int, token: str, again: bool = False) -> Written:
    """After confirming: what was confirmed, and the signer's personal link to their own page
    (the token travels in the outbox row's params, taken out once sent: outbox.TOKEN). `again`:
    asked for later from the confirm link's page (signing.send_own_link), whatever the
    signature's state is now."""
    found = _signature(signature)
    letter = found.letter
    return _written("receipt", _("Your signature: %(title)s", title=translations.title(letter)),
                    signature=found, letter=letter, again=again,
                    manage_url=external_url("signer.page", token=token),
                    letter_url=external_url("public.letter", slug=letter.slug))


def final_pdf(delivery: int) -> Written:
    """To the letter's recipients, with the delivered PDF attached."""
    record = _delivery(delivery)
    letter = record.letter
    return _written("final_pdf", letter.title, letter=letter, delivery=record,
                    letter_url=external_url("public.letter", slug=letter.slug))


def addendum(delivery: int, signatories: int, sha256: str) -> Written:
    """To the letter's recipients, with the addendum attached: `signatories` listed since the
    delivered copy, the attached PDF's SHA-256."""
    record = _delivery(delivery)
    letter = record.letter
    return _written("addendum", _("Addendum: %(title)s", title=letter.title), letter=letter,
                    delivery=record, signatories=signatories, sha256=sha256,
                    letter_url=external_url("public.letter", slug=letter.slug))


def delivered(signature: int, delivery: int) -> Written:
    """To a signatory: the letter was delivered."""
    found, record = _signature(signature), _delivery(delivery)
    letter = record.letter
    return _written("delivered", _("Delivered: %(title)s", title=translations.title(letter)),
                    signature=found, letter=letter,
                    delivery=record, letter_url=external_url("public.letter", slug=letter.slug),
                    pdf_url=external_url("public.letter_pdf", slug=letter.slug))


def update(update: int, signature: int) -> Written:
    """An organizers' update to a signer (LetterUpdate), with its unsubscribe link."""
    record = db.session.get(LetterUpdate, update)
    if record is None:
        raise Unwritable(f"update {update} no longer exists")
    found = _signature(signature)
    _still_signed(found)
    if found.unsubscribed_at is not None:
        raise Skip("the address unsubscribed from this letter's updates")
    return update_written(record.letter, record.subject, record.body, record.audience,
                          unsubscribe_url(signature))


def update_written(letter: Letter, subject: str, body: str, audience: str,
                   unsubscribe: str) -> Written:
    """An update as its recipients read it; the organizers' preview shows the same."""
    return _written("update", subject, letter=letter, body=body,
                    body_html=markup.markdown_to_html(body), audience=audience,
                    letter_url=external_url("public.letter", slug=letter.slug),
                    unsubscribe_url=unsubscribe)


def unsubscribe_url(signature_id: int) -> str:
    return external_url("unsubscribe.page", token=unsubscribe_token(signature_id))


def headers(kind: str, params: dict[str, Any]) -> dict[str, str]:
    """The headers a message carries besides its subject, sender and recipient, made from what
    it is about (so that a retried message, kept as it was written, has them too): an update
    can be unsubscribed from in one click by the mail program (RFC 2369 and RFC 8058)."""
    if kind == "update" and isinstance(params.get("signature"), int):
        return {"List-Unsubscribe": f"<{unsubscribe_url(params['signature'])}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    return {}


def reconsent(signature: int, version: int, token: str, agreed: int | None = None,
              reminder: bool = False) -> Written:
    """To a signer of an earlier text (version `agreed`): the letter's text changed (to
    `version`); what changed, and their personal link to the page that asks them to confirm it
    (the token is taken out of the params once sent: outbox.TOKEN)."""
    found = _signature(signature)
    changed = db.session.get(LetterVersion, version)
    if changed is None:
        raise Unwritable(f"version {version} no longer exists")
    _still_signed(found)
    if has_agreed(found):
        raise Skip("the signer already agreed to the current text")
    letter = found.letter
    before = differences.agreed_version(letter, agreed, changed)
    # to the text as it is now: the change, and any correction made to it since
    now = letter.latest_version(changed.language) or changed
    hunks = differences.version_difference(before, now)
    title = translations.title(letter)
    subject = (_("Reminder: please confirm the new text: %(title)s", title=title) if reminder
               else _("The letter you signed has changed: %(title)s", title=title))
    return _written("reconsent", subject, signature=found, letter=letter, version=changed,
                    before=before, hunks=hunks, diff_text=differences.as_text(hunks),
                    reminder=reminder, confirm_url=external_url("reconsent.page", token=token))


def invitation(invitation: int, token: str) -> Written:
    """To someone invited to organize a letter: the link to accept (the token travels in the
    params, taken out once sent: outbox.TOKEN)."""
    found = db.session.get(Invitation, invitation)
    if found is None or found.letter is None:
        raise Unwritable(f"invitation {invitation} no longer exists")
    inviter = db.session.get(Organizer, found.invited_by) if found.invited_by else None
    letter = found.letter
    return _written("invitation", _("Invitation to organize: %(title)s", title=letter.title),
                    letter=letter, invitation=found,
                    role=str(ROLE_NAMES.get(found.role or "", found.role or "")),
                    site=current_app.config["BASE_URL"],
                    inviter=(inviter.name or inviter.email) if inviter else _("An administrator"),
                    new_account=_no_account(found.email),
                    accept_url=external_url("invitation.accept", token=token))


def _no_account(email: str) -> bool:
    return db.session.scalar(select(Organizer.id)
                             .where(func.lower(Organizer.email) == email.lower())) is None


KINDS: dict[str, Callable[..., Written]] = {
    "invitation": invitation,
    "confirm": confirm,
    "already-signed": already_signed,
    "receipt": receipt,
    "final-pdf": final_pdf,
    "addendum": addendum,
    "delivered": delivered,
    "update": update,
    "reconsent": reconsent,
}
