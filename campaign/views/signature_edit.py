"""Organizer pages that edit one signature (every field an organizer may change) and merge a
duplicate into it (signature_edits.py). On the admin blueprint (its login and role checks: both
need "moderate"; the email and phone need "contacts")."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy.exc import IntegrityError
from wtforms.fields.choices import SelectChoice

from .. import partners, roles, signature_edits
from ..admin_forms import MergeForm, SignatureForm
from ..database import writing
from ..extensions import db
from ..fields import SCOPE_CHOICES
from ..models import Letter, Signature
from ..signature_edits import EditRefused
from ..text import parse_id
from .admin import bp, letter_or_404


@bp.route("/letters/<slug>/signatures/<id:signature_id>/edit", methods=["GET", "POST"])
def edit_signature(slug: str, signature_id: int) -> ResponseReturnValue:
    """A signature's every field, its facts, and the signatures that may be the same signer."""
    letter = letter_or_404(slug)
    signature = _signature_or_404(letter, signature_id)
    form = _form(letter, signature)
    if request.method == "GET":
        return _page(letter, signature, form)
    if form.validate_on_submit():
        values = {name: form[name].data for name in signature_edits.EDITABLE if name in form}
        try:
            with writing():
                changed = signature_edits.edit(signature, values)
                shown = signature.shown_name
        except EditRefused as exc:  # the unit rolled back: nothing was written
            _refused(form, exc)
        except IntegrityError:  # another request gave the same email meanwhile
            _refused(form, EditRefused(_("Another signature of this letter has this email "
                                         "address: merge the two instead."), "email"))
        else:
            if changed:
                flash(_("Saved the changes to “%(name)s”.", name=shown), "success")
            else:
                flash(_("Nothing was changed."), "info")
            return redirect(url_for("admin.edit_signature", slug=letter.slug,
                                    signature_id=signature_id), code=303)
        db.session.expire_all()
        signature = _signature_or_404(letter, signature_id)
    return _page(letter, signature, form), 422


def _signature_or_404(letter: Letter, signature_id: int) -> Signature:
    """The letter's signature, if the organizer may see it (a partner's role: its own only)."""
    signature = db.session.get(Signature, signature_id)
    scope = roles.partner_scope(letter)
    if signature is None or signature.letter_id != letter.id \
            or scope is not None and signature.partner_id != scope:
        abort(404)
    return signature


def _form(letter: Letter, signature: Signature) -> SignatureForm:
    """The edit form: filled from the signature on a GET, from what was sent on a POST; its
    scopes those the letter takes; without the email and phone for a role that may not see
    them."""
    form = SignatureForm(obj=signature if request.method == "GET" else None)
    labels = {choice.value: choice.label for choice in SCOPE_CHOICES}
    labels["individual"] = _("Individuals")
    form.scope.choices = [SelectChoice(s, labels.get(s, s))
                          for s in signature_edits.scope_choices(letter, signature.scope)]
    if request.method == "GET":
        form.display_name.data = signature.display_name or ""
        form.email.data = signature.email or ""
    if not roles.can(letter, "contacts"):
        del form.email
        del form.phone
    return form


def _refused(form: SignatureForm, problem: EditRefused) -> None:
    """The refusal's message at its field, or at the top of the page."""
    if problem.field is not None and problem.field in form:
        form[problem.field].errors = [str(problem)]
    else:
        flash(str(problem), "error")


def _page(letter: Letter, signature: Signature, form: SignatureForm) -> str:
    scope = roles.partner_scope(letter)
    return render_template(
        "admin/signature_edit.html", letter=letter, signature=signature, form=form,
        duplicates=signature_edits.duplicates(signature, scope),
        partner=partners.get(letter, signature.partner_id) if signature.partner_id else None,
        contacts=roles.can(letter, "contacts"))


@bp.post("/letters/<slug>/signatures/<id:signature_id>/merge")
def merge_signature(slug: str, signature_id: int) -> ResponseReturnValue:
    """Merge the signature numbered `other` into this one: this one stays, the other goes."""
    letter = letter_or_404(slug)
    kept = _signature_or_404(letter, signature_id)
    form = MergeForm()
    other = parse_id(form.other.data) if form.validate_on_submit() else None
    duplicate = db.session.get(Signature, other) if other is not None else None
    scope = roles.partner_scope(letter)
    if duplicate is None or duplicate.letter_id != letter.id \
            or scope is not None and duplicate.partner_id != scope:
        flash(_("Choose another signature of this letter to merge."), "error")
        return _back(letter, signature_id)
    try:
        with writing():
            merged = signature_edits.merge(kept, duplicate, bool(form.fill_blanks.data))
    except EditRefused as exc:
        flash(str(exc), "error")
        return _back(letter, signature_id)
    flash(_("Merged “%(merged)s” into “%(kept)s”: the merged one is off every list and count; "
            "the history keeps what it was.", merged=merged.merged, kept=merged.kept),
          "success")
    if merged.filled:
        flash(ngettext("%(num)d blank field was filled from it.",
                       "%(num)d blank fields were filled from it.", len(merged.filled)), "info")
    return _back(letter, signature_id)


def _back(letter: Letter, signature_id: int) -> ResponseReturnValue:
    return redirect(url_for("admin.edit_signature", slug=letter.slug,
                            signature_id=signature_id), code=303)
