"""A render: the letter with its list of signatories as one PDF, made of the letter's own pages
and the list's parts, each part kept (in a PartStore) under a key of exactly what it shows and
used again by the next render, then joined, and numbered in a last cheap step.

A short list (fewer than html.PARTS_FROM) is set after the letter in one document. A long one is
cut into stable parts (sheets.py): after one more approval, only the part the new name falls
into is laid out again, with the letter's own pages, which carry everything that changes with
every render (the count, the date and time it is as of). Page numbers ("Page N of M") are not in
any part: they are stamped onto the joined document, so that a part does not depend on where it
falls.

Every document of a render is rendered in one child process (child.py, writer.py), its parts in
forks of their own on every core, while the kept parts are read; a part that does not come out as
planned is rendered again in the layout of a short list, which WeasyPrint paginates itself. The
whole is joined and numbered by joining.py.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol

from flask import current_app
from pypdf.errors import PyPdfError

from ..listing import Listed
from ..models import Letter
from ..paths import STATIC, TEMPLATES
from . import html, sheets, writer
from .child import Document, render_documents, start_ahead
from .html import (
    LIST_TITLES,
    PartSettings,
    end_id,
    grouped,
    letter_html,
    part_html,
    workers,
)
from .joining import footer_text, join, prepare, read

log = logging.getLogger(__name__)

class PartStore(Protocol):
    """Where rendered parts are kept between renders."""

    def get(self, key: str) -> bytes | None: ...
    def put(self, key: str, data: bytes) -> None: ...


class MemoryStore:
    """Parts kept in a dict, for as long as the store lives (tests, the command line)."""

    def __init__(self) -> None:
        self.parts: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.parts.get(key)

    def put(self, key: str, data: bytes) -> None:
        self.parts[key] = data


@dataclass(frozen=True)
class Rendered:
    data: bytes  # the whole PDF
    pages: int
    parts: int  # how many parts the document was made of (the letter's own pages count as one)
    reused: int  # how many of them came from the store, not rendered now
    seconds: float


def render(letter: Letter, rows: Sequence[Listed], when: datetime, store: PartStore, *,
           images: Mapping[str, bytes] | None = None, template: str = "pdf/letter.html",
           title: str = "", footer: str | None = None, **extra: Any) -> Rendered:
    """The PDF of `letter` with its listed `rows` (in listing order) as of `when`, its list's
    parts taken from `store` where they are kept and put there when rendered now. `images`: the
    uploaded images it may show, by name (the letterhead's logo); `template`, `title` (for the
    footers of the list's pages; the letter's title if empty) and `extra` (for the template) as
    for the addendum; `footer`: the page numbers' text (joining.FOOTER in the language of the
    moment if not given). Slow: call it outside any unit."""
    started = time.monotonic()
    footer = footer or footer_text()
    start_ahead()  # WeasyPrint loads in the child while the documents are made here
    limit = float(current_app.config["PDF_TIMEOUT"])
    job = _Job(letter, rows, when, images or {}, template, title or letter.title, extra,
               started + limit, limit)
    if len(rows) < html.PARTS_FROM or not sheets.measurable():
        whole = letter_html(letter, rows, when, template=template, **extra)
        [data] = job.render([Document(whole)])
        assert data is not None  # a document with no plan always comes out as planned
        pdf, count = join([data], footer)
        return Rendered(pdf, count, 1, 0, time.monotonic() - started)
    try:
        pdf, count, parts, reused = _in_parts(job, store, footer)
    except PyPdfError:  # a kept part that cannot be read: render every part now, kept anew
        log.exception("a kept part of a PDF could not be read: rendering all its parts")
        pdf, count, parts, reused = _in_parts(job, _Renewing(store), footer)
    return Rendered(pdf, count, parts, reused, time.monotonic() - started)


@dataclass(frozen=True)
class _Job:
    """What a render is given."""

    letter: Letter
    rows: Sequence[Listed]
    when: datetime
    images: Mapping[str, bytes]
    template: str
    title: str
    extra: dict[str, Any]
    deadline: float  # time.monotonic() at which the whole render must be done
    limit: float  # the seconds it was given (CAMPAIGN_PDF_TIMEOUT)

    def render(self, documents: Sequence[Document]) -> list[bytes | None]:
        return render_documents(documents, self.images, self.deadline - time.monotonic(),
                                workers(), self.limit)


def _in_parts(job: _Job, store: PartStore, footer: str) -> tuple[bytes, int, int, int]:
    """The letter's own pages and its list's parts, those not kept rendered now (in one child,
    the longest first so that the cores finish together, while the kept ones are read) and
    kept; joined and numbered. Returns the PDF, its pages, its parts and how many were kept."""
    letter = job.letter
    parts = sheets.cut(grouped(job.rows))
    shows = PartSettings(letter.language, job.title,
                         str(LIST_TITLES.get(job.template, LIST_TITLES["pdf/letter.html"])),
                         letter.show_contact_names)
    keys = [part_key(part, shows) for part in parts]
    kept: list[Any] = [_get(store, key) for key in keys]
    missing = [n for n, data in enumerate(kept) if data is None]
    head = Document(letter_html(letter, [], job.when, template=job.template,
                                count=len(job.rows), individuals=sum(
                                    1 for row in job.rows if row.scope == "individual"),
                                **job.extra))
    planned = {n: _planned(parts[n], shows) for n in missing}
    order = sorted(missing, key=lambda n: -len(parts[n].rows))
    with ThreadPoolExecutor(max_workers=1) as pool:
        rendering = pool.submit(job.render, [head, *(planned[n] for n in order)])
        kept = [data if data is None else read(data) for data in kept]
        prepare(footer)
        letter_pages, *rendered = rendering.result()
    made = dict(zip(order, rendered, strict=True))
    astray = [n for n in missing if made[n] is None]
    if astray:
        log.warning("%d part(s) of a PDF did not come out as planned: set as a short list",
                    len(astray))
        made.update(zip(astray, job.render(
            [Document(part_html(parts[n], None, shows)) for n in astray]), strict=True))
    for n in missing:
        kept[n] = made[n]
        _put(store, keys[n], kept[n])
    assert letter_pages is not None and all(data is not None for data in kept)
    pdf, count = join([letter_pages, *kept], footer)
    return pdf, count, 1 + len(parts), len(parts) - len(missing)


def _planned(part: sheets.Part, shows: PartSettings) -> Document:
    """A part laid out ahead, with the plan the renderer checks it against."""
    pages = sheets.paginate(part, shows.show_contacts)
    ends = {end_id(p, c): p for p, page in enumerate(pages) for c in range(len(page.columns))}
    return Document(part_html(part, pages, shows), len(pages), ends)


# ------------------------------------------------------------------ keys and the store


@functools.cache
def revision() -> str:
    """Changes whenever anything that decides how a part looks does: the PDF templates, the
    print stylesheet, the code that lays it out and draws it (sheets.py, html.py, writer.py),
    WeasyPrint."""
    digest = hashlib.sha256(version("weasyprint").encode())
    code = [Path(module.__file__ or "") for module in (sheets, html, writer)]
    paths = [*sorted((TEMPLATES / "pdf").glob("*.html")), STATIC / "pdf.css", *code]
    for path in paths:
        digest.update(b"\0" + path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def part_key(part: sheets.Part, shows: PartSettings) -> str:
    """SHA-256 of exactly what a part shows: its entries as shown, its headings, the title in its
    footers, the letter's language and whether contacts are shown, and the revision of what lays
    them out. Not the date, the count or its place in the document: those are not in a part."""
    digest = hashlib.sha256()
    head = [revision(), shows.language, shows.title, shows.list_title if part.opens_list else "",
            part.heading or "", str(shows.show_contacts)]
    digest.update("\x1f".join(head).encode())
    for row in part.rows:
        contact = row.contact if shows.show_contacts else ""
        digest.update(f"\x1e{row.shown_name}\x1f{row.identification}\x1f{row.place}\x1f"
                      f"{contact}".encode())
    return digest.hexdigest()


class _Renewing:
    """A store whose kept parts are not used, only replaced by the parts rendered now."""

    def __init__(self, store: PartStore) -> None:
        self.store = store

    def get(self, key: str) -> bytes | None:
        return None

    def put(self, key: str, data: bytes) -> None:
        self.store.put(key, data)


def _get(store: PartStore, key: str) -> bytes | None:
    """A kept part, or None; a store that fails is a store without it (the part is rendered)."""
    try:
        return store.get(key)
    except Exception:
        log.exception("could not read a kept part of a PDF")
        return None


def _put(store: PartStore, key: str, data: bytes) -> None:
    """Keep a part; a store that fails only costs the next render its time."""
    try:
        store.put(key, data)
    except Exception:
        log.exception("could not keep a part of a PDF")
