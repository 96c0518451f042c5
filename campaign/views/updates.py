"""Updates to signers: the organizers' page that previews and sends them, and the signers'
unsubscribe page, which mail programs may also POST to in one click (RFC 8058)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from wtforms.fields.choices import SelectChoice

from .. import markup, updates
from ..admin_forms import UpdateForm
from ..database import writing
from ..errors import UpdateError
from ..extensions import csrf
from .admin import letter_or_404

bp = Blueprint("updates", __name__, url_prefix="/admin")
signers = Blueprint("unsubscribe", __name__)


@bp.before_request
@login_required
def require_login() -> None:
    """Every organizer page needs a logged-in organizer."""


@bp.route("/letters/<slug>/updates", methods=["GET", "POST"])
def updates_page(slug: str) -> ResponseReturnValue:
    """The letter's updates sent, and the form: Preview shows the email, Send queues it."""
    letter = letter_or_404(slug)
    counts = updates.counts(letter)
    form = UpdateForm()
    form.audience.choices = [
        SelectChoice("subscribers", _("Signers who asked to be kept updated (%(count)s)",
                                      count=format(counts["subscribers"], ","))),
        SelectChoice("signers", _("Every confirmed signer (%(count)s) — only for news about "
                                  "their signature, such as the delivery",
                                  count=format(counts["signers"], ",")))]
    preview = None
    if form.validate_on_submit():
        try:  # checked, and the preview written, before any writing unit
            wanted = updates.draft(form.subject.data, form.body.data, form.audience.data)
            if not form.send.data:
                preview = updates.preview(letter, wanted)
            else:
                with writing():
                    sent = updates.send(letter, wanted, organizer_id=current_user.id)
                    count = sent.recipients
        except UpdateError as exc:
            _show_at_field(form, exc)
        else:
            if preview is None:
                flash(ngettext("The update is on its way to %(count)s address(es).",
                               "The update is on its way to %(count)s address(es).", count,
                               count=format(count, ",")), "success")
                return redirect(url_for("updates.updates_page", slug=letter.slug), code=303)
    status = 422 if form.is_submitted() and preview is None else 200
    return render_template(
        "admin/updates.html", letter=letter, form=form, counts=counts, preview=preview,
        preview_html=markup.stored(preview.html) if preview else None,
        sent=updates.sent(letter)), status


def _show_at_field(form: UpdateForm, error: UpdateError) -> None:
    if error.field is not None and error.field in form:
        form[error.field].errors = [str(error)]
    else:
        flash(str(error), "error")


# ------------------------------------------------------------------ the signer's side


@signers.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # mail programs POST `List-Unsubscribe=One-Click` with no token and no cookie
def page(token: str) -> ResponseReturnValue:
    """GET asks (a mail scanner that opens the link unsubscribes nobody); POST unsubscribes the
    address the link was sent to from that letter's updates, and nothing else, however often."""
    signature = updates.signature_for(token)
    if signature is None:
        abort(404, _("This unsubscribe link is not valid: it may have been cut off or changed. "
                     "Copy the whole link from the email."))
    letter = signature.letter
    done = updates.unsubscribed(signature)
    if request.method == "POST":
        with writing():
            updates.unsubscribe(signature)
        done = True
    return render_template("public/unsubscribe.html", letter=letter, done=done, token=token)
