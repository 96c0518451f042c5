"""The `campaign` commands on letters and their signatories: letter files in and out, imports,
the PDF and CSV exports, the kept counts, erasing contact details when due."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import click
from flask import current_app
from flask_babel import format_number
from flask_babel import gettext as _

from . import (
    audit,
    count_check,
    delivery,
    imports,
    letter_files,
    letters,
    listing,
    reconsent,
    retention,
    spreadsheets,
    translations,
    worker,
)
from .cli import letter_by_slug, one_line_errors
from .database import reading, writing
from .text import clean_text

# ------------------------------------------------------------------ letters and signatures


@click.command("import-letter")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--reconsent", "ask", is_flag=True,
              help="A changed text of a signed letter is a change: its signers are emailed the "
                   "difference and asked to confirm it (without: a correction, nobody asked).")
@one_line_errors
def import_letter(path: Path, ask: bool) -> None:
    """Create or update a letter from a letter file; prints its slug."""
    text = letter_files.parse_file(path, current_app.config["TZ"])
    kind = reconsent.CHANGE if ask else reconsent.CORRECTION
    with writing():
        letter = letters.get_letter(text.slug)
        if letter is not None and text.language != letter.language:  # one of its translations
            saved = translations.save(letter, text.language, text.title, text.recipient,
                                      text.body, kind)
            version, asked = saved.version, saved.asked
            if version is not None and version.kind != "original":
                click.echo(f"Recorded version {version.number} ({version.kind}); "
                           f"{asked} signer(s) asked to confirm it.", err=True)
            click.echo(letter.slug)
            return
        done = reconsent.save(letter, text, kind)
        slug = done.letter.slug
    if done.version is not None and done.version.number > 1:
        number, asked = done.version.number, done.asked  # a correction or a change
        click.echo(_("Recorded version %(number)s (correction); %(asked)s signer(s) asked to "
                     "confirm it.", number=number, asked=asked)
                   if done.version.kind == reconsent.CORRECTION else
                   _("Recorded version %(number)s (change); %(asked)s signer(s) asked to "
                     "confirm it.", number=number, asked=asked), err=True)
    click.echo(slug)


@click.command("import-signatures")
@click.argument("slug")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--approved", is_flag=True, help="List the imported signatories at once.")
@one_line_errors
def import_signatures(slug: str, file: Path, approved: bool) -> None:
    """Import signatories from a CSV file: all rows or none. The whole file is checked first; a
    large one is then written a few hundred rows at a time, its progress shown."""
    spreadsheets.check_size(file.stat().st_size)
    text = spreadsheets.decode_csv(file.read_bytes())
    with reading():
        letter = letter_by_slug(slug)
    started = imports.start(letter, text, approved, filename=file.name, claim=True)
    if started.claim is not None:
        shown = [0]  # rows written when progress was last shown (about every tenth)

        def progress(done: int, total: int) -> None:
            if done - shown[0] >= total // 10 or done == total:
                shown[0] = done
                click.echo(_("Written %(done)s of %(total)s rows", done=format_number(done),
                             total=format_number(total)))

        imports.run_here(started.claim, progress, started.rows)
    click.echo(_("Imported %(count)s signatories into %(slug)s", count=started.count, slug=slug))


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
    if language and language != letter.language and translation is None:
        raise click.ClickException(_("%(slug)s has no translation in %(language)s",
                                     slug=letter.slug, language=language))
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
    columns = spreadsheets.PRIVATE_FIELDS if private else spreadsheets.public_fields()
    with output.open("w", encoding="utf-8", newline="") as f:
        for chunk in spreadsheets.csv_lines(listing.stream(letter, private=private), columns):
            f.write(chunk)
    if private:  # the contacts are written: who took them goes in the letter's history
        with writing():
            audit.record(letter, "contacts.export",
                         clean_text(os.fsencode(output.resolve()).decode("utf-8", "replace")))
    click.echo(_("Wrote %(file)s", file=output))


@click.command("export-letter")
@click.argument("slug")
@click.option("-o", "--output", "output", type=click.Path(path_type=Path),
              help="The file to write (standard output when not given).")
@one_line_errors
def export_letter(slug: str, output: Path | None) -> None:
    """Write the letter in the letter-file format, which `import-letter` reads back to the same
    letter."""
    with reading():
        letter = letter_by_slug(slug)
        text = letter_files.file_text(letter)
        translated = [(t.language, letter_files.translation_text(letter, t))
                      for t in translations.of(letter)]
    if output is None:
        click.echo(text, nl=False)
        if translated:
            click.echo(f"{len(translated)} translation(s) not written: give -o FILE to write "
                       f"them beside it.", err=True)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(_("Wrote %(file)s", file=output))
    for language, written in translated:
        beside = letter_files.translation_path(output, language)
        beside.write_text(written, encoding="utf-8")
        click.echo(f"Wrote {beside}")


@click.command("purge-contacts")
@one_line_errors
def purge_contacts() -> None:
    """Erase now the contact details (name, title, email, phone) that
    CAMPAIGN_RETAIN_CONTACTS_DAYS says are due; the worker does it once a day."""
    days = retention.days()
    if days is None:
        click.echo(_("CAMPAIGN_RETAIN_CONTACTS_DAYS is not set: contact details are kept; "
                     "nothing was erased."))
        return
    purged = retention.purge_due()
    if not purged.letters:
        click.echo(_("No letter is due: contact details are erased %(days)s days after a "
                     "letter is delivered or closed.", days=days))
        return
    click.echo(_("Erased the contact details of %(signatures)s signature(s) of %(letters)s "
                 "letter(s).", signatures=purged.signatures, letters=purged.letters))


@click.command("check-counts")
@click.option("--repair", is_flag=True, help="Set every wrong count to a fresh count.")
@one_line_errors
def check_counts(repair: bool) -> None:
    """Compare the kept counts of listed signatories with a fresh count of the signatures."""
    with reading():
        wrong = count_check.count_mismatches()
    for (letter_id, scope), (kept, fresh) in sorted(wrong.items()):
        click.echo(_("letter %(letter)s, %(scope)s: kept %(kept)s, counted %(fresh)s",
                     letter=letter_id, scope=scope, kept=kept, fresh=fresh))
    if not wrong:
        click.echo(_("The kept counts equal a fresh count."))
        return
    if not repair:
        raise click.ClickException(_("%(count)s kept count(s) differ from a fresh count (run "
                                     "it again with --repair to set them right)",
                                     count=len(wrong)))
    with writing():
        repaired = count_check.repair_counts()
        audit.record(None, "counts.repair", f"{repaired} count(s)",
                     before={f"letter {letter_id}, {scope}": kept
                             for (letter_id, scope), (kept, __) in sorted(wrong.items())},
                     after={f"letter {letter_id}, {scope}": fresh
                            for (letter_id, scope), (__, fresh) in sorted(wrong.items())})
    click.echo(_("Repaired %(count)s count(s).", count=repaired))
