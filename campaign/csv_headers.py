"""Reading the spreadsheets people actually have: the file's bytes as text (UTF-8, with or
without a BOM, UTF-16 from Excel's "Unicode text", else Windows-1252), its delimiter (comma,
semicolon or tab, sniffed from the header row), and its header row matched to the fields of a
signature case-, space- and punctuation-insensitively with the usual aliases; any other column
is ignored and listed, never a reason to refuse the file."""
from __future__ import annotations

import _csv
import codecs
import csv
import io
import re
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .errors import ImportProblem

# The fields an import fills, in the order the preview lists them.
FIELDS = ("organization", "contact_name", "contact_title", "email", "phone", "website",
          "city", "region", "country", "scope", "affiliation")
FIELD_LABELS = {
    "organization": _l("Organization"), "contact_name": _l("Contact name"),
    "contact_title": _l("Contact title"), "email": _l("Email"), "phone": _l("Phone"),
    "website": _l("Website"), "city": _l("City"), "region": _l("State / Region"),
    "country": _l("Country"), "scope": _l("Scope"), "affiliation": _l("Affiliation"),
}
# A header cell, folded (lower case, letters and digits only), -> the field it fills. The
# exact lowercase names of the command's contract fold to themselves (contact_name ->
# contactname).
ALIASES = {
    **{name: "organization" for name in (
        "organization", "organisation", "org", "orgname", "organizationname",
        "organisationname", "nameoforganization", "nameoforganisation", "group", "groupname",
        "organizationorgroup", "signingorganization", "signingorganisation")},
    **{name: "contact_name" for name in (
        "contactname", "name", "contact", "contactperson", "fullname", "yourname",
        "nameofcontact", "contactpersonname")},
    **{name: "contact_title" for name in (
        "contacttitle", "title", "jobtitle", "position", "yourtitle", "contactposition")},
    **{name: "email" for name in (
        "email", "emailaddress", "mail", "contactemail", "youremail", "youremailaddress")},
    **{name: "phone" for name in (
        "phone", "phonenumber", "telephone", "tel", "mobile", "cellphone", "contactphone")},
    **{name: "website" for name in (
        "website", "web", "url", "webaddress", "homepage", "site", "websiteurl",
        "organizationwebsite", "organisationwebsite")},
    **{name: "city" for name in ("city", "town", "cityortown", "citytown")},
    **{name: "region" for name in (
        "region", "state", "province", "stateprovince", "stateregion", "stateorprovince",
        "stateorregion", "provinceregion")},
    **{name: "country" for name in ("country", "nation")},
    **{name: "scope" for name in ("scope", "level")},
    **{name: "affiliation" for name in ("affiliation",)},
}
DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True)
class Header:
    """A header row matched: the field of each column (None: ignored), and for the preview the
    columns that fill a field and the named columns that are ignored, as the file names them."""

    fields: list[str | None]
    mapped: list[tuple[str, str]]  # (the file's column, the field it fills)
    ignored: list[str]


@dataclass(frozen=True)
class Decoded:
    """A file's text and the encoding it was read in (shown on the preview)."""

    text: str
    encoding: str


def fold(cell: str) -> str:
    """A header cell as it is matched: "E-mail " -> "email", "Contact Name" -> "contactname"."""
    return re.sub(r"[\W_]+", "", cell.casefold())


def decode(data: bytes) -> Decoded:
    """The text of a spreadsheet file: UTF-8 (a BOM dropped), UTF-16 when it opens with its BOM,
    else Windows-1252, which is what Excel saves as "CSV" on Windows. Bytes that are none of
    these are refused naming the first bad line."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return Decoded(data.decode("utf-16"), "UTF-16")
        except UnicodeDecodeError:
            raise ImportProblem([_("line 1: not UTF-16 text, though it starts as if it were "
                                   "(save the file as CSV UTF-8)")]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    else:
        return Decoded(text, "UTF-8")
    try:
        return Decoded(data.decode("cp1252"), "Windows-1252")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportProblem([_("line %(line)s: neither UTF-8 nor Windows-1252 text (save the "
                               "file as CSV UTF-8)", line=line)]) from None


def delimiter(text: str) -> str:
    """The delimiter of a CSV text: of comma, semicolon and tab, the one its header row holds
    most often outside quotes (a comma when it holds none: a file of one column)."""
    first = _first_record(text)
    counts = {mark: first.count(mark) for mark in DELIMITERS}
    best = max(DELIMITERS, key=lambda mark: counts[mark])  # ties go to the earlier mark
    return best if counts[best] else ","


def _first_record(text: str) -> str:
    """The header row with its quoted parts left out (a quoted "Name, full" holds no delimiter);
    a quote left open ends it at the end of the first line."""
    outside, quoted = [], False
    for char in text.lstrip("\ufeff")[:65536]:
        if char == '"':
            quoted = not quoted
        elif char in "\r\n" and not quoted:
            break
        elif not quoted:
            outside.append(char)
    return "".join(outside)


def reader(text: str) -> _csv.Reader:
    """A strict CSV reader of the text in its sniffed delimiter."""
    return csv.reader(io.StringIO(text), delimiter=delimiter(text), strict=True)


def match(cells: list[str]) -> Header:
    """The header row matched to the fields; ImportProblem when no column names the
    organization, or two columns fill the same field (which one to keep is the organizer's
    choice, not ours)."""
    fields: list[str | None] = []
    mapped: list[tuple[str, str]] = []
    ignored: list[str] = []
    by_field: dict[str, str] = {}
    for cell in cells:
        shown = cell.strip()
        field = ALIASES.get(fold(shown))
        if field is not None and field in by_field:
            raise ImportProblem([_("line 1: the columns %(first)s and %(second)s both give "
                                   "the %(field)s (rename or delete one of them)",
                                   first=repr(by_field[field][:80]), second=repr(shown[:80]),
                                   field=str(FIELD_LABELS[field]).lower())])
        fields.append(field)
        if field is not None:
            by_field[field] = shown
            mapped.append((shown, field))
        elif shown:
            ignored.append(shown)
    if "organization" not in by_field:
        named = ", ".join(cell.strip() for cell in cells if cell.strip())
        raise ImportProblem([_("line 1: no column names the organization (call it "
                               "Organization, Organisation or Org name; the header names: "
                               "%(columns)s)", columns=named[:200] or _("nothing"))])
    return Header(fields, mapped, ignored)
