"""Uploaded images (the letterhead's logo): checked, kept by their content's hash, served only
to the PDF renderer, never over HTTP."""
from __future__ import annotations

import hashlib
import io
import re
import warnings
from pathlib import Path

from flask import current_app
from PIL import Image, UnidentifiedImageError

from .errors import UploadRejected
from .paths import write_atomically

UPLOAD_NAME = re.compile(r"^[0-9a-f]{32}\.(?:png|jpg)$")
IMAGE_MAX_BYTES = 2 * 1024 * 1024
IMAGE_MAX_SIDE = 6000


def upload_folder() -> Path:
    return Path(current_app.instance_path) / "uploads"


def store_image(data: bytes) -> str:
    """Check that `data` is a PNG or JPEG of sensible size and keep it; returns its file name
    (named by its content, so a new logo means a new name and a new PDF)."""
    if not data:
        raise UploadRejected("The file is empty.")
    if len(data) > IMAGE_MAX_BYTES:
        raise UploadRejected(f"The image is larger than {IMAGE_MAX_BYTES // (1024 * 1024)} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind, size = image.format, image.size
                image.verify()
    except (UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, OSError, SyntaxError, ValueError):
        raise UploadRejected("The file is not a PNG or JPEG image.") from None
    if kind not in ("PNG", "JPEG"):
        raise UploadRejected("The file is not a PNG or JPEG image.")
    if max(size) > IMAGE_MAX_SIDE:
        raise UploadRejected(f"The image is larger than {IMAGE_MAX_SIDE} pixels on a side.")
    name = f"{hashlib.sha256(data).hexdigest()[:32]}.{'png' if kind == 'PNG' else 'jpg'}"
    folder = upload_folder()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if not target.exists():
        write_atomically(target, data)
    return name
