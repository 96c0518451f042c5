"""HTML -> PDF through WeasyPrint with a locked URL fetcher: the one place that touches WeasyPrint.

Run as a script it is the child process that render.py starts for each PDF (a JSON request on
standard input, the PDF on standard output), so that WeasyPrint's memory goes back to the system
when the child ends. It imports nothing from the app, so that the child starts quickly.
"""
from __future__ import annotations

import json
import logging
import math
import signal
import sys
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
    from weasyprint import HTML

    document = HTML(string=html, base_url=ASSET_ORIGIN, url_fetcher=locked_fetcher(roots)).render()
    document.metadata.attachments = []
    for page in document.pages:
        page.links = [link for link in page.links if link[0] != "attachment"]
    return bytes(document.write_pdf())


def main() -> int:
    """The child: read {"html": ..., "roots": {name: folder}, "timeout": seconds} as JSON, write
    the PDF. The alarm ends it even if the parent that would kill it at the time limit is gone."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s: %(message)s")
    request = json.load(sys.stdin)
    signal.alarm(math.ceil(float(request.get("timeout", 300))) + 5)
    roots = {name: Path(folder) for name, folder in request["roots"].items()}
    sys.stdout.buffer.write(html_to_pdf(request["html"], roots))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
