"""What each email says. An outbox row names its kind and what it is about (ids, flags); the
worker writes it from templates/email/ (a .txt and an .html each) when it sends it, so that no
request and no write lock spends time on templates."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app, render_template

from .extensions import db
from .links import external_url
from .models import Delivery, Signature
from .tokens import make_token


@dataclass(frozen=True)
class Written:
    subject: str
    text: str
    html: str


class Unwritable(Exception):
    """What a message is about no longer exists (its signature or delivery was deleted)."""


def write(kind: str, params: dict[str, Any]) -> Written:
    """The subject and bodies of a message of `kind` about `params`, as of now."""
    try:
        maker = KINDS[kind]
    except KeyError:
        raise Unwritable(f"no email of the kind {kind!r}") from None
    return maker(**params)


def _written(template: str, subject: str, **context: Any) -> Written:
    return Written(subject, render_template(f"email/{template}.txt", **context),
                   render_template(f"email/{template}.html", **context))


def _signature(signature_id: int) -> Signature:
    signature = db.session.get(Signature, signature_id)
    if signature is None:
        raise Unwritable(f"signature {signature_id} no longer exists")
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
    return _written("confirm", f"Confirm your signature: {letter.title}",
                    letter=letter, again=again,
                    days=current_app.config["TOKEN_MAX_AGE_DAYS"],
                    confirm_url=external_url("public.confirm", token=make_token(found)))


def already_signed(signature: int) -> Written:
    """To an address that signed again: no second signature was made."""
    found = _signature(signature)
    letter = found.letter
    return _written("already_signed", f"You have already signed: {letter.title}",
                    signature=found, letter=letter,
                    letter_url=external_url("public.letter", slug=letter.slug))


def final_pdf(delivery: int) -> Written:
    """To the letter's recipients, with the delivered PDF attached."""
    record = _delivery(delivery)
    letter = record.letter
    return _written("final_pdf", letter.title, letter=letter, delivery=record,
                    letter_url=external_url("public.letter", slug=letter.slug))


def delivered(signature: int, delivery: int) -> Written:
    """To a signatory: the letter was delivered."""
    found, record = _signature(signature), _delivery(delivery)
    letter = record.letter
    return _written("delivered", f"Delivered: {letter.title}", signature=found, letter=letter,
                    delivery=record, letter_url=external_url("public.letter", slug=letter.slug),
                    pdf_url=external_url("public.letter_pdf", slug=letter.slug))


KINDS: dict[str, Callable[..., Written]] = {
    "confirm": confirm,
    "already-signed": already_signed,
    "final-pdf": final_pdf,
    "delivered": delivered,
}
