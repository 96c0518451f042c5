"""The `campaign` commands on letters and their signatories: letter files in and out, imports,
the PDF and CSV exports, the kept counts, erasing contact details when due."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import click
from flask import current_app

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
    with writing():
        done = reconsent.save(letters.get_letter(text.slug), text,
                              reconsent.CHANGE if ask else reconsent.CORRECTION)
        slug = done.letter.slug
    if done.version is not None and done.version.number > 1:
        click.echo(f"Recorded version {done.version.number} ({done.version.kind}); "
                   f"{done.asked} signer(s) asked to confirm it.", err=True)
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
                click.echo(f"Written {done:,} of {total:,} rows")

        imports.run_here(started.claim, progress, started.rows)
    click.echo(f"Imported {started.count} signatories into {slug}")


@click.command("export-pdf")
@click.argument("slug")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path))
@click.option("--addendum", is_flag=True, help="The signatories listed after delivery instead.")
@one_line_errors
def export_pdf(slug: str, output: Path, addendum: bool) -> None:
    """Write the signed letter (the letter and its approved signatories) as PDF; once the letter
    is delivered, the delivered copy, byte for byte."""
    with reading():
        letter = letter_by_slug(slug)
        record = delivery.delivery_of(letter)
    if record is not None and not addendum:
        data: bytes | None = record.pdf
    else:
        data = worker.render_now(letter, addendum=addendum)  # rendered now, outside any unit
    if data is None:
        raise click.ClickException(f"{letter.slug} has no addendum: it is not delivered, or no "
                                   "signatory was listed after delivery")
    output.write_bytes(data)
    click.echo(f"Wrote {output} ({len(data) // 1024} kB, "
               f"SHA-256 {hashlib.sha256(data).hexdigest()})")


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
    click.echo(f"Wrote {output}")


@click.command("export-letter")
@click.argument("slug")
@click.option("-o", "--output", "output", type=click.Path(path_type=Path),
              help="The file to write (standard output when not given).")
@one_line_errors
def export_letter(slug: str, output: Path | None) -> None:
    """Write the letter in the letter-file format, which `import-letter` reads back to the same
    letter."""
    with reading():
        text = letter_files.file_text(letter_by_slug(slug))
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"Wrote {output}")


@click.command("purge-contacts")
@one_line_errors
def purge_contacts() -> None:
    """Erase now the contact details (name, title, email, phone) that
    CAMPAIGN_RETAIN_CONTACTS_DAYS says are due; the worker does it once a day."""
    days = retention.days()
    if days is None:
        click.echo("CAMPAIGN_RETAIN_CONTACTS_DAYS is not set: contact details are kept; "
                   "nothing was erased.")
        return
    purged = retention.purge_due()
    if not purged.letters:
        click.echo(f"No letter is due: contact details are erased {days} days after a letter "
                   "is delivered or closed.")
        return
    click.echo(f"Erased the contact details of {purged.signatures} signature(s) of "
               f"{purged.letters} letter(s).")


@click.command("check-counts")
@click.option("--repair", is_flag=True, help="Set every wrong count to a fresh count.")
@one_line_errors
def check_counts(repair: bool) -> None:
    """Compare the kept counts of listed signatories with a fresh count of the signatures."""
    with reading():
        wrong = count_check.count_mismatches()
    for (letter_id, scope), (kept, fresh) in sorted(wrong.items()):
        click.echo(f"letter {letter_id}, {scope}: kept {kept}, counted {fresh}")
    if not wrong:
        click.echo("The kept counts equal a fresh count.")
        return
    if not repair:
        raise click.ClickException(f"{len(wrong)} kept count(s) differ from a fresh count "
                                   "(run it again with --repair to set them right)")
    with writing():
        repaired = count_check.repair_counts()
        audit.record(None, "counts.repair", f"{repaired} count(s)",
                     before={f"letter {letter_id}, {scope}": kept
                             for (letter_id, scope), (kept, _) in sorted(wrong.items())},
                     after={f"letter {letter_id}, {scope}": fresh
                            for (letter_id, scope), (_, fresh) in sorted(wrong.items())})
    click.echo(f"Repaired {repaired} count(s).")
