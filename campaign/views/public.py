"""Public pages: open letters, the sign form, confirming, the signer list and its exports."""
from __future__ import annotations

import json
from datetime import datetime

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from .. import database, delivery, letters, listing, render, signing
from ..extensions import db
from ..forms import ConfirmForm, ResendForm, SignForm
from ..markup import markdown_to_html
from ..models import Letter, Signature
from ..render import grouped
from ..signing import BadToken, LetterNotOpen, SignerInput, SigningError

bp = Blueprint("public", __name__)
PAGE_SIZE = 200
JSON_PAGE_SIZE = 200


def public_letter(slug: str) -> Letter:
    letter = letters.get_letter(slug)
    if letter is None or not letter.is_public():
        abort(404)
    return letter


@bp.get("/")
def index() -> str:
    return render_template("public/index.html", letters=letters.open_letters(),
                           closed=letters.closed_letters())


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any database failure means "not healthy"
        db.session.rollback()
        return {"status": "database unavailable"}, 503
    return {"status": "ok"}, 200


@bp.route("/letters/<slug>", methods=["GET", "POST"])
def letter(slug: str) -> ResponseReturnValue:
    if request.method == "POST":
        database.read_first()  # the form is checked before the write lock is taken
    letter = public_letter(slug)
    form = SignForm()
    problem = None
    if request.method == "POST":
        if not letter.accepts_signatures():
            problem = signing.closed_message(letter)
        elif form.validate_on_submit():
            data = _signer_input(form)
            database.write_next()
            try:
                outcome = signing.sign(letter, data, ip=request.remote_addr,
                                       honeypot=bool(form.leave_empty.data))
            except LetterNotOpen as exc:
                problem = str(exc)
            except SigningError as exc:
                form.email.errors = [str(exc)]
            else:
                # read before the commit expires them: reading after it would begin another
                # transaction, which on SQLite takes the write lock again
                email, next_page = outcome.signature.email, url_for("public.check_email",
                                                                    slug=letter.slug)
                db.session.commit()
                session["signed_email"] = email
                return redirect(next_page, code=303)
    return render_template(
        "public/letter.html", letter=letter, body=markdown_to_html(letter.body), form=form,
        count=listing.count(letter), problem=problem,
    ), (422 if request.method == "POST" else 200)


def _signer_input(form: SignForm) -> SignerInput:
    return SignerInput(
        organization=form.organization.data or "", email=form.email.data,
        contact_name=form.contact_name.data or "", contact_title=form.contact_title.data or "",
        phone=form.phone.data or "", website=form.website.data or "", city=form.city.data or "",
        region=form.region.data or "", country=form.country.data or "",
        scope=form.scope.data or "local", keep_updated=bool(form.keep_updated.data),
    )


@bp.get("/letters/<slug>/check-email")
def check_email(slug: str) -> str:
    letter = public_letter(slug)
    return render_template("public/check_email.html", letter=letter,
                           email=session.get("signed_email"), form=ResendForm())


@bp.route("/letters/<slug>/resend", methods=["GET", "POST"])
def resend(slug: str) -> ResponseReturnValue:
    letter = public_letter(slug)
    form = ResendForm()
    if form.validate_on_submit():
        signing.resend(letter, form.email.data or "")
        db.session.commit()
        session["signed_email"] = form.email.data
        return redirect(url_for("public.check_email", slug=letter.slug), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("public/resend.html", letter=letter, form=form), status


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> str | tuple[str, int]:
    try:
        signature = signing.signature_for_token(token)
    except BadToken as exc:
        letter = None
        if exc.signature_id is not None:
            expired = db.session.get(Signature, exc.signature_id)
            letter = expired.letter if expired and expired.letter.is_public() else None
        return render_template("public/bad_link.html", message=str(exc), letter=letter,
                               form=ResendForm(), open_letters=letters.open_letters()), 400
    letter = signature.letter
    form = ConfirmForm()
    if signature.status != "unconfirmed":
        return render_template("public/confirmed.html", letter=letter, signature=signature,
                               already=True)
    if request.method == "POST" and form.validate_on_submit():
        try:
            signing.confirm(signature)
        except LetterNotOpen as exc:
            return render_template("public/bad_link.html", message=str(exc), letter=None,
                                   form=None), 409
        db.session.commit()
        return render_template("public/confirmed.html", letter=letter, signature=signature,
                               already=False)
    return render_template("public/confirm.html", letter=letter, signature=signature, form=form)


# ------------------------------------------------------------------ the public list


@bp.get("/letters/<slug>/signers")
def signers(slug: str) -> str:
    letter = public_letter(slug)
    search = request.args.get("q", "")[:100].strip()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    total = listing.count(letter, search)
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    page = min(page, pages)
    rows = listing.page(letter, search, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return render_template(
        "public/signers.html", letter=letter, groups=grouped(rows), total=total,
        search=search, page=page, pages=pages,
    )


@bp.get("/letters/<slug>/signers.csv")
def signers_csv(slug: str) -> ResponseReturnValue:
    letter = public_letter(slug)
    return Response(
        stream_with_context(signing.csv_lines(signing.export_rows(letter),
                                              columns=signing.public_fields(letter))),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{letter.slug}-signatories.csv"'},
    )


@bp.get("/letters/<slug>/signers.json")
def signers_json(slug: str) -> ResponseReturnValue:
    """The list as JSON, JSON_PAGE_SIZE signatories a page. "count" is always the whole list's;
    a list longer than a page adds "page", "pages" and "next" (the next page's address, or
    null on the last), so a list of one page reads exactly as before pages existed."""
    letter = public_letter(slug)
    total = listing.count(letter)
    pages = max((total + JSON_PAGE_SIZE - 1) // JSON_PAGE_SIZE, 1)
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    rows = listing.page(letter, offset=(page - 1) * JSON_PAGE_SIZE, limit=JSON_PAGE_SIZE)
    payload: dict[str, object] = {
        "letter": letter.slug, "title": letter.title, "count": total,
        "signatories": [signing.public_row(s, contact=letter.show_contact_names)  # type: ignore[arg-type]
                        for s in rows]}
    if pages > 1:
        payload.update(page=page, pages=pages, next=url_for(
            "public.signers_json", slug=letter.slug, page=page + 1, _external=True)
            if page < pages else None)
    body = json.dumps(payload, ensure_ascii=False)  # < > & escaped: the same JSON, never a tag
    body = body.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Response(body, mimetype="application/json")


@bp.get("/letters/<slug>/addendum.pdf", defaults={"part": "addendum"})
@bp.get("/letters/<slug>.pdf", defaults={"part": "letter"})  # registered first: url_for's default
def letter_pdf(slug: str, part: str = "letter") -> ResponseReturnValue:
    """The signed letter (the delivered copy, byte for byte, once delivered), or the addendum of
    signatories listed after delivery; cached, with an ETag so a reload costs nothing."""
    letter = public_letter(slug)
    try:
        pdf = delivery.addendum_pdf(letter) if part == "addendum" else delivery.letter_pdf(letter)
    except render.PdfUnavailable as exc:
        return render_template("error.html", code=503, title="The PDF is not ready",
                               message=f"{str(exc).capitalize()}. Try again in a minute."), \
            503, {"Retry-After": "60"}
    if pdf is None:
        abort(404)
    name = f"{letter.slug}-addendum.pdf" if part == "addendum" else f"{letter.slug}.pdf"
    response = Response(pdf.data, mimetype="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{name}"'})
    response.set_etag(pdf.etag)
    response.cache_control.no_cache = True
    return response.make_conditional(request)


@bp.app_template_filter("local_time")
def local_time(moment: datetime | None) -> str:
    if moment is None:
        return ""
    zone = current_app.config["TZ"]
    return moment.astimezone(zone).strftime("%B %-d, %Y, %-I:%M %p %Z")


@bp.app_template_filter("local_date")
def local_date(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(current_app.config["TZ"]).strftime("%B %-d, %Y")
