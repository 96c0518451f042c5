"""Where the app finds its templates, example letters and migrations, in a checkout or a wheel;
and how it writes a file so that no reader ever sees half of it."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def _top_level(name: str) -> Path:
    """A checkout (or editable install) has it beside the package; a built wheel inside it."""
    beside = PACKAGE.parent / name
    return beside if beside.is_dir() else PACKAGE / f"_{name}"


TEMPLATES = _top_level("templates")
LETTERS = _top_level("letters")
MIGRATIONS = PACKAGE / "migrations"
STATIC = PACKAGE / "static"


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then move it into place."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
