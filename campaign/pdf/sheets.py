"""A long list of signatories cut into its pages before it is rendered.

Knowing each page's entries ahead of time lets the PDF be made in parts at once, one process per
part on each core, with every part's page numbers right ("Page N of M"), and no part a page
longer than planned: each sheet is given a forced page break and no more than fits a page.

What fits is worked out from the print stylesheet's measures (static/pdf.css: letter paper, its
margins, 9.2pt entries two to a row, the headings) and the width of each name set in DejaVu
(measured with Pillow's FreeType, as Pango sets it), wrapped at spaces. Every guess errs on the
long side: a name is never given fewer lines than it takes, and each page keeps a little room
spare. The renderer still checks that each part came out with the pages planned.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..listing import Listed

# Measures in CSS px (1pt = 4/3 px), as WeasyPrint lays out static/pdf.css on letter paper.
PAGE_HEIGHT = 878.36  # 11in less 2.2cm and 2.5cm of margins
SPARE = 10.0  # room left on every page for what the measures below do not foresee
TEXT_WIDTH = 306.35  # half of 8.5in less 2 x 2.3cm, less the entry's 1.2em right padding
NAME_LINE = 16.02  # a line with the name in bold
LINE = 15.95  # a line of place or contact
ENTRY_GAP = 6.75  # .entry margin-bottom
HEADING = 35.1  # .group h3 with its margins
LIST_HEADING = 49.7  # .signatories margin-top and its h2, on the first sheet
FONT_PX = 9.2 * 4 / 3
FONTS = {"name": "DejaVuSerif-Bold.ttf", "text": "DejaVuSerif.ttf"}


@dataclass
class Sheet:
    """One page of the list: (heading, entries) blocks; heading None for a group continued."""

    blocks: list[tuple[str | None, list[Any]]] = field(default_factory=list)
    entries: int = 0


class Unmeasurable(Exception):
    """The fonts to measure names with are not on this machine: render in one pass instead."""


@functools.cache
def _font(kind: str) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.truetype(FONTS[kind], 100)
    except OSError:
        raise Unmeasurable(f"{FONTS[kind]} not found") from None


@functools.cache
def _covered(kind: str) -> frozenset[int]:
    """The characters the font has (others are drawn from a fallback font, of unknown width)."""
    from fontTools.ttLib import TTFont

    with TTFont(_font(kind).path, lazy=True) as font:
        return frozenset(font.getBestCmap())


@functools.lru_cache(maxsize=65536)
def _width(word: str, kind: str) -> float:
    """A word's width in px, set at 9.2pt; a character the font lacks counts a full em."""
    covered = _covered(kind)
    missing = sum(1 for c in word if ord(c) not in covered)
    kept = "".join(c for c in word if ord(c) in covered)
    measured = _font(kind).getlength(kept) if kept else 0.0
    return (measured / 100 + missing) * FONT_PX


def lines(text: str, kind: str) -> int:
    """How many lines `text` takes at most in an entry: wrapped at spaces only (Pango may also
    break at hyphens and slashes, which only ever saves lines); a word wider than a line counts
    as many lines as it is wide, and one more (it may break, or overflow, anywhere)."""
    space, limit = _width(" ", kind), TEXT_WIDTH * 0.995
    count, used = 0, 0.0
    for word in filter(None, text.split(" ")):  # not split(): no break at a no-break space
        width = _width(word, kind)
        if count and used + space + width <= limit:
            used += space + width
        elif width <= limit:
            count, used = count + 1, width
        else:
            count, used = count + math.ceil(width / TEXT_WIDTH) + 1, limit
    return count


def entry_height(entry: Listed, show_contacts: bool) -> float:
    others = lines(entry.place, "text")
    if show_contacts:
        others += lines(entry.contact_name, "text")
    return lines(entry.shown_name, "name") * NAME_LINE + others * LINE + ENTRY_GAP


def paginate(groups: Iterable[tuple[str, Sequence[Listed]]], show_contacts: bool) -> list[Sheet]:
    """The list as pages: rows of two in each group, a heading kept with its first row, the
    first page opened by the list's own heading."""
    room = PAGE_HEIGHT - SPARE
    sheets = [Sheet()]
    used = LIST_HEADING
    for heading, items in groups:
        first = True
        for at in range(0, len(items), 2):
            pair = items[at:at + 2]
            height = max(entry_height(e, show_contacts) for e in pair) + (HEADING if first else 0)
            if used + height > room and sheets[-1].entries:
                sheets.append(Sheet())
                used = 0.0
            sheet = sheets[-1]
            if first or not sheet.blocks:
                sheet.blocks.append((heading if first else None, []))
            sheet.blocks[-1][1].extend(pair)
            sheet.entries += len(pair)
            used += height
            first = False
    return sheets
