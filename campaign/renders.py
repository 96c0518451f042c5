"""Render jobs: work that brings a letter's PDFs up to date, or makes its final copy and delivers
it, queued here and done by the worker (worker.py). The web never renders; it serves the newest
PDF the worker kept.

A job is a row of render_job, done through the durable queue (queue.py) that the outbox uses.
A 'refresh' is queued in the transaction of any change to what a PDF shows: by triggers on the
signature table for the list (an approval, a rejection, an import, a withdrawal, a deletion), by
letters.py and delivery.py for the letter's text and print settings, and by the worker itself
when a new day begins (the PDF is dated). At most one refresh waits per letter, so ten approvals
in a row make at most two renders (the one running and one more), and one job runs at a time per
letter; workers on several hosts share the jobs without doing one twice. A refresh renders the
newest state, reusing the parts of the list that did not change, and keeps the PDF in the
database; if what the PDF would show has not changed, it renders nothing.

'deliver' is queued by an organizer's "Close and deliver": the worker reads the list, renders it,
and in one writing unit records the delivery and queues its emails (delivery.close_and_deliver);
if the list changed while it rendered, it reads and renders again.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, case, delete, exists, or_, select, text

from .database import changed, upsert_insert
from .dates import local
from .errors import DeliveryError
from .extensions import db
from .models import RENDER_KINDS, Letter, PdfFile, RenderJob, utcnow
from .pdf import storage
from .queue import Queue

JOB_KEEP = timedelta(days=14)  # refreshes done this long ago are deleted (renders.prune)


def _lease() -> float:
    return float(current_app.config["PDF_TIMEOUT"]) + 60


ACTIVE = ("queued", "working")  # the statuses of a job waiting or running
QUEUE = Queue(RenderJob, working="working", done="done", dead="failed", lease_seconds=_lease,
              max_attempts=lambda: 3)


# ------------------------------------------------------------------ queueing


def want(letter: Letter) -> None:
    """Queue a refresh of the letter's PDFs, unless one waits already (in the caller's unit)."""
    _insert_waiting(letter.id, "refresh", {})


def request_delivery(letter: Letter, organizer_id: int | None, notify: bool) -> None:
    """Queue the letter's delivery (in the caller's writing unit, which also closes it)."""
    if _pending(letter.id, "deliver"):
        raise DeliveryError("This letter is being delivered already.")
    _insert_waiting(letter.id, "deliver", {"organizer": organizer_id, "notify": notify})


def retry_delivery(letter: Letter) -> None:
    """Queue a delivery that failed again, as it was asked for (in the caller's writing unit)."""
    if _pending(letter.id, "deliver"):
        raise DeliveryError("This letter is being delivered already.")
    failed = _last(letter.id, "deliver")
    if failed is None or failed.status != "failed":
        raise DeliveryError("There is no failed delivery to try again.")
    _insert_waiting(letter.id, "deliver", json.loads(failed.params or "{}"))


def delivering(letter: Letter) -> bool:
    """Whether a delivery of the letter waits or runs."""
    return _pending(letter.id, "deliver")


def _insert_waiting(letter_id: int, kind: str, params: dict[str, Any]) -> None:
    insert = upsert_insert()
    now = utcnow()
    db.session.execute(
        insert(RenderJob)
        .values(letter_id=letter_id, kind=kind, status="queued", attempts=0, due=now,
                last_error="", params=json.dumps(params), created_at=now)
        # The partial index's condition as a literal, not a bound parameter: PostgreSQL plans a
        # statement run often on one connection once for any parameters, and such a plan cannot
        # tell that `status = $1` names uq_render_job_waiting.
        .on_conflict_do_nothing(index_elements=["letter_id", "kind"],
                                index_where=text("status = 'queued'")))


def _pending(letter_id: int, kind: str) -> bool:
    return bool(db.session.scalar(select(exists().where(
        RenderJob.letter_id == letter_id, RenderJob.kind == kind,
        RenderJob.status.in_(ACTIVE)))))


def _last(letter_id: int, kind: str) -> RenderJob | None:
    return db.session.scalar(select(RenderJob).where(RenderJob.letter_id == letter_id,
                                                     RenderJob.kind == kind)
                             .order_by(RenderJob.id.desc()).limit(1))


# ------------------------------------------------------------------ keeping PDFs current


def queue_stale(now: datetime | None = None) -> int:
    """Queue a refresh for every letter whose PDF is dated before today (in CAMPAIGN_TIMEZONE):
    the signed letter of each letter not delivered (or its missing PDF), the addendum of each
    delivered one that has an addendum; not for a letter whose last refresh failed for good
    (shown to its organizers, who can ask again). Returns how many (in the caller's writing
    unit)."""
    now = now or utcnow()
    today = local(now).date()
    delivered = Letter.delivery.has()
    last_refresh = (select(RenderJob.status)
                    .where(RenderJob.letter_id == Letter.id, RenderJob.kind == "refresh")
                    .order_by(RenderJob.id.desc()).limit(1).scalar_subquery())
    letters = db.session.execute(
        select(Letter.id, PdfFile.as_of, delivered)
        .outerjoin(PdfFile, and_(PdfFile.letter_id == Letter.id,
                                 PdfFile.kind == case((delivered, "addendum"), else_="signed")))
        .where(~delivered | PdfFile.id.is_not(None))
        # a render that failed for good waits for an organizer (or a change), not for the clock
        .where(or_(last_refresh.is_(None), last_refresh != "failed"))).all()
    stale = [letter_id for letter_id, as_of, _ in letters
             if as_of is None or local(as_of).date() < today]
    for letter_id in stale:
        _insert_waiting(letter_id, "refresh", {})
    return len(stale)


def prune(now: datetime | None = None) -> int:
    """Delete refreshes done or failed more than JOB_KEEP ago (in the caller's writing unit);
    deliveries are kept. Returns how many."""
    result = db.session.execute(delete(RenderJob).where(
        RenderJob.kind == "refresh", RenderJob.status.in_(("done", "failed")),
        RenderJob.created_at < (now or utcnow()) - JOB_KEEP))
    return changed(result)


# ------------------------------------------------------------------ what organizers see


@dataclass(frozen=True)
class PdfState:
    """The state of a letter's PDF, as the admin pages show it."""

    stored: storage.Stored | None  # the newest PDF kept, if any
    updating: bool  # a refresh is running or waiting
    delivering: RenderJob | None  # a delivery running or waiting
    failed_render: RenderJob | None  # the newest refresh, when it failed and none waits
    failed_delivery: RenderJob | None  # the newest delivery, when it failed (none recorded)


def state(letter: Letter) -> PdfState:
    delivered = letter.delivery is not None
    newest = {kind: db.session.scalar(
        select(RenderJob).where(RenderJob.letter_id == letter.id, RenderJob.kind == kind)
        .order_by(RenderJob.id.desc()).limit(1)) for kind in RENDER_KINDS}
    refresh, deliver = newest["refresh"], newest["deliver"]
    updating = refresh is not None and refresh.status in ACTIVE
    return PdfState(
        storage.newest(letter.id, "addendum" if delivered else "signed"), updating,
        deliver if deliver is not None and deliver.status in ACTIVE else None,
        refresh if refresh is not None and refresh.status == "failed" else None,
        deliver if deliver is not None and deliver.status == "failed" and not delivered
        else None)
