"""Rendered PDFs and their parts, kept in the database where every host and worker reads them:
the newest PDF of each letter and kind (pdf_file), and the rendered parts of lists (pdf_part)
that later renders use again."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, delete, select, update

from ..database import changed, reading, upsert_insert, writing
from ..extensions import db
from ..models import PdfFile, PdfPart, utcnow
from ..pagecache import Kept

PART_KEEP = timedelta(days=14)  # parts no render has used for this long are deleted


class Stored(NamedTuple):
    """What is known of a stored PDF without reading its bytes."""

    id: int
    kind: str
    fingerprint: str
    sha256: str
    size: int
    pages: int
    signatory_count: int
    as_of: datetime
    rendered_at: datetime
    seconds: float
    parts: int
    reused: int


NEWEST = select(PdfFile.id, PdfFile.kind, PdfFile.fingerprint, PdfFile.sha256, PdfFile.size,
                PdfFile.pages, PdfFile.signatory_count, PdfFile.as_of, PdfFile.rendered_at,
                PdfFile.seconds, PdfFile.parts, PdfFile.reused) \
    .where(PdfFile.letter_id == bindparam("letter_id"), PdfFile.kind == bindparam("kind"),
           PdfFile.language == bindparam("language"))
BYTES: Kept[bytes] = Kept(8)  # the PDFs this process read last (stored, by id and fingerprint;
#                               delivered copies, by delivery id and SHA-256)


def newest(letter_id: int, kind: str = "signed", language: str = "") -> Stored | None:
    """The newest PDF of the letter, of `kind`, printing its text in `language` ("": its own)."""
    row = db.session.execute(NEWEST, {"letter_id": letter_id, "kind": kind,
                                      "language": language}).first()
    return None if row is None else Stored._make(row)


def data(stored: Stored) -> bytes | None:
    """The bytes of a stored PDF (this process keeps the last few it read), or None when it was
    replaced or dropped since `stored` was read (a newer one is there, or none)."""
    key = (stored.id, stored.fingerprint)
    kept = BYTES.peek(key)
    if kept is not None:
        return kept
    found = db.session.scalar(select(PdfFile.data).where(PdfFile.id == stored.id,
                                                         PdfFile.fingerprint == stored.fingerprint))
    if found is None:
        return None
    return BYTES.get(key, lambda: bytes(found))


def keep(letter_id: int, kind: str, pdf: bytes, *, fingerprint: str, as_of: datetime,
         signatory_count: int, pages: int, seconds: float, parts: int = 0,
         reused: int = 0, language: str = "") -> None:
    """Store the newest PDF of a letter and kind in place of the one before (in the caller's
    writing unit)."""
    values = {"fingerprint": fingerprint, "sha256": hashlib.sha256(pdf).hexdigest(), "data": pdf,
              "size": len(pdf), "pages": pages, "signatory_count": signatory_count,
              "as_of": as_of, "rendered_at": utcnow(), "seconds": seconds, "parts": parts,
              "reused": reused}
    insert = upsert_insert()
    db.session.execute(insert(PdfFile).values(letter_id=letter_id, kind=kind, language=language,
                                              **values)
                       .on_conflict_do_update(index_elements=["letter_id", "kind", "language"],
                                              set_=values))


def drop(letter_id: int, kind: str) -> None:
    """No PDF of this kind for the letter any more (in the caller's writing unit)."""
    db.session.execute(delete(PdfFile).where(PdfFile.letter_id == letter_id,
                                             PdfFile.kind == kind))


def drop_languages(letter_id: int, kept: list[str]) -> None:
    """No PDF of the letter's translations but those in `kept` (in the caller's writing unit)."""
    db.session.execute(delete(PdfFile).where(PdfFile.letter_id == letter_id,
                                             PdfFile.language != "",
                                             PdfFile.language.not_in(kept)))


class DatabaseParts:
    """The parts store of a render (see assemble.PartStore): parts read from and written to the
    database, each write in a short writing unit of its own; it remembers which parts the render
    used, so that they can be marked used (touch) when it is kept."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def get(self, key: str) -> bytes | None:
        with reading():  # ended at once: a render is long, and holds no snapshot meanwhile
            found = db.session.scalar(select(PdfPart.data).where(PdfPart.key == key))
        if found is not None:
            self.used.add(key)
        return None if found is None else bytes(found)

    def put(self, key: str, data: bytes) -> None:
        insert = upsert_insert()
        values = {"data": data, "used_at": utcnow()}
        with writing():  # in place of one kept before, which may not have been readable
            db.session.execute(insert(PdfPart).values(key=key, **values)
                               .on_conflict_do_update(index_elements=["key"], set_=values))
        self.used.add(key)

    def touch(self) -> None:
        """Mark the parts this render used as used now (in the caller's writing unit)."""
        if self.used:
            db.session.execute(update(PdfPart).where(PdfPart.key.in_(self.used))
                               .values(used_at=utcnow()))


def prune_parts(now: datetime | None = None) -> int:
    """Delete the parts no render has used for PART_KEEP (in the caller's writing unit)."""
    result = db.session.execute(delete(PdfPart).where(PdfPart.used_at < (now or utcnow())
                                                      - PART_KEEP))
    return changed(result)

