"""The `campaign` commands on letters: letter files in and out, the kept counts, erasing contact
details when due (the imports and exports of signatories: cli_signatories.py)."""
from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask_babel import gettext as _

from . import (
    audit,
    count_check,
    letter_files,
    letters,
    reconsent,
    retention,
    translations,
)
from .cli import letter_by_slug, one_line_errors
from .database import reading, writing

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
