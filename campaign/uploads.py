"""Uploaded images (the letterhead's logo): checked, named by their content's hash, kept in the
database (so that a worker on any host can put them in a PDF), given only to the PDF renderer,
never served over HTTP."""
from __future__ import annotations

import hashlib
import io
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import gettext as _
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select

from .database import upsert_insert
from .errors import UploadRejected
from .extensions import db
from .models import Upload, utcnow

UPLOAD_NAME = re.compile(r"^[0-9a-f]{32}\.(?:png|jpg)$")
IMAGE_MAX_BYTES = 2 * 1024 * 1024
IMAGE_MAX_SIDE = 6000


@dataclass(frozen=True)
class CheckedImage:
    """An image check_image() found to be a PNG or JPEG of sensible size, and its name (made from
    its content, so a new logo means a new name and a new PDF)."""

    name: str
    content_type: str
    data: bytes


def check_image(data: bytes) -> CheckedImage:
    """Check that `data` is a PNG or JPEG of sensible size (it is decoded: before any writing
    unit); UploadRejected says what is wrong."""
    if not data:
        raise UploadRejected(_("The file is empty."))
    if len(data) > IMAGE_MAX_BYTES:
        raise UploadRejected(_("The image is larger than %(size)s MB.",
                               size=IMAGE_MAX_BYTES // (1024 * 1024)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind, size = image.format, image.size
                image.verify()
    except (UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, OSError, SyntaxError, ValueError):
        raise UploadRejected(_("The file is not a PNG or JPEG image.")) from None
    if kind not in ("PNG", "JPEG"):
        raise UploadRejected(_("The file is not a PNG or JPEG image."))
    if max(size) > IMAGE_MAX_SIDE:
        raise UploadRejected(_("The image is larger than %(size)s pixels on a side.",
                               size=IMAGE_MAX_SIDE))
    name = f"{hashlib.sha256(data).hexdigest()[:32]}.{'png' if kind == 'PNG' else 'jpg'}"
    return CheckedImage(name, f"image/{kind.lower()}", data)


def store_image(image: CheckedImage) -> str:
    """Keep a checked image (in the caller's writing unit); returns its name."""
    insert = upsert_insert()
    db.session.execute(insert(Upload).values(name=image.name, content_type=image.content_type,
                                             data=image.data, created_at=utcnow())
                       .on_conflict_do_nothing(index_elements=["name"]))
    return image.name


UPLOAD_REFERENCE = re.compile(r'src="[^"]*?uploads/(' + UPLOAD_NAME.pattern.strip("^$") + ')"')


def referenced(html: str) -> list[str]:
    """The names of the uploaded images an HTML text shows (the letter's body)."""
    return UPLOAD_REFERENCE.findall(html)


def load(names: Iterable[str | None]) -> dict[str, bytes]:
    """The uploaded images of these names that exist, by name."""
    wanted = {name for name in names if name}
    if not wanted:
        return {}
    rows = db.session.execute(select(Upload.name, Upload.data).where(Upload.name.in_(wanted)))
    return {name: bytes(data) for name, data in rows}
