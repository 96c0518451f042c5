"""The worker process (`campaign worker`): sends the outbox's email, does the render jobs
(renders.py) and writes the large imports of signatories (imports.py), each in a loop of its
own, until stopped. Once a minute it also queues a refresh of the PDFs dated before today,
deletes the rendered parts no render has used for two weeks, the refreshes done two weeks ago
and the rate events older than a day, opens the collecting letters whose publish_at has
come and draws the letters' share images that are due; once a day it erases the contact
details CAMPAIGN_RETAIN_CONTACTS_DAYS says are due.

The render work is here too: read what a PDF shows (a snapshot), render it outside any unit
(reusing the parts of the list that did not change), and keep it, or record the delivery, in one
short writing unit. `campaign export-pdf` renders the same way, at once.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import Flask, current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import exists, update
from sqlalchemy.orm import aliased

from . import (
    delivery,
    imports,
    letters,
    listing,
    outbox,
    pdf,
    ratelimit,
    renders,
    retention,
    share_image,
    translations,
    uploads,
)
from .database import reading, writing
from .dates import local_date
from .errors import AlreadyDelivered, DeliveryError, ListChanged, PdfUnavailable
from .extensions import db
from .models import Letter, LetterTranslation, RenderJob, utcnow
from .pdf import child, pages, storage
from .queue import Claim

log = logging.getLogger(__name__)
DELIVERY_TRIES = 3  # renders of a list that keeps changing before a delivery gives up
SWEEP_SECONDS = 60  # between looks for PDFs dated before today and parts unused


def run(once: bool = False, interval: float = 0.25, parent: int | None = None) -> None:
    """Send email, do render jobs and write imports until stopped (with `parent`: until that
    process is gone); with `once`, do what is due now and return."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if once:
        for step in (sweep, _all(outbox.send_due), _all(run_due), _all(imports.run_due)):
            _guarded(step, once=True)
        return
    child.keep_warm()  # the next render's WeasyPrint loaded ahead
    alive = threading.Event()
    alive.set()
    mail = threading.Thread(target=_loop, args=(app, outbox.send_due, interval, alive, parent),
                            name="campaign-mail", daemon=True)
    mail.start()
    writer = threading.Thread(target=_loop, args=(app, imports.run_due, interval, alive, parent),
                              name="campaign-imports", daemon=True)
    writer.start()
    try:
        last_sweep = 0.0
        while alive.is_set() and (parent is None or os.getppid() == parent):
            if time.monotonic() - last_sweep > SWEEP_SECONDS:
                _guarded(sweep)
                last_sweep = time.monotonic()
            if not _guarded(run_due):
                time.sleep(interval)
    finally:
        alive.clear()
        mail.join(5)
        writer.join(5)


def _all(step: Callable[[], Any]) -> Callable[[], None]:
    def until_none_due() -> None:
        while step():
            pass
    return until_none_due


def _loop(app: Flask, step: Callable[[], Any], interval: float, alive: threading.Event,
          parent: int | None) -> None:
    with app.app_context():
        while alive.is_set() and (parent is None or os.getppid() == parent):
            if not _guarded(step):
                time.sleep(interval)
    alive.clear()


def _guarded(step: Callable[[], Any], once: bool = False) -> Any:
    """One step, kept from ending the worker: a database outage is logged and tried again."""
    try:
        return step()
    except Exception:
        db.session.rollback()
        log.exception("the worker's %s failed; trying again shortly", step.__name__)
        if once:
            raise
        return None
    finally:
        db.session.remove()


def sweep(now: datetime | None = None) -> None:
    """Queue a refresh of PDFs dated before today; delete parts unused for two weeks, refreshes
    done two weeks ago and rate events older than a day; open the collecting letters whose time
    has come; once a day, erase the contact details due (retention.py); draw the share images
    due (share_image.py)."""
    with writing():
        renders.queue_stale(now)
        storage.prune_parts(now)
        renders.prune(now)
        ratelimit.prune(now)
    open_due(now)
    purge_daily(now)
    share_image.make_due()


def open_due(now: datetime | None = None) -> int:
    """Open each collecting letter whose publish_at has passed, one writing unit each; how many
    this call opened."""
    with reading():
        due = letters.due_to_open(now)
    opened = 0
    for letter_id in due:
        with writing():
            letter = db.session.get(Letter, letter_id)
            if letter is not None and letters.open_to_public(letter, actor="worker", now=now):
                opened += 1
                log.info("opened letter %s to the public (its publish_at came)", letter.slug)
    return opened


PURGED_ON: dict[str, date] = {}  # the day the contact details due were last erased


def purge_daily(now: datetime | None = None) -> retention.Purged | None:
    """Erase the contact details due (CAMPAIGN_RETAIN_CONTACTS_DAYS), once a day per worker
    process; None when it ran already today, or the setting is off."""
    today = (now or utcnow()).date()
    if retention.days() is None or PURGED_ON.get("contacts") == today:
        return None
    purged = retention.purge_due(now, actor="worker")
    PURGED_ON["contacts"] = today
    if purged.signatures:
        log.info("erased the contact details of %d signatures of %d letters",
                 purged.signatures, purged.letters)
    return purged


def run_due(now: datetime | None = None) -> bool:
    """Claim one due job and do it; False when none was due."""
    now = now or utcnow()
    other = aliased(RenderJob)
    busy = exists().where(other.letter_id == RenderJob.letter_id, other.id != RenderJob.id,
                          other.status == "working", other.due > now)
    if not renders.QUEUE.any_due(now, where=[~busy]):
        return False
    with writing():
        claims = renders.QUEUE.claim(1, now, where=[~busy])
        if claims:
            db.session.execute(update(RenderJob).where(RenderJob.id == claims[0].id)
                               .values(started_at=now))
    if not claims:
        return False
    each = claims[0]
    with reading():
        job = db.session.get(RenderJob, each.id)
        kind, letter_id = (job.kind, job.letter_id) if job else ("", 0)
        params = json.loads(job.params or "{}") if job else {}
    started = time.monotonic()
    try:
        if kind == "deliver":
            _deliver(each, letter_id, params, started)
        else:
            _refresh(each, letter_id, started)
    except PdfUnavailable as exc:
        log.warning("render of letter %s failed: %s", letter_id, exc)
        renders.QUEUE.fail(each, str(exc), finished_at=utcnow(),
                           seconds=time.monotonic() - started)
    except DeliveryError as exc:  # nothing to deliver: an organizer has to look
        renders.QUEUE.fail(each, str(exc), final=True, finished_at=utcnow(),
                           seconds=time.monotonic() - started)
    except Exception as exc:  # a bug: recorded on the job, tried again later, never stuck
        db.session.rollback()
        log.exception("render job %s of letter %s failed", each.id, letter_id)
        renders.QUEUE.fail(each, f"unexpected error: {type(exc).__name__}: {exc}",
                           finished_at=utcnow(), seconds=time.monotonic() - started)
    return True


@dataclass(frozen=True)
class Snapshot:
    """What a PDF of a letter shows, read at one moment."""

    kind: str  # "signed" or "addendum"
    rows: list[listing.Listed]
    when: datetime
    fingerprint: str
    extra: dict[str, Any]


def snapshot(letter: Letter) -> Snapshot | None:
    """What the letter's current PDF shows now: the signed letter, or once it is delivered the
    addendum of those listed since (None when there is none)."""
    when = utcnow()
    day = local_date(when)
    record = delivery.delivery_of(letter)
    if record is None:
        rows = listing.rows(letter)
        return Snapshot("signed", rows, when, pdf.fingerprint("signed", letter, rows, day), {})
    rows = listing.rows(letter, exclude=delivery.delivered_ids(record))
    if not rows:
        return None
    extra = {"template": "pdf/addendum.html", "title": _("Addendum: %(title)s", title=letter.title),
             "delivered_on": local_date(record.delivered_at),
             "delivered_count": record.signatory_count, "delivered_sha256": record.sha256}
    return Snapshot("addendum", rows, when,
                    pdf.fingerprint("addendum", letter, rows, day, record.sha256), extra)


def render(letter: Letter, shot: Snapshot, store: pdf.PartStore) -> pdf.Rendered:
    """Render a snapshot (slow: outside any unit)."""
    with reading():
        images = uploads.load([letter.logo_file, *uploads.referenced(letter.body_html)])
    return pdf.render(letter, shot.rows, shot.when, store, images=images, **shot.extra)


def render_now(letter: Letter, addendum: bool = False) -> bytes | None:
    """The letter's PDF rendered now, for the command line (its parts are not kept)."""
    with force_locale(letter.language):
        shot = snapshot(letter)
        if shot is None or (shot.kind == "addendum") != addendum:
            return None
        return render(letter, shot, pdf.MemoryStore()).data


def render_translation_now(letter: Letter, translation: LetterTranslation) -> bytes:
    """The signed letter in one of its translations, rendered now, for the command line."""
    with reading():
        shot = _translated(letter, translation, listing.rows(letter))
    shown = translations.printed(letter, translation)
    with force_locale(translation.language):
        return render(shown, shot, pdf.MemoryStore()).data


def _refresh(each: Claim, letter_id: int, started: float) -> None:
    """Bring the letter's PDFs up to date: its own (the signed letter, or its addendum once
    delivered) and one signed letter for each translation, with the same list, each in its
    language's words. Only those whose fingerprint changed are rendered; all are kept at once."""
    with reading():
        letter = db.session.get(Letter, letter_id)
        wanted = _wanted(letter) if letter is not None else []
        stale = [(language, shown, shot) for language, shown, shot in wanted
                 if shot is not None and not _fresh(letter_id, language, shot)]
    no_addendum = bool(wanted) and wanted[0][2] is None
    translated = [language for language, _shown, _shot in wanted[1:]]
    made = []
    for language, shown, shot in stale:
        if not renders.QUEUE.renew(each):
            return
        store = storage.DatabaseParts()
        with force_locale(shown.language):
            made.append((language, shot, render(shown, shot, store), store))
    with writing():
        if not renders.QUEUE.finish(each, finished_at=utcnow(),
                                    seconds=time.monotonic() - started):
            return
        if letter is None:
            return
        for language, shot, rendered, store in made:
            storage.keep(letter_id, shot.kind, rendered.data, fingerprint=shot.fingerprint,
                         as_of=shot.when, signatory_count=len(shot.rows), pages=rendered.pages,
                         seconds=rendered.seconds, parts=rendered.parts, reused=rendered.reused,
                         language=language)
            store.touch()
        if no_addendum:  # nothing to show since delivery
            storage.drop(letter_id, "addendum")
        storage.drop_languages(letter_id, translated)
    for language, shot, rendered, _store in made:
        log.info("rendered letter %s (%s%s, %d signatories) in %.1f s, %d of %d parts reused",
                 letter_id, shot.kind, f", {language}" if language else "", len(shot.rows),
                 rendered.seconds, rendered.reused, rendered.parts)


def _wanted(letter: Letter) -> list[tuple[str, Letter, Snapshot | None]]:
    """What each PDF of the letter shows now: (its language, "" for the letter's own; the
    letter as it prints in it; its snapshot), the letter's own first."""
    with force_locale(letter.language):
        wanted: list[tuple[str, Letter, Snapshot | None]] = [("", letter, snapshot(letter))]
    found = translations.of(letter)
    if found:
        rows = listing.rows(letter)
        for translation in found:
            wanted.append((translation.language, translations.printed(letter, translation),
                           _translated(letter, translation, rows)))
    return wanted


def _translated(letter: Letter, translation: LetterTranslation,
                rows: list[listing.Listed]) -> Snapshot:
    """What the signed letter in a translation shows now: its text, the letter's list."""
    shown = translations.printed(letter, translation)
    with force_locale(translation.language):
        when = utcnow()
        return Snapshot("signed", rows, when, pdf.fingerprint(
            "signed", shown, rows, local_date(when), translation.language), {})


def _fresh(letter_id: int, language: str, shot: Snapshot) -> bool:
    stored = storage.newest(letter_id, shot.kind, language)
    return stored is not None and stored.fingerprint == shot.fingerprint


def _deliver(each: Claim, letter_id: int, params: dict[str, Any], started: float) -> None:
    store = storage.DatabaseParts()
    for _attempt in range(DELIVERY_TRIES):
        with reading():
            letter = db.session.get(Letter, letter_id)
            if letter is None:
                raise DeliveryError("The letter no longer exists.")
            rows = delivery.check_deliverable(letter)
        if not renders.QUEUE.renew(each):
            return
        shot = Snapshot("signed", rows, utcnow(), "", {})
        with force_locale(letter.language):
            made = render(letter, shot, store)
        prepared = delivery.Prepared(rows, made.data, pages.signatory_pages(made.data, rows))
        when = shot.when
        try:
            with writing():
                delivery.close_and_deliver(letter, prepared, organizer_id=params.get("organizer"),
                                           notify_signatories=bool(params.get("notify", True)),
                                           now=when)
                store.touch()
                renders.QUEUE.finish(each, finished_at=utcnow(), seconds=time.monotonic() - started)
            return
        except ListChanged:
            continue  # approved or withdrawn meanwhile: read and render again (parts reused)
        except AlreadyDelivered:
            with writing():
                renders.QUEUE.finish(each, finished_at=utcnow(), seconds=time.monotonic() - started)
            return
    raise DeliveryError(f"The list kept changing while the PDF was made ({DELIVERY_TRIES} "
                        "tries): deliver it again when it is quiet.")


