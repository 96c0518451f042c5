"""The organizers' Mail page: messages not delivered, and sending them again. Site administrators
only (roles.py). On the admin blueprint."""
from __future__ import annotations

from flask import (
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext

from .. import (
    outbox,
)
from ..database import writing
from ..fields import ActionForm
from ..text import parse_ids
from .admin import bp

# ------------------------------------------------------------------ mail


@bp.get("/outbox")
def outbox_page() -> str:
    return render_template("admin/outbox.html", dead=outbox.dead_messages(),
                           waiting=outbox.waiting_count(), action=ActionForm(),
                           link_removed=outbox.link_removed)


@bp.post("/outbox/retry")
def outbox_retry() -> ResponseReturnValue:
    ids = parse_ids(request.form.getlist("ids"))
    if ids is None:
        flash(_("That selection names no message; nothing was queued."), "error")
    elif ActionForm().validate_on_submit():
        with writing():
            count = outbox.retry(ids)
        flash(ngettext("%(num)d message(s) queued again.", "%(num)d message(s) queued again.",
                       count), "success")
    return redirect(url_for("admin.outbox_page"), code=303)
