"""A letter's translations: its text (title, addressee, body) in other languages than its own.

All the texts of a letter share one list of signatories, one count and one set of rules; each
has its own versions (LetterVersion.language: a change of the Spanish text asks the signers of
the Spanish text again, not the others; reconsent.py, agreed.py) and its own PDF, with the same
list (renders.py). A signature records the version of the text it was made on, and so its
language. `letter.translated_to` lists the translations' languages, kept in step here, so the
letter's page chooses a language without reading them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, cast

from flask import g
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select

from . import audit, letters, markup, reconsent, renders
from .errors import LetterError
from .extensions import db
from .i18n import current_language
from .models import Letter, LetterTranslation, LetterVersion, text_hash, utcnow
from .text import storable

CORRECTION, CHANGE = "correction", "change"  # as reconsent.py names them


class Text(NamedTuple):
    """A letter's text in one language, as its pages show it."""

    language: str
    title: str
    recipient: str
    body_html: Markup


@dataclass
class Saved:
    translation: LetterTranslation
    version: LetterVersion | None  # the version recorded now, if any
    asked: int  # signers asked to confirm it


def of(letter: Letter) -> list[LetterTranslation]:
    """The letter's translations, by language."""
    if not letter.translated_to:
        return []
    return list(db.session.scalars(select(LetterTranslation)
                                   .where(LetterTranslation.letter_id == letter.id)
                                   .order_by(LetterTranslation.language)))


def get(letter: Letter, language: str) -> LetterTranslation | None:
    if language not in letter.translated_to.split(","):
        return None
    return db.session.scalar(select(LetterTranslation).where(
        LetterTranslation.letter_id == letter.id, LetterTranslation.language == language))


def text(letter: Letter, language: str | None) -> Text:
    """The letter's text in `language` when it has one, else in its own."""
    found = get(letter, language) if language and language != letter.language else None
    if found is None:
        return Text(letter.language, letter.title, letter.recipient,
                    markup.stored(letter.body_html))
    return Text(found.language, found.title, found.recipient, markup.stored(found.body_html))


class Translated:
    """The letter as its text in another language shows it (the PDF of that language): its
    title, addressee, body and language are the translation's; everything else, the letter's."""

    def __init__(self, letter: Letter, translation: LetterTranslation) -> None:
        self._letter = letter
        self.title, self.recipient = translation.title, translation.recipient
        self.body, self.body_html = translation.body, translation.body_html
        self.language = translation.language

    def content_hash(self) -> str:
        return text_hash(self.title, self.recipient, self.body)

    def __getattr__(self, name: str) -> object:
        return getattr(self._letter, name)


def printed(letter: Letter, translation: LetterTranslation) -> Letter:
    """The letter as the PDF of the translation's language prints it (a Translated, which
    stands for a Letter wherever the PDF reads one)."""
    return cast(Letter, Translated(letter, translation))


def title(letter: Letter) -> str:
    """The letter's title in the language of the page or email being written, when it has a
    text in it (templates: `letter_title(letter)`); read once per request and letter."""
    language = current_language()
    if language == letter.language or language not in letter.translated_to.split(","):
        return letter.title
    kept = g.setdefault("letter_titles", {})
    key = (letter.id, language)
    if key not in kept:
        found = get(letter, language)
        kept[key] = found.title if found is not None else letter.title
    return str(kept[key])


def check(letter: Letter, language: str) -> str:
    """`language` as the code of a translation of `letter` (not its own language)."""
    code = letters.check_language(language)
    if code == letter.language:
        raise LetterError(_("%(language)s is the letter's own language: edit the letter itself "
                            "for its text in it.", language=code))
    return code


def save(letter: Letter, language: str, title: str, recipient: str, body: str,
         kind: str = CHANGE) -> Saved:
    """Add or change the letter's text in `language` (in the caller's writing unit). Checked as
    the letter's own text is; once the letter is public a new text is kept as a version of that
    language, of `kind`, and a change asks that language's earlier signers to confirm it.
    Audited; the letter's pages and PDFs are made again."""
    code = check(letter, language)
    title = letters.check_title(title)
    body = letters.clean_body(body)
    recipient = letters.clean_lines(recipient)
    if kind not in (CORRECTION, CHANGE):
        raise ValueError(f"a new text is a correction or a change, not {kind!r}")
    body_html = str(markup.markdown_to_html(body))
    found = get(letter, code)
    before = None if found is None else {"title": found.title,
                                         "content_hash": _hash(found)}
    if found is None:
        found = LetterTranslation(letter_id=letter.id, language=code, title="", recipient="",
                                  body="", body_html="")
        db.session.add(found)
    found.title, found.recipient = storable(title), storable(recipient)
    found.body, found.body_html = storable(body), storable(body_html)
    found.updated_at = utcnow()
    _list(letter, code)
    letter.updated_at = utcnow()  # the kept pages of the letter name its last change
    version = record_version(letter, found, kind)
    asked = reconsent.ask(letter, version) if version is not None and version.kind == CHANGE \
        else 0
    audit.record(letter, "letter.translation", f"{code}: {found.title}", before=before,
                 after={"title": found.title, "content_hash": _hash(found),
                        "version": version.number if version else None,
                        "kind": version.kind if version else None, "signers_asked": asked})
    renders.want(letter)
    return Saved(found, version, asked)


def delete(letter: Letter, language: str) -> bool:
    """Take a translation off the letter; its versions stay, as do the signatures made on them
    (they count in the letter's one list)."""
    found = get(letter, language)
    if found is None:
        return False
    db.session.delete(found)
    letter.translated_to = ",".join(c for c in letter.translated_to.split(",")
                                    if c and c != language)
    letter.updated_at = utcnow()
    audit.record(letter, "letter.translation.delete", f"{language}: {found.title}",
                 before={"title": found.title, "content_hash": _hash(found)})
    renders.want(letter)
    return True


def changes_version(letter: Letter, language: str, title: str, recipient: str,
                    body: str) -> bool:
    """Whether saving this text would record a new version after the first of the language
    (the form then asks whether it is a correction or a change)."""
    current = letter.latest_version(language)
    return (current is not None and letter.status != "draft"
            and text_hash(title, recipient, body) != current.content_hash)


def record_version(letter: Letter, found: LetterTranslation,
                   kind: str = CHANGE) -> LetterVersion | None:
    """As letters.record_version, for a translation's text: a public letter keeps each new text
    of the language as a numbered version (the first of a language is its "original")."""
    if letter.status == "draft":
        return None
    digest = _hash(found)
    current = letter.latest_version(found.language)
    if current is not None and current.content_hash == digest:
        return None
    version = LetterVersion(number=letters.next_number(letter), title=found.title,
                            recipient=found.recipient, body=found.body, content_hash=digest,
                            kind=kind if current else "original", language=found.language)
    letter.versions.append(version)
    db.session.flush()  # its id: reconsent.ask reads who signed the versions before it
    return version


def record_versions(letter: Letter) -> None:
    """Each translation's first version, when its letter becomes public (a draft keeps none)."""
    for found in of(letter):
        record_version(letter, found)


def _hash(found: LetterTranslation) -> str:
    return text_hash(found.title, found.recipient, found.body)


def _list(letter: Letter, language: str) -> None:
    codes = [c for c in letter.translated_to.split(",") if c]
    if language not in codes:
        letter.translated_to = ",".join(sorted([*codes, language]))
