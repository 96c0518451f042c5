"""Moderation: what organizers decide about signatures (approve, reject, rename, release held
ones, discard held spam), the flags that tell them what to look at, and the counts of their
queues. Which signatures a page or a bulk action is about: moderation_queue.py."""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, delete, func, select, update

from . import audit, listing, signing
from .database import changed
from .extensions import db
from .models import SIGNATURE_STATUSES, Letter, Signature, utcnow
from .text import clean_text, sort_key

FREE_MAIL = {
    "gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com",
    "msn.com", "aol.com", "icloud.com", "me.com", "proton.me", "protonmail.com", "gmx.com",
    "mail.com", "yandex.com", "zoho.com", "comcast.net", "att.net", "verizon.net",
}
# Second-level labels under which a country's registrable names sit: example.org.uk, example.com.au
SECOND_LEVEL = {"ac", "co", "com", "edu", "gob", "gov", "gv", "ne", "net", "or", "org"}
# The signatures a decision is about: ids ticked on a page, or a condition on the signature
# table (moderation_queue.chosen: the filters of "all N matching", run again on the server;
# a condition rather than `id IN (subquery)`, which a planner without fresh statistics, just
# after a large import, runs as a nested loop of millions of rows)
Choice = Iterable[int] | ColumnElement[bool]


def _picked(ids: Choice) -> ColumnElement[bool]:
    return ids if isinstance(ids, ColumnElement) else Signature.id.in_(list(ids))


def decide(letter: Letter, ids: Choice, approve: bool) -> int:
    """Approve or reject confirmed signatures of this letter (`ids`: a list, or a condition such
    as moderation_queue.chosen()); returns how many changed.

    Audited in the same unit: one decision names its signatory; a bulk one is one entry with
    the count from each status and the first names (audit.NAMES_SHOWN), so that approving
    5,000 costs two reads more, not 5,000 rows of log."""
    target = "approved" if approve else "rejected"
    chosen = (Signature.letter_id == letter.id, _picked(ids),
              Signature.status.in_(("pending", "approved", "rejected")),
              Signature.status != target)
    before: dict[str, int] = {status: int(n) for status, n in db.session.execute(
        select(Signature.status, func.count()).where(*chosen).group_by(Signature.status))}
    names = _first_names(chosen)
    result = db.session.execute(
        update(Signature).where(*chosen)
        .values(status=target, decided_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()
    count = changed(result)
    action = "signature.approve" if approve else "signature.reject"
    if count == 1 and len(before) == 1 and names:
        audit.record(letter, action, names[0], before=next(iter(before)), after=target)
    elif count:
        audit.record(letter, action, f"{count:,} signatures", before=before,
                     after={target: count, "names": _named(names, count)})
    return count


def _first_names(where: tuple[ColumnElement[bool], ...]) -> list[str]:
    """The names listed first of the signatures `where` selects, as many as an entry keeps."""
    return list(db.session.scalars(select(Signature.shown_name).where(*where)
                                   .order_by(*listing.ORDER).limit(audit.NAMES_SHOWN)))


def _named(names: list[str], count: int) -> list[str]:
    """The names an entry keeps, and how many more there were."""
    more = count - len(names)
    return [*names, f"and {more:,} more"] if more > 0 else names


def release(letter: Letter, ids: Choice) -> tuple[int, int]:
    """Let held submissions go on: they get their verification email now, within the limits of
    mail to one mailbox (signing.MAILBOX_LIMITS: releasing held spam aimed at one address must
    not flood it). Returns how many were released, and how many of them were not mailed (they
    can ask for a new link later)."""
    held = db.session.scalars(
        select(Signature).where(Signature.letter_id == letter.id, _picked(ids),
                                Signature.held.is_(True))
    ).all()
    waiting = [signature for signature in held if signature.status == "unconfirmed"]
    for signature in held:
        signature.held = False
    verdicts = signing.mailable([signature.email or "" for signature in waiting])
    for signature, may in zip(waiting, verdicts, strict=True):
        if may:
            signing.send_confirmation(signature)
    if held:
        names = sorted((signature.shown_name for signature in held), key=sort_key)
        audit.record(letter, "signature.release",
                     names[0] if len(held) == 1 else f"{len(held):,} held submissions",
                     before={"held": len(held)},
                     after={"released": len(held), "not mailed": verdicts.count(False),
                            "names": _named(names[:audit.NAMES_SHOWN], len(held))})
    return len(held), verdicts.count(False)


def discard(letter: Letter, ids: Choice) -> int:
    """Delete held submissions (spam caught by the trap or the rate limit) for good; returns how
    many. Only held ones: a signature anyone confirmed is rejected, never deleted, so that its
    history stays. One audit entry names the count and the first names."""
    chosen = (Signature.letter_id == letter.id, _picked(ids), Signature.held.is_(True))
    names = _first_names(chosen)
    count = changed(db.session.execute(delete(Signature).where(*chosen)
                                       .execution_options(synchronize_session=False)))
    db.session.expire_all()
    if count:
        audit.record(letter, "signature.discard",
                     names[0] if count == 1 and names else f"{count:,} held submissions",
                     before={"held": count}, after={"discarded": count,
                                                    "names": _named(names, count)})
    return count


def rename(signature: Signature, display_name: str) -> None:
    """Set how the organization's name is shown; blank goes back to what was submitted."""
    shown = clean_text(display_name)
    before = signature.shown_name
    signature.display_name = shown if shown and shown != signature.organization else None
    signature.sort_key = sort_key(signature.shown_name)
    if signature.shown_name != before:
        audit.record(signature.letter, "signature.rename", signature.organization,
                     before=before, after=signature.shown_name)


# ------------------------------------------------------------------ what to look at


class Flag(NamedTuple):
    kind: str  # "duplicate", "free_mail", "domain", "held"
    text: str


def flags(signature: Signature, duplicate: bool) -> list[Flag]:
    """What an organizer should look at before approving; `duplicate`: another signature of the
    letter, not rejected, has its organization key (moderation_queue.matches names it)."""
    found = []
    if duplicate:
        found.append(Flag("duplicate", _("same name signed more than once")
                          if signature.is_individual
                          else _("same organization signed more than once")))
    domain = (signature.email or "").rpartition("@")[2]
    if domain in FREE_MAIL:
        if not signature.is_individual:  # a person's own address is no sign of anything
            found.append(Flag("free_mail", _("free-mail address")))
    elif domain and signature.website:
        site = re.sub(r"^[a-z]+://", "", signature.website.lower()).split("/")[0].split(":")[0]
        if site and _base_domain(site) != _base_domain(domain):
            found.append(Flag("domain", _("email domain differs from the website's")))
    if signature.held:
        found.append(Flag("held", _("held: over the rate limit or caught by the spam trap")))
    return found


def _base_domain(host: str) -> str:
    """The registrable part of a host name, near enough: sunrise.org.uk, example.org."""
    parts = host.removeprefix("www.").split(".")
    keep = 3 if len(parts) > 2 and len(parts[-1]) == 2 and parts[-2] in SECOND_LEVEL else 2
    return ".".join(parts[-keep:])


# ------------------------------------------------------------------ the queues


def status_counts(letter: Letter, partner_id: int | None = None) -> dict[str, int]:
    """How many signatures of the letter are in each state; held ones counted apart. With
    `partner_id`, only those the partner brought."""
    rows = db.session.execute(
        select(Signature.status, Signature.held, func.count())
        .where(Signature.letter_id == letter.id, *_of_partner(partner_id))
        .group_by(Signature.status, Signature.held)
    ).all()
    counts = {status: 0 for status in (*SIGNATURE_STATUSES, "held")}
    for status, held, n in rows:
        counts["held" if held else status] += int(n)
    counts["requested"] = int(db.session.scalar(
        select(func.count()).select_from(Signature)
        .where(*_asked_to_withdraw(letter), *_of_partner(partner_id))) or 0)
    return counts


def _of_partner(partner_id: int | None) -> tuple[ColumnElement[bool], ...]:
    """Only the signatures the partner brought (a partner's role sees no others); all for None."""
    return () if partner_id is None else (Signature.partner_id == partner_id,)


def _asked_to_withdraw(letter: Letter) -> tuple[ColumnElement[bool], ...]:
    """The letter's signatures whose signers asked, after delivery, to be withdrawn, and which
    the organizers have not withdrawn yet (signer_changes.carry_out)."""
    return (Signature.letter_id == letter.id, Signature.withdraw_requested_at.is_not(None),
            Signature.status != "withdrawn")


def version_counts(letter: Letter) -> dict[int | None, int]:
    """How many signatures were made on each version of the letter's text."""
    rows = db.session.execute(
        select(Signature.version_id, func.count())
        .where(Signature.letter_id == letter.id).group_by(Signature.version_id)
    ).all()
    return {vid: int(n) for vid, n in rows}
