"""PDF test helpers: letters and listed rows built in memory and rendered as the app renders
them (no database), a parts store that counts its calls, text out of a PDF, a canary HTTP
server, a shared PDF store, images."""
from __future__ import annotations

import io
import logging
import shutil
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pypdf
from PIL import Image

from campaign.letters import LetterText
from campaign.listing import Listed
from campaign.models import SCOPES, Letter, utcnow
from campaign.pdf.assemble import MemoryStore, PartStore, Rendered, render
from campaign.text import sort_key

# ------------------------------------------------------------------ rendering without a database


def letter_in_memory(*, title: str = "Stop Forwarding Fingerprints",
                     slug: str = "stop-forwarding",
                     body: str = "We, the undersigned, ask you to **stop**.\n",
                     recipient: str = "The Director\nWashington, DC", language: str = "en",
                     **settings: Any) -> Letter:
    """An open letter as make_letter makes it (its body made HTML as letters.LetterText does),
    with its print settings (coalition_name, closing, logo_file, show_contact_names), never
    stored: for tests that render given rows."""
    written = LetterText(title=title, slug=slug, body=body, recipient=recipient, status="open",
                         language=language)
    fields: dict[str, Any] = {"coalition_name": "", "closing": "", "logo_file": None,
                              "show_contact_names": False, **settings}
    return Letter(title=written.title, slug=written.slug, body=written.body,
                  body_html=written.body_html, recipient=written.recipient,
                  status=written.status, language=written.language, **fields)


def entry(ident: int, name: str, place: str = "Tucson, AZ", scope: str = "local",
          **contact: str) -> Listed:
    """A listed signatory as listing.rows gives it; `contact` fills the contact fields."""
    city, _, region = place.partition(", ")
    return Listed(ident, name, city, region, "United States", scope,
                  contact.pop("contact_name", ""), **contact)


def in_listing_order(rows: Iterable[Listed]) -> list[Listed]:
    """Rows in the order listing.rows reads them: by scope, then by name (listing.ORDER)."""
    return sorted(rows, key=lambda r: (SCOPES.index(r.scope), sort_key(r.shown_name), r.id))


def rendered(letter: Letter, rows: Iterable[Listed], when: datetime | None = None,
             **options: Any) -> bytes:
    """The PDF of `letter` with `rows`, made as the app makes it (assemble.render), with a
    store of its own; `options` as render takes them (images, template, footer...)."""
    return render_with(letter, rows, MemoryStore(), when, **options).data


def render_with(letter: Letter, rows: Iterable[Listed], store: PartStore,
                when: datetime | None = None, *, images: Mapping[str, bytes] | None = None,
                **options: Any) -> Rendered:
    return render(letter, list(rows), when or utcnow(), store, images=images, **options)


class CountingStore(MemoryStore):
    """A parts store that remembers the keys it was asked for and given, render by render."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list[str] = []
        self.put_keys: list[str] = []

    def get(self, key: str) -> bytes | None:
        self.got.append(key)
        return super().get(key)

    def put(self, key: str, data: bytes) -> None:
        self.put_keys.append(key)
        super().put(key, data)

    def forget_calls(self) -> None:
        self.got.clear()
        self.put_keys.clear()


@contextmanager
def warnings_logged(name: str) -> Iterator[list[str]]:
    """The warnings (and worse) logged under `name` while the block runs, for a fixture wider
    than a test (caplog serves one test)."""
    found: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.append(record.getMessage())

    handler = Collect(logging.WARNING)
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield found
    finally:
        logger.removeHandler(handler)


# ------------------------------------------------------------------ reading PDFs


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def pdf_pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages]


def one_line(text: str) -> str:
    """Extracted text with line breaks and runs of spaces made single spaces (names may wrap)."""
    return " ".join(text.split())


def png(width: int = 240, height: int = 90, color: tuple[int, int, int] = (29, 78, 137)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class Canary:
    """A local HTTP server that records every request; /redirect answers 302 to /landed."""

    port: int = 0
    hits: list[str] = field(default_factory=list)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def canary_server() -> Iterator[Canary]:
    canary = Canary()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            canary.hits.append(self.path)
            if self.path.startswith("/redirect"):
                self.send_response(302)
                self.send_header("Location", canary.url("/landed"))
                self.end_headers()
                return
            body = b"body { color: red }"
            self.send_response(200)
            self.send_header("Content-Type", "text/css")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    canary.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield canary
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class SharedPdfStore:
    """Keeps the PDFs a module's tests render, so a later test whose letter has the same content
    fingerprint (same text, ids, date, signatories) finds it in its own instance's PDF cache
    instead of rendering again. A different fingerprint still renders: the reuse goes through
    the app's real cache lookup."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def seed(self, cache: Path) -> None:
        cache.mkdir(parents=True, exist_ok=True)
        for path in self.folder.glob("*.pdf"):
            shutil.copy(path, cache / path.name)

    def keep(self, cache: Path) -> None:
        for path in cache.glob("*.pdf"):
            shutil.copy(path, self.folder / path.name)
