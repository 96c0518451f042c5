"""Who may do what on a letter: each role's capabilities in one table, the capability each
organizer address needs in another, and the check of both before any organizer page runs.

Site administrators (Organizer.is_admin) may do everything, on every letter, and alone create
letters and see the mail. Anyone else reaches only the letters they have a role on (LetterRole):
a letter they have none on answers 404, as if it did not exist, and an address their role does
not allow answers 403. An organizer address missing from ENDPOINTS is refused to everyone but
the site administrators (tests/test_roles.py fails until it is added), so that a new page is
never open by mistake.

The capabilities:
  signatures  the letter's Signatures page and its counts (a partner: its own signatories only)
  read        the letter's other pages, read only: its text and settings, versions, history,
              imports, PDF, letter file, delivery and updates pages
  contacts    signers' email addresses and phone numbers: on the Signatures page, the contacts
              CSV and the delivery package
  moderate    approve, reject, rename, release or discard held ones, withdraw as asked, import
  edit        the text and settings, open to the public, the letterhead and recipients, remind
              signers of an earlier text, make the PDF again
  updates     send updates to the signers
  deliver     close the letter and deliver it, retry a delivery, reopen it for an addendum and
              email the addendum
  roles       who organizes the letter: give, change and take away roles, invite by email
  partners    the letter's partners and their links
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from flask import Flask, abort, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from . import accounts, audit, letters, outbox
from .errors import AccountError, CampaignError
from .extensions import db, login
from .i18n import _l
from .models import ROLES, Invitation, Letter, LetterRole, Organizer, Partner, utcnow
from .text import clean_text

CAPABILITIES = ("signatures", "read", "contacts", "moderate", "edit", "updates", "deliver",
                "roles", "partners")
# What each role allows on its letter. A viewer reads without contact details; an editor writes
# the text and settings but sees no contact details either; a partner sees only its own
# signatories (without their contact details, which they gave to the coalition) and their counts.
ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    "owner": frozenset(CAPABILITIES),
    "editor": frozenset({"signatures", "read", "edit", "updates"}),
    "moderator": frozenset({"signatures", "read", "contacts", "moderate"}),
    "viewer": frozenset({"signatures", "read"}),
    "partner": frozenset({"signatures"}),
}
ROLE_LABELS = {
    "owner": _l("Owner: everything, including who organizes it and its delivery"),
    "editor": _l("Editor: the text and settings"),
    "moderator": _l("Moderator: approve, reject, rename and import signatories"),
    "viewer": _l("Viewer: read only, without contact details"),
    "partner": _l("Partner: its own signatories and counts only"),
}
# A role as a sentence names it ("… is now owner on this letter"); ROLES are what is stored.
ROLE_NAMES = {
    "owner": _l("owner"),
    "editor": _l("editor"),
    "moderator": _l("moderator"),
    "viewer": _l("viewer"),
    "partner": _l("partner"),
}
ANYONE = "anyone"  # any logged-in organizer (the letters list: only their letters on it)
ADMIN = "admin"  # site administrators only


class Need(NamedTuple):
    """The capability an address needs to be read (GET, HEAD) and to be sent a form (POST);
    None: not that way."""

    get: str | None
    post: str | None = None


# Every organizer address (each rule under /admin) and what it needs.
ENDPOINTS: dict[str, Need] = {
    "admin.letters_page": Need(ANYONE),
    "admin.new_letter": Need(ADMIN, ADMIN),
    "admin.outbox_page": Need(ADMIN),
    "admin.outbox_retry": Need(None, ADMIN),
    "admin.edit_letter": Need("read", "edit"),
    "admin.versions": Need("read"),
    "admin.history": Need("read"),
    "admin.translations_page": Need("read", "edit"),
    "admin.delete_translation": Need(None, "edit"),
    "admin.choose_language": Need(None, ANYONE),
    "admin.history_csv": Need("read"),
    "admin.letter_file": Need("read"),
    "admin.export_pdf": Need("read"),
    "admin.import_progress": Need("read"),
    "admin.signatures": Need("signatures"),
    "admin.export_csv": Need("contacts"),
    "admin.delivery_package": Need("contacts"),
    "admin.decide_one": Need(None, "moderate"),
    "admin.decide_many": Need(None, "moderate"),
    "admin.rename": Need(None, "moderate"),
    "admin.withdraw": Need(None, "moderate"),
    "admin.edit_signature": Need("moderate", "moderate"),
    "admin.merge_signature": Need(None, "moderate"),
    "admin.import_signatures": Need(None, "moderate"),
    "admin.import_preview": Need("moderate"),
    "admin.import_confirm": Need(None, "moderate"),
    "admin.import_cancel": Need(None, "moderate"),
    "admin.remind_reconsent": Need(None, "edit"),
    "admin.open_letter": Need(None, "edit"),
    "admin.refresh_pdf": Need(None, "edit"),
    "admin.deliver_page": Need("read", "edit"),
    "admin.close_and_deliver": Need(None, "deliver"),
    "admin.retry_delivery": Need(None, "deliver"),
    "admin.reopen_letter": Need(None, "deliver"),
    "admin.email_addendum": Need(None, "deliver"),
    "updates.updates_page": Need("read", "updates"),
    "admin.partners_page": Need("read", "partners"),
    "admin.add_partner": Need(None, "partners"),
    "admin.rename_partner": Need(None, "partners"),
    "admin.remove_partner": Need(None, "partners"),
    "organizers.page": Need("roles", "roles"),
    "organizers.change": Need(None, "roles"),
}
INVITATION_DAYS = 7  # how long an invitation's link can be used
NAME_LIMIT = 200  # an organizer's name (its column)
KEPT = "campaign.letter_roles"  # the organizer's roles read during one request, by letter id


def init_app(app: Flask) -> None:
    """Check every organizer address before its view runs, whichever blueprint it is in."""
    app.before_request(guard)
    app.add_template_global(can)


def organizer_rule(rule: str) -> bool:
    return rule == "/admin" or rule.startswith("/admin/")


# ------------------------------------------------------------------ the check


def guard() -> ResponseReturnValue | None:
    """Before any organizer page: log in first; then the letter must be one the organizer has a
    role on (else 404) and the role must allow what the address does (else 403)."""
    rule = request.url_rule
    if rule is None or not organizer_rule(rule.rule):
        return None  # not an organizer address (or no address at all: its 404 or 405 follows)
    if not current_user.is_authenticated:
        return login.unauthorized()
    if current_user.is_admin:
        return None
    slug = (request.view_args or {}).get("slug")
    letter = letters.get_letter(slug) if isinstance(slug, str) else None
    if isinstance(slug, str) and (letter is None or role_of(letter) is None):
        abort(404)
    wanted = needed(request.endpoint or "", request.method)
    if wanted is None:
        abort(403, _("No role on a letter allows this; ask a site administrator."))
    if wanted == ADMIN:
        abort(403, _("This page is for the site's administrators."))
    if wanted != ANYONE and (letter is None or not can(letter, wanted)):
        abort(403, _("Your role on this letter does not allow this. Its owner can change your "
                     "role."))
    return None


def needed(endpoint: str, method: str) -> str | None:
    """The capability `endpoint` needs for `method`, or None when nothing allows it."""
    need = ENDPOINTS.get(endpoint)
    if need is None:
        return None
    return need.get if method in ("GET", "HEAD") else need.post


def role_of(letter: Letter) -> LetterRole | None:
    """The logged-in organizer's role on the letter (kept for the request), if any."""
    if not current_user.is_authenticated:
        return None
    kept: dict[int, LetterRole | None] = request.environ.setdefault(KEPT, {})
    if letter.id not in kept:
        kept[letter.id] = db.session.scalar(select(LetterRole).where(
            LetterRole.letter_id == letter.id, LetterRole.organizer_id == current_user.id))
    return kept[letter.id]


def can(letter: Letter, capability: str) -> bool:
    """Whether the logged-in organizer may do `capability` on the letter (pages hide what not)."""
    if not current_user.is_authenticated:
        return False
    if current_user.is_admin:
        return True
    role = role_of(letter)
    return role is not None and capability in ROLE_CAPABILITIES[role.role]


def partner_scope(letter: Letter) -> int | None:
    """The partner whose signatures alone the logged-in organizer sees (a partner role), or
    None: all of them."""
    role = None if current_user.is_admin else role_of(letter)
    return role.partner_id if role is not None and role.role == "partner" else None


def visible_letters(rows: list[Letter]) -> list[Letter]:
    """Of these letters, those the logged-in organizer has a role on (all, for an admin)."""
    if current_user.is_admin:
        return rows
    mine = set(db.session.scalars(select(LetterRole.letter_id)
                                  .where(LetterRole.organizer_id == current_user.id)))
    return [letter for letter in rows if letter.id in mine]


# ------------------------------------------------------------------ giving and taking roles


@dataclass(frozen=True)
class Role:
    """A role as asked for: one of ROLES, and the partner of a "partner" role."""

    name: str
    partner: Partner | None = None

    @property
    def text(self) -> str:
        return f"partner:{self.partner.code}" if self.partner is not None else self.name


def parse_role(letter: Letter, text: str) -> Role:
    """"owner", "editor", "moderator", "viewer" or "partner:<code>" (a partner of the letter)."""
    name, _colon, code = text.strip().partition(":")
    name = name.lower()
    if name == "partner":
        partner = db.session.scalar(select(Partner).where(
            Partner.letter_id == letter.id, Partner.code == code.strip().lower())) \
            if code.strip() else None
        if partner is None:
            raise AccountError(_("the letter %(slug)s has no partner with the code %(code)s",
                                 slug=repr(letter.slug), code=repr(code.strip()))
                               if code.strip() else
                               _("a partner role names the partner: partner:<code>"))
        return Role("partner", partner)
    if name not in ROLES or code:
        raise AccountError(_("%(text)s is not a role: owner, editor, moderator, viewer or "
                             "partner:<code>", text=repr(text.strip())))
    return Role(name)


def describe(role: LetterRole) -> str:
    return f"partner:{role.partner.code}" if role.partner is not None else role.role


def role_name(text: str) -> str:
    """A role as describe() or Role.text write it ("owner", "partner:casa"), as people read it in
    the interface's language."""
    name, colon, code = text.partition(":")
    if colon:
        return _("partner:%(code)s", code=code)
    return str(ROLE_NAMES.get(name, name))


def grant(letter: Letter, organizer: Organizer, role: Role,
          actor: str | None = None) -> LetterRole:
    """Give the organizer the role on the letter, replacing any other it had there (in the
    caller's writing unit, with its audit entry, by `actor` when not the one logged in)."""
    kept = db.session.scalar(select(LetterRole).where(
        LetterRole.letter_id == letter.id, LetterRole.organizer_id == organizer.id))
    before = describe(kept) if kept is not None else None
    if kept is None:
        kept = LetterRole(letter_id=letter.id, organizer_id=organizer.id, role=role.name)
        db.session.add(kept)
    kept.role = role.name
    kept.partner_id = role.partner.id if role.partner is not None else None
    kept.partner = role.partner
    db.session.flush()
    if before != role.text:
        audit.record(letter, "role.grant", organizer.email, before=before, after=role.text,
                     actor=actor)
    return kept


def revoke(letter: Letter, organizer: Organizer) -> bool:
    """Take away the organizer's role on the letter (in the caller's writing unit, with its
    audit entry); False when it had none."""
    kept = db.session.scalar(select(LetterRole).where(
        LetterRole.letter_id == letter.id, LetterRole.organizer_id == organizer.id))
    if kept is None:
        return False
    audit.record(letter, "role.revoke", organizer.email, before=describe(kept))
    db.session.delete(kept)
    db.session.flush()
    return True


def organizers_of(letter: Letter) -> list[LetterRole]:
    """Everyone with a role on the letter, by email."""
    return list(db.session.scalars(
        select(LetterRole).join(Organizer).where(LetterRole.letter_id == letter.id)
        .order_by(Organizer.email)))


def find_organizer(email: str) -> Organizer:
    organizer = accounts.find(email)
    if organizer is None:
        raise AccountError(_("no organizer has the email %(email)s", email=repr(email.strip())))
    return organizer


# ------------------------------------------------------------------ invitations


class InvitationError(CampaignError):
    """An invitation link that cannot be used: unknown, used already, or expired."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite(letter: Letter, email: str, role: Role, invited_by: int | None = None) -> Invitation:
    """Invite `email` to organize the letter in `role`, from the organizer `invited_by` (in the
    caller's writing unit): the link
    goes out by email through the outbox, its token in the message's params, which the outbox
    takes out once sent; only its SHA-256 is kept here."""
    address = accounts.checked_email(email)
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        email=address, token_hash=digest(token), letter_id=letter.id, role=role.name,
        partner_id=role.partner.id if role.partner is not None else None,
        invited_by=invited_by,
        expires_at=utcnow() + timedelta(days=INVITATION_DAYS))
    db.session.add(invitation)
    db.session.flush()
    outbox.enqueue("invitation", address, invitation=invitation.id, token=token)
    audit.record(letter, "invitation.send", address, after=role.text)
    return invitation


def invitation_for(token: str) -> Invitation:
    """The invitation whose link carries `token`, if it can still be used."""
    found = db.session.scalar(select(Invitation).where(Invitation.token_hash == digest(token))) \
        if token.isascii() and 0 < len(token) <= 100 else None
    if found is None or found.letter is None:
        raise InvitationError(_("This invitation link is not valid: it may have been cut off "
                                "or changed. Copy the whole link from the email."))
    if found.accepted_at is not None:
        raise InvitationError(_("This invitation has been accepted already. Log in to reach the "
                                "letter."))
    if found.expires_at <= utcnow():
        raise InvitationError(_("This invitation has expired: its link works for %(days)s days. "
                                "Ask the letter's owner for a new one.", days=INVITATION_DAYS))
    return found


def accept(invitation: Invitation, password_hash: str | None = None, name: str = "") -> Organizer:
    """Accept the invitation (in the caller's writing unit): the account with its email gets the
    role, made first (not a site administrator) with `password_hash` when there is none."""
    letter = invitation.letter
    assert letter is not None
    organizer = accounts.find(invitation.email)
    if organizer is None:
        if password_hash is None:
            raise AccountError(_("choose a password for your new account"))
        organizer = accounts.create_organizer(invitation.email, password_hash,
                                              clean_text(name, NAME_LIMIT), admin=False)
    partner = db.session.get(Partner, invitation.partner_id) if invitation.partner_id else None
    if invitation.role == "partner" and partner is None:
        raise InvitationError(_("The partner this invitation was for is no longer on the "
                                "letter. Ask the letter's owner for a new invitation."))
    invitation.accepted_at = utcnow()
    grant(letter, organizer, Role(invitation.role or "viewer", partner), actor=organizer.email)
    audit.record(letter, "invitation.accept", organizer.email, actor=organizer.email)
    return organizer
