"""`campaign translations ...`: the interface's catalogs, for the people who translate it.

    campaign translations extract      # every string of the code and templates -> messages.pot
    campaign translations init fr      # a new language's catalog, from messages.pot
    campaign translations update       # each catalog brought in step with messages.pot
    campaign translations compile      # .po -> .mo (the install does it too: hatch_build.py)
    campaign translations check        # exit 1 when a catalog lacks a string or is out of date

They run pybabel (Babel's own command line) with the project's settings (babel.cfg, the
keywords the code uses); `extract` and `check` read the sources, so they work in a checkout."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import click
from babel import Locale, UnknownLocaleError
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from .i18n import TRANSLATIONS, compile_catalogs
from .paths import PACKAGE

ROOT = PACKAGE.parent
TEMPLATE = TRANSLATIONS / "messages.pot"
# the functions the code marks its strings with (beside pybabel's own _, gettext, ngettext)
KEYWORDS = ("_l", "lazy_gettext", "lazy_ngettext:1,2")


def pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])


def extract(output: Path) -> None:
    """Every translatable string of the package and the templates into `output`."""
    if not (ROOT / "babel.cfg").is_file():
        raise click.ClickException("extracting needs a checkout of Campaign (babel.cfg beside "
                                   "the campaign package)")
    keywords = [arg for keyword in KEYWORDS for arg in ("-k", keyword)]
    pybabel("extract", "-F", str(ROOT / "babel.cfg"), *keywords, "--no-location",
            "--sort-output", "--project", "Campaign", "-o", str(output), str(ROOT))


def problems() -> list[str]:
    """What is wrong with the catalogs against the code as it is: a string missing from a
    catalog, untranslated, fuzzy, or kept there though the code no longer has it."""
    with tempfile.TemporaryDirectory() as folder:
        pot = Path(folder) / "messages.pot"
        extract(pot)
        with pot.open("rb") as f:
            wanted = {m.id for m in read_po(f) if m.id}
    found = []
    for po in sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
        language = po.parent.parent.name
        with po.open("rb") as f:
            catalog = read_po(f, locale=language)
        have = {m.id: m for m in catalog if m.id}
        for key in sorted(wanted - have.keys(), key=str):
            found.append(f"{language}: missing {_shown(key)}")
        for key in sorted(have.keys() - wanted, key=str):
            found.append(f"{language}: no longer in the code {_shown(key)}")
        for key in sorted(wanted & have.keys(), key=str):
            message = have[key]
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if message.fuzzy or not all(strings):
                found.append(f"{language}: not translated {_shown(key)}")
    return found


def _shown(key: object) -> str:
    return repr(key[0] if isinstance(key, tuple) else key)


@click.group("translations")
def translations() -> None:
    """The interface's translation catalogs (campaign/translations)."""


@translations.command("extract")
def extract_command() -> None:
    """Write campaign/translations/messages.pot from the code and templates."""
    extract(TEMPLATE)
    click.echo(f"Wrote {TEMPLATE}")


@translations.command("init")
@click.argument("language")
def init_command(language: str) -> None:
    """Start the catalog of LANGUAGE (a code such as fr) from messages.pot."""
    if not re.fullmatch(r"[a-z]{2,3}(?:_[A-Z]{2})?", language):
        raise click.ClickException(f"{language!r} is not a language code such as fr or pt_BR")
    try:
        Locale.parse(language)
    except (ValueError, UnknownLocaleError):
        raise click.ClickException(f"Babel knows no language {language!r}") from None
    if (TRANSLATIONS / language).exists():
        raise click.ClickException(f"{language} has a catalog already: run `update`")
    extract(TEMPLATE)
    pybabel("init", "-i", str(TEMPLATE), "-d", str(TRANSLATIONS), "-l", language)
    click.echo(f"Wrote {TRANSLATIONS / language / 'LC_MESSAGES' / 'messages.po'}")


@translations.command("update")
def update_command() -> None:
    """Extract, then bring every catalog in step with the code (new strings to translate,
    gone ones dropped)."""
    extract(TEMPLATE)
    pybabel("update", "-i", str(TEMPLATE), "-d", str(TRANSLATIONS), "--no-fuzzy-matching",
            "--ignore-obsolete")
    click.echo("Updated the catalogs; translate what is new, then `campaign translations "
               "compile`")


@translations.command("compile")
def compile_command() -> None:
    """Compile each catalog that changed into the .mo file the app reads."""
    for mo in compile_catalogs(force=True):
        click.echo(f"Wrote {mo}")


@translations.command("check")
def check_command() -> None:
    """Exit 1, saying what, when a catalog lacks a string of the code or is out of date."""
    found = problems()
    for line in found:
        click.echo(line)
    if found:
        raise click.ClickException(f"{len(found)} problem(s) in the catalogs")
    click.echo("The catalogs are complete and in step with the code.")
