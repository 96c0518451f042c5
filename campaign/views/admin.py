"""Organizer pages: letters, versions, moderation, imports, exports, delivery and mail."""
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
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField
from wtforms import BooleanField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from .. import delivery, letters, outbox, signing
from ..extensions import db
from ..forms import ActionForm, ImportForm, LetterForm, RenameForm
from ..letters import LetterError, LetterText
from ..markup import markdown_to_html
from ..models import Letter, Signature
from ..render import Pdf, PdfUnavailable, UploadRejected

bp = Blueprint("admin", __name__, url_prefix="/admin")
MODERATION_ROWS = 500  # rows on one moderation tab; deciding them brings up the next ones
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
def new_letter() -> ResponseReturnValue:
    return _letter_form(None)


@bp.route("/letters/<slug>/edit", methods=["GET", "POST"])
def edit_letter(slug: str) -> ResponseReturnValue:
    return _letter_form(letter_or_404(slug))


def _letter_form(letter: Letter | None) -> ResponseReturnValue:
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
    rows = signing.moderation_list(letter, tab, limit=MODERATION_ROWS)
    same_org = signing.org_counts(letter)
    return render_template(
        "admin/signatures.html", letter=letter, rows=rows, tab=tab, tabs=TABS,
        counts=signing.status_counts(letter),
        flags={s.id: signing.flags(s, same_org.get(s.org_key, 0)) for s in rows},
        action=ActionForm(), rename=RenameForm(), upload=ImportForm(),
    )


@bp.post("/letters/<slug>/signatures/<int:signature_id>/<any(approve, reject):verb>")
def decide_one(slug: str, signature_id: int, verb: str) -> ResponseReturnValue:
    letter = letter_or_404(slug)
    if ActionForm().validate_on_submit():
        changed = signing.decide(letter, [signature_id], approve=verb == "approve")
        db.session.commit()
        done = "Approved" if verb == "approve" else "Rejected"
        flash(f"{done} {changed} signature(s).", "success")
    return _back_to_list(letter)


@bp.post("/letters/<slug>/signatures/bulk")
def decide_many(slug: str) -> ResponseReturnValue:
    letter = letter_or_404(slug)
    ids = [int(i) for i in request.form.getlist("ids") if i.isdigit()]
    verb = request.form.get("verb", "")
    verbs = ("approve", "reject", "release")
    if not ActionForm().validate_on_submit() or not ids or verb not in verbs:
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
def rename(slug: str, signature_id: int) -> ResponseReturnValue:
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


def _back_to_list(letter: Letter) -> ResponseReturnValue:
    tab = request.args.get("status") or request.form.get("tab") or "pending"
    if tab not in TABS:
        tab = "pending"
    return redirect(url_for("admin.signatures", slug=letter.slug, status=tab), code=303)


@bp.post("/letters/<slug>/signatures/import")
def import_signatures(slug: str) -> ResponseReturnValue:
    letter = letter_or_404(slug)
    form = ImportForm()
    if not form.validate_on_submit():
        flash("Choose a .csv file to import.", "error")
        return _back_to_list(letter)
    try:
        text = signing.decode_csv(form.file.data.read())
        count = signing.import_csv(letter, text, approved=bool(form.approved.data))
    except signing.ImportProblem as exc:
        db.session.rollback()
        flash("Nothing was imported: " + "; ".join(exc.problems[:10]), "error")
        return _back_to_list(letter)
    db.session.commit()
    flash(f"Imported {count} signatories.", "success")
    return redirect(url_for("admin.signatures", slug=letter.slug,
                            status="approved" if form.approved.data else "pending"), code=303)


@bp.get("/letters/<slug>/signatures.csv")
def export_csv(slug: str) -> ResponseReturnValue:
    letter = letter_or_404(slug)
    rows = signing.export_rows(letter, private=True)
    return Response(
        stream_with_context(signing.csv_lines(rows, private=True)), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{letter.slug}-contacts.csv"'},
    )


# ------------------------------------------------------------------ mail


@bp.get("/outbox")
def outbox_page() -> str:
    return render_template("admin/outbox.html", dead=outbox.dead_messages(),
                           waiting=outbox.waiting_count(), action=ActionForm())


@bp.post("/outbox/retry")
def outbox_retry() -> ResponseReturnValue:
    ids = [int(i) for i in request.form.getlist("ids") if i.isdigit()]
    if ActionForm().validate_on_submit():
        count = outbox.retry(ids)
        db.session.commit()
        flash(f"{count} message(s) queued again.", "success")
    return redirect(url_for("admin.outbox_page"), code=303)


# ------------------------------------------------------------ the signed letter: PDF and delivery


class LetterheadForm(FlaskForm):
    coalition_name = StringField("Coalition name on the letterhead",
                                 validators=[Optional(), Length(max=200)])
    logo = FileField("Logo on the letterhead (PNG or JPEG, at most 2 MB)",
                     validators=[FileAllowed(["png", "jpg", "jpeg"], "A PNG or JPEG image.")])
    remove_logo = BooleanField("Remove the logo")
    closing = TextAreaField("Closing line", validators=[Optional(), Length(max=300)],
                            description="Printed under the body, for example “Respectfully,”; "
                                        "leave it empty if the body ends with one.")
    delivery_emails = TextAreaField("Recipients’ email addresses",
                                    description="One a line; they get the final PDF if the box "
                                                "below is ticked.")
    deliver_by_email = BooleanField("Email the final PDF to these addresses on delivery")
    save = SubmitField("Save")


class DeliverForm(FlaskForm):
    notify = BooleanField("Tell the signatories by email that the letter was delivered",
                          default=True)
    confirm = BooleanField("I have checked the PDF: close the letter and deliver it",
                           validators=[DataRequired("Tick this box to confirm.")])
    submit = SubmitField("Close and deliver")


@bp.get("/letters/<slug>/letter.pdf")
def export_pdf(slug: str) -> ResponseReturnValue:
    """The signed letter as a download: the delivered copy once delivered, else the current one."""
    letter = letter_or_404(slug)
    try:
        pdf = delivery.letter_pdf(letter)
    except PdfUnavailable as exc:
        return pdf_unavailable(exc)
    return pdf_download(pdf, f"{letter.slug}.pdf")


def pdf_download(pdf: Pdf, filename: str) -> Response:
    response = Response(pdf.data, mimetype="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    response.set_etag(pdf.etag)
    return response


def pdf_unavailable(exc: PdfUnavailable) -> tuple[str, int, dict[str, str]]:
    return render_template("error.html", code=503, title="The PDF is not ready",
                           message=f"{str(exc).capitalize()}. Try again in a minute."), \
        503, {"Retry-After": "60"}


@bp.route("/letters/<slug>/deliver", methods=["GET", "POST"])
def deliver_page(slug: str) -> ResponseReturnValue:
    """Letterhead, closing and recipients; a look at the PDF; then close and deliver."""
    letter = letter_or_404(slug)
    record = delivery.delivery_of(letter)
    form = LetterheadForm(obj=letter)
    if record is None and form.validate_on_submit():
        try:
            logo = form.logo.data.read() if form.logo.data else None
            delivery.set_letterhead(letter, form.coalition_name.data or "", form.closing.data or "",
                                    logo, remove_logo=bool(form.remove_logo.data))
            delivery.set_recipients(letter, form.delivery_emails.data or "",
                                    bool(form.deliver_by_email.data))
        except UploadRejected as exc:
            form.logo.errors = [str(exc)]
        except delivery.DeliveryError as exc:
            form.delivery_emails.errors = [str(exc)]
        else:
            db.session.commit()
            flash("Saved. Download the PDF to see it.", "success")
            return redirect(url_for("admin.deliver_page", slug=letter.slug), code=303)
        db.session.rollback()
        letter = letter_or_404(slug)
    status = 422 if request.method == "POST" else 200
    return render_template(
        "admin/deliver.html", letter=letter, record=record, form=form, close=DeliverForm(),
        counts=signing.status_counts(letter),
        addendum=delivery.addendum_count(letter, record) if record else 0,
    ), status


@bp.post("/letters/<slug>/deliver/close")
def close_and_deliver(slug: str) -> ResponseReturnValue:
    letter = letter_or_404(slug)
    form = DeliverForm()
    if not form.validate_on_submit():
        flash("Tick the box to confirm that you have checked the PDF.", "error")
        return redirect(url_for("admin.deliver_page", slug=letter.slug), code=303)
    try:
        record = delivery.deliver(letter, organizer_id=current_user.id,
                                  notify_signatories=bool(form.notify.data))
    except (delivery.DeliveryError, PdfUnavailable) as exc:
        db.session.rollback()
        flash(f"Nothing was delivered: {exc}", "error")
        return redirect(url_for("admin.deliver_page", slug=letter.slug), code=303)
    db.session.commit()
    flash(f"Closed and delivered with {record.signatory_count} signatories.", "success")
    return redirect(url_for("admin.deliver_page", slug=letter.slug), code=303)


@bp.get("/letters/<slug>/delivery.zip")
def delivery_package(slug: str) -> ResponseReturnValue:
    """The final package: the delivered PDF, the private contacts CSV and the delivery record."""
    letter = letter_or_404(slug)
    record = delivery.delivery_of(letter)
    if record is None:
        abort(404)
    return Response(delivery.package(letter, record), mimetype="application/zip",
                    headers={"Content-Disposition":
                             f'attachment; filename="{letter.slug}-delivered.zip"'})


@bp.app_template_global("delivery_summary")
def delivery_summary(letter: Letter) -> delivery.Summary | None:
    """For the public letter page: when and with how many signatories the letter was delivered."""
    return delivery.summary(letter)
