"""Organizer pages: letters, versions, moderation, imports, exports, delivery and mail."""
from __future__ import annotations

from typing import BinaryIO

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
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge

from .. import (
    audit,
    dates,
    embeds,
    imports,
    letter_files,
    letters,
    listing,
    markup,
    moderation,
    partners,
    reconsent,
    renders,
    retention,
    roles,
    signer_changes,
    spreadsheets,
)
from ..admin_forms import ImportForm, LetterForm, RenameForm
from ..database import writing
from ..errors import (
    ImportProblem,
    LetterError,
)
from ..extensions import db
from ..fields import ActionForm
from ..i18n import _l
from ..letters import LetterText
from ..models import Letter, Signature
from ..text import parse_ids

bp = Blueprint("admin", __name__, url_prefix="/admin")
MODERATION_ROWS = 500  # rows on one moderation tab; deciding them brings up the next ones
TABS = {
    "pending": _l("Awaiting approval"),
    "unconfirmed": _l("Unconfirmed"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "held": _l("Held"),
    "withdrawn": _l("Withdrawn"),
    "requested": _l("Asked to be withdrawn"),
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
    if letter is not None and request.method == "GET":
        form.deadline.data = dates.deadline_text(letter.deadline)
        form.publish_at.data = dates.moment_text(letter.publish_at)
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


def _letter_text(form: LetterForm, letter: Letter | None) -> LetterText | None:
    """The form's values as LetterText, or None with the problems set on the fields."""
    zone = current_app.config["TZ"]
    try:
        title = letters.check_title(form.title.data or "")
    except LetterError as exc:
        form.title.errors = [str(exc).capitalize() + "."]
        return None
    slug = form.slug.data or (letter.slug if letter else letters.slugify(form.title.data or ""))
    try:
        deadline = dates.parse_deadline(form.deadline.data, zone)
    except LetterError as exc:
        form.deadline.errors = [str(exc)]
        return None
    if form.publish_at.data and form.status.data != "collecting":
        form.publish_at.errors = [_("Only a collecting letter opens by itself: empty this, or "
                                    "choose Collecting.")]
        return None
    try:
        publish_at = letters.check_publish_at(form.publish_at.data, "collecting", zone)
    except LetterError as exc:
        form.publish_at.errors = [str(exc)]
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


# ------------------------------------------------------------------ moderation


@bp.get("/letters/<slug>/signatures")
def signatures(slug: str) -> str:
    letter = letter_or_404(slug)
    tab = request.args.get("status", "pending")
    if tab not in TABS:
        tab = "pending"
    scope = roles.partner_scope(letter)  # a partner's role sees its own signatories only
    every_partner = partners.all_for(letter)
    shown = next((p for p in every_partner if p.code == request.args.get("partner")), None)
    # ?partner=<code>: what one partner brought
    partner_id = scope if scope is not None or shown is None else shown.id
    rows = moderation.queue(letter, tab, limit=MODERATION_ROWS, partner_id=partner_id)
    same_org = moderation.org_counts(letter, (s.org_key for s in rows))
    return render_template(
        "admin/signatures.html", letter=letter, rows=rows, tab=tab, tabs=TABS,
        counts=moderation.status_counts(letter, partner_id),
        partners=every_partner, shown_partner=shown, scoped=scope is not None,
        flags={s.id: moderation.flags(s, same_org.get(s.org_key, 0)) for s in rows},
        action=ActionForm(), rename=RenameForm(), upload=ImportForm(),
        importing=imports.active(letter),
    )


@bp.post("/letters/<slug>/signatures/<id:signature_id>/<any(approve, reject):verb>")
def decide_one(slug: str, signature_id: int, verb: str) -> ResponseReturnValue:
    letter = letter_or_404(slug)
    if ActionForm().validate_on_submit():
        with writing():
            changed = moderation.decide(letter, [signature_id], approve=verb == "approve")
        flash(_decided(verb, changed), "success")
    return _back_to_list(letter)


@bp.post("/letters/<slug>/signatures/bulk")
def decide_many(slug: str) -> ResponseReturnValue:
    letter = letter_or_404(slug)
    ids = parse_ids(request.form.getlist("ids"))
    verb = request.form.get("verb", "")
    verbs = ("approve", "reject", "release")
    if ids is None:
        flash(_("That selection names no signature; nothing was changed."), "error")
        return _back_to_list(letter)
    if not ActionForm().validate_on_submit() or not ids or verb not in verbs:
        flash(_("Select at least one signature, then choose what to do."), "error")
        return _back_to_list(letter)
    unmailed = 0
    with writing():
        if verb == "release":
            changed, unmailed = moderation.release(letter, ids)
        else:
            changed = moderation.decide(letter, ids, approve=verb == "approve")
    flash(_decided(verb, changed), "success")
    if unmailed:
        flash(ngettext("%(num)d of them got no verification email: their mailbox had enough mail "
                       "from the campaign for now. They can ask for a new link on the letter's "
                       "page.", "%(num)d of them got no verification email: their mailbox had "
                       "enough mail from the campaign for now. They can ask for a new link on "
                       "the letter's page.", unmailed), "info")
    return _back_to_list(letter)


def _decided(verb: str, changed: int) -> str:
    """What a decision on `changed` signatures says (one sentence a verb, for the translators)."""
    if verb == "approve":
        return ngettext("Approved %(num)d signature(s).", "Approved %(num)d signature(s).",
                        changed)
    if verb == "reject":
        return ngettext("Rejected %(num)d signature(s).", "Rejected %(num)d signature(s).",
                        changed)
    return ngettext("Released %(num)d signature(s).", "Released %(num)d signature(s).", changed)


@bp.post("/letters/<slug>/signatures/<id:signature_id>/rename")
def rename(slug: str, signature_id: int) -> ResponseReturnValue:
    letter = letter_or_404(slug)
    form = RenameForm()
    if not form.validate_on_submit():
        flash(_("A name can have at most 300 characters."), "error")
        return _back_to_list(letter)
    with writing():
        signature = db.session.get(Signature, signature_id)
        if signature is None or signature.letter_id != letter.id:
            abort(404)
        moderation.rename(signature, form.display_name.data or "")
        shown = signature.shown_name
    flash(_("Now shown as “%(name)s”.", name=shown), "success")
    return _back_to_list(letter)


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
        flash(_("Choose a .csv file to import."), "error")
        return _back_to_list(letter)
    upload = form.file.data
    approved = bool(form.approved.data)
    try:
        data = upload.stream.read(current_app.config["IMPORT_MAX_BYTES"] + 1)
        spreadsheets.check_size(len(data))
        started = imports.start(letter, spreadsheets.decode_csv(data), approved,
                                organizer_id=current_user.id, filename=upload.filename or "")
    except ImportProblem as exc:
        flash(_("Nothing was imported: %(problems)s", problems="; ".join(exc.problems[:10])),
              "error")
        return _back_to_list(letter)
    if started.queued is not None:
        return redirect(url_for("admin.import_progress", slug=letter.slug,
                                import_id=started.queued), code=303)
    flash(ngettext("Imported %(num)d signatories.", "Imported %(num)d signatories.",
                   started.count), "success")
    return redirect(url_for("admin.signatures", slug=letter.slug,
                            status="approved" if approved else "pending"), code=303)


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


@bp.app_template_global()
def contacts_notice(letter: Letter) -> str | None:
    """What the letter's organizer pages say of when its contact details are erased."""
    return retention.notice(letter)
