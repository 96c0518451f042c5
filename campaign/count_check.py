"""`campaign check-counts`: the counts of listed signatures that the database keeps
(listed_count, by triggers) against a fresh count of the signature table, and their repair."""
from __future__ import annotations

from sqlalchemy import func, select

from .extensions import db
from .models import (
    ListedCount,
    Signature,
)


def fresh_counts(letter_id: int | None = None) -> dict[tuple[int, str], int]:
    """Listed signatures per (letter, scope), counted now from the signature table."""
    query = (select(Signature.letter_id, Signature.scope, func.count())
             .where(Signature.status == "approved", Signature.held.is_(False))
             .group_by(Signature.letter_id, Signature.scope))
    if letter_id is not None:
        query = query.where(Signature.letter_id == letter_id)
    return {(lid, scope): int(n) for lid, scope, n in db.session.execute(query)}


def kept_counts(letter_id: int | None = None) -> dict[tuple[int, str], int]:
    """The kept counts per (letter, scope), zeros left out."""
    query = select(ListedCount.letter_id, ListedCount.scope, ListedCount.listed) \
        .where(ListedCount.listed != 0)
    if letter_id is not None:
        query = query.where(ListedCount.letter_id == letter_id)
    return {(lid, scope): int(n) for lid, scope, n in db.session.execute(query)}


def count_mismatches() -> dict[tuple[int, str], tuple[int, int]]:
    """Every (letter, scope) whose kept count differs from a fresh count: (kept, fresh)."""
    kept, fresh = kept_counts(), fresh_counts()
    return {key: (kept.get(key, 0), fresh.get(key, 0)) for key in kept.keys() | fresh.keys()
            if kept.get(key, 0) != fresh.get(key, 0)}


def repair_counts() -> int:
    """Set every kept count to a fresh count (in the caller's writing unit); returns how many
    were wrong."""
    wrong = count_mismatches()
    for (letter_id, scope), (_, fresh) in wrong.items():
        row = db.session.get(ListedCount, (letter_id, scope))
        if row is None:
            db.session.add(ListedCount(letter_id=letter_id, scope=scope, listed=fresh))
        else:
            row.listed = fresh
    db.session.flush()
    return len(wrong)
