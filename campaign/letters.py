"""Letters: file format <-> Letter rows; creating, changing and publishing them; versions with a
content hash; the body as HTML, made once when the text is saved."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, time, tzinfo

from flask_babel import format_number
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, bindparam, case, func, or_, select
from sqlalchemy import update as update_rows  # this module has an update() of its own
from sqlalchemy.exc import IntegrityError

from . import audit, partners, renders
from .database import changed
from .dates import parse_deadline
from .errors import LetterError, SlugTaken
from .extensions import db
from .markup import markdown_to_html
from .models import LETTER_STATUSES, SIGNER_KINDS, Letter, LetterVersion, utcnow
from .text import SLUG_RE, clean_text, storable

LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
@dataclass
class LetterText:
    """What a letter file or the edit form carries, checked; with its body as sanitized HTML,
    made here, before any writing unit begins (a long body takes a while)."""

    title: str
    slug: str
    body: str
    recipient: str = ""
    deadline: datetime | None = None
    status: str = "draft"
    language: str = "en"
    publish_at: datetime | None = None  # a collecting letter opens by itself then
    signers: str = "organizations"  # who may sign: organizations, individuals or both
    # partners named in a letter file, code -> name (None: the file names none; the form never)
    partners: dict[str, str] | None = None
    # origins that may frame its embed, one a line, or "*" (embeds.py); None: a letter file that
    # names none, which leaves the letter's as they are
    embed_origins: str | None = None
    body_html: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.body_html = str(markdown_to_html(self.body))


# ------------------------------------------------------------------ values


def check_slug(slug: str) -> str:
    slug = (slug or "").strip()
    if not SLUG_RE.match(slug) or len(slug) > 80:
        raise LetterError(
            _("slug %(slug)s must be lowercase letters, digits and single hyphens (at most 80)",
              slug=repr(slug))
        )
    return slug


def check_status(status: str) -> str:
    if status not in LETTER_STATUSES:
        raise LetterError(_("status must be one of %(choices)s, not %(value)s",
                            choices=", ".join(LETTER_STATUSES), value=repr(status)))
    return status


def check_signers(signers: str) -> str:
    """Who may sign a letter: one of SIGNER_KINDS."""
    signers = signers.strip()
    if signers not in SIGNER_KINDS:
        raise LetterError(_("signers must be one of %(choices)s, not %(value)s",
                            choices=", ".join(SIGNER_KINDS), value=repr(signers)))
    return signers


def check_publish_at(value: object, status: str, zone: tzinfo) -> datetime | None:
    """When a collecting letter opens by itself: an ISO 8601 date-time (a date alone is the
    start of that day), read as a deadline is. Refused on a letter of another status, where it
    would do nothing and a reader would think it does."""
    moment = parse_deadline(value, zone, name="publish_at", day_time=time.min)
    if moment is not None and status != "collecting":
        raise LetterError(_("publish_at is only for a collecting letter (this one is "
                            "%(status)s): remove it, or make the status collecting",
                            status=repr(status)))
    return moment


# Bounds of a body: its length (the form's), and its '[' (the Markdown parser's work grows with
# the square of their number: 2,000 take 0.09 s, 100,000 take 7 s; a letter has a few dozen).
MAX_BODY = 100_000
MAX_BRACKETS = 2_000
# And the cells of its tables: a row shorter than its table's header is filled up to it, so 18 kB
# of small rows under wide headers make 900,000 cells (11 s, and 6 MB of HTML).
MAX_TABLE_CELLS = 10_000
TABLE_DELIMITER = re.compile(r"[ \t]*\|?(?:[ \t]*:?-+:?[ \t]*\|)+(?:[ \t]*:?-+:?[ \t]*)?[ \t]*"
                             r"|[ \t]*\|?[ \t]*:?-+:?[ \t]*\|[ \t]*")


def table_cells(text: str) -> int:
    """The cells the Markdown tables of `text` would have, at most: each delimiter row's columns
    times the lines under it up to the next blank one."""
    lines = text.splitlines()
    cells = 0
    for number, line in enumerate(lines):
        if "-" in line and "|" in line and TABLE_DELIMITER.fullmatch(line):
            columns = len(re.findall(r"-+", line))
            rows = 1
            for below in lines[number + 1:]:
                if not below.strip():
                    break
                rows += 1
            cells += columns * rows
    return cells


def clean_body(text: str) -> str:
    """A letter body as stored: Unix line endings, no blank lines around it, one final newline.
    The form (browsers send CRLF) and letter files give the same text for the same letter.
    LetterError when it has no visible text, is longer than MAX_BODY, or has more than
    MAX_BRACKETS '[' or MAX_TABLE_CELLS."""
    if not clean_text(text):  # only control or invisible characters
        raise LetterError(_("there is no letter text (only blank or invisible characters)"))
    if len(text) > MAX_BODY:
        raise LetterError(_("the letter is longer than %(limit)s characters",
                            limit=format_number(MAX_BODY)))
    if text.count("[") > MAX_BRACKETS:
        raise LetterError(_("the letter has more than %(limit)s '[' (links); is a part of it "
                            "repeated?", limit=format_number(MAX_BRACKETS)))
    if "|" in text and table_cells(text) > MAX_TABLE_CELLS:
        raise LetterError(_("the letter's tables have more than %(limit)s cells (their columns "
                            "times their rows)", limit=format_number(MAX_TABLE_CELLS)))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"\A(?:[ \t]*\n)+", "", text).rstrip() + "\n"


def clean_lines(text: str) -> str:
    """A short block such as the addressee: Unix line endings, trimmed lines, no blank ends."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.strip() for line in lines).strip()


def slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:80].rstrip("-") or "letter"


def check_title(text: str) -> str:
    """A title on one line, with a visible character, at most 300 characters."""
    if not clean_text(text):  # only control or invisible characters
        raise LetterError(_("the title needs at least one visible character"))
    text = " ".join(text.split())
    if len(text) > 300:
        raise LetterError(_("the title is longer than 300 characters"))
    return text


def check_delivered_status(letter: Letter, status: str) -> None:
    """LetterError when `status` would set a delivered letter back (to open, collecting or
    draft) by the way, through the letter form or a letter file: reopening a delivered letter
    for an addendum is a step of its own (delivery.reopen), explicit and recorded."""
    if letter.id is None or status in (letter.status, "closed") or letter.delivery is None:
        return
    raise LetterError(_("This letter was delivered: its status cannot be set back here. To "
                        "take more signatures for an addendum, use “Reopen for an addendum” on "
                        "its Letterhead and delivery page."))


def check_language(code: str) -> str:
    code = code.strip()
    if not LANGUAGE_RE.match(code):
        raise LetterError(_("language %(code)s is not a language code such as en or es",
                            code=repr(code)))
    return code


# ------------------------------------------------------------------ rows


BY_SLUG = select(Letter).where(Letter.slug == bindparam("slug"))  # built once: every page asks


def get_letter(slug: str) -> Letter | None:
    if not SLUG_RE.match(slug):  # no letter has such an address; don't send it to the database
        return None
    return db.session.scalar(BY_SLUG, {"slug": slug})


def open_letters(now: datetime | None = None) -> list[Letter]:
    """The letters taking signatures now (Letter.state "open"), the nearest deadline first."""
    return list(db.session.scalars(
        select(Letter).where(Letter.status == "open", ~_past_deadline(now))
        .order_by(Letter.deadline.is_(None), Letter.deadline, Letter.title)
    ))


def closed_letters(limit: int = 20, now: datetime | None = None) -> list[Letter]:
    """The letters that read as closed (Letter.state): closed by an organizer, or open with
    their deadline passed; the last to close first."""
    ended = case((Letter.status == "open", Letter.deadline),
                 else_=func.coalesce(Letter.closed_at, Letter.updated_at))
    return list(db.session.scalars(
        select(Letter).where(or_(Letter.status == "closed",
                                 and_(Letter.status == "open", _past_deadline(now))))
        .order_by(ended.desc(), Letter.id.desc()).limit(limit)
    ))


def _past_deadline(now: datetime | None) -> ColumnElement[bool]:
    """A letter's deadline has passed (models.past, in SQL): its state is no longer open."""
    return and_(Letter.deadline.is_not(None), Letter.deadline < (now or utcnow()))


def all_letters() -> list[Letter]:
    return list(db.session.scalars(select(Letter).order_by(Letter.updated_at.desc())))


def set_status(letter: Letter, status: str, now: datetime | None = None) -> None:
    """Change the letter's status (audited; in the caller's writing unit); a letter that closes
    keeps when (CAMPAIGN_RETAIN_CONTACTS_DAYS counts from then), one that opens again forgets
    it."""
    if letter.id is not None and letter.status != status:  # not a new letter's first
        audit.record(letter, "letter.status", letter.title, before=letter.status, after=status)
    if status == "closed":
        if letter.status != "closed" or letter.closed_at is None:
            letter.closed_at = now or utcnow()
    else:
        letter.closed_at = None
    letter.status = status


def open_to_public(letter: Letter, actor: str | None = None, now: datetime | None = None) -> bool:
    """Open a collecting letter (in the caller's writing unit): from now on its count, list,
    exports and PDF are public. False when it was not collecting (opened meanwhile by another
    organizer or the worker): a conditional UPDATE, so that it opens, and is audited, once."""
    when = now or utcnow()
    before = {"status": "collecting", "publish_at": letter.publish_at}
    result = db.session.execute(
        update_rows(Letter).where(Letter.id == letter.id, Letter.status == "collecting")
        .values(status="open", publish_at=None, updated_at=when)  # its pages' keys change
        .execution_options(synchronize_session=False))
    if not changed(result):
        return False
    db.session.refresh(letter)
    audit.record(letter, "letter.open", letter.title, before=before,
                 after={"status": "open"}, actor=actor)
    return True


def due_to_open(now: datetime | None = None) -> list[int]:
    """The collecting letters whose publish_at has come: the worker opens them."""
    return list(db.session.scalars(
        select(Letter.id).where(Letter.status == "collecting", Letter.publish_at.is_not(None),
                                Letter.publish_at <= (now or utcnow()))))


def create(text: LetterText) -> Letter:
    """A new letter from checked text; SlugTaken if its address is another letter's."""
    if get_letter(text.slug) is not None:
        raise SlugTaken(_("The address %(slug)s is taken by another letter.",
                          slug=repr(text.slug)))
    letter = Letter(slug=text.slug)
    _fill(letter, text)
    try:
        with db.session.begin_nested():  # another organizer may take the slug at this moment
            db.session.add(letter)
            db.session.flush()
    except IntegrityError:
        raise SlugTaken(_("The address %(slug)s is taken by another letter.",
                          slug=repr(text.slug))) from None
    record_version(letter)
    _keep_partners(letter, text)
    _want_pdf(letter)
    db.session.flush()
    return letter


def update(letter: Letter, text: LetterText, kind: str = "change") -> Letter:
    """Change a letter to checked text; record a version of `kind` ("correction" or "change",
    see record_version) if its public text changed. SlugTaken if it moves to another letter's
    address."""
    check_delivered_status(letter, text.status)
    if text.slug != letter.slug:
        taken = get_letter(text.slug)
        if taken is not None and taken is not letter:
            raise SlugTaken(_("The address %(slug)s is taken by another letter.",
                              slug=repr(text.slug)))
        letter.slug = text.slug
    _fill(letter, text)
    record_version(letter, kind)
    if letter.translated_to:  # a letter made public: its translations' first versions too
        from .translations import record_versions  # (translations.py builds on this module)
        record_versions(letter)
    _keep_partners(letter, text)
    _want_pdf(letter)
    db.session.flush()
    return letter


def _keep_partners(letter: Letter, text: LetterText) -> None:
    """The partners a letter file names, added or renamed (partners.keep); those it does not
    name are kept: they may have been added on the letter's Partners page."""
    if text.partners:
        partners.keep(letter, text.partners)


def _want_pdf(letter: Letter) -> None:
    """The letter's PDF shows its text: the worker makes it again (renders.py); a draft's too,
    so that its organizers can look at it before they publish it."""
    db.session.flush()
    renders.want(letter)


def create_or_update(text: LetterText, kind: str = "change") -> Letter:
    """The letter with this text's slug, changed to it (a version of `kind` if its text changed),
    or a new one (a letter file imported)."""
    letter = get_letter(text.slug)
    return create(text) if letter is None else update(letter, text, kind)


def _fill(letter: Letter, text: LetterText) -> None:
    letter.title = storable(text.title)
    letter.recipient = storable(text.recipient)
    letter.body = storable(text.body)
    letter.body_html = storable(text.body_html)
    letter.deadline = text.deadline
    set_status(letter, text.status)
    letter.publish_at = text.publish_at if text.status == "collecting" else None
    letter.language = text.language
    if letter.id is not None and letter.signers != text.signers:  # not a new letter's first
        audit.record(letter, "letter.signers", letter.title, before=letter.signers,
                     after=text.signers)
    letter.signers = text.signers
    if text.embed_origins is not None and text.embed_origins != letter.embed_origins:
        if letter.id is not None:  # not a new letter's first
            audit.record(letter, "letter.embed_origins", letter.title,
                         before=letter.embed_origins or "", after=text.embed_origins)
        letter.embed_origins = text.embed_origins


def record_version(letter: Letter, kind: str = "change") -> LetterVersion | None:
    """Keep the public text as a numbered version: drafts have none; an open or closed letter whose
    text differs from its latest version gets the next number. The first is the "original"; a
    later one is a "correction" (its signers agreed to it as it was: nobody is asked again) or a
    "change" (signers of earlier versions have not agreed to it: reconsent.py). A change is the
    safe default: nobody is listed under a text they did not see without saying so."""
    if letter.status == "draft":
        return None
    digest = letter.content_hash()
    current = letter.current_version
    if current is not None and current.content_hash == digest:
        return None
    version = LetterVersion(
        number=next_number(letter),
        title=letter.title,
        recipient=letter.recipient,
        body=letter.body,
        content_hash=digest,
        kind=kind if current else "original",
        language=letter.language,
    )
    letter.versions.append(version)
    return version


def next_number(letter: Letter) -> int:
    """The number of the letter's next version, of whichever text: numbers run across languages."""
    return max((v.number for v in letter.versions), default=0) + 1
