"""Which text each signatory agreed to: a letter whose text changed (a version of kind
"change") after it was first signed lists its signatories of an earlier text apart until they
confirm the new one (listing.py orders and counts them; reconsent.py asks them)."""
from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, and_, bindparam, or_, select

from .extensions import db
from .models import (
    Letter,
    LetterVersion,
    Signature,
)


class Split(NamedTuple):
    """A letter whose text changed (its latest version of kind "change") after it was first
    signed: a signature on an earlier version, or on none, has not agreed to the current text,
    and is listed after the others, under a heading that says so, until its signer confirms the
    new text (reconsent.confirm). `numbers` gives each version's number by its id."""

    version_id: int
    number: int
    created_at: datetime
    numbers: dict[int, int]

    def earlier(self) -> ColumnElement[bool]:
        """The predicate of a signature that has not agreed to the current text."""
        return or_(*self.earlier_parts())

    def earlier_parts(self) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        """earlier()'s two cases (on no version, on an earlier one): each is one range of the
        index ix_signature_version, which their OR is not."""
        return Signature.version_id.is_(None), Signature.version_id < self.version_id

    def current(self) -> ColumnElement[bool]:
        return and_(Signature.version_id.is_not(None), Signature.version_id >= self.version_id)

    def is_earlier(self, version_id: int | None) -> bool:
        return version_id is None or version_id < self.version_id


VERSIONS = (select(LetterVersion.id, LetterVersion.number, LetterVersion.kind,
                   LetterVersion.created_at)
            .where(LetterVersion.letter_id == bindparam("letter_id"))
            .order_by(LetterVersion.number))


def split_of(letter: Letter) -> Split | None:
    """The letter's split, or None when its text never changed after the original (it lists
    exactly as it did before texts could change): one query of its few versions."""
    versions = db.session.execute(VERSIONS, {"letter_id": letter.id}).all()
    changes = [v for v in versions if v.kind == "change"]
    if not changes:
        return None
    last = changes[-1]
    return Split(last.id, last.number, last.created_at, {v.id: v.number for v in versions})
