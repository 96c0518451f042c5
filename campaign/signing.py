"""The signing verbs: sign, confirm, approve, reject, rename, import; with their named errors."""
from __future__ import annotations

import csv
import functools
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pycountry
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import Table, bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import make_transient_to_detached

from . import outbox, ratelimit
from .database import changed
from .extensions import db
from .models import SCOPES, SIGNATURE_STATUSES, Letter, LetterVersion, Signature, utcnow


class SigningError(Exception):
    """Base of the errors a signer or organizer can cause; the message is for people."""


class LetterNotOpen(SigningError):
    pass


class BadToken(SigningError):
    def __init__(self, message: str, signature_id: int | None = None) -> None:
        super().__init__(message)
        self.signature_id = signature_id


class ImportProblem(SigningError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)"
                                                    if len(problems) > 5 else ""))
        self.problems = problems


FREE_MAIL = {
    "gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com",
    "msn.com", "aol.com", "icloud.com", "me.com", "proton.me", "protonmail.com", "gmx.com",
    "mail.com", "yandex.com", "zoho.com", "comcast.net", "att.net", "verizon.net",
}
SCOPE_WORDS = {
    "national": "national", "state": "state", "regional": "state", "state or regional": "state",
    "state/regional": "state", "local": "local", "international": "international",
}
IMPORT_COLUMNS = ("organization", "contact_name", "contact_title", "email", "phone", "website",
                  "city", "region", "country", "scope")


@dataclass
class SignerInput:
    """What a signer submits (or a CSV row carries), already stripped."""

    organization: str
    email: str | None = None
    contact_name: str = ""
    contact_title: str = ""
    phone: str = ""
    website: str = ""
    city: str = ""
    region: str = ""
    country: str = "United States"
    scope: str = "local"
    keep_updated: bool = False
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class SignOutcome:
    signature: Signature
    created: bool


# ------------------------------------------------------------------ names


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def sort_key(name: str) -> str:
    """Sort by name ignoring a leading 'The', case and accents."""
    folded = " ".join(_fold(name).split())
    return re.sub(r"^the\s+", "", folded)[:300]


ORG_FILLER = {"inc", "llc", "the", "of", "and", "corp", "ltd"}


def org_key(name: str) -> str:
    """A name reduced so that spelling variants of one organization meet."""
    folded = re.sub(r"[^\w\s]", " ", sort_key(name))
    words = [w for w in folded.split() if w not in ORG_FILLER]
    return " ".join(words)[:300]


def clean_text(value: str | None, limit: int = 300) -> str:
    """Strip control and invisible formatting characters, collapse whitespace."""
    if not value:
        return ""
    kept = "".join(c for c in str(value) if unicodedata.category(c)[0] != "C" or c in "\t\n")
    return " ".join(kept.split())[:limit]


def normalize_email(raw: str) -> str:
    """A checked address in lower case. Letters outside ASCII before the @ are refused: they need
    SMTPUTF8, which mail servers often lack (an internationalized domain is fine)."""
    try:
        info = validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise SigningError(str(exc)) from None
    return info.normalized.lower()


def country_name(raw: str) -> str:
    raw = clean_text(raw, 120)
    if not raw:
        return ""
    try:
        return pycountry.countries.lookup(raw).name
    except LookupError:
        return raw


def ip_digest(ip: str | None) -> str | None:
    if not ip:
        return None
    key = current_app.config["SECRET_KEY"]
    return hashlib.sha256(f"{key}:{ip}".encode()).hexdigest()


# ------------------------------------------------------------------ signing


def sign(letter: Letter, data: SignerInput, ip: str | None = None,
         honeypot: bool = False) -> SignOutcome:
    """Record a signature and queue its verification email; a repeat email signs nothing new.

    The insert comes first and the unique constraint on (letter, email) decides whether the
    email has signed already, also between parallel requests: one statement, no savepoint."""
    if not letter.accepts_signatures():
        raise LetterNotOpen(closed_message(letter))
    email = normalize_email(data.email or "")
    digest = ip_digest(ip)
    held = honeypot or _over_limit(letter, digest)
    values = _signature_values(letter, data, email=email, status="unconfirmed", source="web")
    signature = _insert_unless_signed({**values, "held": held, "ip_hash": digest})
    if signature is None:
        existing = _by_email(letter, email)
        if existing is None:  # cannot happen: the conflict was on this very email
            raise SigningError("This signature could not be recorded; please try again.")
        _tell_repeat_signer(existing)
        return SignOutcome(existing, created=False)
    if not held:
        send_confirmation(signature)
    return SignOutcome(signature, created=True)


def _insert_unless_signed(values: dict[str, Any]) -> Signature | None:
    """INSERT ... ON CONFLICT (letter_id, email) DO NOTHING RETURNING the new row's id, or None
    when this email has signed this letter already (PostgreSQL and SQLite both have it).

    A Core statement, built once: a tenth of the cost of the ORM's INSERT. The row it wrote
    joins the session as a loaded Signature, with no query to read it back."""
    values = {**values, "created_at": utcnow(), "display_name": None, "confirmed_at": None,
              "decided_at": None}
    row = db.session.connection().execute(
        _insert_statement(db.engine.dialect.name),
        {**values, "version_of": values["letter_id"]}).first()
    if row is None:
        return None
    signature = Signature(**{**values, "id": row.id, "version_id": row.version_id})
    make_transient_to_detached(signature)
    db.session.add(signature)
    return signature


@functools.cache
def _insert_statement(dialect: str) -> Any:
    """The INSERT of sign(): the signature on the letter's latest version, unless signed."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = Signature.__table__
    assert isinstance(table, Table)
    latest = (select(LetterVersion.id)
              .where(LetterVersion.letter_id == bindparam("version_of"))
              .order_by(LetterVersion.number.desc()).limit(1).scalar_subquery())
    return (insert(table).values(version_id=latest)
            .on_conflict_do_nothing(index_elements=["letter_id", "email"])
            .returning(table.c.id, table.c.version_id))


def closed_message(letter: Letter) -> str:
    if letter.status == "draft":
        return "This letter is not open for signatures yet."
    if letter.status == "closed":
        return "This letter is closed: it no longer takes signatures."
    return "The deadline for this letter has passed: it no longer takes signatures."


def _by_email(letter: Letter, email: str) -> Signature | None:
    return db.session.scalar(
        select(Signature).where(Signature.letter_id == letter.id, Signature.email == email)
    )


def _over_limit(letter: Letter, digest: str | None) -> bool:
    if not digest or not current_app.config["RATELIMIT_ENABLED"]:
        return False
    since = utcnow() - timedelta(hours=1)
    recent = db.session.scalar(
        select(func.count()).select_from(Signature).where(
            Signature.letter_id == letter.id, Signature.ip_hash == digest,
            Signature.created_at >= since)
    )
    return int(recent or 0) >= current_app.config["SIGN_LIMIT_PER_HOUR"]


def _new_signature(letter: Letter, data: SignerInput, *, email: str | None, status: str,
                   source: str) -> Signature:
    version = letter.current_version
    return Signature(**_signature_values(letter, data, email=email, status=status, source=source),
                     version_id=version.id if version else None)


def _signature_values(letter: Letter, data: SignerInput, *, email: str | None, status: str,
                      source: str) -> dict[str, Any]:
    name = clean_text(data.organization)
    return {
        "letter_id": letter.id,
        "organization": name,
        "sort_key": sort_key(name),
        "org_key": org_key(name),
        "contact_name": clean_text(data.contact_name, 200),
        "contact_title": clean_text(data.contact_title, 200),
        "email": email,
        "phone": clean_text(data.phone, 50),
        "website": clean_text(data.website),
        "city": clean_text(data.city, 120),
        "region": clean_text(data.region, 120),
        "country": country_name(data.country),
        "scope": data.scope if data.scope in SCOPES else "local",
        "keep_updated": data.keep_updated,
        "status": status,
        "source": source,
    }


MAILS_AGAIN_PER_HOUR = 3  # emails a signature may be sent again (resend, signing again)


def _may_mail_again(signature: Signature) -> bool:
    """Counts one more email to this signer, or False when an hour's share is used up: nobody
    can mailbomb a signer through the resend form or by signing again with their address."""
    event_key = f"mail-again:{signature.id}"
    if ratelimit.exceeded(event_key, MAILS_AGAIN_PER_HOUR, timedelta(hours=1)):
        return False
    ratelimit.hit(event_key)
    return True


def _tell_repeat_signer(signature: Signature) -> None:
    if signature.held or not _may_mail_again(signature):
        return
    if signature.status == "unconfirmed":
        send_confirmation(signature, again=True)
    else:
        outbox.enqueue("already-signed", signature.email or "",
                       f"You have already signed: {signature.letter.title}",
                       "already_signed", signature=signature, letter=signature.letter,
                       letter_url=external_url("public.letter", slug=signature.letter.slug))


# ------------------------------------------------------------------ tokens and confirming


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="confirm-signature")


def make_token(signature: Signature) -> str:
    return str(_serializer().dumps({"s": signature.id, "e": _email_tag(signature)}))


def _email_tag(signature: Signature) -> str:
    return hashlib.sha256((signature.email or "").encode()).hexdigest()[:12]


def external_url(endpoint: str, **values: object) -> str:
    """An absolute address under BASE_URL; works outside a request too (the worker, commands)."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return current_app.config["BASE_URL"] + path


def send_confirmation(signature: Signature, again: bool = False) -> None:
    letter = signature.letter
    days = current_app.config["TOKEN_MAX_AGE_DAYS"]
    outbox.enqueue(
        "confirm", signature.email or "",
        f"Confirm your signature: {letter.title}",
        "confirm", signature=signature, letter=letter, again=again, days=days,
        confirm_url=external_url("public.confirm", token=make_token(signature)),
    )


def signature_for_token(token: str) -> Signature:
    """The signature a link stands for; BadToken says why the link cannot be used."""
    max_age = int(current_app.config["TOKEN_MAX_AGE_DAYS"]) * 86400
    serializer = _serializer()
    try:
        payload = serializer.loads(token, max_age=max_age)
    except SignatureExpired as exc:  # its payload is still encoded, but its signature is good
        try:
            sid = _payload_id(serializer.load_payload(exc.payload)) if exc.payload else None
        except BadSignature:
            sid = None
        raise BadToken("This link has expired.", sid) from None
    except BadSignature:
        raise BadToken("This link is not valid: it may have been cut off or changed.") from None
    sid = _payload_id(payload)
    signature = db.session.get(Signature, sid) if sid else None
    if signature is None or payload.get("e") != _email_tag(signature):
        raise BadToken("This link is not valid: it may have been cut off or changed.")
    return signature


def _payload_id(payload: object) -> int | None:
    if isinstance(payload, dict) and isinstance(payload.get("s"), int):
        return int(payload["s"])
    return None


def confirm(signature: Signature) -> bool:
    """Confirm once; True when this call made the change (parallel confirms make one)."""
    letter = signature.letter
    if letter.status == "closed":
        raise LetterNotOpen(closed_message(letter))
    new_status = "pending" if letter.require_approval else "approved"
    result = db.session.execute(
        update(Signature)
        .where(Signature.id == signature.id, Signature.status == "unconfirmed")
        .values(status=new_status, confirmed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(signature)
    return bool(changed(result))


def resend(letter: Letter, raw_email: str) -> None:
    """Send a fresh link to an unconfirmed signer; says nothing about whether anyone signed."""
    try:
        email = normalize_email(raw_email)
    except SigningError:
        return
    signature = _by_email(letter, email)
    if (signature is not None and signature.status == "unconfirmed" and not signature.held
            and _may_mail_again(signature)):
        send_confirmation(signature, again=True)


# ------------------------------------------------------------------ moderation


def decide(letter: Letter, ids: Iterable[int], approve: bool) -> int:
    """Approve or reject confirmed signatures of this letter; returns how many changed."""
    target = "approved" if approve else "rejected"
    result = db.session.execute(
        update(Signature)
        .where(Signature.letter_id == letter.id, Signature.id.in_(list(ids)),
               Signature.status.in_(("pending", "approved", "rejected")),
               Signature.status != target)
        .values(status=target, decided_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()
    return changed(result)


def release(letter: Letter, ids: Iterable[int]) -> int:
    """Let held submissions go on: they get their verification email now."""
    held = db.session.scalars(
        select(Signature).where(Signature.letter_id == letter.id, Signature.id.in_(list(ids)),
                                Signature.held.is_(True))
    ).all()
    for signature in held:
        signature.held = False
        if signature.status == "unconfirmed":
            send_confirmation(signature)
    return len(held)


def rename(signature: Signature, display_name: str) -> None:
    """Set how the organization's name is shown; blank goes back to what was submitted."""
    shown = clean_text(display_name)
    signature.display_name = shown if shown and shown != signature.organization else None
    signature.sort_key = sort_key(signature.shown_name)


def flags(signature: Signature, same_org_count: int) -> list[str]:
    """What an organizer should look at before approving."""
    found = []
    if same_org_count > 1:
        found.append("same organization signed more than once")
    domain = (signature.email or "").rpartition("@")[2]
    if domain in FREE_MAIL:
        found.append("free-mail address")
    elif domain and signature.website:
        site = re.sub(r"^[a-z]+://", "", signature.website.lower()).split("/")[0].split(":")[0]
        if site and _base_domain(site) != _base_domain(domain):
            found.append("email domain differs from the website's")
    if signature.held:
        found.append("held: over the rate limit or caught by the spam trap")
    return found


# Second-level labels under which a country's registrable names sit: example.org.uk, example.com.au
SECOND_LEVEL = {"ac", "co", "com", "edu", "gob", "gov", "gv", "ne", "net", "or", "org"}


def _base_domain(host: str) -> str:
    """The registrable part of a host name, near enough: sunrise.org.uk, example.org."""
    parts = host.removeprefix("www.").split(".")
    keep = 3 if len(parts) > 2 and len(parts[-1]) == 2 and parts[-2] in SECOND_LEVEL else 2
    return ".".join(parts[-keep:])


def org_counts(letter: Letter) -> dict[str, int]:
    rows = db.session.execute(
        select(Signature.org_key, func.count())
        .where(Signature.letter_id == letter.id, Signature.status != "rejected")
        .group_by(Signature.org_key)
    ).all()
    return {key: int(n) for key, n in rows}


def status_counts(letter: Letter) -> dict[str, int]:
    """How many signatures of the letter are in each state; held ones counted apart."""
    rows = db.session.execute(
        select(Signature.status, Signature.held, func.count())
        .where(Signature.letter_id == letter.id)
        .group_by(Signature.status, Signature.held)
    ).all()
    counts = {status: 0 for status in (*SIGNATURE_STATUSES, "held")}
    for status, held, n in rows:
        counts["held" if held else status] += int(n)
    return counts


def version_counts(letter: Letter) -> dict[int | None, int]:
    """How many signatures were made on each version of the letter's text."""
    rows = db.session.execute(
        select(Signature.version_id, func.count())
        .where(Signature.letter_id == letter.id).group_by(Signature.version_id)
    ).all()
    return {vid: int(n) for vid, n in rows}


def moderation_list(letter: Letter, tab: str, limit: int = 500) -> list[Signature]:
    """Signatures on one moderation tab, oldest first for the queue, by name elsewhere."""
    query = select(Signature).where(Signature.letter_id == letter.id)
    if tab == "held":
        query = query.where(Signature.held.is_(True))
    else:
        query = query.where(Signature.status == tab, Signature.held.is_(False))
    order = (Signature.created_at, Signature.id) if tab in ("pending", "unconfirmed", "held") \
        else (SCOPE_ORDER, Signature.sort_key, Signature.id)
    return list(db.session.scalars(query.order_by(*order).limit(limit)))


# ------------------------------------------------------------------ listing


SCOPE_ORDER = case({scope: i for i, scope in enumerate(SCOPES)}, value=Signature.scope, else_=9)


def _listed_where(letter: Letter, search: str = "") -> list:  # type: ignore[type-arg]
    where = [Signature.letter_id == letter.id, Signature.status == "approved",
             Signature.held.is_(False)]
    search = clean_text(search, 100)  # no NUL or controls reach the query
    if search:
        name, city = _contains(sort_key(search)), _contains(search.lower())
        where.append(Signature.sort_key.like(name, escape="\\")
                     | func.lower(Signature.city).like(name, escape="\\")
                     | func.lower(Signature.city).like(city, escape="\\"))
    return where


def _contains(text: str) -> str:
    """A LIKE pattern for `text` anywhere, its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


LISTING_ORDER = (SCOPE_ORDER, Signature.sort_key, Signature.id)


def listed_query(letter: Letter, search: str = ""):  # type: ignore[no-untyped-def]
    return select(Signature).where(*_listed_where(letter, search)).order_by(*LISTING_ORDER)


def listed(letter: Letter, search: str = "", offset: int = 0,
           limit: int | None = None) -> list[Signature]:
    query = listed_query(letter, search).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))



# ------------------------------------------------------------------ import


# The longest value each column may hold (the email is checked as an address instead).
IMPORT_LIMITS = {"organization": 300, "contact_name": 200, "contact_title": 200, "phone": 50,
                 "website": 300, "city": 120, "region": 120, "country": 120}


def decode_csv(data: bytes) -> str:
    """The text of a CSV file; one that is not UTF-8 is refused naming its first bad line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportProblem([f"line {line}: not UTF-8 text (save the file as CSV UTF-8)"]) from None


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, its cells); malformed CSV is an ImportProblem."""
    reader = csv.reader(io.StringIO(text), strict=True)
    start = 1
    try:
        for cells in reader:
            yield start, cells
            start = reader.line_num + 1
    except csv.Error as exc:
        reason = ("a cell is too long" if "field larger" in str(exc)
                  else f"not valid CSV ({exc}; is a quote left open?)")
        raise ImportProblem([f"line {start}: {reason}"]) from None


def _import_header(cells: list[str]) -> list[str]:
    header = [cell.strip().lower() for cell in cells]
    named = [h for h in header if h]
    if "organization" not in header:
        raise ImportProblem([f"line 1: the header row must name an 'organization' column "
                             f"(it names: {', '.join(named)[:200] or 'nothing'})"])
    unknown = [h for h in named if h not in IMPORT_COLUMNS]
    if unknown:
        raise ImportProblem([f"line 1: unknown column {unknown[0][:80]!r} "
                             f"(known: {', '.join(IMPORT_COLUMNS)})"])
    twice = sorted({h for h in named if named.count(h) > 1})
    if twice:
        raise ImportProblem([f"line 1: the column {twice[0]!r} appears twice"])
    return header


def import_csv(letter: Letter, text: str, approved: bool) -> int:
    """Import signatories from CSV text: every row or none; problems are named by line."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ImportProblem(["line 1: the file is empty (it needs a header row such as "
                             "organization,email,city)"])
    records = _records(text)
    _, first = next(records)
    header = _import_header(first)
    taken = set(db.session.scalars(select(Signature.email).where(
        Signature.letter_id == letter.id, Signature.email.is_not(None))))

    problems: list[str] = []
    rows: list[tuple[SignerInput, str | None]] = []
    for line, cells in records:
        problem, parsed = _import_row(header, cells, taken)
        if problem:
            problems.append(f"line {line}: {problem}")
        elif parsed is not None:
            rows.append(parsed)
    if problems:
        raise ImportProblem(problems)
    if not rows:
        raise ImportProblem(["line 2: the file has no rows under its header"])

    now = utcnow()
    for data, email in rows:
        signature = _new_signature(letter, data, email=email,
                                   status="approved" if approved else "pending", source="import")
        signature.confirmed_at = now
        if approved:
            signature.decided_at = now
        db.session.add(signature)
    db.session.flush()
    return len(rows)


def _import_row(header: list[str], cells: list[str], taken: set[str | None]
                ) -> tuple[str | None, tuple[SignerInput, str | None] | None]:
    """One record checked: (the problem, None) or (None, the row); a blank record is (None, None).
    An email it carries is added to `taken`, so that the file cannot hold it twice."""
    if len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
        return f"{len(cells)} cells, but the header has {len(header)} columns", None
    values = {h: c.strip() for h, c in zip(header, cells, strict=False) if h}
    unnamed = [c for h, c in zip(header, cells, strict=False) if not h and c.strip()]
    if not any(values.values()) and not unnamed:
        return None, None
    if unnamed:
        return "a cell is under a column with no name", None
    if not clean_text(values.get("organization")):
        return "no organization", None
    for column, limit in IMPORT_LIMITS.items():
        if len(values.get(column, "")) > limit:
            return f"{column} is longer than {limit} characters", None
    scope = SCOPE_WORDS.get(values.get("scope", "").lower() or "local")
    if scope is None:
        return f"scope {values['scope'][:40]!r} is not one of {', '.join(SCOPES)}", None
    email = None
    if values.get("email"):
        try:
            email = normalize_email(values["email"])
        except SigningError:
            return f"{values['email'][:80]!r} is not an email address", None
        if email in taken:
            return f"{email} has already signed this letter (or is in the file twice)", None
        taken.add(email)
    get = values.get
    data = SignerInput(
        organization=get("organization", ""), email=email, contact_name=get("contact_name", ""),
        contact_title=get("contact_title", ""), phone=get("phone", ""), website=get("website", ""),
        city=get("city", ""), region=get("region", ""), country=get("country", ""), scope=scope)
    return None, (data, email)


# ------------------------------------------------------------------ export


PUBLIC_FIELDS = ("organization", "city", "region", "country", "scope")
PRIVATE_FIELDS = PUBLIC_FIELDS + ("contact_name", "contact_title", "email", "phone", "website")


def safe_cell(value: str) -> str:
    """Neutralize spreadsheet formulas: a cell starting with = + - @ (or tab/CR) gets a quote."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def public_fields(letter: Letter) -> tuple[str, ...]:
    """The columns anyone may see: contact names only where the organizer chose to show them."""
    return PUBLIC_FIELDS + (("contact_name",) if letter.show_contact_names else ())


def public_row(signature: Signature, contact: bool = False) -> dict[str, str]:
    row = {"organization": signature.shown_name, "city": signature.city,
           "region": signature.region, "country": signature.country, "scope": signature.scope}
    if contact:
        row["contact_name"] = signature.contact_name
    return row


def export_rows(letter: Letter, private: bool = False) -> Iterator[dict[str, str]]:
    """Listed signatories as plain rows, streamed from the database on a connection of their own
    (so that a long export holds neither the ORM identity map nor the whole list in memory)."""
    columns = [Signature.organization, Signature.display_name, Signature.city, Signature.region,
               Signature.country, Signature.scope, Signature.contact_name]
    if private:
        columns += [Signature.contact_title, Signature.email, Signature.phone, Signature.website]
    query = select(*columns).where(*_listed_where(letter)).order_by(*LISTING_ORDER)
    with db.engine.connect() as conn:
        conn.execution_options(readonly=True, stream_results=True, yield_per=1000)
        result = conn.execute(query)
        for row in result.mappings():
            out = {key: (value or "") for key, value in row.items() if key != "display_name"}
            out["organization"] = row["display_name"] or row["organization"]
            yield out


def csv_lines(rows: Iterable[dict[str, str]], private: bool = False,
              columns: Sequence[str] | None = None) -> Iterator[str]:
    """CSV text in chunks, so that a long list streams; `columns` default to the public ones (or
    the private ones)."""
    columns = columns or (PRIVATE_FIELDS if private else PUBLIC_FIELDS)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(row[c]) for c in columns])
        if buffer.tell() > 16384:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
