"""Text as Campaign keeps it: clean-up of what people type, sort and duplicate keys of names,
email addresses, countries and places; one copy of each rule."""
from __future__ import annotations

import re
import unicodedata

import pycountry
from email_validator import EmailNotValidError, validate_email

from .errors import SigningError

ORG_FILLER = {"inc", "llc", "the", "of", "and", "corp", "ltd"}
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")  # a letter's address: /letters/<slug>
MAX_ID = 2**31 - 1  # the largest row id a column holds (PostgreSQL's integer)
DIGITS = re.compile(r"[0-9]{1,10}")  # ASCII only: str.isdigit() and int() take '²' and '١'


def parse_id(value: object) -> int | None:
    """A row id as a form or an address gives it: ASCII digits for 1 to MAX_ID, else None."""
    if not isinstance(value, str) or not DIGITS.fullmatch(value):
        return None
    number = int(value)
    return number if 1 <= number <= MAX_ID else None


def parse_ids(values: list[str]) -> list[int] | None:
    """The ids a form gives (its checkboxes); None when any of them is not an id."""
    ids = [parse_id(value) for value in values]
    return None if None in ids else [i for i in ids if i is not None]


def page_number(value: str | None) -> int:
    """A page number from the query string: ASCII digits, at least 1, and more than nine of them
    read as 10**9 (the caller caps it at the last page); anything else is page 1."""
    if value is None or not re.fullmatch(r"[0-9]+", value):
        return 1
    return max(int(value), 1) if len(value) <= 9 else 10**9


def clean_text(value: str | None, limit: int = 300) -> str:
    """Without control or invisible formatting characters, whitespace collapsed, cut at `limit`."""
    if not value:
        return ""
    kept = "".join(c for c in str(value) if unicodedata.category(c)[0] != "C" or c in "\t\n")
    return " ".join(kept.split())[:limit]


def storable(text: str) -> str:
    """Text without the control characters a database cannot or should not keep (NUL among
    them); line breaks and tabs stay."""
    return "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc")


def one_line(text: str) -> str:
    """Every run of whitespace (line breaks included) collapsed, so no text can add a header."""
    return " ".join(str(text).split())


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def sort_key(name: str) -> str:
    """Sort by name ignoring a leading 'The', case and accents."""
    folded = " ".join(_fold(name).split())
    return re.sub(r"^the\s+", "", folded)[:300]


def org_key(name: str) -> str:
    """A name reduced so that spelling variants of one organization meet."""
    folded = re.sub(r"[^\w\s]", " ", sort_key(name))
    words = [w for w in folded.split() if w not in ORG_FILLER]
    return " ".join(words)[:300]


class Address(str):
    """An email address as normalize_email made it: checked, in lower case."""

    __slots__ = ()


# Providers that deliver "first.last@" to "firstlast@": their dots do not make another mailbox.
DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def mailbox(address: str) -> str:
    """The mailbox an address delivers to, for the limits on mail: in lower case, without a
    "+tag" (most providers deliver target+1@ to target@) and, at the providers that ignore them,
    without dots. Only for counting: mail goes to the address as it was given."""
    local, _, domain = address.strip().lower().rpartition("@")
    local = local.split("+", 1)[0] or local
    domain = DOTLESS_DOMAINS.get(domain, domain)
    if domain == "gmail.com":
        local = local.replace(".", "")
    return f"{local}@{domain}"


def normalize_email(raw: str) -> Address:
    """A checked address in lower case. Letters outside ASCII before the @ are refused: they need
    SMTPUTF8, which mail servers often lack (an internationalized domain is fine). An address
    this made already is returned as it is: the sign form checks it, signing need not again."""
    if isinstance(raw, Address):
        return raw
    try:
        info = validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise SigningError(str(exc)) from None
    return Address(info.normalized.lower())


def country_name(raw: str) -> str:
    """A country's common name when `raw` names one (a code or a name), else `raw` cleaned."""
    raw = clean_text(raw, 120)
    if not raw:
        return ""
    try:
        return pycountry.countries.lookup(raw).name
    except LookupError:
        return raw


def place(city: str, region: str) -> str:
    """Where a signatory is, as the list and the PDF show it: "Tucson, AZ"."""
    return ", ".join(part for part in (city, region) if part)
