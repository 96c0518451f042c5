"""What changed between two texts of a letter, for the people asked to agree to the new one: the
paragraphs that differ, each with the words removed and added. Shown in the re-consent emails
(as text and HTML), on the confirm page and on the organizers' versions page (templates/_diff.html);
pure, so any of them can show it without the database."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from .models import Letter, LetterVersion

MAX_DIFF_WORDS = 20_000  # longer blocks are shown removed and added whole (difflib is quadratic)

@dataclass(frozen=True)
class Piece:
    """A stretch of text in a difference: "same", "removed" or "added"."""

    change: str
    text: str


Hunk = list[Piece]  # one changed paragraph (or several that changed together)


def version_text(version: LetterVersion) -> str:
    """A version's whole text as a signer reads it: title, addressee, body."""
    return "\n\n".join(part for part in (version.title, version.recipient, version.body) if part)


def _paragraphs(text: str) -> list[str]:
    return [p.strip("\n") for p in re.split(r"\n[ \t]*\n", text.strip()) if p.strip()]


def difference(old: str, new: str) -> list[Hunk]:
    """The paragraphs that differ between two texts, each with its words removed and added;
    unchanged paragraphs left out."""
    before, after = _paragraphs(old), _paragraphs(new)
    hunks: list[Hunk] = []
    matcher = SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag == "replace" and i2 - i1 == j2 - j1:
            hunks.extend(_words(a, b) for a, b in zip(before[i1:i2], after[j1:j2], strict=True))
        else:
            hunks.append(_words("\n\n".join(before[i1:i2]), "\n\n".join(after[j1:j2])))
    return hunks


def _words(old: str, new: str) -> Hunk:
    """A block's words as removed, added or the same (adjacent stretches merged)."""
    a, b = re.findall(r"\s+|\S+", old), re.findall(r"\s+|\S+", new)
    if len(a) + len(b) > MAX_DIFF_WORDS:
        return _merged([Piece("removed", old), Piece("added", new)])
    pieces = []
    matcher = SequenceMatcher(str.isspace, a, b, autojunk=False)  # no match on a lone space
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pieces.append(Piece("same", "".join(a[i1:i2])))
            continue
        pieces.append(Piece("removed", "".join(a[i1:i2])))
        pieces.append(Piece("added", "".join(b[j1:j2])))
    return _merged(pieces)


def _merged(pieces: list[Piece]) -> Hunk:
    merged: Hunk = []
    for piece in pieces:
        if not piece.text:
            continue
        if merged and merged[-1].change == piece.change:
            merged[-1] = Piece(piece.change, merged[-1].text + piece.text)
        else:
            merged.append(piece)
    return merged


MARKS = {"same": ("", ""), "removed": ("[-", "-]"), "added": ("{+", "+}")}


def as_text(hunks: Sequence[Hunk]) -> str:
    """A difference as plain text: removed words [-like this-], added ones {+like this+}, the
    changed paragraphs apart, "[...]" between them."""
    return "\n\n[...]\n\n".join(
        "".join(MARKS[p.change][0] + p.text + MARKS[p.change][1] for p in hunk)
        for hunk in hunks)


def version_difference(old: LetterVersion | None, new: LetterVersion) -> list[Hunk]:
    return difference(version_text(old) if old is not None else "", version_text(new))


def previous(version: LetterVersion) -> LetterVersion | None:
    """The version before this one, if any."""
    earlier = [v for v in version.letter.versions if v.number < version.number]
    return earlier[-1] if earlier else None


def agreed_version(letter: Letter, version_id: int | None,
                   asked: LetterVersion) -> LetterVersion | None:
    """The version a signer agreed to (by its id), or, for one made before the letter had any,
    the version just before the one they are asked about."""
    for version in letter.versions:
        if version.id == version_id:
            return version
    return previous(asked)
