"""The signer's own page, reached by their personal link (signer_links.py): what they signed and
its state, a form to correct their details, and withdrawing (asking the organizers to, once the
letter is delivered). Nobody else's data is on it, and no copy of it is kept anywhere
(views/__init__.py PRIVATE_BLUEPRINTS)."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from .. import i18n, signer_changes, signer_links
from ..database import writing
from ..fields import ActionForm
from ..forms import DetailsForm, IndividualDetailsForm
from ..i18n import _l
from ..models import Signature
from ..signer_changes import Details, NotChangeable

bp = Blueprint("signer", __name__)

UNKNOWN_LINK = _l("This link to a signer's page is not known. Check that the whole link was "
                  "copied from the email; if the signature was deleted, the link no longer works.")
# What the page says after a change, by the `done` the change redirects with.
DONE = {
    "saved": _l("Your changes are saved."),
    "review": _l("Your changes are saved. The organizers review the new name or scope before it "
                 "is listed again."),
    "unchanged": _l("Nothing was changed."),
    "withdrawn": _l("Your signature is withdrawn: it is no longer on the public list, and will "
                    "not be in the letter."),
    "requested": _l("Your request is sent: the organizers will withdraw your signature from the "
                    "list."),
}


def _signature(token: str) -> Signature:
    """The signature the link stands for, or a 404 page that says what to check."""
    found = signer_links.signature_for(token)
    if found is None:
        abort(404, UNKNOWN_LINK)
    i18n.use_signer(found.language)
    return found


def _details_form(signature: Signature) -> DetailsForm | IndividualDetailsForm:
    """The form of the signer's kind, filled in with what they sent unless a form was posted."""
    kind = IndividualDetailsForm if signature.is_individual else DetailsForm
    return kind(obj=signature)


def _page(signature: Signature, token: str, form: DetailsForm | IndividualDetailsForm,
          done: str | None = None, problem: str | None = None) -> str:
    return render_template(
        "public/signer.html", signature=signature, letter=signature.letter, token=token,
        form=form, action=ActionForm(), changeable=signer_changes.changeable(signature),
        placed=signer_changes.placement(signature), done=DONE.get(done or ""), problem=problem)


@bp.get("/signature/<token>")
def page(token: str) -> str:
    signature = _signature(token)
    return _page(signature, token, _details_form(signature), done=request.args.get("done"))


@bp.post("/signature/<token>")
def correct(token: str) -> ResponseReturnValue:
    """Save the signer's corrections; a new name or scope goes back to the organizers."""
    signature = _signature(token)
    form = _details_form(signature)
    if not form.validate_on_submit():
        return _page(signature, token, form), 422
    details = Details(**{field.name: field.data or "" for field in form  # the fields it has
                         if field.name in Details.__dataclass_fields__})
    try:
        with writing():
            done = signer_changes.correct(signature, details)
    except NotChangeable as exc:
        return _page(signature, token, form, problem=str(exc)), 409
    outcome = "review" if done.to_review else "saved" if done.fields else "unchanged"
    return redirect(url_for("signer.page", token=token, done=outcome), code=303)


@bp.post("/signature/<token>/withdraw")
def withdraw(token: str) -> ResponseReturnValue:
    """The first press asks "are you sure?" on a page of its own; the second, which sends
    `sure`, withdraws (or, once the letter is delivered, asks the organizers to)."""
    signature = _signature(token)
    placed = signer_changes.placement(signature)
    if signature.status == "withdrawn":
        return redirect(url_for("signer.page", token=token), code=303)
    if request.form.get("sure") != "yes":
        return render_template("public/signer_withdraw.html", signature=signature,
                               letter=signature.letter, token=token, action=ActionForm(),
                               delivered=placed is not None)
    try:
        with writing():
            if placed is None:
                signer_changes.withdraw(signature)
            else:
                signer_changes.request_withdrawal(signature)
    except NotChangeable as exc:  # delivered meanwhile: the page now offers the request
        return _page(signature, token, _details_form(signature), problem=str(exc)), 409
    done = "withdrawn" if placed is None else "requested"
    return redirect(url_for("signer.page", token=token, done=done), code=303)
