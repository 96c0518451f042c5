"""The signed letter as PDF: letter -> HTML (html.py, pure) -> PDF (writer.py, the only code
that touches WeasyPrint, run in a child process by child.py), kept on disk by what it shows
(cache.py). A long list is cut into its pages ahead of rendering (sheets.py) and rendered in
parts at once."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .. import listing
from ..dates import local_date
from ..errors import PdfUnavailable
from ..listing import Listed
from ..models import Letter, utcnow
from .cache import cached, fingerprint
from .html import job

__all__ = ["Pdf", "PdfUnavailable", "current_pdf", "addendum_pdf"]


@dataclass(frozen=True)
class Pdf:
    data: bytes
    etag: str


def current_pdf(letter: Letter, entries: Sequence[Listed] | None = None) -> Pdf:
    """The letter with its listed signatories (`entries`, read now if not given), dated today:
    kept, or rendered now."""
    now = utcnow()
    entries = listing.rows(letter) if entries is None else entries
    key = fingerprint("signed", letter, entries, local_date(now))
    data = cached(f"letter{letter.id}-signed", key, lambda: job(letter, entries, now))
    return Pdf(data, key)


def addendum_pdf(letter: Letter, delivered_ids: Sequence[int], delivered_on: datetime,
                 delivered_sha256: str) -> Pdf | None:
    """The signatories listed now that are not in the delivered copy, or None if there are none."""
    now = utcnow()
    entries = listing.rows(letter, exclude=delivered_ids)
    if not entries:
        return None
    key = fingerprint("addendum", letter, entries, local_date(now), delivered_sha256)
    data = cached(f"letter{letter.id}-addendum", key, lambda: job(
        letter, entries, now, template="pdf/addendum.html", title=f"Addendum: {letter.title}",
        delivered_on=local_date(delivered_on), delivered_count=len(delivered_ids),
        delivered_sha256=delivered_sha256))
    return Pdf(data, key)
