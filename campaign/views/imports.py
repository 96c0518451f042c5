"""Organizer pages of a spreadsheet import: the upload, its preview (the columns matched, the
first rows, every problem by line), the confirmation that writes it, and the progress of a large
one. On the admin blueprint (its login and role checks)."""
from __future__ import annotations

from typing import BinaryIO

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from .. import csv_headers, import_previews, imports, roles, spreadsheets
from ..admin_forms import ImportForm
from ..database import writing
from ..errors import ImportProblem
from ..fields import ActionForm
from ..models import Letter
from .admin import bp, letter_or_404


@bp.post("/letters/<slug>/signatures/import")
def import_signatures(slug: str) -> ResponseReturnValue:
    """Take an uploaded spreadsheet and show its preview; nothing is imported yet."""
    letter = letter_or_404(slug)
    form = ImportForm()
    if not form.validate_on_submit():
        flash(_("Choose a .csv file to import."), "error")
        return _to_signatures(letter)
    upload = form.file.data
    try:
        data = upload.stream.read(current_app.config["IMPORT_MAX_BYTES"] + 1)
        spreadsheets.check_size(len(data))
        file = import_previews.readable(upload.filename or "", data)
        with writing():
            waiting = import_previews.keep(letter, current_user.id, file,
                                           bool(form.approved.data))
    except ImportProblem as exc:
        flash(imports.nothing_imported(exc.problems), "error")
        return _to_signatures(letter)
    return redirect(url_for("admin.import_preview", slug=letter.slug, token=waiting.token),
                    code=303)


@bp.get("/letters/<slug>/imports/preview/<token>")
def import_preview(slug: str, token: str) -> ResponseReturnValue:
    """The uploaded file as it will be imported, with a button to confirm it."""
    letter = letter_or_404(slug)
    waiting = _waiting(letter, token)
    try:
        shown = import_previews.preview(letter, waiting)
    except ImportProblem as exc:  # the letter changed meanwhile (it takes other signers)
        with writing():
            import_previews.discard(waiting)
        flash(imports.nothing_imported(exc.problems), "error")
        return _to_signatures(letter)
    return render_template(
        "admin/import_preview.html", letter=letter, waiting=waiting, preview=shown,
        labels=csv_headers.FIELD_LABELS, contacts=roles.can(letter, "contacts"),
        delimiter=_delimiter_name(shown.delimiter), action=ActionForm())


@bp.post("/letters/<slug>/imports/preview/<token>")
def import_confirm(slug: str, token: str) -> ResponseReturnValue:
    """Write the previewed file: every row checked again (an email may have signed meanwhile),
    all rows or none; a large file through the worker, its progress page next."""
    letter = letter_or_404(slug)
    if not import_previews.TOKEN.match(token):
        abort(404)  # no upload is ever kept under such a name
    if not ActionForm().validate_on_submit():
        abort(400)
    waiting = import_previews.get(letter, current_user.id, token)
    if waiting is None:  # confirmed already (a second click), set aside, or expired
        flash(_("Nothing was imported: %(problems)s", problems=_gone()), "error")
        return _to_signatures(letter)
    try:
        started = imports.start(letter, waiting.text, waiting.approved,
                                organizer_id=current_user.id, filename=waiting.filename)
    except ImportProblem as exc:
        flash(imports.nothing_imported(exc.problems), "error")
        return redirect(url_for("admin.import_preview", slug=letter.slug, token=token),
                        code=303)
    with writing():
        import_previews.discard(waiting)
    if started.queued is not None:
        return redirect(url_for("admin.import_progress", slug=letter.slug,
                                import_id=started.queued), code=303)
    flash(ngettext("Imported %(num)d signatories.", "Imported %(num)d signatories.",
                   started.count), "success")
    return redirect(url_for("admin.signatures", slug=letter.slug,
                            status="approved" if waiting.approved else "pending"), code=303)


@bp.post("/letters/<slug>/imports/preview/<token>/cancel")
def import_cancel(slug: str, token: str) -> ResponseReturnValue:
    """Forget a previewed file without importing it."""
    letter = letter_or_404(slug)
    if not import_previews.TOKEN.match(token):
        abort(404)
    if ActionForm().validate_on_submit():
        with writing():
            waiting = import_previews.get(letter, current_user.id, token)
            if waiting is not None:
                import_previews.discard(waiting)
        flash(_("Nothing was imported: the file was set aside."), "info")
    return _to_signatures(letter)


@bp.get("/letters/<slug>/imports/<id:import_id>")
def import_progress(slug: str, import_id: int) -> str:
    """How far a background import got; the page refreshes itself until it ends."""
    letter = letter_or_404(slug)
    job = imports.get(letter, import_id)
    if job is None:
        abort(404)
    return render_template("admin/import.html", letter=letter, job=job)


@bp.errorhandler(RequestEntityTooLarge)
def too_large(error: RequestEntityTooLarge) -> ResponseReturnValue:
    """A request over MAX_CONTENT_LENGTH: an import says so on the moderation page (the rest of
    the body read first, within a bound, so that the browser sees the answer)."""
    if request.endpoint != "admin.import_signatures" or not request.view_args:
        return render_template("error.html", code=413, title=_("Too much data"),
                               message=error.description), 413
    _drain(request.environ.get("wsgi.input"), request.content_length or 0)
    flash(_("Nothing was imported: %(problems)s", problems=spreadsheets.too_large().problems[0]),
          "error")
    return redirect(url_for("admin.signatures", slug=request.view_args["slug"]), code=303)


def _drain(stream: BinaryIO | None, length: int, bound: int = 64 * 1024 * 1024) -> None:
    """Read and drop an unread request body of `length` bytes, unless it is larger than `bound`."""
    if stream is None or length > bound:
        return
    while length > 0:
        chunk = stream.read(min(length, 65536))
        if not chunk:
            return
        length -= len(chunk)


def _waiting(letter: Letter, token: str) -> import_previews.Waiting:
    """The file waiting under this token for this organizer and letter; 404 when there is none
    (another's, another letter's, confirmed already, or expired)."""
    waiting = import_previews.get(letter, current_user.id, token)
    if waiting is None:
        abort(404, _gone())
    return waiting


def _gone() -> str:
    return _("this import is no longer waiting: it was imported or set aside already, or it "
             "waited more than an hour (upload the file again)")


def _delimiter_name(mark: str) -> str:
    """The delimiter in words, for the preview."""
    return {",": _("commas"), ";": _("semicolons"), "\t": _("tabs")}.get(mark, repr(mark))


def _to_signatures(letter: Letter) -> ResponseReturnValue:
    return redirect(url_for("admin.signatures", slug=letter.slug), code=303)
