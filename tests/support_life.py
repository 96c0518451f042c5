"""A delivered letter with an addendum ready to email, made without rendering (the tables that
walk every organizer address need one: the reopen and addendum forms act on it)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import update

from campaign import delivery, listing
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Letter, RenderJob, utcnow
from campaign.pdf import storage


def delivered_with_addendum(make_letter: Callable[..., Letter],
                            make_signature: Callable[..., Any], slug: str) -> Letter:
    """A letter delivered with one signatory (its PDF a stand-in), closed; a second listed
    since, in an addendum PDF that is up to date (no render job waits)."""
    letter = make_letter(slug=slug, title="Delivered Letter")
    make_signature(letter, organization="Delivered Group")
    with writing():
        delivery.close_and_deliver(letter, delivery.Prepared(
            listing.rows(letter, private=True), b"%PDF-1.7 delivered"), notify_signatories=False)
        letter.status, letter.closed_at = "closed", utcnow()
        letter.delivery_emails = "director@agency.example.gov"
    make_signature(letter, organization="Later Group")
    with writing():
        storage.keep(letter.id, "addendum", b"%PDF-1.7 addendum", fingerprint="addendum",
                     as_of=utcnow(), signatory_count=1, pages=1, seconds=0.1)
        db.session.execute(update(RenderJob).where(RenderJob.letter_id == letter.id)
                           .values(status="done"))
    db.session.expire_all()
    return letter
