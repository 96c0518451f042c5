"""Registers every blueprint, the error pages and the security headers in one place."""
from __future__ import annotations

from flask import Flask, Response, current_app, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter, ValidationError

from .. import listing, roles
from ..extensions import db
from ..i18n import _l
from ..text import DIGITS, parse_id
from . import (
    admin,
    auth,
    delivery,  # noqa: F401 - the signed letter's organizer pages, on the admin blueprint
    embed,
    history,  # noqa: F401 - versions and history, on the admin blueprint
    imports,  # noqa: F401 - a spreadsheet's upload, preview and import (admin blueprint)
    lists,  # noqa: F401 - the public list, its exports and PDFs, on the public blueprint
    mail,  # noqa: F401 - the Mail page, on the admin blueprint
    moderation,  # noqa: F401 - the moderation work queue, on the admin blueprint
    organizers,
    partners,  # noqa: F401 - the Partners page's routes, on the admin blueprint
    public,
    reconsent,
    signature_edit,  # noqa: F401 - editing and merging a signature, on the admin blueprint
    signer,
    translations,  # noqa: F401 - a letter's translations, an organizer's language (admin blueprint)
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
    app.add_template_global(listing.count_words)  # counts as sentences, translated


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
    return render_template("error.html", code=400, title=_("This form has expired"),
                           message=_("Your session ended or the form was open too long. Go back, "
                                     "reload the page and send it again.")), 400


def database_unavailable(error: OperationalError) -> tuple[str, int, dict[str, str]]:
    """The database is down or locked for too long: say so, and let the next request reconnect."""
    db.session.rollback()
    current_app.logger.error("database unavailable: %s", str(error.orig).splitlines()[0])
    return render_template("error.html", code=503, title=_("Please try again in a minute"),
                           message=_("The site is busy or being maintained. Nothing you sent was "
                                     "saved; please send it again shortly.")), \
        503, {"Retry-After": "30"}


def http_error(error: HTTPException) -> tuple[str, int] | HTTPException:
    if error.code is None or error.code < 400:
        return error
    titles = {400: _("Bad Request"), 401: _("Unauthorized"), 403: _("Forbidden"),
              404: _("Page not found"), 405: _("Not allowed"), 409: _("Conflict"),
              410: _("Gone"), 413: _("Too much data"), 422: _("Unprocessable Entity"),
              429: _("Too many requests"), 500: _("Internal Server Error"),
              503: _("Service Unavailable")}
    message = error.description
    if message == type(error).description:  # Werkzeug's own words, in the interface's language
        message = DESCRIPTIONS.get(error.code, message)
    return render_template("error.html", code=error.code,
                           title=titles.get(error.code, error.name),
                           message=message), error.code


# What Werkzeug says of an error, word for word, to translate: a description that an abort()
# gave is shown as it is.
DESCRIPTIONS = {
    400: _l("The browser (or proxy) sent a request that this server could not understand."),
    403: _l("You don't have the permission to access the requested resource. It is either "
            "read-protected or not readable by the server."),
    404: _l("The requested URL was not found on the server. If you entered the URL manually "
            "please check your spelling and try again."),
    405: _l("The method is not allowed for the requested URL."),
    409: _l("A conflict happened while processing the request. The resource might have been "
            "modified while the request was being processed."),
    413: _l("The data value transmitted exceeds the capacity limit."),
    429: _l("This user has exceeded an allotted request count. Try again later."),
    500: _l("The server encountered an internal error and was unable to complete your request. "
            "Either the server is overloaded or there is an error in the application."),
    503: _l("The server is temporarily unable to service your request due to maintenance "
            "downtime or capacity problems. Please try again later."),
}
