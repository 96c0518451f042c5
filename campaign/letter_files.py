"""Letter files: YAML front matter between --- lines, then the body in Markdown; read into a
checked LetterText (letters.py makes or updates the letter from it) and written back from a
letter, so that `campaign export-letter` and `import-letter` round-trip."""
from __future__ import annotations

import re
from datetime import tzinfo
from pathlib import Path

import yaml

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
from .models import Letter

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
        raise LetterError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise LetterError(f"{path}: is a folder, not a letter file") from None
    except UnicodeDecodeError:
        raise LetterError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise LetterError(f"{path}: {exc.strerror}") from None
    return parse_text(raw, zone, name=str(path))


def parse_text(raw: str, zone: tzinfo, name: str = "letter") -> LetterText:
    raw = raw.lstrip("\ufeff")
    match = re.match(r"^---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|$)(.*)\Z", raw, re.S)
    if not match and re.match(r"^---[ \t]*\r?\n", raw):
        raise LetterError(f"{name}: the front matter has no closing '---' line")
    if not match:
        raise LetterError(f"{name}: no front matter (the file must start with a line '---')")
    try:
        meta = yaml.load(match.group(1), Loader=_FrontMatterLoader) or {}  # a SafeLoader
    except ValueError:  # an integer of more digits than Python converts
        raise LetterError(f"{name}: the front matter holds a number too long to read") from None
    except RecursionError:  # [[[...]]] or {a: {a: ...}} thousands deep
        raise LetterError(f"{name}: the front matter is nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark else ""
        raise LetterError(f"{name}: the front matter is not valid YAML{where}") from None
    if not isinstance(meta, dict):
        raise LetterError(f"{name}: the front matter must be 'key: value' lines")
    unknown = sorted(set(map(str, meta)) - KNOWN_KEYS)
    if unknown:
        raise LetterError(f"{name}: unknown key {unknown[0]!r} in the front matter")
    for key, value in meta.items():
        if value is not None and key not in STRUCTURED_KEYS \
                and not isinstance(value, str | int | float):  # bool is an int
            raise LetterError(f"{name}: {key!r} must be text, not a list, mapping or binary")
    for key in ("title", "slug"):
        if not meta.get(key):
            raise LetterError(f"{name}: the front matter has no {key!r}")
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
    """The letter files of a folder: every *.md that opens with front matter."""
    return sorted(p for p in folder.glob("*.md")
                  if p.read_bytes().removeprefix(b"\xef\xbb\xbf").startswith(b"---"))


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
    front = yaml.dump(front_matter(letter), Dumper=_FrontMatterDumper, allow_unicode=True,
                      sort_keys=False, width=10_000)
    return f"---\n{front}---\n{letter.body}"
