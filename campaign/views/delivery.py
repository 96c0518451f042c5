"""Organizer pages of the signed letter: its PDF, the letterhead and recipients, closing and
delivering it, the delivered package. On the admin blueprint (its login and role checks)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from .. import (
    addendum,
    audit,
    dates,
    delivery,
    moderation,
    renders,
    uploads,
)
from ..admin_forms import AddendumForm, DeliverForm, LetterheadForm, ReopenForm
from ..database import writing
from ..errors import (
    DeliveryError,
    DeliveryUnderway,
    LetterError,
    UploadRejected,
)
from ..fields import ActionForm
from ..models import Delivery, Letter
from .admin import audit_export, bp, letter_or_404
from .lists import pdf_answer

# ------------------------------------------------------------ the signed letter: PDF and delivery


@bp.get("/letters/<slug>/letter.pdf")
def export_pdf(slug: str) -> ResponseReturnValue:
    """The signed letter as a download: the delivered copy once delivered, else the newest the
    worker made (never rendered here)."""
    letter = letter_or_404(slug)
    return pdf_answer(letter, delivery.letter_pdf(letter), f"{letter.slug}.pdf", "attachment")


@bp.post("/letters/<slug>/pdf/refresh")
def refresh_pdf(slug: str) -> ResponseReturnValue:
    """Ask the worker to make the letter's PDF again (after a failed render)."""
    letter = letter_or_404(slug)
    if ActionForm().validate_on_submit():
        with writing():
            renders.want(letter)
            audit.record(letter, "letter.pdf_refresh", letter.title)
        flash(_("The PDF will be made again shortly."), "success")
    return redirect(_referring_page(url_for("admin.deliver_page", slug=letter.slug)), code=303)


def _referring_page(default: str) -> str:
    """The organizer page the form was sent from: its path alone, never an address built from
    the request's headers (Referer, Host); `default` when it was no organizer page."""
    parts = urlsplit(request.referrer or "")
    if not parts.path.startswith("/admin/") or "\\" in parts.path:
        return default
    return parts.path + (f"?{parts.query}" if parts.query else "")


@bp.route("/letters/<slug>/deliver", methods=["GET", "POST"])
def deliver_page(slug: str) -> ResponseReturnValue:
    """Letterhead, closing and recipients; a look at the PDF; then close and deliver."""
    letter = letter_or_404(slug)
    record = delivery.delivery_of(letter)
    form = LetterheadForm(obj=letter)
    if record is None and form.validate_on_submit():
        by_email = bool(form.deliver_by_email.data)
        try:  # the logo decoded and the addresses checked before the writing unit
            logo = uploads.check_image(form.logo.data.read()) if form.logo.data else None
            recipients = delivery.checked_recipients(form.delivery_emails.data or "", by_email)
            with writing():
                delivery.set_letterhead(letter, form.coalition_name.data or "",
                                        form.closing.data or "", logo,
                                        remove_logo=bool(form.remove_logo.data))
                delivery.set_recipients(letter, recipients, by_email)
        except UploadRejected as exc:
            form.logo.errors = [str(exc)]
        except DeliveryUnderway as exc:
            flash(str(exc), "error")
            return redirect(url_for("admin.deliver_page", slug=letter.slug), code=303)
        except DeliveryError as exc:
            form.delivery_emails.errors = [str(exc)]
        else:
            flash(_("Saved. Download the PDF to see it."), "success")
            return redirect(url_for("admin.deliver_page", slug=letter.slug), code=303)
        letter = letter_or_404(slug)
    status = 422 if request.method == "POST" else 200
    return _deliver_page(letter, record, form, status)


def _deliver_page(letter: Letter, record: Delivery | None, form: LetterheadForm,
                  status: int = 200, reopen: ReopenForm | None = None,
                  emailing: AddendumForm | None = None) -> ResponseReturnValue:
    """The deliver page; after delivery, with the forms that reopen the letter for an addendum
    and email the addendum (`reopen`, `emailing`: as sent, with their problems)."""
    if emailing is None:
        emailing = AddendumForm(formdata=None)
        emailing.addresses.data = (record.emailed_to if record and record.emailed_to
                                   else "\n".join(letter.recipient_addresses()))
    reopen = reopen or ReopenForm(formdata=None)
    reopen.deadline.description = _("Date and time in the %(zone)s time zone.",
                                     zone=dates.zone_name())
    return render_template(
        "admin/deliver.html", letter=letter, record=record, form=form, close=DeliverForm(),
        counts=moderation.status_counts(letter), state=renders.state(letter), action=ActionForm(),
        addendum=delivery.addendum_count(letter, record.id) if record else 0,
        reopen=reopen, emailing=emailing, addendum_ready=addendum.fresh_addendum(letter),
        last_emailed=addendum.last_emailed(letter) if record else None,
    ), status


@bp.post("/letters/<slug>/deliver/reopen")
def reopen_letter(slug: str) -> ResponseReturnValue:
    """Reopen a delivered letter for an addendum: explicit (a box to tick), audited."""
    letter = letter_or_404(slug)
    record = delivery.delivery_of(letter)
    form = ReopenForm()
    if form.validate_on_submit():
        try:
            deadline = dates.parse_deadline(form.deadline.data, current_app.config["TZ"])
            with writing():
                addendum.reopen(letter, deadline)
        except LetterError:
            form.deadline.errors = [_("Give a date and time, such as 2026-06-30 17:00 (%(zone)s "
                                      "time).", zone=dates.zone_name())]
        except DeliveryError as exc:
            form.deadline.errors = [str(exc)]
        else:
            flash(_("The letter is open again. Signatories approved from now on go into the "
                    "addendum; the delivered letter stays as it was delivered."), "success")
            return redirect(url_for("admin.deliver_page", slug=letter.slug), code=303)
    letter = letter_or_404(slug)
    return _deliver_page(letter, record, LetterheadForm(obj=letter, formdata=None), 422,
                         reopen=form)


@bp.post("/letters/<slug>/deliver/addendum")
def email_addendum(slug: str) -> ResponseReturnValue:
    """Email the addendum, the PDF attached, to the addresses given (the recipients')."""
    letter = letter_or_404(slug)
    record = delivery.delivery_of(letter)
    form = AddendumForm()
    if form.validate_on_submit():
        try:
            with writing():
                sent = addendum.email(letter, form.addresses.data or "")
        except DeliveryError as exc:
            form.addresses.errors = [str(exc)]
        else:
            flash(ngettext("The addendum is being emailed to %(num)d address.",
                           "The addendum is being emailed to %(num)d addresses.", sent),
                  "success")
            return redirect(url_for("admin.deliver_page", slug=letter.slug), code=303)
    letter = letter_or_404(slug)
    return _deliver_page(letter, record, LetterheadForm(obj=letter, formdata=None), 422,
                         emailing=form)


@bp.post("/letters/<slug>/deliver/close")
def close_and_deliver(slug: str) -> ResponseReturnValue:
    """Close the letter and queue its delivery: the worker makes the final PDF, then records the
    delivery and sends its emails; the deliver page shows the progress."""
    letter = letter_or_404(slug)
    form = DeliverForm()
    if not form.validate_on_submit():
        flash(_("Tick the box to confirm that you have checked the PDF."), "error")
        return redirect(url_for("admin.deliver_page", slug=letter.slug), code=303)
    try:
        with writing():
            delivery.request(letter, organizer_id=current_user.id,
                             notify_signatories=bool(form.notify.data))
    except DeliveryError as exc:
        flash(_("Nothing was delivered: %(reason)s", reason=str(exc)), "error")
    else:
        flash(_("The letter is closed. Its final PDF is being made; the delivery is recorded "
                "when it is done."), "success")
    return redirect(url_for("admin.deliver_page", slug=letter.slug), code=303)


@bp.post("/letters/<slug>/deliver/retry")
def retry_delivery(slug: str) -> ResponseReturnValue:
    letter = letter_or_404(slug)
    if ActionForm().validate_on_submit():
        try:
            with writing():
                delivery.retry(letter)
        except DeliveryError as exc:
            flash(_("Nothing was delivered: %(reason)s", reason=str(exc)), "error")
        else:
            flash(_("The delivery will be tried again shortly."), "success")
    return redirect(url_for("admin.deliver_page", slug=letter.slug), code=303)


@bp.get("/letters/<slug>/delivery.zip")
def delivery_package(slug: str) -> ResponseReturnValue:
    """The final package: the delivered PDF, the private contacts CSV and the delivery record."""
    letter = letter_or_404(slug)
    record = delivery.delivery_of(letter)
    if record is None:
        abort(404)
    package = delivery.package(letter, record)
    audit_export(letter, f"{letter.slug}-delivered.zip")
    return Response(package, mimetype="application/zip",
                    headers={"Content-Disposition":
                             f'attachment; filename="{letter.slug}-delivered.zip"'})
