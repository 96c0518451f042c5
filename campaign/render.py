"""The signed letter: letter -> HTML (pure, testable) -> PDF (in a child process, cached on disk).

letter_html() builds the HTML from plain values. The PDF step runs `pdfwriter.py` in a child
process with a time limit (PDF_TIMEOUT), so WeasyPrint's memory is returned when the child ends and
a runaway render is killed. PDFs are cached in `<instance>/pdf-cache/` under a fingerprint of what
they show (letter text and settings, date, listed signatories, templates); a file lock per letter
makes concurrent requests for a stale PDF, from any worker process on the host, render it once.
"""
from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import Any

import nh3
from flask import current_app, render_template
from markupsafe import Markup

from . import markup, sheets, signing
from .extensions import db
from .models import SCOPE_LABELS, Letter, Signature, utcnow
from .paths import STATIC, TEMPLATES
from .pdfwriter import ASSET_ORIGIN, RefusedURL, html_to_pdf
from .sheets import Listed

__all__ = ["ASSET_ORIGIN", "RefusedURL", "html_to_pdf", "letter_html", "current_pdf"]

log = logging.getLogger(__name__)
WRITER = Path(__file__).with_name("pdfwriter.py")
UPLOAD_NAME = re.compile(r"^[0-9a-f]{32}\.(?:png|jpg)$")
IMAGE_MAX_BYTES = 2 * 1024 * 1024
IMAGE_MAX_SIDE = 6000
FAILURE_PAUSE = 60  # seconds after a failed render before the same PDF is tried again


class PdfUnavailable(Exception):
    """The PDF cannot be made right now (too slow, or the renderer failed); the message says why."""


class PartsDidNotFit(PdfUnavailable):
    """A part of a long list's PDF did not come out with the pages planned for it."""


class UploadRejected(ValueError):
    """An uploaded file is not an image the PDF can use; the message is for the organizer."""


@dataclass(frozen=True)
class Entry:
    id: int
    shown_name: str
    place: str
    scope: str
    contact_name: str


@dataclass(frozen=True)
class Pdf:
    data: bytes
    etag: str


# ------------------------------------------------------------------ HTML (pure)


def grouped(signatories: Iterable[Listed]) -> list[tuple[str, list[Listed]]]:
    """Signatories under their scope headings, in listing order, empty groups left out."""
    return [(SCOPE_LABELS[scope], list(items))
            for scope, items in groupby(signatories, key=lambda s: s.scope)]


def pdf_body(text: str) -> Markup:
    """The letter body for print: sanitized Markdown whose images may come only from uploads."""

    def keep(element: str, attribute: str, value: str) -> str | None:
        if element == "img" and attribute == "src":
            name = value.removeprefix(ASSET_ORIGIN).removeprefix("/")
            return name if name.startswith("uploads/") and UPLOAD_NAME.match(name[8:]) else None
        return value

    clean = nh3.clean(str(markup.markdown_to_html(text)), tags=markup.ALLOWED_TAGS,
                      attributes=markup.ALLOWED_ATTRIBUTES, url_schemes=markup.URL_SCHEMES,
                      attribute_filter=keep, link_rel=None)
    return Markup(clean)  # noqa: S704 - sanitized twice just above


def letter_html(letter: Letter, signatories: Iterable[Listed], when: datetime | None = None,
                *, template: str = "pdf/letter.html", **extra: Any) -> str:
    """The HTML that becomes the PDF. Signatories must come in listing order; every value is
    escaped by the template except the body, which is sanitized Markdown."""
    rows = list(signatories)
    extra.setdefault("count", len(rows))
    return render_template(template, body=pdf_body(letter.body), groups=grouped(rows),
                           **_page_context(letter, when), **extra)


def _page_context(letter: Letter, when: datetime | None) -> dict[str, Any]:
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


PARTS_FROM = 1000  # signatories from which the list is cut into sheets and rendered in parts
PART_SIGNATORIES = 800  # at most, a part's share: what one process lays out and holds at once
LIST_TITLES = {"pdf/letter.html": "Signatories", "pdf/addendum.html": "Additional signatories"}


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
            **_page_context(letter, when)))
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


def local_date(moment: datetime) -> str:
    local = moment.astimezone(current_app.config["TZ"])
    return f"{local:%B} {local.day}, {local.year}"


# ------------------------------------------------------------------ what a PDF shows


def listed_entries(letter: Letter, exclude: Sequence[int] = ()) -> list[Entry]:
    """The listed signatories in listing order, read as plain rows (cheap even for thousands)."""
    query = signing.listed_query(letter).with_only_columns(
        Signature.id, Signature.organization, Signature.display_name, Signature.city,
        Signature.region, Signature.scope, Signature.contact_name)
    if exclude:
        query = query.where(Signature.id.not_in(list(exclude)))
    return [Entry(id=row.id, shown_name=row.display_name or row.organization,
                  place=", ".join(p for p in (row.city, row.region) if p), scope=row.scope,
                  contact_name=row.contact_name if letter.show_contact_names else "")
            for row in db.session.execute(query)]


@functools.cache
def _template_revision() -> str:
    """Changes whenever a PDF template or the print stylesheet does, so old PDFs are not served."""
    digest = hashlib.sha256()
    for path in sorted((TEMPLATES / "pdf").glob("*.html")) + [STATIC / "pdf.css"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def fingerprint(kind: str, letter: Letter, entries: Iterable[Entry], date: str,
                *extra: str) -> str:
    """SHA-256 of everything a PDF shows: the letter version, its print settings, the date and
    the listed signatories (as shown), and the templates that lay them out."""
    digest = hashlib.sha256()
    parts = [_template_revision(), kind, str(letter.id), letter.content_hash(), letter.language,
             letter.coalition_name, letter.logo_file or "", letter.closing,
             str(letter.show_contact_names), date, *extra]
    digest.update("\x1f".join(parts).encode())
    for e in entries:
        digest.update(f"\x1e{e.id}\x1f{e.shown_name}\x1f{e.place}\x1f{e.scope}\x1f"
                      f"{e.contact_name}".encode())
    return digest.hexdigest()


# ------------------------------------------------------------------ the PDFs


def current_pdf(letter: Letter, entries: Sequence[Entry] | None = None) -> Pdf:
    """The letter with its listed signatories (`entries`, read now if not given), dated today:
    cached, or rendered now."""
    now = utcnow()
    entries = listed_entries(letter) if entries is None else entries
    key = fingerprint("signed", letter, entries, local_date(now))
    data = cached(f"letter{letter.id}-signed", key, lambda: job(letter, entries, now))
    return Pdf(data, key)


def addendum_pdf(letter: Letter, delivered_ids: Sequence[int], delivered_on: datetime,
                 delivered_sha256: str) -> Pdf | None:
    """The signatories listed now that are not in the delivered copy, or None if there are none."""
    now = utcnow()
    entries = listed_entries(letter, exclude=delivered_ids)
    if not entries:
        return None
    key = fingerprint("addendum", letter, entries, local_date(now), delivered_sha256)
    data = cached(f"letter{letter.id}-addendum", key, lambda: job(
        letter, entries, now, template="pdf/addendum.html", title=f"Addendum: {letter.title}",
        delivered_on=local_date(delivered_on), delivered_count=len(delivered_ids),
        delivered_sha256=delivered_sha256))
    return Pdf(data, key)


def signed_pdf(letter: Letter) -> bytes:
    """The signed letter with its listed signatories, as PDF."""
    return current_pdf(letter).data


# ------------------------------------------------------------------ the cache


def cache_folder() -> Path:
    folder = Path(current_app.instance_path) / "pdf-cache"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cached(name: str, key: str, build: Callable[[], Job]) -> bytes:
    """The PDF stored under `name` and `key`, rendered from build() if there is none yet.

    A file lock per name lets one process render while the others wait, then read its file; so
    two requests for a stale PDF, in any workers on this host, render it once.
    """
    folder = cache_folder()
    path = folder / f"{name}-{key}.pdf"
    data = _read(path)
    if data is not None:
        return data
    timeout = float(current_app.config["PDF_TIMEOUT"])
    failed = path.with_suffix(".failed")
    with _locked(folder / f"{name}.lock", wait=timeout + 30):
        data = _read(path)  # another worker made it while this one waited
        if data is not None:
            return data
        if _age(failed) < FAILURE_PAUSE:  # don't let each request start another doomed render
            raise PdfUnavailable("the PDF could not be made a moment ago")
        started = time.monotonic()
        try:
            data = render_job(build(), timeout)
        except PdfUnavailable:
            failed.touch()
            raise
        _write_atomically(path, data)
        for old in [*folder.glob(f"{name}-*.pdf"), *folder.glob(f"{name}-*.failed")]:
            if old != path:
                old.unlink(missing_ok=True)
        log.info("rendered %s in %.1f s (%d kB)", name, time.monotonic() - started,
                 len(data) // 1024)
    return data


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write_atomically(path: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@contextmanager
def _locked(path: Path, wait: float) -> Iterator[None]:
    """An exclusive flock on `path`, waiting up to `wait` seconds (the holder may be rendering)."""
    with open(path, "a+b") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() > deadline:
                    raise PdfUnavailable("another PDF of this letter is still being made") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ------------------------------------------------------------------ the child process


def asset_roots() -> dict[str, Path]:
    """The folders the PDF may load from: the bundled static files and the uploaded images."""
    return {"static": STATIC, "uploads": upload_folder()}


def render_job(plan: Job, timeout: float) -> bytes:
    """The PDF of a job: in one child process, which for a long list renders its parts in forks
    of its own; if a part does not come out with the pages planned, the whole again in one pass
    within what is left of the time limit."""
    if len(plan.parts) == 1:
        return render_in_child({"html": plan.parts[0]}, timeout)
    started = time.monotonic()
    try:
        return render_in_child({"parts": plan.parts, "pages": plan.pages, "title": plan.title,
                                "workers": workers()}, timeout)
    except PartsDidNotFit:
        assert plan.whole is not None
        log.warning("a PDF's parts did not come out as planned: rendering it in one pass")
        return render_in_child({"html": plan.whole()}, timeout - (time.monotonic() - started))


def workers() -> int:
    """Processes to render parts in: one per core this process may run on, up to four."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 4))


def render_in_child(request: dict[str, Any], timeout: float) -> bytes:
    """Run pdfwriter.py in a fresh interpreter (its own process group, so that its forks go
    with it): the request in, the PDF out, killed after `timeout` seconds."""
    if timeout <= 0:
        raise PdfUnavailable("the PDF took too long to make")
    request = {**request, "timeout": timeout,
               "roots": {k: str(v) for k, v in asset_roots().items()}}
    child = subprocess.Popen([sys.executable, "-P", str(WRITER)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        out, err = child.communicate(json.dumps(request).encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(child)
        log.error("PDF rendering stopped after %s s", timeout)
        raise PdfUnavailable(f"the PDF took longer than {timeout:g} seconds to make") from None
    except BaseException:
        _kill_group(child)
        raise
    for line in err.decode("utf-8", "replace").splitlines():
        log.warning("pdf renderer: %s", line[:300])
    if child.returncode == 3 and "parts" in request:
        raise PartsDidNotFit("a part did not come out as planned")
    if child.returncode != 0 or not out.startswith(b"%PDF"):
        raise PdfUnavailable("the PDF could not be made (see the log)")
    return out


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(child.pid, 9)
    child.communicate()


# ------------------------------------------------------------------ uploaded images


def upload_folder() -> Path:
    """Uploaded letterhead and body images; served only to the PDF renderer, never over HTTP."""
    return Path(current_app.instance_path) / "uploads"


def store_image(data: bytes) -> str:
    """Check that `data` is a PNG or JPEG of sensible size and keep it; returns its file name
    (named by its content, so a new logo means a new name and a new PDF)."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise UploadRejected("The file is empty.")
    if len(data) > IMAGE_MAX_BYTES:
        raise UploadRejected(f"The image is larger than {IMAGE_MAX_BYTES // (1024 * 1024)} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind, size = image.format, image.size
                image.verify()
    except (UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, OSError, SyntaxError, ValueError):
        raise UploadRejected("The file is not a PNG or JPEG image.") from None
    if kind not in ("PNG", "JPEG"):
        raise UploadRejected("The file is not a PNG or JPEG image.")
    if max(size) > IMAGE_MAX_SIDE:
        raise UploadRejected(f"The image is larger than {IMAGE_MAX_SIDE} pixels on a side.")
    name = f"{hashlib.sha256(data).hexdigest()[:32]}.{'png' if kind == 'PNG' else 'jpg'}"
    folder = upload_folder()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if not target.exists():
        _write_atomically(target, data)
    return name
