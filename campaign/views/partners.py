"""The letter's Partners page, among the organizer pages (the admin blueprint: a login needed):
each partner's code, name, what it brought, its link and embed snippet to copy; adding,
renaming and removing partners."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from .. import partners
from ..admin_forms import PartnerForm, PartnerNameForm
from ..database import writing
from ..errors import PartnerError
from ..fields import ActionForm
from ..models import Letter, Partner
from .admin import bp, letter_or_404


@bp.get("/letters/<slug>/partners")
def partners_page(slug: str) -> str:
    return _page(letter_or_404(slug), PartnerForm())


def _page(letter: Letter, form: PartnerForm) -> str:
    """The page; with the add form as sent, its problem shown, after a refused add."""
    rows = partners.all_for(letter)
    return render_template(
        "admin/partners.html", letter=letter, partners=rows, tallies=partners.tallies(letter),
        links={p.id: partners.link(letter, p) for p in rows},
        embeds={p.id: partners.embed_snippet(letter, p) for p in rows},
        form=form, rename=PartnerNameForm(), action=ActionForm())


@bp.post("/letters/<slug>/partners")
def add_partner(slug: str) -> ResponseReturnValue:
    letter = letter_or_404(slug)
    form = PartnerForm()
    if form.validate_on_submit():
        try:
            with writing():
                partner = partners.add(letter, form.code.data or "", form.name.data or "")
                name, code = partner.name, partner.code
        except PartnerError as exc:
            (form.name if exc.field == "name" else form.code).errors = [str(exc)]
        else:
            flash(_("Added %(name)s: its link ends in ?ref=%(code)s.", name=name, code=code),
                  "success")
            return redirect(url_for("admin.partners_page", slug=letter.slug), code=303)
    return _page(letter_or_404(slug), form), 422


def _partner_or_404(letter: Letter, partner_id: int) -> Partner:
    partner = partners.get(letter, partner_id)
    if partner is None:
        abort(404)
    return partner


@bp.post("/letters/<slug>/partners/<id:partner_id>/rename")
def rename_partner(slug: str, partner_id: int) -> ResponseReturnValue:
    letter = letter_or_404(slug)
    form = PartnerNameForm()
    if form.validate_on_submit():
        try:
            with writing():
                partner = _partner_or_404(letter, partner_id)
                partners.rename(letter, partner, form.name.data or "")
                name = partner.name
        except PartnerError as exc:
            flash(_("Nothing was changed: %(reason)s", reason=str(exc)), "error")
        else:
            flash(_("Renamed: now %(name)s.", name=name), "success")
    return redirect(url_for("admin.partners_page", slug=letter.slug), code=303)


@bp.post("/letters/<slug>/partners/<id:partner_id>/remove")
def remove_partner(slug: str, partner_id: int) -> ResponseReturnValue:
    letter = letter_or_404(slug)
    if ActionForm().validate_on_submit():
        try:
            with writing():
                partner = _partner_or_404(letter, partner_id)
                name = partner.name
                partners.remove(letter, partner)
        except PartnerError as exc:
            flash(str(exc), "error")
        else:
            flash(_("Removed %(name)s: its link now counts for no partner.", name=name),
                  "success")
    return redirect(url_for("admin.partners_page", slug=letter.slug), code=303)
