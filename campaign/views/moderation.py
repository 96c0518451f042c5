"""The moderation work queue (moderation.py, moderation_queue.py): a letter's signatures as a
table, searched, filtered, sorted and paged; approve and reject one or many (ticked, the whole
page, or all matching the filters), release or discard held ones, rename, withdraw as asked.
On the admin blueprint (its login and role checks)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext

from .. import imports, moderation, moderation_queue, partners, roles, signer_changes
from ..admin_forms import ImportForm, RenameForm
from ..database import writing
from ..extensions import db
from ..fields import ActionForm
from ..i18n import _l
from ..models import SCOPE_LABELS, Letter, Signature
from ..moderation_queue import Filters
from ..text import parse_ids
from .admin import bp, letter_or_404

TABS = {
    "pending": _l("Awaiting approval"),
    "unconfirmed": _l("Unconfirmed"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "held": _l("Held"),
    "withdrawn": _l("Withdrawn"),
    "requested": _l("Asked to be withdrawn"),
}
FLAG_LABELS = {"duplicate": _l("Possible duplicate"), "free_mail": _l("Free-mail address")}
SOURCE_LABELS = {"web": _l("Signed on the site"), "import": _l("Imported")}
# What the bulk form may do on each tab: held ones are released or discarded; confirmed ones
# approved or rejected (the tab's own state left out); the others have nothing in bulk.
TAB_VERBS = {"pending": ("approve", "reject"), "approved": ("reject",),
             "rejected": ("approve",), "held": ("release", "discard")}
VERBS = ("approve", "reject", "release", "discard")


def _partner_id(letter: Letter, chosen: Filters) -> int | None:
    """Whose signatures are shown: a partner's role sees its own alone; `?partner=<code>`
    narrows the others' view to what one partner brought (an unknown code narrows nothing)."""
    scope = roles.partner_scope(letter)
    if scope is not None:
        return scope
    shown = partners.for_code(letter, chosen.partner) if chosen.partner else None
    return shown.id if shown is not None else None


@bp.get("/letters/<slug>/signatures")
def signatures(slug: str) -> str:
    letter = letter_or_404(slug)
    chosen = moderation_queue.parse(request.args)
    partner_id = _partner_id(letter, chosen)
    contacts = roles.can(letter, "contacts")
    counts = moderation.status_counts(letter, partner_id)
    shown = moderation_queue.page(letter, chosen, partner_id, contacts=contacts,
                                  tab_counts=counts)
    found = moderation_queue.matches(letter, shown.rows, partner_id)
    every_partner = partners.all_for(letter)
    return render_template(
        "admin/signatures.html", letter=letter, page=shown, chosen=chosen, tab=chosen.status,
        tabs=TABS, counts=counts,
        partners=every_partner, partner_names={p.id: p.name for p in every_partner},
        shown_partner=next((p for p in every_partner if p.id == partner_id), None),
        scoped=roles.partner_scope(letter) is not None, matches=found,
        flags={s.id: moderation.flags(s, s.id in found) for s in shown.rows},
        flag_labels=FLAG_LABELS, source_labels=SOURCE_LABELS, scope_labels=SCOPE_LABELS,
        verbs=TAB_VERBS.get(chosen.status, ()), sizes=moderation_queue.PAGE_SIZES,
        action=ActionForm(), rename=RenameForm(), upload=ImportForm(),
        importing=imports.active(letter),
    )


@bp.post("/letters/<slug>/signatures/<id:signature_id>/<any(approve, reject):verb>")
def decide_one(slug: str, signature_id: int, verb: str) -> ResponseReturnValue:
    letter = letter_or_404(slug)
    if ActionForm().validate_on_submit():
        picked = moderation_queue.picked(letter, [signature_id], roles.partner_scope(letter))
        with writing():
            changed = moderation.decide(letter, picked, approve=verb == "approve")
        flash(_decided(verb, changed), "success")
    return back_to_list(letter)


@bp.post("/letters/<slug>/signatures/bulk")
def decide_many(slug: str) -> ResponseReturnValue:
    """A bulk action on the ticked rows (`ids`), the page's rows (`scope=page`, with the page's
    `page_ids`) or every signature the filters select (`scope=matching`, run again here)."""
    letter = letter_or_404(slug)
    verb = request.form.get("verb", "")
    scope = request.form.get("scope", "selected")
    ids = parse_ids(request.form.getlist("page_ids" if scope == "page" else "ids"))
    if ids is None:
        flash(_("That selection names no signature; nothing was changed."), "error")
        return back_to_list(letter)
    if not ActionForm().validate_on_submit() or verb not in VERBS \
            or (scope != "matching" and not ids):
        flash(_("Select at least one signature, then choose what to do."), "error")
        return back_to_list(letter)
    chosen = moderation_queue.parse(request.form)
    partner_id = _partner_id(letter, chosen)
    picked = moderation_queue.chosen(
        letter, chosen, partner_id, contacts=roles.can(letter, "contacts")) \
        if scope == "matching" else moderation_queue.picked(letter, ids, partner_id)
    unmailed = 0
    with writing():
        if verb == "release":
            changed, unmailed = moderation.release(letter, picked)
        elif verb == "discard":
            changed = moderation.discard(letter, picked)
        else:
            changed = moderation.decide(letter, picked, approve=verb == "approve")
    flash(_decided(verb, changed), "success")
    if unmailed:
        flash(ngettext("%(num)d of them got no verification email: their mailbox had enough mail "
                       "from the campaign for now. They can ask for a new link on the letter's "
                       "page.", "%(num)d of them got no verification email: their mailbox had "
                       "enough mail from the campaign for now. They can ask for a new link on "
                       "the letter's page.", unmailed), "info")
    return back_to_list(letter)


def _decided(verb: str, changed: int) -> str:
    """What a decision on `changed` signatures says (one sentence a verb, for the translators)."""
    if verb == "approve":
        return ngettext("Approved %(num)d signature(s).", "Approved %(num)d signature(s).",
                        changed)
    if verb == "reject":
        return ngettext("Rejected %(num)d signature(s).", "Rejected %(num)d signature(s).",
                        changed)
    if verb == "discard":
        return ngettext("Discarded %(num)d held submission for good.",
                        "Discarded %(num)d held submissions for good.", changed)
    return ngettext("Released %(num)d signature(s).", "Released %(num)d signature(s).", changed)


@bp.post("/letters/<slug>/signatures/<id:signature_id>/rename")
def rename(slug: str, signature_id: int) -> ResponseReturnValue:
    letter = letter_or_404(slug)
    form = RenameForm()
    if not form.validate_on_submit():
        flash(_("A name can have at most 300 characters."), "error")
        return back_to_list(letter)
    scope = roles.partner_scope(letter)
    with writing():
        signature = db.session.get(Signature, signature_id)
        if signature is None or signature.letter_id != letter.id \
                or (scope is not None and signature.partner_id != scope):
            abort(404)
        moderation.rename(signature, form.display_name.data or "")
        shown = signature.shown_name
    flash(_("Now shown as “%(name)s”.", name=shown), "success")
    return back_to_list(letter)


@bp.post("/letters/<slug>/signatures/<id:signature_id>/withdraw")
def withdraw(slug: str, signature_id: int) -> ResponseReturnValue:
    """Carry out a signer's request, made after delivery, to be withdrawn."""
    letter = letter_or_404(slug)
    if ActionForm().validate_on_submit():
        with writing():
            changed = signer_changes.carry_out(letter.id, [signature_id])
        flash(ngettext("Withdrew %(num)d signature(s): off the public list and its exports.",
                       "Withdrew %(num)d signature(s): off the public list and its exports.",
                       changed), "success")
    return back_to_list(letter)


def back_to_list(letter: Letter) -> ResponseReturnValue:
    """The moderation page again, with the tab, filters, order and page it was sent from (in the
    form's fields or its address)."""
    return redirect(url_for("admin.signatures", slug=letter.slug,
                            **moderation_queue.parse(request.values).query()), code=303)
