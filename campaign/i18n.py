"""The interface's language: Flask-Babel, its catalogs (campaign/translations) and how a request
chooses English or Spanish.

A visitor's choice comes first: `?lang=es` on any page (or the language a posted sign form was
shown in, its hidden `lang` field); then an organizer's own language on the
organizer pages; then the choice kept in the `lang` cookie; then, on a signer's own pages (the
links of their emails), the language they signed in; then the browser's `Accept-Language`. On a
letter's pages (use_letter) a browser language the letter has no text in gives way to the
letter's own language, so a Spanish-only letter is not framed by an English interface. Without a
request (the worker, the command line), the language is what the caller forces (force_locale: a
signer's emails are in the language they signed in) or, on the command line, the environment's
LANGUAGE / LC_ALL / LANG.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, g, has_request_context, request
from flask_babel import Babel, get_locale, gettext, refresh
from flask_babel.speaklater import LazyString
from flask_login import current_user
from markupsafe import escape

TRANSLATIONS = Path(__file__).parent / "translations"
DEFAULT = "en"
# The interface's languages, each named in itself (the language switch shows them so).
LANGUAGES = {"en": "English", "es": "Español"}
COOKIE = "lang"
COOKIE_DAYS = 365
VARY = ("Cookie", "Accept-Language")

babel = Babel()
log = logging.getLogger(__name__)


class LazyText(LazyString):
    """A text translated where it is shown, in the language of the page or message (form
    labels, module-level names). Escaped there as a plain string is: Flask-Babel's LazyString
    passes itself off as HTML (`__html__`), which would put "/letters/<slug>" in a page as a
    tag."""

    def __html__(self) -> str:
        return str(escape(str(self)))


def _l(string: str) -> LazyText:
    """`string` translated when shown (lazy_gettext, escaped: LazyText)."""
    return LazyText(gettext, string)


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    compile_catalogs()
    babel.init_app(app, locale_selector=select_locale,
                   timezone_selector=lambda: app.config["TIMEZONE"])
    app.before_request(refresh)  # each request chooses anew (a test's app context outlives one)
    app.after_request(_remember_choice)
    app.jinja_env.globals.update(interface_languages=LANGUAGES, language_name=language_name,
                                 current_language=current_language, url_in_language=url_in_language)


def known(code: str | None) -> str | None:
    """`code` as one of LANGUAGES ("es-MX" -> "es"), or None."""
    if not code:
        return None
    base = code.strip().replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def select_locale() -> str:
    if not has_request_context():  # the command line, the worker (which forces its own)
        return cli_language()
    chosen = known(request.args.get("lang")) or _posted_language()
    if chosen:
        return chosen
    if request.path.startswith("/admin") and current_user and current_user.is_authenticated:
        own = known(getattr(current_user, "language", None))
        if own:
            return own
    chosen = known(request.cookies.get(COOKIE))
    if chosen:
        return chosen
    if g.get("signer_language"):
        return str(g.signer_language)
    offered: Iterable[str] = g.get("letter_languages") or LANGUAGES
    best = request.accept_languages.best_match(list(offered))
    if best:
        return best
    return g.get("letter_language") or DEFAULT


def _posted_language() -> str | None:
    """The language a posted form was shown in (its hidden `lang` field: the sign forms), so
    that its answer, and the messages of its fields, are in it without reading the letter."""
    if request.method != "POST" or request.mimetype != "application/x-www-form-urlencoded":
        return None
    try:
        return known(request.form.get("lang"))
    except Exception:  # a body too large or malformed: its own error answers it
        return None


def use_letter(language: str, translations: Iterable[str] = ()) -> None:
    """The request shows a letter in `language` with texts in `translations` too: a browser
    language among them wins, otherwise the letter's own language (see the module's notes)."""
    offered = [code for code in (language, *translations) if code in LANGUAGES]
    g.letter_language = language if language in LANGUAGES else DEFAULT
    g.letter_languages = offered or [g.letter_language]
    refresh()


def use_signer(language: str) -> None:
    """The request is a signer's own (a link from their email): their language, unless the
    visitor chose one."""
    g.signer_language = known(language)
    refresh()


def use_stamp(stamp: Any) -> None:
    """use_letter for a listing.Stamp or a Letter."""
    languages = stamp.languages()
    use_letter(languages[0], languages[1:])


def current_language() -> str:
    found = get_locale()
    return found.language if found is not None else DEFAULT


def language_name(code: str) -> str:
    """"es" -> "Español": a language named in itself, whatever the interface's language."""
    if code in LANGUAGES:
        return LANGUAGES[code]
    try:
        return Locale.parse(code).get_display_name(code) or code
    except (ValueError, TypeError):
        return code


def url_in_language(code: str) -> str:
    """This page's address choosing `code`."""
    args = request.args.to_dict(flat=False)
    args["lang"] = [code]
    return request.path + "?" + urlencode(args, doseq=True)


def _remember_choice(response):  # type: ignore[no-untyped-def]
    chosen = known(request.args.get("lang"))
    if chosen and request.cookies.get(COOKIE) != chosen:
        response.set_cookie(COOKIE, chosen, max_age=COOKIE_DAYS * 86400, samesite="Lax",
                            secure=request.is_secure, httponly=True)
    # a page's language follows the cookie and the browser's: caches keep one per language
    response.vary.update(VARY)
    return response


def cli_language() -> str:
    """The command line's language, from the environment as gettext reads it."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        for part in os.environ.get(name, "").split(":"):
            code = known(part.split(".")[0])
            if code:
                return code
    return DEFAULT


def compile_catalogs(directory: Path = TRANSLATIONS, force: bool = False) -> list[Path]:
    """Compile each catalog whose .mo is missing or older than its .po (the install does it;
    this keeps a working copy right after `git pull` or an edit). Returns those compiled; a
    folder that cannot be written (an installed package) is left as it is."""
    made = []
    for po in sorted(directory.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if not force and mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        try:
            with po.open("rb") as source:
                catalog = read_po(source, locale=po.parent.parent.name)
            with mo.open("wb") as target:
                write_mo(target, catalog)
        except OSError as exc:
            log.warning("could not compile %s: %s", po, exc)
            continue
        made.append(mo)
    return made
