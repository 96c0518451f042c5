"""A long list of signatories laid out ahead of rendering: cut into stable parts, each entry
wrapped into its lines, each part set in pages of two columns.

Stable parts. The list is cut where a scope begins and before each entry whose id hashes to a hit
(one in PART_ENTRIES), so where a part begins and ends depends on its own entries: one more
approval changes the part the new name falls into and (nearly always) no other, and a part is
kept and used again by what it shows (assemble.py). Each part starts on a new page, so no cut is
made before a part holds PART_LEAST entries (few pages left nearly empty), and from PART_MOST on
a weaker hit also cuts (no part too long to lay out again quickly).

Pages. Every line of every entry is known ahead (names wrapped at spaces with the widths of DejaVu,
measured with Pillow's FreeType as Pango sets them), so a page is set as two columns of text, each
one block whose lines are line breaks: far fewer boxes for WeasyPrint than a box per entry. A
column never holds more than fits the page, so an entry is never split; the last page of a part
has its two columns balanced. The renderer checks that each part came out with the pages planned
(writer.py) and otherwise renders it again the way a short list is set (html.py).

The measures are WeasyPrint's own for static/pdf.css on letter paper (tests/test_pdf_layout.py
checks them against a render).
"""
from __future__ import annotations

import functools
import hashlib
import logging
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..listing import Listed

log = logging.getLogger(__name__)

# Measures in CSS px (1pt = 4/3 px), as WeasyPrint lays out static/pdf.css on letter paper.
PAGE_HEIGHT = 878.36  # 11in less 2.2cm and 2.5cm of margins
SPARE = 3.0  # room left on every page for rounding
TEXT_WIDTH = 306.35  # half of 8.5in less 2 x 2.3cm, less the column's 1.2em right padding
WRAP_WIDTH = TEXT_WIDTH * 0.985  # lines are cut a little short of it: never wrapped again by Pango
NAME_FIRST = 22.627  # a name's first line, in bold, set lower by the gap between entries
NAME_MORE = 16.013  # a name's next lines
LINE = 15.947  # a line of place or contact
HEADING = 21.078  # a scope's heading (h3) above the columns
LIST_HEADING = 24.472  # the list's heading (h2), on the first page of the first part
FONT_PX = 9.2 * 4 / 3
JOINERS = "\u200d\ufe0e\ufe0f"  # zero-width joiner, variation selectors
FONTS = {"name": "DejaVuSerif-Bold.ttf", "text": "DejaVuSerif.ttf", "sans": "DejaVuSans.ttf"}

# The last page a part leaves part empty costs about 6% more pages than an unbroken list; the
# part one more name falls into holds some 380 entries on average, half a second to lay out.
PART_ENTRIES = 250  # about how many entries a part holds (some six pages)
PART_LEAST = 50  # fewer, and a part goes on to the next cut in its scope
PART_MOST = 500  # more, and it is cut at a weaker hit (four times as frequent)


class Unmeasurable(Exception):
    """The fonts to measure names with are not on this machine: render in one pass instead."""


# ------------------------------------------------------------------ measuring text


@functools.cache
def _font(kind: str) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.truetype(FONTS[kind], 100)
    except OSError:
        raise Unmeasurable(f"{FONTS[kind]} not found") from None


def measurable() -> bool:
    """Whether the fonts to measure names with are on this machine."""
    try:
        for kind in FONTS:
            _font(kind)
    except Unmeasurable as exc:
        log.warning("a long list in one pass: %s", exc)
        return False
    return True


def font_path(kind: str) -> Path:
    """The file of one of the fonts the PDF is set in."""
    return Path(_font(kind).path)


@functools.cache
def _covered(kind: str) -> frozenset[int]:
    """The characters the font has (others are drawn from a fallback font, of unknown width)."""
    from fontTools.ttLib import TTFont

    with TTFont(_font(kind).path, lazy=True) as font:
        return frozenset(font.getBestCmap())


@functools.lru_cache(maxsize=131072)
def _width(word: str, kind: str) -> float:
    """A word's width in px, set at 9.2pt; a character the font lacks counts a full em."""
    covered = _covered(kind)
    missing = sum(1 for c in word if ord(c) not in covered)
    kept = "".join(c for c in word if ord(c) in covered)
    measured = _font(kind).getlength(kept) if kept else 0.0
    return (measured / 100 + missing) * FONT_PX


def wrap(text: str, kind: str) -> list[str]:
    """`text` cut into the lines it takes in a column: at spaces, as Pango would (it may also
    break at hyphens and slashes, which only ever saves lines); a word wider than a line is cut
    where it must be, between characters."""
    space = _width(" ", kind)
    lines: list[str] = []
    line: list[str] = []
    used = 0.0
    for word in filter(None, text.split(" ")):  # not split(): no break at a no-break space
        width = _width(word, kind)
        if line and used + space + width <= WRAP_WIDTH:
            line.append(word)
            used += space + width
            continue
        if line:
            lines.append(" ".join(line))
        if width <= WRAP_WIDTH:
            line, used = [word], width
            continue
        *whole, rest = _cut_word(word, kind)
        lines.extend(whole)
        line, used = [rest], _width(rest, kind)
    if line:
        lines.append(" ".join(line))
    return lines


def _cut_word(word: str, kind: str) -> Iterator[str]:
    """A word wider than a line in pieces that each fit, never cut before a combining mark or a
    joiner, nor after a joiner."""
    start = 0
    while start < len(word):
        end = start + 1
        while end < len(word) and (_joined(word, end) or
                                   _width(word[start:end + 1], kind) <= WRAP_WIDTH):
            end += 1
        yield word[start:end]
        start = end


def _joined(word: str, at: int) -> bool:
    """Whether `word` must not be cut before position `at`."""
    c, before = word[at], word[at - 1]
    return unicodedata.category(c) in ("Mn", "Mc", "Me") or c in JOINERS or before == "\u200d"


def lines(text: str, kind: str) -> int:
    """How many lines `text` takes in a column."""
    return len(wrap(text, kind))


# ------------------------------------------------------------------ entries, parts, pages


@dataclass(frozen=True)
class Entry:
    """A signatory as a column shows it: the lines of its name, then of its place and contact."""

    name: tuple[str, ...]
    rest: tuple[str, ...]

    @property
    def height(self) -> float:
        return NAME_FIRST + (len(self.name) - 1) * NAME_MORE + len(self.rest) * LINE


def shown(row: Listed, show_contacts: bool) -> Entry:
    rest = wrap(row.identification, "text") + wrap(row.place, "text")
    if show_contacts:
        rest += wrap(row.contact, "text")
    return Entry(tuple(wrap(row.shown_name, "name")) or ("",), tuple(rest))


@dataclass(frozen=True)
class Page:
    """One page of a part: its two columns, the left one filled first."""

    left: tuple[Entry, ...]
    right: tuple[Entry, ...]

    @property
    def columns(self) -> tuple[tuple[Entry, ...], ...]:
        return tuple(column for column in (self.left, self.right) if column)


@dataclass(frozen=True)
class Part:
    """Consecutive signatories of one scope, set on pages of their own: `heading` is the scope's
    label when the part opens the scope (None when it goes on with it), `opens_list` says that
    the list's own heading comes first."""

    heading: str | None
    opens_list: bool
    rows: tuple[Listed, ...]


def cut(groups: Iterable[tuple[str, Sequence[Listed]]], every: int | None = None,
        least: int | None = None, most: int | None = None) -> list[Part]:
    """The list (scope label, rows in listing order) as stable parts: cut where a scope begins
    and before each row whose id is a hit (one in `every`, PART_ENTRIES), once the part holds
    `least` rows (PART_LEAST); from `most` rows on (PART_MOST), at a weaker hit (four in
    `every`), so that parts stay short."""
    every, least, most = every or PART_ENTRIES, least or PART_LEAST, most or PART_MOST
    parts: list[Part] = []
    for heading, rows in groups:
        pieces: list[list[Listed]] = []
        for row in rows:
            held = len(pieces[-1]) if pieces else 0
            if not pieces or (held >= least and _hit(row.id, every, 4 if held >= most else 1)):
                pieces.append([row])
            else:
                pieces[-1].append(row)
        for n, piece in enumerate(pieces):
            parts.append(Part(heading if n == 0 else None, not parts, tuple(piece)))
    return parts


def _hit(ident: int, every: int, weight: int = 1) -> bool:
    """Whether the row of this id is a cut: for `weight` in `every` ids, by a hash of the id."""
    digest = hashlib.blake2b(ident.to_bytes(8, "big", signed=True), digest_size=8).digest()
    return int.from_bytes(digest, "big") % every < weight


def paginate(part: Part, show_contacts: bool) -> list[Page]:
    """A part's pages: each column filled with as many entries as fit, the first page below the
    headings, the last page's two columns balanced."""
    entries = [shown(row, show_contacts) for row in part.rows]
    room = PAGE_HEIGHT - SPARE
    first = room - (HEADING if part.heading else 0) - (LIST_HEADING if part.opens_list else 0)
    pages: list[Page] = []
    at = 0
    while at < len(entries):
        height = first if not pages else room
        middle = _fill(entries, at, height)
        end = _fill(entries, middle, height)
        if end == len(entries):
            middle = _balance(entries, at, height)
        pages.append(Page(tuple(entries[at:middle]), tuple(entries[middle:end])))
        at = end
    return pages


def _fill(entries: Sequence[Entry], start: int, height: float) -> int:
    """Where a column that begins at `start` ends: as many entries as fit, at least one."""
    used, end = 0.0, start
    while end < len(entries) and (end == start or used + entries[end].height <= height):
        used += entries[end].height
        end += 1
    return end


def _balance(entries: Sequence[Entry], start: int, height: float) -> int:
    """Where the left column of a last page ends so that the longer of its two columns is as
    short as can be (the left one when they could be either), neither longer than `height`."""
    total = sum(e.height for e in entries[start:])
    best, best_end, used = (float("inf"), 0.0), start + 1, 0.0
    for end in range(start + 1, len(entries) + 1):
        used += entries[end - 1].height
        if used > height and end > start + 1:
            break
        if total - used <= height and (max(used, total - used), -used) < best:
            best, best_end = (max(used, total - used), -used), end
    return best_end
