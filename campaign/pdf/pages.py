"""On which page of a rendered PDF each signatory is listed, read back from the PDF's text, so
that a signer can be told where to find themselves in the delivered letter. Read after the
render (in the worker), whatever layout made the pages (one document, or parts joined)."""
from __future__ import annotations

import io
import logging
import unicodedata
from collections.abc import Sequence

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from ..listing import Listed

log = logging.getLogger(__name__)


def _squeezed(text: str) -> str:
    """Text as it is compared: compatibility forms (ligatures) folded, case folded, and without
    whitespace or hyphens, which a line break or a hyphenated word may add or take away."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in folded if not c.isspace() and c not in "-\u00ad\u2010")


def signatory_pages(data: bytes, rows: Sequence[Listed]) -> dict[int, int]:
    """The page (from 1) of each of `rows` (in listing order, as rendered) in the PDF `data`,
    by their ids; a signatory whose name is not found is left out. The list comes after the
    letter's text and runs in listing order, so the search goes backwards from the end, each
    name looked for only before the one after it: a name that also appears in the letter's
    text, or inside a longer name further on ("Union", "Union of Workers"), is not taken for
    the listing."""
    try:
        pages = [_squeezed(page.extract_text() or "") for page in PdfReader(io.BytesIO(data)).pages]
    except (PyPdfError, ValueError, KeyError):
        log.exception("could not read the pages of a PDF: its signatories' pages are unknown")
        return {}
    found: dict[int, int] = {}
    at = len(pages) - 1
    for row in reversed(rows):
        name = _squeezed(row.shown_name)
        if not name:
            continue
        page = next((n for n in range(at, -1, -1) if name in pages[n]), None)
        if page is not None:
            found[row.id] = page + 1
            pages[page] = pages[page][:pages[page].rfind(name)]  # the next name comes before
            at = page
    return found
