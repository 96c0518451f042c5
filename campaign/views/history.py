"""Organizer pages of a letter's past: its versions (what each changed, who has not confirmed the
current text, the reminder) and its history (the audit log, filtered, paged, as CSV). On the
admin blueprint (its login and role checks)."""
from __future__ import annotations

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext

from .. import (
    audit,
    differences,
    moderation,
    reconsent,
)
from ..database import writing
from ..fields import ActionForm
from ..text import page_number
from .admin import bp, letter_or_404


@bp.get("/letters/<slug>/versions")
def versions(slug: str) -> str:
    """Each version, what it changed from the one before, and who has not yet confirmed the
    current text (with the button that reminds them, once each)."""
    letter = letter_or_404(slug)
    waiting, names = reconsent.waiting(letter)
    before = {v.id: differences.previous(v) for v in letter.versions}  # of the same language
    changes = {v.id: (earlier.number, differences.version_difference(earlier, v))
               for v, earlier in ((v, before[v.id]) for v in letter.versions) if earlier}
    return render_template("admin/versions.html", letter=letter,
                           counts=moderation.version_counts(letter), changes=changes,
                           consent=reconsent.consent_version(letter), waiting=waiting,
                           names=names, action=ActionForm())


@bp.get("/letters/<slug>/history")
def history(slug: str) -> str:
    """The letter's audit log, newest first, filtered by action, by who and by date, a page at
    a time: read only, here and anywhere in the app."""
    letter = letter_or_404(slug)
    chosen, problems = audit.filters(request.args, current_app.config["TZ"])
    for problem in problems:
        flash(problem, "error")
    shown = audit.page(letter, chosen, page_number(request.args.get("page")))
    query = {"action": chosen.action, "actor": chosen.actor,
             "from": request.args.get("from", "") if chosen.since else "",
             "to": request.args.get("to", "") if chosen.until else ""}
    return render_template("admin/history.html", letter=letter, chosen=chosen, page=shown,
                           query={k: v for k, v in query.items() if v},
                           actions=audit.ACTIONS, actors=audit.actors(letter),
                           changes=audit.changes)


@bp.get("/letters/<slug>/history.csv")
def history_csv(slug: str) -> ResponseReturnValue:
    """Every entry of the letter's history that the filters select, as CSV, streamed."""
    letter = letter_or_404(slug)
    chosen, _problems = audit.filters(request.args, current_app.config["TZ"])
    return Response(
        stream_with_context(audit.csv_lines(letter.id, chosen)), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{letter.slug}-history.csv"'})


@bp.post("/letters/<slug>/versions/remind")
def remind_reconsent(slug: str) -> ResponseReturnValue:
    """Remind every signer who has not confirmed the current text: once each, ever."""
    letter = letter_or_404(slug)
    if ActionForm().validate_on_submit():
        with writing():
            reminded = reconsent.remind(letter)
        flash(ngettext("Reminded %(num)d signer(s).", "Reminded %(num)d signer(s).", reminded)
              if reminded else _("Nobody to remind: each was reminded once already."), "success")
    return redirect(url_for("admin.versions", slug=slug), code=303)
