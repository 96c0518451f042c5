"""Which text each signatory agreed to: a letter whose text changed (a version of kind
"change") after it was first signed lists its signatories of an earlier text apart until they
confirm the new one (listing.py orders and counts them; reconsent.py asks them)."""
from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, and_, bindparam, false, or_, select, true

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
    new text (reconsent.confirm). `numbers` gives each version's number by its id.

    Each language's text has its own versions (translations.py): a signature agreed to an
    earlier text when it is on a version of its language older than that language's latest
    change. For a letter whose changes are all of its own language (`earlier_ids` is None) that
    is the range "before `version_id`" of the index ix_signature_version; otherwise it is the set
    `earlier_ids` of the older versions' ids, and a signature on none counts as earlier only when
    `none_earlier` (its letter's own text changed)."""

    version_id: int
    number: int
    created_at: datetime
    numbers: dict[int, int]
    earlier_ids: frozenset[int] | None = None
    none_earlier: bool = True

    def earlier(self) -> ColumnElement[bool]:
        """The predicate of a signature that has not agreed to the current text."""
        return or_(*self.earlier_parts())

    def earlier_parts(self) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        """earlier()'s two cases (on no version, on an earlier one): each is one range of the
        index ix_signature_version, which their OR is not."""
        on_none = Signature.version_id.is_(None) if self.none_earlier else false()
        if self.earlier_ids is None:
            return on_none, Signature.version_id < self.version_id
        return on_none, Signature.version_id.in_(sorted(self.earlier_ids))

    def current(self) -> ColumnElement[bool]:
        if self.earlier_ids is None:
            return and_(Signature.version_id.is_not(None), Signature.version_id >= self.version_id)
        on_some = Signature.version_id.is_not(None) if self.none_earlier else true()
        return and_(on_some, Signature.version_id.not_in(sorted(self.earlier_ids))
                    if self.earlier_ids else true())

    def is_earlier(self, version_id: int | None) -> bool:
        if version_id is None:
            return self.none_earlier
        if self.earlier_ids is None:
            return version_id < self.version_id
        return version_id in self.earlier_ids


VERSIONS = (select(LetterVersion.id, LetterVersion.number, LetterVersion.kind,
                   LetterVersion.created_at, LetterVersion.language)
            .where(LetterVersion.letter_id == bindparam("letter_id"))
            .order_by(LetterVersion.number))


def split_of(letter: Letter) -> Split | None:
    """The letter's split, or None when no text of it changed after the original (it lists
    exactly as it did before texts could change): one query of its few versions."""
    versions = db.session.execute(VERSIONS, {"letter_id": letter.id}).all()
    changes = [v for v in versions if v.kind == "change"]
    if not changes:
        return None
    numbers = {v.id: v.number for v in versions}
    own = [v for v in changes if v.language == letter.language]
    last = (own or changes)[-1]
    if all(v.language == letter.language for v in versions):
        return Split(last.id, last.number, last.created_at, numbers)
    earlier: set[int] = set()
    for language in {v.language for v in changes}:
        newest = [v for v in changes if v.language == language][-1]
        earlier.update(v.id for v in versions if v.language == language and v.id < newest.id)
    return Split(last.id, last.number, last.created_at, numbers, frozenset(earlier), bool(own))
