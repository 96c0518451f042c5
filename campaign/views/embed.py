"""What partner sites put on their pages: a letter's sign form for a frame
(`/letters/<slug>/embed`), which only the origins the letter allows may frame, and its count
badge (`/letters/<slug>/count.svg`).

The embed signs exactly as the letter's page does (the same checks, spam traps, limits and
verification email) but keeps nothing in a cookie: a browser that blocks third-party cookies
keeps none for a frame on another site. So its form carries its own signed, dated token in place
of Flask-WTF's CSRF token (which lives in the session), the partner it came through rides in a
hidden field, and the answer is the check-email page itself, with the typed address in it."""
from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from .. import embeds, i18n, listing, pagecache, partners, signing, translations
from ..database import writing
from ..errors import LetterNotOpen, SigningError, StaleEmbedForm
from ..extensions import csrf
from ..forms import IndividualSignForm, SignForm, caught_by_trap
from ..i18n import current_language
from ..links import external_url
from ..listing import count_words
from ..models import Letter, Partner
from .public import (
    _sign_form,
    _signer_input,
    _wants_individual,
    listed_stamped,
    public_letter,
    robots,
)

bp = Blueprint("embed", __name__)
NO_CSRF = {"csrf": False}  # the embed's form carries embeds.form_token instead
# Where the embed's request says who may frame its answer (views.security_headers reads it): in
# the request's own environ, as `g` may outlive a request.
FRAME_ANCESTORS = "campaign.frame_ancestors"
BADGE_MAX_AGE = 60  # seconds a partner's page (or a proxy) may show a badge before asking again


@bp.route("/letters/<slug>/embed", methods=["GET", "POST"])
@csrf.exempt  # checked by its own token (embeds.check_form_token): a frame may keep no cookie
def form(slug: str) -> ResponseReturnValue:
    letter = public_letter(slug)
    i18n.use_stamp(letter)
    request.environ[FRAME_ANCESTORS] = embeds.frame_ancestors(letter)
    partner = partners.ref_from_request(slug)
    if request.method == "GET":
        return _first_view(letter, partner), 200, robots(letter.status)
    sent: SignForm | IndividualSignForm = (
        IndividualSignForm(meta=NO_CSRF) if _wants_individual() else SignForm(meta=NO_CSRF))
    problem, status = None, 422
    try:
        embeds.check_form_token(request.form.get("form_token"), slug)
    except StaleEmbedForm as exc:  # shown again with what was typed, and a fresh token
        problem, status = str(exc), 400
    else:
        if sent.validate_on_submit():
            try:  # as the letter's page signs (views/public.py letter())
                submission = signing.submission(_signer_input(sent, partner),
                                                ip=request.remote_addr,
                                                honeypot=caught_by_trap(sent, request.form))
                with writing():
                    outcome = signing.sign(slug, submission)
            except LetterNotOpen as exc:
                problem = str(exc)
            except SigningError as exc:
                sent.email.errors = [str(exc)]
            else:  # the page at once, the typed address in it: no cookie to carry it
                return render_template("public/embed_check_email.html", letter=letter,
                                       email=outcome.email), 200, robots(letter.status)
    if problem is None and not letter.accepts_signatures():
        problem = signing.closed_message(letter)
    own = _sign_form(letter, _wants_individual(), cookieless=True)
    if type(sent) is not type(own):  # the other kind's form: the letter's own
        sent = own
    return _page(letter, sent, partner, problem), status, robots(letter.status)


def _first_view(letter: Letter, partner: Partner | None) -> str:
    """The embed with a blank form: the same for every visitor through one partner but for the
    form's token, until the letter or its list changes (kept, as the letter's page is)."""
    listed = listing.state(letter)
    individual = _wants_individual()
    key = ("embed", letter.id, letter.updated_at, letter.status, listed.revision,
           letter.accepts_signatures(), individual, partner.code if partner else None)
    token = embeds.form_token(letter.slug)

    def make() -> str:
        return _page(letter, _sign_form(letter, individual, cookieless=True), partner,
                     token=token, listed=listed)

    return pagecache.page_with_token(key, token, make)


def _page(letter: Letter, form: SignForm | IndividualSignForm, partner: Partner | None,
          problem: str | None = None, *, token: str | None = None,
          listed: listing.ListState | None = None) -> str:
    listed = listed or listing.state(letter)
    return render_template(
        "public/embed.html", letter=letter, form=form, problem=problem,
        text=translations.text(letter, i18n.current_language()),
        individual=isinstance(form, IndividualSignForm), ref=partner.code if partner else None,
        form_token=token or embeds.form_token(letter.slug), count=listed.total,
        individuals=listed.individuals)


@bp.get("/letters/<slug>/count.svg")
def count_badge(slug: str) -> ResponseReturnValue:
    """"signed by | 12 organizations": from the kept counts, never counted here; kept per
    process until the list or the letter changes. 404 while the list is not public (a draft,
    a collecting letter)."""
    stamp, listed = listed_stamped(slug)

    def make() -> str:
        letter = public_letter(slug)
        return embeds.badge_svg(letter.title, _("signed by"), count_words(
            listed.organizations, listed.individuals, letter.signers))

    key = ("count.svg", stamp.id, stamp.updated_at, listed.revision, current_language())
    response = Response(pagecache.PAGES.get(key, make), mimetype="image/svg+xml")
    response.cache_control.public = True
    response.cache_control.max_age = BADGE_MAX_AGE
    revision = ".".join(f"{scope}{n}" for scope, n in listed.revision)
    response.set_etag(f"{stamp.id}-{stamp.updated_at.timestamp()}-{revision}")
    return response.make_conditional(request)


@bp.app_template_global()
def embed_snippets(letter: Letter) -> dict[str, str]:
    """What a site pastes into its pages, with addresses under CAMPAIGN_BASE_URL: "form", the
    letter's embed in a frame (the sites its embed_origins allow), and "badge", the count badge
    linking to the letter (any site)."""
    return {"form": embeds.frame_snippet(letter, external_url("embed.form", slug=letter.slug)),
            "badge": embeds.badge_snippet(letter,
                                          external_url("embed.count_badge", slug=letter.slug),
                                          external_url("public.letter", slug=letter.slug))}
