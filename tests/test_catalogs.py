"""The Spanish catalog against the code: complete, translated, in step (no database)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from campaign import cli_translations
from campaign.i18n import TRANSLATIONS

SPANISH = TRANSLATIONS / "es" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


@pytest.fixture(scope="module")
def spanish() -> list:
    with SPANISH.open("rb") as f:
        return [m for m in read_po(f, locale="es") if m.id]


def test_every_string_of_the_code_is_in_the_spanish_catalog_translated_and_in_step():
    assert cli_translations.problems() == []


def test_the_check_names_a_string_missing_from_the_catalog(tmp_path, monkeypatch):
    copy = tmp_path / "es" / "LC_MESSAGES" / "messages.po"
    copy.parent.mkdir(parents=True)
    text = SPANISH.read_text(encoding="utf-8")
    gone = 'msgid "Log out"\nmsgstr "Cerrar sesión"\n'
    assert gone in text
    copy.write_text(text.replace(gone, 'msgid "No longer in any template"\nmsgstr "Ya no"\n'),
                    encoding="utf-8")
    monkeypatch.setattr(cli_translations, "TRANSLATIONS", tmp_path)
    found = cli_translations.problems()
    assert "es: missing 'Log out'" in found
    assert "es: no longer in the code 'No longer in any template'" in found


def test_each_translation_keeps_the_placeholders_of_its_string(spanish):
    wrong = []
    for message in spanish:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(PLACEHOLDER.findall(ids[-1])) - {"num"}
        for string in strings:
            if set(PLACEHOLDER.findall(string)) - {"num"} != wanted:
                wrong.append((ids[0], string))
    assert wrong == []


def test_the_labels_the_contract_names_are_spanish(spanish):
    shown = {m.id: m.string for m in spanish if isinstance(m.id, str)}
    assert "Firmar" in shown["Sign the letter"]
    assert "Confirmar" in shown["Confirm my signature"]
    assert "Retirar" in shown["Withdraw my signature"]


def test_the_compiled_catalog_is_not_committed():
    ignored = (Path(__file__).parents[1] / ".gitignore").read_text()
    assert "*.mo" in ignored.split()
