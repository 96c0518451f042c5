"""The signed letter: letter -> HTML (pure, testable) -> PDF (a thin WeasyPrint step, locked fetcher)."""
from __future__ import annotations

import mimetypes
from collections.abc import Iterable
from datetime import datetime
from itertools import groupby
from pathlib import Path

from flask import render_template

from . import signing
from .markup import markdown_to_html
from .models import SCOPE_LABELS, Letter, Signature, utcnow
from .paths import STATIC

# The only origin the PDF may load from; it maps to the app's own bundled files.
ASSET_ORIGIN = "https://campaign.invalid/"


def grouped(signatories: Iterable[Signature]) -> list[tuple[str, list[Signature]]]:
    """Signatories under their scope headings, in listing order, empty groups left out."""
    return [(SCOPE_LABELS[scope], list(items))
            for scope, items in groupby(signatories, key=lambda s: s.scope)]


def letter_html(letter: Letter, signatories: Iterable[Signature], when: datetime | None = None) -> str:
    """The HTML that becomes the PDF; signatories must come in listing order."""
    return render_template(
        "pdf/letter.html",
        letter=letter,
        body=markdown_to_html(letter.body),
        groups=grouped(signatories),
        date=(when or utcnow()),
        asset_origin=ASSET_ORIGIN,
    )


class RefusedURL(ValueError):
    pass


def _locked_fetcher(roots: dict[str, Path]):  # type: ignore[no-untyped-def]
    """A WeasyPrint URL fetcher that serves only files under `roots` and refuses everything else:
    file:, data:, other hosts, redirects (nothing is fetched from the network at all)."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class LockedFetcher(URLFetcher):
        def fetch(self, url: str, headers: object = None) -> URLFetcherResponse:
            if not url.startswith(ASSET_ORIGIN):
                raise RefusedURL(f"refused to fetch {url[:80]!r}")
            prefix, _, name = url[len(ASSET_ORIGIN):].partition("/")
            root = roots.get(prefix)
            if root is None or not name:
                raise RefusedURL(f"refused to fetch {url[:80]!r}")
            path = (root / name.split("?")[0]).resolve()
            if not path.is_relative_to(root.resolve()) or not path.is_file():
                raise RefusedURL(f"no such asset {url[:80]!r}")
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": kind})

    return LockedFetcher(allow_redirects=False, allowed_protocols=("https",))


def signed_pdf(letter: Letter) -> bytes:
    """The signed letter with its listed signatories, as PDF."""
    return html_to_pdf(letter_html(letter, signing.listed(letter)))


def html_to_pdf(html: str, uploads: Path | None = None) -> bytes:
    """The one place that touches WeasyPrint."""
    from weasyprint import HTML

    roots = {"static": STATIC}
    if uploads is not None:
        roots["uploads"] = uploads
    document = HTML(string=html, base_url=ASSET_ORIGIN, url_fetcher=_locked_fetcher(roots))
    return bytes(document.write_pdf())
