"""What changed between two texts of a letter, for the people asked to agree to the new one: the
paragraphs that differ, each with the lines, and within them the words, removed and added.
Shown in the re-consent emails (as text and HTML), on the confirm page and on the organizers'
versions page (templates/_diff.html); pure, so any of them can show it without the database."""
from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from .models import Letter, LetterVersion

# What one comparison may take on (difflib is near-quadratic, worse on repeated words): a pair of
# lines (or of runs of lines) with more words and spaces than MAX_DIFF_WORDS, or a pair of texts or
# blocks with more paragraphs or lines than MAX_DIFF_LINES, is shown removed and added whole.
# Below EXACT_WORDS a pair is compared exactly; above it (and for lines and paragraphs, of any
# number) difflib's autojunk leaves out, as anchors, what recurs everywhere, which keeps repeated
# words or lines from making it slow.
MAX_DIFF_WORDS = 2_000
MAX_DIFF_LINES = 2_000
EXACT_WORDS = 500
CACHED = 64  # differences kept per process: each pair of texts is compared once, not per email

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
    """The paragraphs that differ between two texts, each with its lines, and within a changed
    line its words, removed and added; unchanged paragraphs left out. Worked out once per pair
    of texts in a process (_compared): every email of a change and every view of its page
    shows the same one."""
    return [list(hunk) for hunk in _compared(old, new)]


@functools.lru_cache(maxsize=CACHED)
def _compared(old: str, new: str) -> tuple[tuple[Piece, ...], ...]:
    before, after = _paragraphs(old), _paragraphs(new)
    if len(before) + len(after) > MAX_DIFF_LINES:
        return (_whole(old.strip(), new.strip()),) if before != after else ()
    hunks: list[tuple[Piece, ...]] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, before, after).get_opcodes():
        if tag == "equal":
            continue
        if tag == "replace" and i2 - i1 == j2 - j1:
            hunks.extend(_block(a, b) for a, b in zip(before[i1:i2], after[j1:j2], strict=True))
        else:
            hunks.append(_block("\n\n".join(before[i1:i2]), "\n\n".join(after[j1:j2])))
    return tuple(hunks)


def _block(old: str, new: str) -> tuple[Piece, ...]:
    """A paragraph's lines as removed, added or the same, and the words of each changed line (a
    table's row, a list's item): only the lines that changed are compared word by word."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    if len(a) + len(b) > MAX_DIFF_LINES:
        return _whole(old, new)
    pieces: list[Piece] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b).get_opcodes():
        if tag == "equal":
            pieces.append(Piece("same", "".join(a[i1:i2])))
        elif tag == "replace" and i2 - i1 == j2 - j1:
            for x, y in zip(a[i1:i2], b[j1:j2], strict=True):
                pieces.extend(_words(x, y))
        else:
            pieces.extend(_words("".join(a[i1:i2]), "".join(b[j1:j2])))
    return _merged(pieces)


def _whole(old: str, new: str) -> tuple[Piece, ...]:
    """A block too long to compare: shown removed and added whole."""
    return _merged([Piece("removed", old), Piece("added", new)])


def _words(old: str, new: str) -> tuple[Piece, ...]:
    """A line's (or run of lines') words as removed, added or the same."""
    if not old or not new:
        return _whole(old, new)
    a, b = re.findall(r"\s+|\S+", old), re.findall(r"\s+|\S+", new)
    if len(a) + len(b) > MAX_DIFF_WORDS:
        return _whole(old, new)
    pieces = []
    matcher = SequenceMatcher(str.isspace, a, b,  # no match on a lone space
                              autojunk=len(a) + len(b) > EXACT_WORDS)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pieces.append(Piece("same", "".join(a[i1:i2])))
            continue
        pieces.append(Piece("removed", "".join(a[i1:i2])))
        pieces.append(Piece("added", "".join(b[j1:j2])))
    return _merged(pieces)


def _merged(pieces: list[Piece]) -> tuple[Piece, ...]:
    merged: Hunk = []
    for piece in pieces:
        if not piece.text:
            continue
        if merged and merged[-1].change == piece.change:
            merged[-1] = Piece(piece.change, merged[-1].text + piece.text)
        else:
            merged.append(piece)
    return tuple(merged)


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
    earlier = [v for v in version.letter.versions_in(version.language) if v.number < version.number]
    return earlier[-1] if earlier else None


def agreed_version(letter: Letter, version_id: int | None,
                   asked: LetterVersion) -> LetterVersion | None:
    """The version a signer agreed to (by its id), or, for one made before the letter had any,
    the version just before the one they are asked about."""
    for version in letter.versions:
        if version.id == version_id:
            return version
    return previous(asked)
