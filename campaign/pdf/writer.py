"""HTML -> PDF through WeasyPrint with a locked URL fetcher: the one place that touches WeasyPrint.

Run as a script it is the child process that child.py starts for a render: a JSON request on
standard input (the render's documents and the uploaded images they may show), their PDFs on
standard output. The documents are rendered at once in forked processes, one per core (up to four),
so that every core has work and each part's memory goes back to the system as soon as it is done. It
imports nothing from the app, so that it starts quickly; it loads WeasyPrint and the fonts before it
reads its request, so that a child started ahead of time (child.py keeps one warm) is ready.
"""
from __future__ import annotations

import base64
import gc
import json
import logging
import math
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

# The only origin the PDF may load from: static/<file> (the bundled styles, images and fonts)
# and uploads/<name> (the uploaded images the request carries, served from memory).
ASSET_ORIGIN = "https://campaign.invalid/"
STATIC_TYPES = {".css": "text/css", ".png": "image/png", ".jpg": "image/jpeg",
                ".jpeg": "image/jpeg", ".svg": "image/svg+xml", ".ttf": "font/ttf",
                ".otf": "font/otf", ".woff": "font/woff", ".woff2": "font/woff2"}
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
NOT_AS_PLANNED = 3  # a part's exit code when it did not come out with the pages planned


class RefusedURL(ValueError):
    """The document asked for something that is neither a bundled asset nor an uploaded image."""


def locked_fetcher(static: Path, images: Mapping[str, bytes]) -> Any:
    """A WeasyPrint URL fetcher that serves the files under `static` and the `images` given, and
    refuses everything else: file:, data:, http(s) to any host, so nothing is fetched from the
    network or the disk outside `static`, and no redirect can ever be followed."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    folder = static.resolve()

    class LockedFetcher(URLFetcher):
        def fetch(self, url: str, headers: object = None) -> URLFetcherResponse:
            if not url.startswith(ASSET_ORIGIN):
                raise RefusedURL(f"refused to fetch {url[:80]!r}")
            root, _, name = unquote(urlsplit(url).path).lstrip("/").partition("/")
            suffix = Path(name).suffix.lower()
            if root == "uploads" and name in images and suffix in IMAGE_TYPES:
                return URLFetcherResponse(url, images[name], {"Content-Type": IMAGE_TYPES[suffix]})
            if root == "static" and name and suffix in STATIC_TYPES:
                path = (folder / name).resolve()
                if path.is_relative_to(folder) and path.is_file():
                    return URLFetcherResponse(url, path.read_bytes(),
                                              {"Content-Type": STATIC_TYPES[suffix]})
            raise RefusedURL(f"no such asset {url[:80]!r}")

    return LockedFetcher(allow_redirects=False, allowed_protocols=("https",))


def html_to_pdf(html: str, static: Path, images: Mapping[str, bytes] | None = None) -> bytes:
    """The PDF of `html`, whose relative URLs resolve under ASSET_ORIGIN."""
    return bytes(_render(html, static, images or {}).write_pdf())


_fonts: Any = None  # the child's fonts, loaded once (warm_up) for every document and fork


def _render(html: str, static: Path, images: Mapping[str, bytes]) -> Any:
    """The laid out document of `html`. Attachments (`<link rel=attachment>`, `<a
    rel=attachment>`) are dropped before anything is written."""
    from weasyprint import HTML

    document = HTML(string=html, base_url=ASSET_ORIGIN,
                    url_fetcher=locked_fetcher(static, images)).render(font_config=_fonts)
    document.metadata.attachments = []
    for page in document.pages:
        page.links = [link for link in page.links if link[0] != "attachment"]
    return document


def as_planned(document: Any, pages: int | None, ends: Mapping[str, int]) -> bool:
    """Whether a laid out part came out as sheets.py planned it: `pages` pages, and the end of
    each column (an element with an id, named in `ends`) on the page planned for it. A column
    longer than its page is cut off where the page ends, and its end is then on no page."""
    if pages is not None and len(document.pages) != pages:
        return False
    return all(index < len(document.pages) and anchor in document.pages[index].anchors
               for anchor, index in ends.items())


# ------------------------------------------------------------------ a render's documents


def render_all(documents: Sequence[Mapping[str, Any]], static: Path,
               images: Mapping[str, bytes], workers: int, deadline: float) -> list[bytes | None]:
    """The PDF of each document ({"html": ..., and for a part planned ahead "pages" and "ends",
    see as_planned}), rendered in up to `workers` forked processes at once, in the order given;
    None for a part that did not come out as planned. Raises RuntimeError if one fails."""
    with tempfile.TemporaryDirectory(prefix="campaign-pdf-") as folder:
        outputs = [Path(folder) / f"{index}.pdf" for index in range(len(documents))]
        running: dict[int, int] = {}
        codes: dict[int, int] = {}
        for index, document in enumerate(documents):
            while len(running) >= workers:
                _reap(running, codes)
            if any(code not in (0, NOT_AS_PLANNED) for code in codes.values()):
                break
            pid = os.fork()
            if pid == 0:  # the child: render one document, write it, never return
                _render_one(document, static, images, outputs[index], deadline)
            running[pid] = index
        while running:
            _reap(running, codes)
        if len(codes) < len(documents) or any(c not in (0, NOT_AS_PLANNED) for c in codes.values()):
            raise RuntimeError("a document of the PDF could not be rendered")
        return [outputs[i].read_bytes() if codes[i] == 0 else None for i in range(len(documents))]


def _reap(running: dict[int, int], codes: dict[int, int]) -> None:
    pid, status = os.wait()
    index = running.pop(pid, None)
    if index is not None:
        codes[index] = os.waitstatus_to_exitcode(status)


def _render_one(document: Mapping[str, Any], static: Path, images: Mapping[str, bytes],
                output: Path, deadline: float) -> None:
    code = 1
    gc.disable()  # a fork lays out one document and ends: collecting as it goes costs ~10%
    try:
        signal.alarm(max(math.ceil(deadline - time.monotonic()), 1))
        laid_out = _render(document["html"], static, images)
        if as_planned(laid_out, document.get("pages"), document.get("ends", {})):
            for page in laid_out.pages:  # the ends were only there to be checked
                page.anchors = {}
            laid_out.write_pdf(output)
            code = 0
        else:
            print(f"a part did not come out as planned: {len(laid_out.pages)} pages",
                  file=sys.stderr)
            code = NOT_AS_PLANNED
    except BaseException:  # reported by the parent as a failed document
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def warm_up(static: Path) -> None:
    """Load WeasyPrint's modules and the fonts of the print stylesheet, once for every document
    and fork of the child."""
    from weasyprint.text.fonts import FontConfiguration

    global _fonts
    _fonts = FontConfiguration()
    _render('<link rel="stylesheet" href="static/pdf.css"><h1>A</h1><h2>B</h2><h3>C</h3>'
            '<p>D <b>E</b></p>', static, {}).write_pdf()


NICENESS = 10  # a render's CPU priority below the web's: pages and signing go first


def yield_cpu() -> None:
    """Lower this process's CPU priority (and its forks'), so that a render on a host that also
    serves the web slows the web as little as it can. Linux gives each session's processes a
    fair share as a group (autogroup), and this process leads a session of its own: the
    group's priority is lowered too, where the kernel has autogroups."""
    os.nice(NICENESS)
    try:
        with open("/proc/self/autogroup", "w") as autogroup:
            autogroup.write(str(NICENESS))
    except OSError:  # no autogroups here (another OS, or a kernel built without them)
        pass


def main() -> int:
    """The child: `writer.py STATIC_FOLDER`, then on standard input {"documents": [...],
    "images": {name: base64}, "workers": n, "timeout": seconds} as JSON; on standard output a
    line of JSON, {"sizes": [bytes of each PDF, -1 for a part not as planned]}, then the PDFs one
    after the other. The alarm ends it even if the parent that would kill it is gone."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s: %(message)s")
    static = Path(sys.argv[1])
    yield_cpu()
    warm_up(static)
    gc.freeze()  # so that no fork walks every object loaded so far, copying them, when it collects
    try:
        request = json.load(sys.stdin)
    except ValueError:  # the parent went away before it had a render to give
        return 0
    timeout = float(request.get("timeout", 300))
    signal.alarm(math.ceil(timeout) + 5)
    images = {name: base64.b64decode(data) for name, data in request.get("images", {}).items()}
    pdfs = render_all(request["documents"], static, images, int(request.get("workers", 1)),
                      time.monotonic() + timeout + 5)
    header = {"sizes": [-1 if pdf is None else len(pdf) for pdf in pdfs]}
    sys.stdout.buffer.write(json.dumps(header).encode() + b"\n")
    for pdf in pdfs:
        sys.stdout.buffer.write(pdf or b"")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
