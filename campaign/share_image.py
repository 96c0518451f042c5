"""The preview image a shared link of a letter shows (1200x630 PNG): drawn with Pillow by the
worker, kept in the database under the hash of what it shows, served as it was kept.

The image shows the letter's title, its coalition's name, "Sign the letter" (or, once it is
closed, "Read the letter") and the site's host; never a count, so it is drawn again only when
that text (or the drawing code, DRAWING_VERSION) changes, not at every signature. Drawing takes
tens of milliseconds: it happens in the worker's sweep, outside any writing unit, never on a
request.
"""
from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from flask import current_app
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from .database import reading, upsert_insert, writing
from .extensions import db
from .models import Letter, ShareImage, utcnow

log = logging.getLogger(__name__)

SIZE = (1200, 630)  # what Facebook, X, LinkedIn and messengers show best
DRAWING_VERSION = "1"  # change it when the drawing changes: every image is drawn again
PER_SWEEP = 50  # images drawn by one sweep at most (about 50 ms each)
DEFAULT_IMAGE = "share-default.png"  # in campaign/static: shown until a letter's own is made

# The app's colours (static/style.css)
BACKGROUND = "#fbfaf7"
INK = "#1b1f24"
MUTED = "#5b6470"
ACCENT = "#1d4e89"
LINE = "#d8dde3"
WHITE = "#ffffff"

# DejaVu (Debian's fonts-dejavu-core) covers most scripts and has a bold; Pillow's own scalable
# font (Pillow >= 10.1) needs nothing installed and stands in where DejaVu is missing.
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
REGULAR, BOLD = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"


class Shown(NamedTuple):
    """What a letter's image shows: the image changes exactly when this does."""

    title: str
    coalition: str
    action: str  # "Sign the letter", or "Read the letter" once it is closed
    host: str

    def content_hash(self) -> str:
        parts = (DRAWING_VERSION, _font_name(), self.title, self.coalition, self.action,
                 self.host)
        return hashlib.sha256("\x1e".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Kept:
    """A letter's image as the worker stored it."""

    content_hash: str
    png: bytes


def host() -> str:
    """The site's host as CAMPAIGN_BASE_URL names it, shown at the image's foot."""
    return urlsplit(current_app.config["BASE_URL"]).netloc


def shown(title: str, coalition: str | None, status: str) -> Shown:
    action = "Read the letter" if status == "closed" else "Sign the letter"
    return Shown(title.strip(), (coalition or "").strip(), action, host())


def shown_for(letter: Letter) -> Shown:
    return shown(letter.title, letter.coalition_name, letter.status)


# ------------------------------------------------------------------ drawing


def _font_name() -> str:
    return "dejavu" if BOLD.exists() and REGULAR.exists() else "pillow"


@cache
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    if _font_name() == "dejavu":
        return ImageFont.truetype(str(BOLD if bold else REGULAR), size)
    return ImageFont.load_default(size=size)  # type: ignore[return-value]


def draw(what: Shown) -> bytes:
    """The image as a PNG: the coalition's name over the title (as large as fits in four lines),
    and a foot with the action ("Sign the letter") and the host."""
    image = Image.new("RGB", SIZE, BACKGROUND)
    pen = ImageDraw.Draw(image)
    width, height = SIZE
    pen.rectangle((0, 0, width, 14), fill=ACCENT)  # the accent band along the top
    left, right = 80, width - 80
    top = 80
    if what.coalition:
        small = font(34)
        line = _fit(pen, what.coalition, small, right - left)
        pen.text((left, top), line, font=small, fill=MUTED)
        top += 70
    title_font, lines = _title_lines(pen, what.title or "An open letter", right - left,
                                     height - 170 - top)
    step = int(title_font.size * 1.2)
    for i, line in enumerate(lines):
        pen.text((left, top + i * step), line, font=title_font, fill=INK)
    foot = height - 120
    pen.line((left, foot - 20, right, foot - 20), fill=LINE, width=2)
    button = font(36, bold=True)
    label = what.action
    label_width = pen.textlength(label, font=button)
    pen.rounded_rectangle((left, foot, left + label_width + 64, foot + 68), radius=8, fill=ACCENT)
    pen.text((left + 32, foot + 34), label, font=button, fill=WHITE, anchor="lm")
    site = font(30)
    room = int(right - left - label_width - 120)
    pen.text((right, foot + 34), _fit(pen, what.host, site, room),
             font=site, fill=MUTED, anchor="rm")
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def _title_lines(pen: ImageDraw.ImageDraw, title: str, width: int, room: int
                 ) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest size at which the title fits in `room` pixels of height (four lines at the
    smallest size, the last one cut with an ellipsis)."""
    for size in (72, 64, 56):
        face = font(size, bold=True)
        lines = _wrap(pen, title, face, width)
        if len(lines) * int(size * 1.2) <= room:
            return face, lines
    face = font(48, bold=True)
    lines = _wrap(pen, title, face, width)
    if len(lines) > 4:
        lines = lines[:3] + [_fit(pen, " ".join(lines[3:]), face, width)]
    return face, lines


def _wrap(pen: ImageDraw.ImageDraw, text: str, face: ImageFont.FreeTypeFont,
          width: int) -> list[str]:
    """The text in lines no wider than `width`, broken between words (a word too long for a line
    is broken where it has to be)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if pen.textlength(candidate, font=face) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        while pen.textlength(word, font=face) > width:
            cut = max(n for n in range(1, len(word) + 1)
                      if n == 1 or pen.textlength(word[:n], font=face) <= width)
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    if line:
        lines.append(line)
    return lines


def _fit(pen: ImageDraw.ImageDraw, text: str, face: ImageFont.FreeTypeFont, width: int) -> str:
    """The text on one line, cut with an ellipsis if it is wider than `width`."""
    if pen.textlength(text, font=face) <= width:
        return text
    while text and pen.textlength(text + "…", font=face) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def draw_default() -> bytes:
    """The image shown for a letter whose own is not made yet: static/share-default.png is this,
    made once by this function and kept with the code."""
    return draw(Shown("Coalition sign-on letters", "Campaign", "Sign the letter", ""))


# ------------------------------------------------------------------ keeping and serving


def kept(slug: str) -> Kept | None:
    """The image of the letter at `slug` as the worker made it, if the letter's list is public
    (not a draft, nor collecting) and the image is made; else None. One query."""
    row = db.session.execute(
        select(Letter.status, ShareImage.content_hash, ShareImage.png)
        .join(ShareImage, ShareImage.letter_id == Letter.id)
        .where(Letter.slug == slug)).first()
    if row is None or row.status in ("draft", "collecting"):
        return None
    return Kept(row.content_hash, row.png)


def due() -> list[tuple[int, Shown]]:
    """The letters (but drafts) whose image is missing or shows something else than they do now,
    at most PER_SWEEP of them. A collecting letter's is made too, ready for when it opens."""
    rows = db.session.execute(
        select(Letter.id, Letter.title, Letter.coalition_name, Letter.status,
               ShareImage.content_hash)
        .outerjoin(ShareImage, ShareImage.letter_id == Letter.id)
        .where(Letter.status != "draft").order_by(Letter.id)).all()
    wanted = [(row.id, shown(row.title, row.coalition_name, row.status), row.content_hash)
              for row in rows]
    return [(letter_id, what) for letter_id, what, stored in wanted
            if what.content_hash() != stored][:PER_SWEEP]


def make_due() -> int:
    """Draw the images due (outside any unit) and keep each in a short writing unit; how many
    were made. A letter whose text changed while its image was drawn is left to the next sweep."""
    with reading():
        todo = due()
    made = 0
    for letter_id, what in todo:
        try:
            png = draw(what)
        except Exception:  # a bug in the drawing: the other letters' images are still made
            log.exception("could not draw the share image of letter %s", letter_id)
            continue
        content_hash = what.content_hash()
        with writing():
            letter = db.session.get(Letter, letter_id)
            if letter is None or shown_for(letter) != what:
                continue
            # an upsert: workers on several hosts may sweep at once (the last one's stays)
            values = {"content_hash": content_hash, "png": png, "made_at": utcnow()}
            db.session.execute(upsert_insert()(ShareImage).values(letter_id=letter_id, **values)
                               .on_conflict_do_update(index_elements=["letter_id"], set_=values))
            made += 1
    if made:
        log.info("made the share images of %d letters", made)
    return made
