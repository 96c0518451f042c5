"""What a PDF shows, as HTML (pure, testable without WeasyPrint): the letter with its signatories
in one document, or, for a long list, the letter's own pages and the list's parts apart (see
sheets.py and assemble.py)."""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

import nh3
from flask import render_template
from flask_babel import gettext as _
from markupsafe import Markup

from .. import markup
from ..dates import local_date, local_time
from ..i18n import _l
from ..listing import Listed
from ..models import Letter, utcnow
from ..uploads import UPLOAD_NAME
from . import sheets
from .writer import ASSET_ORIGIN

PARTS_FROM = 400  # signatories from which the list is rendered in parts, apart from the letter
LIST_TITLES = {"pdf/letter.html": _l("Signatories"),
               "pdf/addendum.html": _l("Additional signatories")}


# The headings of the list's groups, as models.SCOPE_LABELS (in the language of the moment); the
# individuals' says what the star after an affiliation means (listing.Listed.identification).
GROUP_HEADINGS = {
    "national": _l("National organizations"),
    "state": _l("State and regional organizations"),
    "local": _l("Local organizations"),
    "international": _l("International organizations"),
    "individual": _l("Individuals (*affiliations for identification only)"),
}


def grouped(signatories: Iterable[Listed]) -> list[tuple[str, list[Listed]]]:
    """Signatories under their scope headings, in listing order (individuals after every
    organization; those who signed an earlier text after everyone, under headings that say
    so), empty groups left out."""
    return [(heading(scope, earlier), list(items))
            for (earlier, scope), items in groupby(signatories,
                                                   key=lambda s: (s.earlier, s.scope))]


def heading(scope: str, earlier: bool = False) -> str:
    """The heading of a group: its scope's, after "Signed an earlier version of this letter" for
    those who signed an earlier text of a letter whose text changed and have not confirmed the
    new one (agreed.Split): they are listed after all the others."""
    label = str(GROUP_HEADINGS[scope])
    if earlier:
        return _("Signed an earlier version of this letter: %(group)s", group=label)
    return label


def pdf_body(body_html: str) -> Markup:
    """The letter's stored HTML for print: sanitized again, its images only from uploads."""

    def keep(element: str, attribute: str, value: str) -> str | None:
        if element == "img" and attribute == "src":
            name = value.removeprefix(ASSET_ORIGIN).removeprefix("/")
            return name if name.startswith("uploads/") and UPLOAD_NAME.match(name[8:]) else None
        return value

    clean = nh3.clean(body_html, tags=markup.ALLOWED_TAGS, attributes=markup.ALLOWED_ATTRIBUTES,
                      url_schemes=markup.URL_SCHEMES, attribute_filter=keep, link_rel=None)
    return Markup(clean)  # noqa: S704 - sanitized twice: when it was saved, and just above


def letter_html(letter: Letter, signatories: Iterable[Listed], when: datetime | None = None,
                *, template: str = "pdf/letter.html", **extra: Any) -> str:
    """The HTML of the letter with its signatories (in listing order), as of `when`; with none
    given and a `count`, the letter's own pages, its list rendered apart. Every value is escaped
    by the template except the body, which is sanitized Markdown."""
    rows = list(signatories)
    extra.setdefault("count", len(rows))
    extra.setdefault("individuals", sum(1 for row in rows if row.scope == "individual"))
    return render_template(template, body=pdf_body(letter.body_html), groups=grouped(rows),
                           **page_context(letter, when), **extra)


def page_context(letter: Letter, when: datetime | None) -> dict[str, Any]:
    """What every PDF template's frame (pdf/_page.html) shows."""
    moment = when or utcnow()
    return {
        "letter": letter,
        "show_contacts": letter.show_contact_names,
        "date": local_date(moment),
        "as_of": local_time(moment),
        "created": moment.astimezone(utcnow().tzinfo),
        "author": letter.coalition_name or _("The undersigned organizations"),
        "logo_url": f"{ASSET_ORIGIN}uploads/{letter.logo_file}" if letter.logo_file else None,
        "asset_origin": ASSET_ORIGIN,
    }


@dataclass(frozen=True)
class PartSettings:
    """What the parts of a list show besides their entries: the letter's language, the title in
    their footers, the list's heading (on its first part), whether contacts are shown."""

    language: str
    title: str
    list_title: str
    show_contacts: bool


def part_html(part: sheets.Part, pages: Sequence[sheets.Page] | None,
              settings: PartSettings) -> str:
    """A part of a long list as a document of its own, showing nothing but what its key holds
    (assemble.py): its pages as planned (`pages`), or, as the fallback (None), its entries in
    rows of two as a short list is set, paginated by WeasyPrint."""
    return render_template("pdf/part.html", part=part, pages=pages, language=settings.language,
                           title=settings.title, list_title=settings.list_title,
                           title_css=Markup(css_string(settings.title)),  # noqa: S704 - escaped
                           show_contacts=settings.show_contacts, end_id=end_id,
                           asset_origin=ASSET_ORIGIN)


def end_id(page: int, column: int) -> str:
    """The id of the element that ends a column of a part's page (see writer.as_planned)."""
    return f"end-{page}-{column}"


def css_string(text: str) -> str:
    """`text` as a CSS string: every character but letters, digits and spaces escaped (so it is
    also safe inside a <style> element)."""
    return '"' + "".join(c if c.isalnum() or c == " " else f"\\{ord(c):x} " for c in text) + '"'


def workers() -> int:
    """Processes to render parts in: one per core this process may run on, up to four."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 4))

