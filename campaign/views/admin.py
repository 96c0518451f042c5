"""Organizer pages: letters, imports, exports and the letter file (the moderation pages are in
views/moderation.py)."""
from __future__ import annotations

from datetime import datetime, time

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
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import login_required
from wtforms import StringField

from .. import (
    audit,
    dates,
    embeds,
    letter_files,
    letters,
    listing,
    markup,
    moderation,
    reconsent,
    renders,
    retention,
    roles,
    spreadsheets,
)
from ..admin_forms import LetterForm
from ..database import writing
from ..errors import (
    LetterError,
)
from ..extensions import db
from ..fields import ActionForm
from ..i18n import LANGUAGES, _l
from ..letters import LetterText
from ..models import Letter

bp = Blueprint("admin", __name__, url_prefix="/admin")


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
    """The letters the organizer has a role on (all, for a site administrator)."""
    rows = roles.visible_letters(letters.all_letters())
    counts = {letter.id: moderation.status_counts(letter, roles.partner_scope(letter))
              for letter in rows}
    states = {letter.id: renders.state(letter) for letter in rows}
    return render_template("admin/letters.html", letters=rows, counts=counts, states=states,
                           action=ActionForm())


# ------------------------------------------------------------------ writing letters


@bp.route("/letters/new", methods=["GET", "POST"])
def new_letter() -> ResponseReturnValue:
    return _letter_form(None)


@bp.route("/letters/<slug>/edit", methods=["GET", "POST"])
def edit_letter(slug: str) -> ResponseReturnValue:
    return _letter_form(letter_or_404(slug))


def _letter_form(letter: Letter | None) -> ResponseReturnValue:
    form = LetterForm(obj=letter)
    _zoned_form(form, letter)
    if letter is not None and request.method == "GET":
        form.deadline.data = dates.input_text(letter.deadline)
        form.publish_at.data = dates.input_text(letter.publish_at)
    preview = None
    if form.validate_on_submit():
        text = _letter_text(form, letter)  # its HTML is made here, before the writing unit
        if text is not None and form.preview.data:
            preview = markup.stored(text.body_html)
        elif text is not None and letter is not None and not form.text_change.data \
                and reconsent.needs_choice(letter, text):
            form.text_change.errors = [_("This letter has signatures: say whether the new text "
                                         "is a correction or a change.")]
        elif text is not None:
            # unasked (nobody has signed yet), a new text is a change: anyone who signed the old
            # one and confirms later is listed as having signed the earlier version
            kind = form.text_change.data or reconsent.CHANGE
            try:
                with writing():
                    done = reconsent.save(letter, text, kind, options={
                        "require_approval": bool(form.require_approval.data),
                        "show_contact_names": bool(form.show_contact_names.data)})
                    title, slug = done.letter.title, done.letter.slug
            except LetterError as exc:
                form.slug.errors = [str(exc)]
            else:
                if done.asked:
                    flash(ngettext("Saved “%(title)s”. %(num)d signer(s) are asked to confirm the "
                                   "new text.", "Saved “%(title)s”. %(num)d signer(s) are asked to "
                                   "confirm the new text.", done.asked, title=title), "success")
                else:
                    flash(_("Saved “%(title)s”.", title=title), "success")
                return redirect(url_for("admin.edit_letter", slug=slug), code=303)
    status = 422 if request.method == "POST" and preview is None else 200
    asks = letter is not None and letter.current_version is not None \
        and reconsent.has_signers(letter)
    return render_template("admin/letter_form.html", form=form, letter=letter,
                           preview=preview, asks_kind=asks), status


def _zoned_form(form: LetterForm, letter: Letter | None) -> None:
    """The parts of the letter form that depend on the campaign: its time zone, named next to
    the date-and-time fields, and the languages a letter may be in (the interface's, and the
    letter's own if it is another)."""
    zone = dates.zone_name()
    form.deadline.description = _("Date and time in the %(zone)s time zone; signing closes "
                                  "then. Empty: no deadline.", zone=zone)
    form.publish_at.description = _("For a collecting letter: when its count and list become "
                                    "public by themselves (%(zone)s time). Empty: when you open "
                                    "it by hand.", zone=zone)
    choices = dict(LANGUAGES)
    if letter is not None and letter.language not in choices:
        choices[letter.language] = letter.language
    form.language.choices = list(choices.items())


def _moment(field: StringField, kept: datetime | None, day_time: time) -> datetime | None:
    """A date-and-time field's value, read in the campaign's time zone; the moment `kept` as it
    was when the field still shows it (to the minute: the end of a day stays the end of it).
    LetterError with a message for the field."""
    try:
        moment = dates.parse_deadline(field.data, current_app.config["TZ"], day_time=day_time)
    except LetterError:
        raise LetterError(_("Give a date and time, such as 2026-06-30 17:00 (%(zone)s time), "
                            "between the years %(first)s and %(last)s.", zone=dates.zone_name(),
                            first=dates.FIRST_YEAR, last=dates.LAST_YEAR)) from None
    return kept if dates.same_minute(moment, kept) else moment


def _letter_text(form: LetterForm, letter: Letter | None) -> LetterText | None:
    """The form's values as LetterText, or None with the problems set on the fields."""
    try:
        title = letters.check_title(form.title.data or "")
    except LetterError as exc:
        form.title.errors = [str(exc).capitalize() + "."]
        return None
    slug = form.slug.data or (letter.slug if letter else letters.slugify(form.title.data or ""))
    try:
        deadline = _moment(form.deadline, letter.deadline if letter else None, time.max)
    except LetterError as exc:
        form.deadline.errors = [str(exc)]
        return None
    if form.publish_at.data and form.status.data != "collecting":
        form.publish_at.errors = [_("Only a collecting letter opens by itself: empty this, or "
                                    "choose Collecting.")]
        return None
    try:
        publish_at = _moment(form.publish_at, letter.publish_at if letter else None, time.min)
    except LetterError as exc:
        form.publish_at.errors = [str(exc)]
        return None
    if letter is not None:
        try:
            letters.check_delivered_status(letter, form.status.data or "draft")
        except LetterError as exc:
            form.status.errors = [str(exc)]
            return None
    try:
        language = letters.check_language(form.language.data or "en")
    except LetterError as exc:
        form.language.errors = [str(exc)]
        return None
    try:
        body = letters.clean_body(form.body.data or "")
    except LetterError as exc:
        form.body.errors = [str(exc).capitalize() + "."]
        return None
    try:
        embed_origins = embeds.check_origins((form.embed_origins.data or "").splitlines())
    except LetterError as exc:
        form.embed_origins.errors = [str(exc).capitalize() + "."]
        return None
    return LetterText(
        title=title, slug=slug,
        body=body,
        recipient=letters.clean_lines(form.recipient.data or ""), deadline=deadline,
        status=form.status.data or "draft",
        language=language, publish_at=publish_at,
        signers=form.signers.data or "organizations", embed_origins=embed_origins,
    )


@bp.get("/letters/<slug>/signatures.csv")
def export_csv(slug: str) -> ResponseReturnValue:
    letter = letter_or_404(slug)
    filename = f"{letter.slug}-contacts.csv"
    audit_export(letter, filename)
    rows = listing.stream(letter, private=True)
    return Response(
        stream_with_context(spreadsheets.csv_lines(rows, spreadsheets.PRIVATE_FIELDS)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def audit_export(letter: Letter, filename: str) -> None:
    """Who downloaded the signatories' contact details, and when: a read that is audited, in a
    short writing unit of its own before the file streams."""
    with writing():
        audit.record(letter, "contacts.export", filename)
    db.session.refresh(letter)  # as it was before the unit ended: the stream reads it later


# ------------------------------------------------------------ collecting letters; the letter file


@bp.post("/letters/<slug>/open")
def open_letter(slug: str) -> ResponseReturnValue:
    """Open a collecting letter to the public now: its count, list, exports and PDF appear."""
    letter = letter_or_404(slug)
    if ActionForm().validate_on_submit():
        with writing():
            opened = letters.open_to_public(letter)
        if opened:
            flash(_("The letter is open: its count and list of signatories are public now."),
                  "success")
        else:
            flash(_("The letter is not collecting (it was opened already): nothing changed."),
                  "info")
    return redirect(url_for("admin.edit_letter", slug=letter.slug), code=303)


@bp.get("/letters/<slug>/letter.md")
def letter_file(slug: str) -> ResponseReturnValue:
    """The letter as a letter file, which `campaign import-letter` reads back."""
    letter = letter_or_404(slug)
    return Response(letter_files.file_text(letter), mimetype="text/markdown",
                    headers={"Content-Disposition": f'attachment; filename="{letter.slug}.md"'})


STATE_LABELS = {"draft": _l("draft"), "collecting": _l("collecting"), "open": _l("open"),
                "closed": _l("closed")}


@bp.app_template_global()
def state_label(letter: Letter) -> str:
    """A letter's state (Letter.state) as the organizer pages name it; an open letter past its
    deadline is "closed (deadline passed)", so that nobody looks for who closed it."""
    state = letter.state()
    if state != letter.status:
        return _("closed (deadline passed)")
    return str(STATE_LABELS.get(state, state))


@bp.app_template_global()
def contacts_notice(letter: Letter) -> str | None:
    """What the letter's organizer pages say of when its contact details are erased."""
    return retention.notice(letter)
