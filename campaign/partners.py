"""A letter's partners: the organizations of a coalition that bring signatories through their
own link (`/letters/<slug>?ref=<code>`) or embed. Each signature made through one records it
(Signature.partner_id), so that the organizers can see who brought whom; a code the letter does
not know is ignored, never an error.

Organizers add, rename and remove partners on the letter's Partners page (audited); a letter
file may list them (`partners:` in its front matter), and importing it adds and renames those it
names, never removing the others. A partner with signatures cannot be removed: what it brought
stays attributed (rename it instead)."""
from __future__ import annotations

from dataclasses import dataclass

from flask import has_request_context, request, session
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import bindparam, func, select

from . import audit, embeds
from .errors import PartnerError
from .extensions import db
from .links import external_url
from .models import Letter, Partner, Signature
from .text import SLUG_RE, clean_text

CODE_MAX = 40
NAME_MAX = 200
# The partner of a letter, by the letter's address and the partner's code: built once, as every
# visit through a partner's link asks.
BY_SLUG_AND_CODE = (select(Partner).join(Letter, Letter.id == Partner.letter_id)
                    .where(Letter.slug == bindparam("slug"), Partner.code == bindparam("code")))


@dataclass(frozen=True)
class Tally:
    """What a partner brought: signatures confirmed (awaiting approval or approved) and approved
    (listed, once the list is public)."""

    confirmed: int = 0
    approved: int = 0


# ------------------------------------------------------------------ values


def check_code(code: object) -> str:
    """A partner's code as its link carries it; PartnerError when it is not one."""
    text = str(code if code is not None else "").strip()
    if not text:
        raise PartnerError(_("A partner needs a code: lowercase letters, digits and single "
                             "hyphens (at most %(max)s).", max=CODE_MAX), "code")
    if len(text) > CODE_MAX or not SLUG_RE.match(text):
        raise PartnerError(_("The partner code %(code)s must be lowercase letters, digits and "
                             "single hyphens (at most %(max)s).", code=repr(text[:60]),
                             max=CODE_MAX), "code")
    return text


def check_name(name: object) -> str:
    """A partner's name on one line, 1 to NAME_MAX characters; PartnerError otherwise."""
    text = clean_text(str(name if name is not None else ""), NAME_MAX + 1)
    if not text:
        raise PartnerError(_("A partner needs a name."), "name")
    if len(text) > NAME_MAX:
        raise PartnerError(_("A partner's name can have at most %(max)s characters.",
                             max=NAME_MAX), "name")
    return text


def check_partners(value: object) -> dict[str, str]:
    """The `partners` of a letter file's front matter (a mapping of code to name), checked;
    PartnerError naming the first problem."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PartnerError(_("'partners' must be 'code: name' lines (a mapping), e.g. "
                             "'casa: CASA de Maryland'"))
    checked: dict[str, str] = {}
    for code, name in value.items():
        if isinstance(code, bool):  # YAML reads yes, no, on and off as true or false
            raise PartnerError(_("the partner code %(code)s must be in quotes",
                                 code=repr(str(code).lower())))
        if isinstance(name, dict | list):
            raise PartnerError(_("the partner %(code)s must have a name, not a list or mapping",
                                 code=repr(code)))
        code = check_code(code)
        try:
            checked[code] = check_name(name)
        except PartnerError as exc:
            raise PartnerError(f"{code}: {exc}", "name") from None
    return checked


# ------------------------------------------------------------------ reading


def all_for(letter: Letter) -> list[Partner]:
    """The letter's partners in the order they were added."""
    return list(db.session.scalars(
        select(Partner).where(Partner.letter_id == letter.id).order_by(Partner.id)))


def for_code(letter: Letter, code: str | None) -> Partner | None:
    """The letter's partner with this code, or None (an unknown or malformed code)."""
    if not code or len(code) > CODE_MAX or not SLUG_RE.match(code):
        return None
    return db.session.scalar(
        select(Partner).where(Partner.letter_id == letter.id, Partner.code == code))


def get(letter: Letter, partner_id: int) -> Partner | None:
    """The letter's partner with this id, or None (another letter's is None too)."""
    partner = db.session.get(Partner, partner_id)
    return partner if partner is not None and partner.letter_id == letter.id else None


def tallies(letter: Letter) -> dict[int | None, Tally]:
    """What each partner brought, by partner id (None: signatures through no partner's link);
    one query along ix_signature_partner (letter, partner, status)."""
    rows = db.session.execute(
        select(Signature.partner_id, Signature.status, func.count())
        .where(Signature.letter_id == letter.id,
               Signature.status.in_(("pending", "approved")))
        .group_by(Signature.partner_id, Signature.status)).all()
    found: dict[int | None, Tally] = {}
    for partner_id, status, n in rows:
        was = found.get(partner_id, Tally())
        approved = was.approved + (int(n) if status == "approved" else 0)
        found[partner_id] = Tally(was.confirmed + int(n), approved)
    return found


def link(letter: Letter, partner: Partner) -> str:
    """The partner's link to the letter, under CAMPAIGN_BASE_URL."""
    return external_url("public.letter", slug=letter.slug, ref=partner.code)


def embed_url(letter: Letter, partner: Partner) -> str:
    """The address of the letter's embed that records the partner (`/letters/<slug>/embed`)."""
    return external_url("embed.form", slug=letter.slug, ref=partner.code)


def embed_snippet(letter: Letter, partner: Partner) -> str:
    """The HTML a partner pastes into its own page to show the letter's embed, recording it."""
    return embeds.frame_snippet(letter, embed_url(letter, partner))


# ------------------------------------------------------------------ a visit through a link


def session_key(slug: str) -> str:
    return f"ref:{slug}"


def ref_from_request(slug: str) -> Partner | None:
    """The partner this visit came with, for the letter at `slug`: the first one remembered in
    the session, else the `ref` of the form sent, else `?ref=` of the address; a code that is
    none of the letter's partners' counts as none. The one found is remembered in the session
    when none was, so that a visitor who opens another partner's link later keeps the first.
    The form's field carries it where no cookie does (an embed in another site's page).
    One indexed query; none when no code was given."""
    if not has_request_context() or not SLUG_RE.match(slug):
        return None
    key = session_key(slug)
    remembered = session.get(key)
    for code in (remembered, request.form.get("ref"), request.args.get("ref")):
        if not isinstance(code, str) or not code or len(code) > CODE_MAX \
                or not SLUG_RE.match(code):
            continue
        partner = db.session.scalar(BY_SLUG_AND_CODE, {"slug": slug, "code": code})
        if partner is None:
            continue
        if remembered != partner.code:
            session[key] = partner.code
        return partner
    return None


# ------------------------------------------------------------------ changing (in a writing unit)


def add(letter: Letter, code: str, name: str, actor: str | None = None) -> Partner:
    """A new partner of the letter (audited); PartnerError when the code is not one or the letter
    has a partner with it already."""
    code, name = check_code(code), check_name(name)
    taken = for_code(letter, code)
    if taken is not None:
        raise PartnerError(_("The code %(code)s is taken by the partner %(name)s: choose "
                             "another, or rename that one.", code=repr(code),
                             name=repr(taken.name)), "code")
    partner = Partner(letter_id=letter.id, code=code, name=name)
    db.session.add(partner)
    db.session.flush()
    audit.record(letter, "partner.add", name, after={"code": code, "name": name}, actor=actor)
    return partner


def rename(letter: Letter, partner: Partner, name: str, actor: str | None = None) -> bool:
    """Give the partner another name (audited); False when it had that name already."""
    name = check_name(name)
    if partner.name == name:
        return False
    audit.record(letter, "partner.rename", name, before=partner.name, after=name, actor=actor)
    partner.name = name
    return True


def remove(letter: Letter, partner: Partner, actor: str | None = None) -> None:
    """Remove a partner that brought no signature (audited); PartnerError when it brought some:
    what it brought stays attributed to it. An organizer's partner role for it goes with it."""
    brought = db.session.scalar(
        select(func.count()).select_from(Signature)
        .where(Signature.letter_id == letter.id, Signature.partner_id == partner.id))
    if brought:
        raise PartnerError(ngettext(
            "%(name)s brought %(num)d signature(s), which stay attributed to it: it cannot be "
            "removed (rename it instead).", "%(name)s brought %(num)d signature(s), which stay "
            "attributed to it: it cannot be removed (rename it instead).", brought,
            name=partner.name))
    audit.record(letter, "partner.remove", partner.name,
                 before={"code": partner.code, "name": partner.name}, actor=actor)
    db.session.delete(partner)
    db.session.flush()


def keep(letter: Letter, named: dict[str, str], actor: str | None = None) -> tuple[int, int]:
    """The partners a letter file names (checked: check_partners): new codes added, known ones
    renamed where their name changed; partners the file does not name are left as they are.
    Returns how many were added and renamed."""
    known = {partner.code: partner for partner in all_for(letter)}
    added = renamed = 0
    for code, name in named.items():
        partner = known.get(code)
        if partner is None:
            add(letter, code, name, actor)
            added += 1
        elif rename(letter, partner, name, actor):
            renamed += 1
    return added, renamed
