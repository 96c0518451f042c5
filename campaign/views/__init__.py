"""Registers every blueprint, the error pages and the security headers in one place."""
from __future__ import annotations

from flask import Flask, Response, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter, ValidationError

from .. import listing, roles
from ..extensions import db
from ..text import DIGITS, parse_id
from . import (
    admin,
    auth,
    delivery,  # noqa: F401 - the signed letter's organizer pages, on the admin blueprint
    embed,
    history,  # noqa: F401 - versions and history, on the admin blueprint
    lists,  # noqa: F401 - the public list, its exports and PDFs, on the public blueprint
    mail,  # noqa: F401 - the Mail page, on the admin blueprint
    organizers,
    partners,  # noqa: F401 - the Partners page's routes, on the admin blueprint
    public,
    reconsent,
    signer,
    updates,
)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class IdConverter(BaseConverter):
    """`<id:name>`: a row id in an address, 1 to text.MAX_ID in ASCII digits; anything else is
    no address (404), never a number the database cannot hold."""

    regex = DIGITS.pattern

    def to_python(self, value: str) -> int:
        number = parse_id(value)
        if number is None:
            raise ValidationError()
        return number

    def to_url(self, value: object) -> str:
        return str(int(value))  # type: ignore[call-overload]


def init_app(app: Flask) -> None:
    app.url_map.converters["id"] = IdConverter
    app.register_blueprint(public.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(signer.bp)
    app.register_blueprint(reconsent.bp)
    app.register_blueprint(updates.bp)
    app.register_blueprint(updates.signers)
    app.register_blueprint(embed.bp)
    app.register_blueprint(organizers.bp)
    app.register_blueprint(organizers.invitations)
    roles.init_app(app)  # the role check before every organizer page, whichever blueprint
    app.after_request(security_headers)
    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(OperationalError, database_unavailable)
    app.add_template_global(listing.tally)  # counts in words, on pages and in the PDF
    app.add_template_global(listing.tally_text)


# Pages with what only their one reader may see (an organizer's pages and downloads, a signer's
# own details, any answer to a form): no browser or proxy may keep a copy.
PRIVATE_BLUEPRINTS = {"admin", "auth", "updates", "unsubscribe", "signer", "reconsent",
                      "organizers", "invitation"}
PRIVATE_ENDPOINTS = {"public.check_email", "public.resend", "public.confirm"}
# Pages whose address carries a secret token (a signer's link, an unsubscribe or confirm link,
# an invitation): not even this site's own pages, the letter and its PDF followed from there,
# are told the address, so that no access log keeps it.
TOKEN_BLUEPRINTS = {"signer", "reconsent", "unsubscribe", "invitation"}
TOKEN_ENDPOINTS = {"public.confirm"}


def security_headers(response: Response) -> Response:
    headers = response.headers
    if request.blueprint in PRIVATE_BLUEPRINTS or request.endpoint in PRIVATE_ENDPOINTS \
            or request.method == "POST":  # an answer to a form may show what was typed in it
        headers["Cache-Control"] = "no-store"
    # Only the embed (views/embed.py) says who may frame it (embed.FRAME_ANCESTORS: the
    # letter's embed_origins); every other page, an error page too, refuses every frame.
    ancestors = request.environ.get(embed.FRAME_ANCESTORS)
    headers.setdefault("Content-Security-Policy", CSP if ancestors is None else CSP.replace(
        "frame-ancestors 'none'", f"frame-ancestors {ancestors}"))
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer" if request.blueprint in TOKEN_BLUEPRINTS
                       or request.endpoint in TOKEN_ENDPOINTS else "same-origin")
    if ancestors is None:  # X-Frame-Options has no value for "these sites": CSP says it alone
        headers.setdefault("X-Frame-Options", "DENY")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def csrf_error(error: CSRFError) -> tuple[str, int]:
    return render_template("error.html", code=400, title="This form has expired",
                           message="Your session ended or the form was open too long. Go back, "
                                   "reload the page and send it again."), 400


def database_unavailable(error: OperationalError) -> tuple[str, int, dict[str, str]]:
    """The database is down or locked for too long: say so, and let the next request reconnect."""
    db.session.rollback()
    current_app.logger.error("database unavailable: %s", str(error.orig).splitlines()[0])
    return render_template("error.html", code=503, title="Please try again in a minute",
                           message="The site is busy or being maintained. Nothing you sent was "
                                   "saved; please send it again shortly."), \
        503, {"Retry-After": "30"}


def http_error(error: HTTPException) -> tuple[str, int] | HTTPException:
    if error.code is None or error.code < 400:
        return error
    titles = {404: "Page not found", 405: "Not allowed", 413: "Too much data",
              429: "Too many requests"}
    return render_template("error.html", code=error.code,
                           title=titles.get(error.code, error.name),
                           message=error.description), error.code
