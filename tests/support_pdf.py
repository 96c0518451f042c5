"""PDF test helpers: text out of a PDF, a canary HTTP server, a shared PDF store, images."""
from __future__ import annotations

import io
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pypdf
from PIL import Image


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
