"""Organizer pages: letters (write, preview, publish, versions), moderation, imports, exports, mail."""
from __future__ import annotations

from datetime import datetime, time, tzinfo

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import login_required

from .. import letters, outbox, render, signing
from ..extensions import db
from ..forms import ActionForm, ImportForm, LetterForm, RenameForm
from ..letters import LetterError, LetterText
from ..markup import markdown_to_html
from ..models import Letter, Signature

bp = Blueprint("admin", __name__, url_prefix="/admin")
TABS = {
    "pending": "Awaiting approval",
    "unconfirmed": "Unconfirmed",
    "approved": "Approved",
    "rejected": "Rejected",
    "held": "Held",
}


@bp.before_request
@login_required
def require_login() -> None:
    """Every organizer page needs a logged-in organizer."""


def letter_or_404(slug: str) -> Letter:
    letter = letters.get_letter(slug)
    if letter is None:
        abort(404)
    return letter


@bp.get("/")
def letters_page() -> str:
    rows = letters.all_letters()
    counts = {letter.id: signing.status_counts(letter) for letter in rows}
    return render_template("admin/letters.html", letters=rows, counts=counts)


# ------------------------------------------------------------------ writing letters


@bp.route("/letters/new", methods=["GET", "POST"])
def new_letter() -> Response | str | tuple[str, int]:
    return _letter_form(None)


@bp.route("/letters/<slug>/edit", methods=["GET", "POST"])
def edit_letter(slug: str) -> Response | str | tuple[str, int]:
    return _letter_form(letter_or_404(slug))


def _letter_form(letter: Letter | None) -> Response | str | tuple[str, int]:
    form = LetterForm(obj=letter)
    if letter is not None and request.method == "GET":
        form.deadline.data = deadline_text(letter.deadline, current_app.config["TZ"])
    preview = None
    if form.validate_on_submit():
        text = _letter_text(form, letter)
        if text is not None and form.preview.data:
            preview = markdown_to_html(text.body)
        elif text is not None:
            try:
                saved = letters.save(text, letter)
            except LetterError as exc:
                form.slug.errors = [str(exc)]
            else:
                saved.require_approval = bool(form.require_approval.data)
                saved.show_contact_names = bool(form.show_contact_names.data)
                db.session.commit()
                flash(f"Saved “{saved.title}”.", "success")
                return redirect(url_for("admin.edit_letter", slug=saved.slug), code=303)
    status = 422 if request.method == "POST" and preview is None else 200
    return render_template("admin/letter_form.html", form=form, letter=letter,
                           preview=preview), status


def deadline_text(deadline: datetime | None, zone: tzinfo) -> str:
    """A deadline as the form shows it: a date alone when it is the end of that day, so that
    saving the form again keeps it."""
    if deadline is None:
        return ""
    local = deadline.astimezone(zone)
    if local.time() == time.max:
        return local.date().isoformat()
    return local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")


def _letter_text(form: LetterForm, letter: Letter | None) -> LetterText | None:
    """The form's values as LetterText, or None with the problems set on the fields."""
    zone = current_app.config["TZ"]
    slug = form.slug.data or (letter.slug if letter else letters.slugify(form.title.data or ""))
    try:
        deadline = letters.parse_deadline(form.deadline.data, zone)
    except LetterError as exc:
        form.deadline.errors = [str(exc)]
        return None
    try:
        language = letters.check_language(form.language.data or "en")
    except LetterError as exc:
        form.language.errors = [str(exc)]
        return None
    if letter is None and letters.get_letter(slug) is not None:
        form.slug.errors = [f"The address {slug!r} is taken by another letter."]
        return None
    return LetterText(
        title=" ".join((form.title.data or "").split()), slug=slug,
        body=letters.clean_body(form.body.data or ""),
        recipient=letters.clean_lines(form.recipient.data or ""), deadline=deadline,
        status=form.status.data or "draft",
        language=language,
    )


@bp.get("/letters/<slug>/versions")
def versions(slug: str) -> str:
    letter = letter_or_404(slug)
    return render_template("admin/versions.html", letter=letter,
                           counts=signing.version_counts(letter))


# ------------------------------------------------------------------ moderation


@bp.get("/letters/<slug>/signatures")
def signatures(slug: str) -> str:
    letter = letter_or_404(slug)
    tab = request.args.get("status", "pending")
    if tab not in TABS:
        tab = "pending"
    rows = signing.moderation_list(letter, tab)
    same_org = signing.org_counts(letter)
    return render_template(
        "admin/signatures.html", letter=letter, rows=rows, tab=tab, tabs=TABS,
        counts=signing.status_counts(letter), flags={s.id: signing.flags(s, same_org.get(s.org_key, 0))
                                                     for s in rows},
        action=ActionForm(), rename=RenameForm(), upload=ImportForm(),
    )


@bp.post("/letters/<slug>/signatures/<int:signature_id>/<any(approve, reject):verb>")
def decide_one(slug: str, signature_id: int, verb: str) -> Response:
    letter = letter_or_404(slug)
    if ActionForm().validate_on_submit():
        changed = signing.decide(letter, [signature_id], approve=verb == "approve")
        db.session.commit()
        flash(f"{'Approved' if verb == 'approve' else 'Rejected'} {changed} signature(s).", "success")
    return _back_to_list(letter)


@bp.post("/letters/<slug>/signatures/bulk")
def decide_many(slug: str) -> Response:
    letter = letter_or_404(slug)
    ids = [int(i) for i in request.form.getlist("ids") if i.isdigit()]
    verb = request.form.get("verb", "")
    if not ActionForm().validate_on_submit() or not ids or verb not in ("approve", "reject", "release"):
        flash("Select at least one signature, then choose what to do.", "error")
        return _back_to_list(letter)
    if verb == "release":
        changed = signing.release(letter, ids)
    else:
        changed = signing.decide(letter, ids, approve=verb == "approve")
    db.session.commit()
    done = {"approve": "Approved", "reject": "Rejected", "release": "Released"}[verb]
    flash(f"{done} {changed} signature(s).", "success")
    return _back_to_list(letter)


@bp.post("/letters/<slug>/signatures/<int:signature_id>/rename")
def rename(slug: str, signature_id: int) -> Response:
    letter = letter_or_404(slug)
    signature = db.session.get(Signature, signature_id)
    if signature is None or signature.letter_id != letter.id:
        abort(404)
    form = RenameForm()
    if form.validate_on_submit():
        signing.rename(signature, form.display_name.data or "")
        db.session.commit()
        flash(f"Now shown as “{signature.shown_name}”.", "success")
    else:
        flash("A name can have at most 300 characters.", "error")
    return _back_to_list(letter)


def _back_to_list(letter: Letter) -> Response:
    tab = request.args.get("status") or request.form.get("tab") or "pending"
    if tab not in TABS:
        tab = "pending"
    return redirect(url_for("admin.signatures", slug=letter.slug, status=tab), code=303)


@bp.post("/letters/<slug>/signatures/import")
def import_signatures(slug: str) -> Response:
    letter = letter_or_404(slug)
    form = ImportForm()
    if not form.validate_on_submit():
        flash("Choose a .csv file to import.", "error")
        return _back_to_list(letter)
    try:
        text = form.file.data.read().decode("utf-8-sig")
        count = signing.import_csv(letter, text, approved=bool(form.approved.data))
    except UnicodeDecodeError:
        flash("The file is not UTF-8 text: save it from your spreadsheet as “CSV UTF-8”.", "error")
        return _back_to_list(letter)
    except signing.ImportProblem as exc:
        db.session.rollback()
        flash("Nothing was imported: " + "; ".join(exc.problems[:10]), "error")
        return _back_to_list(letter)
    db.session.commit()
    flash(f"Imported {count} signatories.", "success")
    return redirect(url_for("admin.signatures", slug=letter.slug,
                            status="approved" if form.approved.data else "pending"), code=303)


@bp.get("/letters/<slug>/signatures.csv")
def export_csv(slug: str) -> Response:
    letter = letter_or_404(slug)
    rows = signing.export_rows(letter, private=True)
    return Response(
        stream_with_context(signing.csv_lines(rows, private=True)), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{letter.slug}-contacts.csv"'},
    )


@bp.get("/letters/<slug>/letter.pdf")
def export_pdf(slug: str) -> Response:
    letter = letter_or_404(slug)
    return Response(render.signed_pdf(letter), mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{letter.slug}.pdf"'})


# ------------------------------------------------------------------ mail


@bp.get("/outbox")
def outbox_page() -> str:
    return render_template("admin/outbox.html", dead=outbox.dead_messages(),
                           waiting=outbox.waiting_count(), action=ActionForm())


@bp.post("/outbox/retry")
def outbox_retry() -> Response:
    ids = [int(i) for i in request.form.getlist("ids") if i.isdigit()]
    if ActionForm().validate_on_submit():
        count = outbox.retry(ids)
        db.session.commit()
        flash(f"{count} message(s) queued again.", "success")
    return redirect(url_for("admin.outbox_page"), code=303)

