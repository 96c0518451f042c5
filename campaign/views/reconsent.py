"""The page a re-consent email links to (reconsent.py): the letter's new text, what changed since
the version the signer agreed to, and a Confirm button. Only the POST, with its CSRF token,
confirms: a mail scanner or a preview that opens the link agrees to nothing. Reached by the
signer's personal link; no copy of it is kept (views/__init__.py PRIVATE_BLUEPRINTS)."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from .. import differences, i18n, markup, reconsent, signer_links
from ..database import writing
from ..fields import ActionForm
from ..i18n import _l
from ..models import Signature
from ..reconsent import NothingToConfirm

bp = Blueprint("reconsent", __name__)

UNKNOWN_LINK = _l("This link is not known. Check that the whole link was copied from the "
                  "email; if the signature was deleted, the link no longer works.")


def _signature(token: str) -> Signature:
    found = signer_links.signature_for(token)
    if found is None:
        abort(404, UNKNOWN_LINK)
    i18n.use_signer(found.language)
    return found


def _page(signature: Signature, token: str, done: bool = False,
          problem: str | None = None) -> str:
    letter = signature.letter
    language = reconsent.text_language(signature)
    consent = reconsent.consent_version(letter, language)
    agreed = reconsent.has_agreed(signature)
    before = hunks = None
    if consent is not None and not agreed:
        before = differences.agreed_version(letter, signature.version_id, consent)
        hunks = differences.version_difference(before, letter.latest_version(language) or consent)
    return render_template(
        "public/reconsent.html", signature=signature, letter=letter, token=token,
        body=markup.stored(letter.body_html), agreed=agreed, before=before, hunks=hunks,
        may_confirm=reconsent.may_confirm(signature), done=done, problem=problem,
        action=ActionForm())


@bp.get("/signature/<token>/new-text")
def page(token: str) -> str:
    """Shows the new text and what changed; confirms nothing."""
    return _page(_signature(token), token, done=request.args.get("done") == "1")


@bp.post("/signature/<token>/new-text")
def confirm(token: str) -> ResponseReturnValue:
    signature = _signature(token)
    if not ActionForm().validate_on_submit():
        return _page(signature, token, problem=_("The form expired: press Confirm again.")), 400
    try:
        with writing():
            reconsent.confirm(signature)
    except NothingToConfirm as exc:
        return _page(signature, token, problem=str(exc)), 409
    return redirect(url_for("reconsent.page", token=token, done=1), code=303)


@bp.app_template_global()
def reconsent_due(signature: Signature) -> bool:
    """Whether the signer can confirm their letter's changed text (their own page's box)."""
    return reconsent.may_confirm(signature)
