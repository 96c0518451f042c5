"""Embeds on partner sites: the origins a letter lets frame its sign form, the embedded form's
own token (a frame may keep no cookie, so Flask-WTF's CSRF token cannot work there), and the
count badge."""
from __future__ import annotations

import re
from collections.abc import Iterable

from flask import current_app, render_template
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from markupsafe import escape

from .errors import LetterError, StaleEmbedForm
from .models import Letter

ANY = "*"  # every site may frame the embed
MAX_ORIGINS = 100
# scheme://host[:port]: a DNS name or an IPv4 address, or an IPv6 address in brackets; nothing
# else, so that an origin can never add a word or a directive to the Content-Security-Policy.
ORIGIN_RE = re.compile(r"^(https?)://([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
                       r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\])"
                       r"(?::([0-9]{1,5}))?$")
FORM_SALT = "embed-form"
FORM_MAX_AGE = 6 * 3600  # seconds an embedded form may stay open before it is sent


# ------------------------------------------------------------------ the origins


def check_origin(text: str) -> str:
    """One origin as a Content-Security-Policy source: `https://partner.example.org`, or with a
    port; lowercased; a trailing "/" dropped. LetterError names what is wrong."""
    origin = text.strip().lower().removesuffix("/")
    match = ORIGIN_RE.match(origin)
    if match is None:
        if "://" not in origin or origin.split("://", 1)[0] not in ("http", "https"):
            problem = _("it must start with https:// or http://")
        elif any(mark in origin.split("://", 1)[1] for mark in "/?#"):
            problem = _("an origin has no path, query or fragment: only scheme, host and port")
        else:
            problem = _("it must be a scheme, a host name and at most a port")
        raise LetterError(_("embed origin %(origin)s is not an origin such as "
                            "https://partner.example.org: %(problem)s",
                            origin=repr(text.strip()), problem=problem))
    port = match.group(3)
    if port is not None and not 0 < int(port) < 65536:
        raise LetterError(_("embed origin %(origin)s has a port outside 1 to 65535",
                            origin=repr(text.strip())))
    return origin


def check_origins(values: Iterable[str]) -> str:
    """Origins as the letter keeps them: one a line, checked, without repeats; or "*" alone
    (every site). Blank entries are skipped."""
    given = [value.strip() for value in values if value.strip()]
    if ANY in given:
        if len(given) > 1:
            raise LetterError(_('embed origins: "*" already lets every site frame the form; '
                                "give it alone, or list the origins without it"))
        return ANY
    if len(given) > MAX_ORIGINS:
        raise LetterError(_('embed origins: at most %(most)d origins (or "*" for any)',
                            most=MAX_ORIGINS))
    return "\n".join(dict.fromkeys(check_origin(value) for value in given))


def origins_from_file(value: object) -> str:
    """The front matter's `embed_origins`: a list of origins, or "*" (a single origin written
    as text is taken as a list of one)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return check_origins([value])
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return check_origins(value)
    raise LetterError(_('embed_origins must be a list of origins (- https://partner.example.org) '
                        'or "*"'))


def origins_for_file(letter: Letter) -> str | list[str] | None:
    """The letter's origins as its file writes them: "*", a list, or None for none."""
    origins = origin_list(letter)
    if origins == [ANY]:
        return ANY
    return origins or None


def origin_list(letter: Letter) -> list[str]:
    return [line for line in (letter.embed_origins or "").splitlines() if line]


def frame_ancestors(letter: Letter) -> str:
    """The `frame-ancestors` sources of the letter's embed. `*` matches every http: and https:
    page (CSP 3: a lone `*` matches the network schemes), which is every partner site; no
    origins: 'none', so the embed can be looked at but not framed."""
    return " ".join(origin_list(letter)) or "'none'"


# ------------------------------------------------------------------ the form's own token


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=FORM_SALT)


def form_token(slug: str) -> str:
    """The hidden token of an embedded sign form of the letter at `slug`: signed, dated, for
    that letter only. It proves the form came from this site, as the CSRF token does on the
    full page, without a cookie; the verification email is what proves the signer."""
    return str(_serializer().dumps(slug))


def check_form_token(token: str | None, slug: str) -> None:
    """StaleEmbedForm unless `token` is form_token(slug), made within FORM_MAX_AGE."""
    if not token or len(token) > 500:
        raise StaleEmbedForm(_("This form could not be checked. Please send it again."))
    try:
        signed_for = _serializer().loads(token, max_age=FORM_MAX_AGE)
    except SignatureExpired:
        raise StaleEmbedForm(_("This form was open too long. Please check it and send it "
                               "again.")) from None
    except BadSignature:
        raise StaleEmbedForm(_("This form could not be checked. Please send it again.")) \
            from None
    if signed_for != slug:
        raise StaleEmbedForm(_("This form could not be checked. Please send it again."))


# ------------------------------------------------------------------ what sites paste


def frame_snippet(letter: Letter, url: str) -> str:
    """The HTML of a frame showing the embed at `url` (partners.embed_snippet adds a partner's
    code to it)."""
    return (f'<iframe src="{escape(url)}" title="{escape(letter.title)}" width="100%" '
            'height="900" style="border:0" loading="lazy"></iframe>')


def badge_snippet(letter: Letter, badge_url: str, letter_url: str) -> str:
    """The HTML of the count badge, linking to the letter."""
    alt = _("%(title)s: signatories", title=letter.title)
    return (f'<a href="{escape(letter_url)}"><img src="{escape(badge_url)}" '
            f'alt="{escape(alt)}" height="20"></a>')


# ------------------------------------------------------------------ the count badge

CHAR_WIDTH = 6.6  # pixels per character of 11px Verdana or DejaVu Sans, on average
PADDING = 8


def badge_svg(title: str, label: str, value: str) -> str:
    """A badge "<label> | <value>" (such as "signed by | 12 organizations"), its accessible name
    the letter's title and both; the text is escaped by the template."""
    left = round(len(label) * CHAR_WIDTH) + 2 * PADDING
    right = round(len(value) * CHAR_WIDTH) + 2 * PADDING
    return render_template("public/count.svg", title=title, label=label, value=value,
                           left=left, right=right, padding=PADDING)
