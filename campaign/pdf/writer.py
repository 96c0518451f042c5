"""HTML -> PDF through WeasyPrint with a locked URL fetcher: the one place that touches WeasyPrint.

Run as a script it is the child process that child.py starts for each PDF (a JSON request on
standard input, the PDF on standard output), so that WeasyPrint's memory goes back to the system
when the child ends. It imports nothing from the app, so that the child starts quickly.
"""
from __future__ import annotations

import io
import json
import logging
import math
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

# The only origin the PDF may load from; its first path segment names a root folder.
ASSET_ORIGIN = "https://campaign.invalid/"

# What each root may serve: bundled styles, images and fonts; uploads are images only.
SERVED = {
    "static": {".css": "text/css", ".png": "image/png", ".jpg": "image/jpeg",
               ".jpeg": "image/jpeg", ".svg": "image/svg+xml", ".ttf": "font/ttf",
               ".otf": "font/otf", ".woff": "font/woff", ".woff2": "font/woff2"},
    "uploads": {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"},
}


class RefusedURL(ValueError):
    """The document asked for something that is neither a bundled asset nor an upload."""


def locked_fetcher(roots: dict[str, Path]) -> Any:
    """A WeasyPrint URL fetcher that serves files under `roots` and refuses everything else:
    file:, data:, http(s) to any host, so nothing is fetched from the network and no redirect
    can ever be followed."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    resolved = {name: path.resolve() for name, path in roots.items()}

    class LockedFetcher(URLFetcher):
        def fetch(self, url: str, headers: object = None) -> URLFetcherResponse:
            if not url.startswith(ASSET_ORIGIN):
                raise RefusedURL(f"refused to fetch {url[:80]!r}")
            root_name, _, name = unquote(urlsplit(url).path).lstrip("/").partition("/")
            root = resolved.get(root_name)
            kinds = SERVED.get(root_name, {})
            if root is None or not name:
                raise RefusedURL(f"refused to fetch {url[:80]!r}")
            path = (root / name).resolve()
            kind = kinds.get(path.suffix.lower())
            if kind is None or not path.is_relative_to(root) or not path.is_file():
                raise RefusedURL(f"no such asset {url[:80]!r}")
            return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": kind})

    return LockedFetcher(allow_redirects=False, allowed_protocols=("https",))


def html_to_pdf(html: str, roots: dict[str, Path]) -> bytes:
    """The PDF of `html`, whose relative URLs resolve under ASSET_ORIGIN. Attachments
    (`<link rel=attachment>`, `<a rel=attachment>`) are dropped before anything is fetched."""
    return bytes(_render(html, roots).write_pdf())


def _render(html: str, roots: dict[str, Path], stylesheets: Sequence[Any] = ()) -> Any:
    """The laid out document of `html`, its attachments dropped."""
    from weasyprint import HTML

    document = HTML(string=html, base_url=ASSET_ORIGIN, url_fetcher=locked_fetcher(roots)).render(
        stylesheets=list(stylesheets))
    document.metadata.attachments = []
    for page in document.pages:
        page.links = [link for link in page.links if link[0] != "attachment"]
    return document


# ------------------------------------------------------------------ a long list, in parts


class PartsMismatch(Exception):
    """A part did not come out with the pages planned for it (see sheets.py)."""


def css_string(text: str) -> str:
    """`text` as a CSS string: every character but letters, digits and spaces escaped."""
    return '"' + "".join(c if c.isalnum() or c == " " else f"\\{ord(c):x} " for c in text) + '"'


def numbering(first: int, total: int, title: str | None = None) -> Any:
    """Footers for a part whose first page is page `first` of `total`; `title` for a part that
    has no h1 to take the running title from."""
    from weasyprint import CSS

    page_n_of_m = f'"Page " counter(page) " of {total}" !important'
    rules = [f"@page {{ @bottom-right {{ content: {page_n_of_m} }} }}"]
    if first > 1:
        rules.append(f"@page :first {{ counter-reset: page {first} }}")
    if title is not None:
        rules.append(f"@page {{ @bottom-left {{ content: {css_string(title)} !important }} }}")
    return CSS(string="\n".join(rules))


def parts_to_pdf(parts: Sequence[str], pages: Sequence[int], title: str,
                 roots: dict[str, Path], workers: int, deadline: float) -> bytes:
    """The letter (parts[0]) and the sheets of its list (parts[1:], of pages[i - 1] pages each),
    rendered at once in `workers` forked processes and joined, numbered as one document.

    The letter is laid out first (which also loads the fonts every fork then shares), to learn
    its page count; then each part renders with its own page numbers while the letter renders
    again with the total. A part that comes out longer or shorter than planned fails the whole
    (PartsMismatch): the caller then renders in one pass."""
    import pypdf

    letter_pages = len(_render(parts[0], roots).pages)
    total = letter_pages + sum(pages)
    firsts = [letter_pages + 1 + sum(pages[:i]) for i in range(len(pages))]
    with tempfile.TemporaryDirectory(prefix="campaign-pdf-") as folder:
        outputs = [Path(folder) / f"part{i}.pdf" for i in range(1, len(parts))]
        running: dict[int, int] = {}
        failed = False
        for index in range(len(outputs)):
            while len(running) >= workers:
                failed |= _reap(running)
            if failed:
                break
            pid = os.fork()
            if pid == 0:  # the child: render one part, write it, never return
                _render_part(parts[index + 1], roots, numbering(firsts[index], total, title),
                             pages[index], outputs[index], deadline)
            running[pid] = index
        head = None if failed else _render(parts[0], roots, [numbering(1, total)]).write_pdf()
        while running:
            failed |= _reap(running)
        if failed or head is None:
            raise PartsMismatch("a part of the PDF did not come out as planned")
        writer = pypdf.PdfWriter(clone_from=io.BytesIO(head))
        for output in outputs:
            writer.append(str(output))
        merged = io.BytesIO()
        writer.write(merged)
    return merged.getvalue()


def _reap(running: dict[int, int]) -> bool:
    """Wait for one part's process; True if it failed."""
    pid, status = os.wait()
    running.pop(pid, None)
    return os.waitstatus_to_exitcode(status) != 0


def _render_part(html: str, roots: dict[str, Path], footers: Any, pages: int, output: Path,
                 deadline: float) -> None:
    code = 1
    try:
        signal.alarm(max(math.ceil(deadline - time.monotonic()), 1))
        document = _render(html, roots, [footers])
        if len(document.pages) == pages:
            document.write_pdf(output)
            code = 0
        else:
            print(f"a part came to {len(document.pages)} pages, not {pages}", file=sys.stderr)
            code = 3
    except BaseException:  # reported by the parent as a failed part
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def main() -> int:
    """The child: read {"html": ..., "roots": {name: folder}, "timeout": seconds} as JSON, write
    the PDF; or, for a long list, {"parts": [...], "pages": [...], "title": ..., "workers": n}
    (see parts_to_pdf; exit code 3 when a part did not come out as planned). The alarm ends it
    even if the parent that would kill it at the time limit is gone."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s: %(message)s")
    request = json.load(sys.stdin)
    timeout = float(request.get("timeout", 300))
    signal.alarm(math.ceil(timeout) + 5)
    roots = {name: Path(folder) for name, folder in request["roots"].items()}
    if "parts" in request:
        try:
            data = parts_to_pdf(request["parts"], request["pages"], request["title"], roots,
                                int(request.get("workers", 2)), time.monotonic() + timeout + 5)
        except PartsMismatch as exc:
            print(exc, file=sys.stderr)
            return 3
    else:
        data = html_to_pdf(request["html"], roots)
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
