"""What a PDF shows, as HTML (pure, testable without WeasyPrint): the letter with its signatories
in one document, or, for a long list, the letter and the list's pages in parts (see sheets.py)."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

import nh3
from flask import render_template
from markupsafe import Markup

from .. import markup
from ..dates import local_date
from ..listing import Listed
from ..models import SCOPE_LABELS, Letter, utcnow
from ..uploads import UPLOAD_NAME
from . import sheets
from .writer import ASSET_ORIGIN

log = logging.getLogger(__name__)

PARTS_FROM = 1000  # signatories from which the list is cut into sheets and rendered in parts
PART_SIGNATORIES = 800  # at most, a part's share: what one process lays out and holds at once
LIST_TITLES = {"pdf/letter.html": "Signatories", "pdf/addendum.html": "Additional signatories"}


def grouped(signatories: Iterable[Listed]) -> list[tuple[str, list[Listed]]]:
    """Signatories under their scope headings, in listing order, empty groups left out."""
    return [(SCOPE_LABELS[scope], list(items))
            for scope, items in groupby(signatories, key=lambda s: s.scope)]


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
    """The HTML that becomes the PDF. Signatories must come in listing order; every value is
    escaped by the template except the body, which is sanitized Markdown."""
    rows = list(signatories)
    extra.setdefault("count", len(rows))
    return render_template(template, body=pdf_body(letter.body_html), groups=grouped(rows),
                           **page_context(letter, when), **extra)


def page_context(letter: Letter, when: datetime | None) -> dict[str, Any]:
    """What every PDF template's frame (pdf/_page.html) shows."""
    moment = when or utcnow()
    return {
        "letter": letter,
        "show_contacts": letter.show_contact_names,
        "date": local_date(moment),
        "created": moment.astimezone(utcnow().tzinfo),
        "author": letter.coalition_name or "The undersigned organizations",
        "logo_url": f"{ASSET_ORIGIN}uploads/{letter.logo_file}" if letter.logo_file else None,
        "asset_origin": ASSET_ORIGIN,
    }


# ------------------------------------------------------------------ a long list, in parts


@dataclass(frozen=True)
class Job:
    """What a PDF is rendered from: one HTML document, or for a long list the letter's and its
    sheets' in parts (`pages`: how many pages each part after the letter must come to), with
    `whole`, the one document to render instead should the parts not come out as planned."""

    parts: list[str]
    pages: list[int]
    title: str = ""
    whole: Callable[[], str] | None = None


def job(letter: Letter, entries: Sequence[Listed], when: datetime, *,
        template: str = "pdf/letter.html", title: str = "", **extra: Any) -> Job:
    """The letter with its signatories: in one document, or, from PARTS_FROM signatories, the
    letter alone and the list cut into sheets (sheets.py), in parts of up to PART_SIGNATORIES
    (smaller, so that every core has a part, for a list of less than that per core)."""

    def whole() -> str:
        return letter_html(letter, entries, when, template=template, **extra)

    if len(entries) < PARTS_FROM:
        return Job([whole()], [])
    try:
        cut = sheets.paginate(grouped(entries), letter.show_contact_names)
    except sheets.Unmeasurable as exc:
        log.warning("a long list in one pass: %s", exc)
        return Job([whole()], [])
    parts = [letter_html(letter, [], when, template=template, count=len(entries), **extra)]
    pages: list[int] = []
    for share in _shares(cut, min(PART_SIGNATORIES, -(-len(entries) // workers()))):
        parts.append(render_template(
            "pdf/sheets.html", sheets=share, opens_list=not pages, continued=True,
            list_title=LIST_TITLES.get(template, "Signatories"), count=len(entries),
            **page_context(letter, when)))
        pages.append(len(share))
    return Job(parts, pages, title or letter.title, whole)


def _shares(cut: Sequence[sheets.Sheet], size: int) -> Iterator[list[sheets.Sheet]]:
    """Consecutive sheets holding about `size` signatories together."""
    share: list[sheets.Sheet] = []
    held = 0
    for sheet in cut:
        share.append(sheet)
        held += sheet.entries
        if held >= size:
            yield share
            share, held = [], 0
    if share:
        yield share


def workers() -> int:
    """Processes to render parts in: one per core this process may run on, up to four."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 4))
