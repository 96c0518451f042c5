"""Compile the translation catalogs (campaign/translations/*/LC_MESSAGES/messages.po) into the
.mo files Flask-Babel reads, whenever the project is built or installed (`pip install .` or
`-e .`): the compiled catalogs ship in the wheel and are never committed as the only copy."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CompileCatalogs(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        root = Path(self.root)
        for po in sorted((root / "campaign" / "translations").glob("*/LC_MESSAGES/*.po")):
            with po.open("rb") as source:
                catalog = read_po(source, locale=po.parent.parent.name)
            mo = po.with_suffix(".mo")
            with mo.open("wb") as target:
                write_mo(target, catalog)
            if version != "editable":  # an editable install reads them where they are
                build_data["force_include"][str(mo)] = str(mo.relative_to(root))
