"""Public pages: open letters, the sign form, confirming, the signer list and its exports."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf
from sqlalchemy import text

from .. import (
    delivery,
    i18n,
    letters,
    listing,
    pagecache,
    partners,
    sharing,
    signing,
    tokens,
    translations,
)
from ..database import writing
from ..errors import BadToken, LetterNotOpen, SigningError
from ..extensions import db
from ..fields import ActionForm
from ..forms import ConfirmForm, IndividualSignForm, ResendForm, SignForm, caught_by_trap
from ..i18n import current_language
from ..models import Letter, Partner, Signature
from ..signing import SignerInput

bp = Blueprint("public", __name__)


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


@bp.get("/favicon.ico")
def favicon() -> ResponseReturnValue:
    """Browsers and feed readers ask for /favicon.ico whatever a page links: the icon, not a 404.
    (The pages link static/favicon.svg.) Its bytes, not a file stream a client may leave open."""
    icon = Path(current_app.static_folder or "", "favicon.ico").read_bytes()
    return Response(icon, mimetype="image/vnd.microsoft.icon",
                    headers={"Cache-Control": "public, max-age=86400"})


def stamped(slug: str) -> tuple[listing.Stamp, listing.ListState]:
    """The public letter's stamp and its list's state (one query), or 404."""
    found = listing.stamped(slug)
    if found is None:
        abort(404)
    return found


def listed_letter(slug: str) -> Letter:
    """A public letter whose list is public, or 404: a collecting letter's count, list, exports
    and PDF are not, until it opens."""
    letter = public_letter(slug)
    if not letter.list_is_public():
        abort(404)
    return letter


def listed_stamped(slug: str) -> tuple[listing.Stamp, listing.ListState]:
    """As stamped(), for the pages of a list that is public (listed_letter)."""
    stamp, listed = stamped(slug)
    if not stamp.list_is_public():
        abort(404)
    return stamp, listed


def robots(status: str) -> dict[str, str]:
    """The headers of a letter's pages: a collecting letter is kept out of search engines."""
    return {"X-Robots-Tag": "noindex"} if status == "collecting" else {}


@bp.route("/letters/<slug>", methods=["GET", "POST"])
def letter(slug: str) -> ResponseReturnValue:
    if request.method == "GET":
        return _first_view(slug)
    # the form the page showed, said by its address, in the language it was shown in (its
    # hidden `lang`: i18n.py); nothing is read before sign(), which refuses a kind of signer
    # the letter does not take
    form: SignForm | IndividualSignForm = (
        IndividualSignForm() if _wants_individual() else SignForm())
    problem = None
    partner = partners.ref_from_request(slug)  # the first partner the visitor came with
    if form.validate_on_submit():
        try:  # checked, and its mail limits read, before the writing unit, which holds
            sent = signing.submission(  # SQLite's write lock for the inserts only
                _signer_input(form, partner), ip=request.remote_addr,
                honeypot=caught_by_trap(form, request.form))
            with writing():
                outcome = signing.sign(slug, sent)
        except LetterNotOpen as exc:
            problem = str(exc)
        except SigningError as exc:
            form.email.errors = [str(exc)]
        else:  # no readable email in the cookie: the typed address, sealed, for the next page
            session["signed"] = tokens.seal(outcome.email)
            return redirect(url_for("public.check_email", slug=slug), code=303)
    letter = public_letter(slug)
    if problem is None and not letter.accepts_signatures():
        problem = signing.closed_message(letter)
    own = _sign_form(letter, _wants_individual())
    if type(form) is not type(own):  # the other kind's form: the letter's own, with what was typed
        form = own
    listed = listing.state(letter)
    return _letter_page(letter, form, listed.total, problem, individuals=listed.individuals,
                        partner=partner), 422, robots(letter.status)


def _first_view(slug: str) -> ResponseReturnValue:
    """The letter with a blank sign form. For every anonymous visitor it is the same page but
    for the CSRF token until the letter, its list, or whether it takes signatures changes
    (the delivery it shows is the letter's change and the list's): kept (pagecache.py), one
    per partner whose code the form carries (a visit through a partner's link)."""
    stamp, listed = stamped(slug)
    i18n.use_stamp(stamp)
    individual = _wants_individual()
    partner = partners.ref_from_request(slug)
    key = ("letter", stamp.id, stamp.updated_at, stamp.status, listed.revision,
           stamp.accepts_signatures(), individual, stamp.share_image,
           partner.code if partner else None)

    def make() -> str:
        letter = public_letter(slug)
        return _letter_page(letter, _sign_form(letter, individual), listed.total,
                            individuals=listed.individuals, partner=partner)

    page = pagecache.page_with_token(key, generate_csrf(), make)
    return page, 200, robots(stamp.status)


def _wants_individual() -> bool:
    """Whether the visitor asked for the form for individuals (`?as=individual`)."""
    return request.args.get("as") == "individual"


def _sign_form(letter: Letter, individual: bool, *,
               cookieless: bool = False) -> SignForm | IndividualSignForm:
    """The form the letter's page shows: the one for individuals where it was asked for (and the
    letter takes them) or where the letter takes only individuals; else the organizations'.
    `cookieless`: without Flask-WTF's CSRF token, which lives in the session cookie (the embed's
    form carries its own, embeds.form_token)."""
    meta = {"csrf": False} if cookieless else {}
    if letter.takes_individuals() and (individual or not letter.takes_organizations()):
        return IndividualSignForm(meta=meta)
    return SignForm(meta=meta)


def _letter_page(letter: Letter, form: SignForm | IndividualSignForm, count: int,
                 problem: str | None = None, *, individuals: int = 0,
                 partner: Partner | None = None) -> str:
    """`count` signatories listed, `individuals` of them individuals; the form carries the
    code of the `partner` the visitor came with (`ref`)."""
    text = translations.text(letter, current_language())
    return render_template(
        "public/letter.html", letter=letter, text=text, body=text.body_html, form=form,
        count=count, individuals=individuals, problem=problem, delivered=delivery.summary(letter),
        individual=isinstance(form, IndividualSignForm),
        share=sharing.card(letter, count, individuals), ref=partner.code if partner else None)


def _signer_input(form: SignForm | IndividualSignForm,
                  partner: Partner | None = None) -> SignerInput:
    """What the form sent, with the partner whose link the signer came through and the
    language they signed in (and so read the letter in, when it has a text in it: sign())."""
    signer = _individual_input(form, partner) if isinstance(form, IndividualSignForm) \
        else _organization_input(form, partner)
    return dataclasses.replace(signer, language=current_language(),
                               text_language=current_language())


def _organization_input(form: SignForm, partner: Partner | None = None) -> SignerInput:
    return SignerInput(
        organization=form.organization.data or "", email=form.email.address,
        contact_name=form.contact_name.data or "", contact_title=form.contact_title.data or "",
        phone=form.phone.data or "", website=form.website.data or "", city=form.city.data or "",
        region=form.region.data or "", country=form.country.data or "",
        scope=form.scope.data or "local", keep_updated=bool(form.keep_updated.data),
        partner_id=partner.id if partner is not None else None,
    )


def _individual_input(form: IndividualSignForm, partner: Partner | None = None) -> SignerInput:
    """A person signing for themselves: listed by their name (which is also the contact's), with
    their title and affiliation, after every organization (scope "individual")."""
    name = form.name.data or ""
    return SignerInput(
        organization=name, contact_name=name, contact_title=form.title.data or "",
        affiliation=form.affiliation.data or "", email=form.email.address,
        city=form.city.data or "", region=form.region.data or "",
        country=form.country.data or "", scope="individual",
        keep_updated=bool(form.keep_updated.data),
        partner_id=partner.id if partner is not None else None,
    )


@bp.get("/letters/<slug>/check-email")
def check_email(slug: str) -> str:
    """After signing: the address the signer typed, unsealed from the session; never read from
    the database, so the page cannot tell what it holds (signed, held, dropped)."""
    letter = public_letter(slug)
    i18n.use_stamp(letter)
    return render_template("public/check_email.html", letter=letter,
                           email=tokens.unseal(session.get("signed")), form=ResendForm())


@bp.route("/letters/<slug>/resend", methods=["GET", "POST"])
def resend(slug: str) -> ResponseReturnValue:
    letter = public_letter(slug)
    i18n.use_stamp(letter)
    form = ResendForm()
    if form.validate_on_submit():
        with writing():
            signing.resend(letter, form.email.data or "", ip=request.remote_addr)
        # the page at once, the typed address in it: nothing in the cookie, which would say
        # whether the address signed
        return render_template("public/check_email.html", letter=letter,
                               email=form.email.data, form=form)
    status = 422 if request.method == "POST" else 200
    return render_template("public/resend.html", letter=letter, form=form), status


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> str | tuple[str, int]:
    try:
        signature = tokens.signature_for_token(token)
        i18n.use_signer(signature.language)
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
        return _already(signature)
    if request.method == "POST" and form.validate_on_submit():
        try:
            with writing():
                made = signing.confirm(signature)
        except LetterNotOpen as exc:
            return render_template("public/bad_link.html", message=str(exc), letter=None,
                                   form=None), 409
        return _confirmed(signature, made)
    return render_template("public/confirm.html", letter=letter, signature=signature, form=form)


SEND_LINK = "send-link"  # the value of the button that asks for the link by email


def _already(signature: Signature) -> str:
    """A confirm link opened again, the signature confirmed already (or since rejected or
    withdrawn): its state, and a button that mails a fresh link to the signer's own page to the
    signature's address (signing.send_own_link). Never a link on the page: the confirm link
    lasts, and is kept wherever the email was read or stored; and a GET writes nothing, so a mail
    scanner opening it does nothing. The answer to the button is the same whatever happened."""
    form = ActionForm()
    sent = False
    if request.method == "POST" and request.form.get("action") == SEND_LINK \
            and form.validate_on_submit():
        with writing():
            signing.send_own_link(signature, ip=request.remote_addr)
        sent = True
    return _confirmed(signature, None, form=form, sent=sent)


def _confirmed(signature: Signature, token: str | None, *, form: ActionForm | None = None,
               sent: bool = False) -> str:
    """The page after confirming, with the signer's link to their own page that confirming
    made (and mailed in the receipt); without it (`token` None) when the signature was
    confirmed already (_already). It asks the signer to share the letter, once the letter is
    public (sharing.py)."""
    return render_template(
        "public/confirmed.html", letter=signature.letter, signature=signature,
        already=token is None, manage_url=url_for("signer.page", token=token) if token else None,
        form=form, sent=sent, send_link=SEND_LINK,
        share=sharing.links(signature.letter) if signature.letter.list_is_public() else None)
