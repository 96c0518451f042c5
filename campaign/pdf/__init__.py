"""The signed letter as PDF: letter -> HTML (html.py, pure) -> PDF (writer.py, the only code that
touches WeasyPrint, run in a child process by child.py). A long list is cut into its pages ahead
of rendering (sheets.py) and rendered in parts (assemble.py); the newest PDF of each letter and
the parts it was made of are kept in the database (storage.py). Renders happen in the worker
(worker.py, doing the jobs of renders.py) or at the command line, never in a web request.

This module says what a render is given and what it gives back, and the fingerprint of what a
PDF shows, by which a render that would change nothing is skipped."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ..errors import PdfUnavailable
from ..listing import Listed
from ..models import Letter
from .assemble import MemoryStore, PartStore, Rendered, render, revision

__all__ = ["Pdf", "PdfUnavailable", "MemoryStore", "PartStore", "Rendered", "render", "fingerprint"]


@dataclass(frozen=True)
class Pdf:
    """A PDF as served: its bytes, the tag that names this version of it, and the moment what it
    shows was read."""

    data: bytes
    etag: str
    as_of: datetime | None = None


def fingerprint(kind: str, letter: Letter, entries: Iterable[Listed], date: str,
                *extra: str) -> str:
    """SHA-256 of everything a PDF shows: the letter version, its print settings, the date and
    the listed signatories (as shown), and the revision of what lays them out."""
    digest = hashlib.sha256()
    parts = [revision(), kind, str(letter.id), letter.content_hash(), letter.language,
             letter.coalition_name, letter.logo_file or "", letter.closing,
             str(letter.show_contact_names), letter.signers, date, *extra]
    digest.update("\x1f".join(parts).encode())
    for e in entries:
        contact = e.contact if letter.show_contact_names else ""
        earlier = "\x1fearlier" if e.earlier else ""  # listed apart until they agree anew
        digest.update(f"\x1e{e.id}\x1f{e.shown_name}\x1f{e.identification}\x1f{e.place}\x1f"
                      f"{e.scope}\x1f{contact}{earlier}".encode())
    return digest.hexdigest()
