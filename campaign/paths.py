"""Where the app finds its templates, example letters and migrations, in a checkout or a wheel."""
from __future__ import annotations

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
