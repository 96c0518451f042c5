"""Letter files: YAML front matter between --- lines, then the body in Markdown; read into a
checked LetterText (letters.py makes or updates the letter from it) and written back from a
letter, so that `campaign export-letter` and `import-letter` round-trip."""
from __future__ import annotations

import re
from datetime import tzinfo
from pathlib import Path

import yaml
from flask_babel import gettext as _

from . import embeds, partners
from .dates import local, parse_deadline
from .errors import LetterError, PartnerError
from .letters import (
    LetterText,
    check_language,
    check_publish_at,
    check_signers,
    check_slug,
    check_status,
    check_title,
    clean_body,
    clean_lines,
)
from .models import Letter, LetterTranslation

KNOWN_KEYS = {"title", "slug", "recipient", "deadline", "status", "language", "publish_at",
              "signers", "partners", "embed_origins"}
# Keys whose value is a mapping or list, checked by their own reader (the others are text).
STRUCTURED_KEYS = {"partners", "embed_origins"}


class _FrontMatterLoader(yaml.SafeLoader):
    """YAML's safe loader, but dates stay text: dates.parse_deadline reads them and names a bad
    one."""


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_file(path: Path, zone: tzinfo) -> LetterText:
    """Read a letter file: YAML front matter between --- lines, then the Markdown body."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LetterError(_("%(file)s: no such file", file=path)) from None
    except IsADirectoryError:
        raise LetterError(_("%(file)s: is a folder, not a letter file", file=path)) from None
    except UnicodeDecodeError:
        raise LetterError(_("%(file)s: not UTF-8 text", file=path)) from None
    except OSError as exc:
        raise LetterError(f"{path}: {exc.strerror}") from None
    return parse_text(raw, zone, name=str(path))


def parse_text(raw: str, zone: tzinfo, name: str = "letter") -> LetterText:
    raw = raw.lstrip("\ufeff")
    match = re.match(r"^---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|$)(.*)\Z", raw, re.S)
    if not match and re.match(r"^---[ \t]*\r?\n", raw):
        raise LetterError(_("%(file)s: the front matter has no closing '---' line", file=name))
    if not match:
        raise LetterError(_("%(file)s: no front matter (the file must start with a line '---')",
                            file=name))
    try:
        meta = yaml.load(match.group(1), Loader=_FrontMatterLoader) or {}  # a SafeLoader
    except ValueError:  # an integer of more digits than Python converts
        raise LetterError(_("%(file)s: the front matter holds a number too long to read",
                            file=name)) from None
    except RecursionError:  # [[[...]]] or {a: {a: ...}} thousands deep
        raise LetterError(_("%(file)s: the front matter is nested too deeply",
                            file=name)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise LetterError(
            _("%(file)s: the front matter is not valid YAML at line %(line)s", file=name,
              line=mark.line + 2) if mark else
            _("%(file)s: the front matter is not valid YAML", file=name)) from None
    if not isinstance(meta, dict):
        raise LetterError(_("%(file)s: the front matter must be 'key: value' lines", file=name))
    unknown = sorted(set(map(str, meta)) - KNOWN_KEYS)
    if unknown:
        raise LetterError(_("%(file)s: unknown key %(key)s in the front matter", file=name,
                            key=repr(unknown[0])))
    for key, value in meta.items():
        if value is not None and key not in STRUCTURED_KEYS \
                and not isinstance(value, str | int | float):  # bool is an int
            raise LetterError(_("%(file)s: %(key)s must be text, not a list, mapping or binary",
                                file=name, key=repr(key)))
    for key in ("title", "slug"):
        if not meta.get(key):
            raise LetterError(_("%(file)s: the front matter has no %(key)s", file=name,
                                key=repr(key)))
    try:
        return LetterText(
            title=check_title(str(meta["title"])),
            slug=check_slug(str(meta["slug"])),
            recipient=clean_lines(str(meta.get("recipient") or "")),
            deadline=parse_deadline(meta.get("deadline"), zone),
            status=check_status(str(meta.get("status") or "draft")),
            publish_at=check_publish_at(meta.get("publish_at"),
                                        str(meta.get("status") or "draft"), zone),
            language=check_language(str(meta.get("language") or "en")),
            signers=check_signers(str(meta.get("signers") or "organizations")),
            partners=_partners(meta),
            embed_origins=embeds.origins_from_file(meta["embed_origins"])
            if "embed_origins" in meta else None,
            body=clean_body(match.group(2)),
        )
    except LetterError as exc:
        raise LetterError(f"{name}: {exc}") from None


def _partners(meta: dict[str, object]) -> dict[str, str] | None:
    """A letter file's `partners`, checked (partners.check_partners); None when it has none."""
    if "partners" not in meta:
        return None
    try:
        return partners.check_partners(meta["partners"])
    except PartnerError as exc:
        raise LetterError(f"partners: {exc}") from None


def letter_files(folder: Path) -> list[Path]:
    """The letter files of a folder: every *.md that opens with front matter; letters before
    their translations (police.md before police.es.md, as export-letter names them)."""
    return sorted((p for p in folder.glob("*.md")
                   if p.read_bytes().removeprefix(b"\xef\xbb\xbf").startswith(b"---")),
                  key=lambda p: (p.stem.count("."), p.name))


class _FrontMatterDumper(yaml.SafeDumper):
    """YAML's safe dumper, writing a text of several lines (the addressee) as a `|` block."""


def _text_block(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_FrontMatterDumper.add_representer(str, _text_block)


def front_matter(letter: Letter) -> dict[str, object]:
    """The front matter of the letter's file: every key parse_text reads, in the documented
    order; moments in ISO 8601 with their offset in the campaign's time zone."""
    meta: dict[str, object] = {"title": letter.title, "slug": letter.slug}
    if letter.recipient:
        meta["recipient"] = letter.recipient
    if letter.deadline is not None:
        meta["deadline"] = local(letter.deadline).isoformat()
    meta["status"] = letter.status
    meta["language"] = letter.language
    meta["signers"] = letter.signers
    if letter.status == "collecting" and letter.publish_at is not None:
        meta["publish_at"] = local(letter.publish_at).isoformat()
    named = {partner.code: partner.name for partner in partners.all_for(letter)}
    if named:
        meta["partners"] = named
    origins = embeds.origins_for_file(letter)
    if origins is not None:
        meta["embed_origins"] = origins
    return meta


def file_text(letter: Letter) -> str:
    """The letter as a letter file, which parse_text reads back to the same letter."""
    return _written(front_matter(letter), letter.body)


def translation_text(letter: Letter, translation: LetterTranslation) -> str:
    """A translation of the letter as a letter file: the same slug, its language, its text
    (import-letter reads it back as that translation)."""
    meta: dict[str, object] = {"title": translation.title, "slug": letter.slug}
    if translation.recipient:
        meta["recipient"] = translation.recipient
    meta["language"] = translation.language
    return _written(meta, translation.body)


def translation_path(path: Path, language: str) -> Path:
    """Where the file of a translation goes beside the letter's file: police.md -> police.es.md."""
    return path.with_name(f"{path.stem}.{language}{path.suffix or '.md'}")


def _written(meta: dict[str, object], body: str) -> str:
    front = yaml.dump(meta, Dumper=_FrontMatterDumper, allow_unicode=True, sort_keys=False,
                      width=10_000)
    return f"---\n{front}---\n{body}"
