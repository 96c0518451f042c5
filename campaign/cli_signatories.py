"""The `campaign` commands that move signatories in and out: import-signatures (with its
--preview), export-csv and export-pdf; a progress bar on a terminal for the long ones
(cli_progress.py)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import click
from flask import current_app
from flask_babel import format_number, ngettext
from flask_babel import gettext as _

from . import (
    audit,
    cli_progress,
    csv_headers,
    delivery,
    imports,
    listing,
    spreadsheets,
    translations,
    worker,
)
from .cli import letter_by_slug, one_line_errors
from .database import reading, writing
from .errors import ImportProblem
from .models import Letter
from .text import clean_text

# ------------------------------------------------------------------ in


@click.command("import-signatures")
@click.argument("slug")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--approved", is_flag=True, help="List the imported signatories at once.")
@click.option("--preview", is_flag=True,
              help="Only say how the file is read (its columns, the ignored ones, every "
                   "problem by line); import nothing.")
@one_line_errors
def import_signatures(slug: str, file: Path, approved: bool, preview: bool) -> None:
    """Import signatories from a CSV file (UTF-8, or Windows-1252; commas, semicolons or tabs;
    headers such as "Organization", "Contact Name", "E-mail"; other columns ignored): all rows
    or none. The whole file is checked first; a large one is then written a few hundred rows at
    a time, its progress shown."""
    spreadsheets.check_size(file.stat().st_size)
    decoded = csv_headers.decode(file.read_bytes())
    with reading():
        letter = letter_by_slug(slug)
    if preview:
        _preview(letter, decoded)
        return
    started = imports.start(letter, decoded.text, approved, filename=file.name, claim=True)
    if started.claim is not None:
        with cli_progress.progress(started.count, _("Importing"),
                                   cli_progress.written) as update:
            imports.run_here(started.claim, lambda done, total: update(done), started.rows)
    click.echo(_("Imported %(count)s signatories into %(slug)s", count=started.count, slug=slug))


def _preview(letter: Letter, decoded: csv_headers.Decoded) -> None:
    """Say how the file would be imported, every row checked; fail when a row has a problem."""
    checked = spreadsheets.check_rows(letter, decoded.text, approved=False)
    mark = csv_headers.delimiter(decoded.text)
    click.echo(_("Read as %(encoding)s text, columns separated by %(delimiter)s.",
                 encoding=decoded.encoding,
                 delimiter={",": _("commas"), ";": _("semicolons"), "\t": _("tabs")}[mark]))
    for column, field in checked.header.mapped:
        click.echo(f"  {column} -> {csv_headers.FIELD_LABELS[field]}")
    if checked.header.ignored:
        click.echo(_("Ignored columns: %(columns)s.", columns=", ".join(checked.header.ignored)))
    for problem in checked.problems:
        click.echo(problem)
    if checked.problems:
        raise ImportProblem([ngettext("%(num)d row has a problem: nothing would be imported",
                                      "%(num)d rows have a problem: nothing would be imported",
                                      len(checked.problems))])
    if not checked.rows:
        raise ImportProblem([_("line 2: the file has no rows under its header")])
    click.echo(ngettext("%(num)d row would be imported (nothing was written).",
                        "%(num)d rows would be imported (nothing was written).",
                        len(checked.rows)))


# ------------------------------------------------------------------ out


@click.command("export-pdf")
@click.argument("slug")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path))
@click.option("--addendum", is_flag=True, help="The signatories listed after delivery instead.")
@click.option("--language", default="",
              help="One of the letter's translations: its text and headings, the same list.")
@one_line_errors
def export_pdf(slug: str, output: Path, addendum: bool, language: str) -> None:
    """Write the signed letter (the letter and its approved signatories) as PDF; once the letter
    is delivered, the delivered copy, byte for byte."""
    with reading():
        letter = letter_by_slug(slug)
        record = delivery.delivery_of(letter)
        translation = translations.get(letter, language) if language else None
        listed = listing.count(letter)
    if language and language != letter.language and translation is None:
        raise click.ClickException(_("%(slug)s has no translation in %(language)s",
                                     slug=letter.slug, language=language))
    rendering = (translation is not None or record is None) or addendum
    if rendering and cli_progress.on_terminal():  # one render, in a child: no steps to count
        click.echo(_("Rendering the PDF (%(count)s signatories listed); a long list takes a "
                     "while…", count=format_number(listed)), err=True)
    if translation is not None and not addendum:
        data: bytes | None = worker.render_translation_now(letter, translation)
    elif record is not None and not addendum:
        data = record.pdf
    else:
        data = worker.render_now(letter, addendum=addendum)  # rendered now, outside any unit
    if data is None:
        raise click.ClickException(_("%(slug)s has no addendum: it is not delivered, or no "
                                     "signatory was listed after delivery", slug=letter.slug))
    output.write_bytes(data)
    click.echo(_("Wrote %(file)s (%(size)s kB, SHA-256 %(sha256)s)", file=output,
                 size=len(data) // 1024, sha256=hashlib.sha256(data).hexdigest()))


@click.command("export-csv")
@click.argument("slug")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path))
@click.option("--private", is_flag=True, help="Add contact name, email and phone.")
@one_line_errors
def export_csv(slug: str, output: Path, private: bool) -> None:
    """Write the approved signatories as CSV."""
    with reading():
        letter = letter_by_slug(slug)
        total = listing.count(letter)
    columns = spreadsheets.PRIVATE_FIELDS if private else spreadsheets.public_fields()
    every = max(1, int(current_app.config["IMPORT_CHUNK_ROWS"]))
    with output.open("w", encoding="utf-8", newline="") as f, \
            cli_progress.progress(total, _("Exporting")) as update:
        rows = cli_progress.counted(listing.stream(letter, private=private), update, every)
        for chunk in spreadsheets.csv_lines(rows, columns):
            f.write(chunk)
    if private:  # the contacts are written: who took them goes in the letter's history
        with writing():
            audit.record(letter, "contacts.export",
                         clean_text(os.fsencode(output.resolve()).decode("utf-8", "replace")))
    click.echo(_("Wrote %(file)s", file=output))
