"""Render jobs (renders.py, worker.py): queued in the transaction of each change, coalesced, one
at a time per letter, shared by workers without doing one twice, skipped when nothing changed,
and queued again each new day."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from campaign import create_app, delivery, letters, moderation, pdf, renders, worker
from campaign.database import writing
from campaign.extensions import db
from campaign.models import PdfFile, RenderJob, utcnow
from campaign.pdf import storage


def jobs(letter_id: int | None = None) -> list[tuple[str, str]]:
    """(kind, status) of every render job (of a letter), oldest first."""
    db.session.rollback()
    query = sa.select(RenderJob.kind, RenderJob.status).order_by(RenderJob.id)
    if letter_id is not None:
        query = query.where(RenderJob.letter_id == letter_id)
    return [tuple(row) for row in db.session.execute(query)]


def run_all() -> int:
    done = 0
    while worker.run_due():
        done += 1
    return done


@pytest.fixture
def counted(monkeypatch):
    """Count the renders (each with the letter and how many signatories it showed)."""
    seen: list[tuple[int, int]] = []
    real = pdf.render

    def render(letter, rows, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((letter.id, len(rows)))
        return real(letter, rows, *args, **kwargs)

    monkeypatch.setattr(pdf, "render", render)
    return seen


@pytest.fixture
def letter(make_letter, make_signature):
    letter = make_letter()
    make_signature(letter, organization="Heartland Workers Center")
    return letter


def test_a_new_letter_queues_its_first_render_a_draft_too(app, make_letter):
    draft = make_letter(status="draft")  # so that its organizers can look at its PDF
    assert jobs(draft.id) == [("refresh", "queued")]
    opened = make_letter(slug="opened", title="Opened")
    assert jobs(opened.id) == [("refresh", "queued")]


def test_an_approval_queues_a_refresh_in_its_own_transaction(app, letter, make_signature):
    run_all()
    waiting = make_signature(letter, "pending")
    assert jobs(letter.id) == [("refresh", "done")]  # a pending signature shows nowhere
    with pytest.raises(RuntimeError), writing():
        moderation.decide(letter, [waiting.id], approve=True)
        raise RuntimeError("the request failed after the approval")
    assert jobs(letter.id) == [("refresh", "done")]  # rolled back with it
    with writing():
        moderation.decide(letter, [waiting.id], approve=True)
    assert jobs(letter.id) == [("refresh", "done"), ("refresh", "queued")]


def test_ten_approvals_in_a_row_make_at_most_two_renders(app, letter, make_signature, counted):
    run_all()
    counted.clear()
    waiting = [make_signature(letter, "pending") for _ in range(10)]
    with writing():
        moderation.decide(letter, [waiting[0].id], approve=True)
    with writing():  # the first approval's render is running (its job claimed) when the rest come
        [running] = renders.QUEUE.claim(1)
    for signature in waiting[1:]:
        with writing():
            moderation.decide(letter, [signature.id], approve=True)
    assert jobs(letter.id).count(("refresh", "queued")) == 1  # nine approvals, one job
    with writing():
        renders.QUEUE.finish(running)
    run_all()
    assert counted == [(letter.id, 11)]  # the waiting one renders the newest state: all 11


def test_queueing_many_times_on_one_connection_keeps_matching_the_waiting_index(app, letter):
    """PostgreSQL plans a statement run often on one connection once for any parameters; the
    ON CONFLICT of the waiting job must still name its partial index then (a literal status)."""
    for _ in range(15):
        with writing():
            renders.want(letter)
    assert jobs(letter.id) == [("refresh", "queued")]


def test_one_job_runs_at_a_time_per_letter(app, letter, make_letter, make_signature):
    other = make_letter(slug="other-letter", title="Other")
    run_all()
    with writing():
        letters.update(letter, letters.LetterText(title="Changed", slug=letter.slug,
                                                  body=letter.body, status="open"))
        letters.update(other, letters.LetterText(title="Changed too", slug=other.slug,
                                                 body=other.body, status="open"))
    with writing():  # a worker holds a refresh of `letter`, another change queues one more
        [held] = renders.QUEUE.claim(1)
    held_letter = db.session.get(RenderJob, held.id).letter_id
    with writing():
        renders.want(db.session.get(type(letter), held_letter))
    with writing():
        claimed = renders.QUEUE.claim(5, where=[_not_busy()])
    assert [db.session.get(RenderJob, c.id).letter_id for c in claimed] == [
        other.id if held_letter == letter.id else letter.id]


def _not_busy():  # the condition run_due claims with
    other = sa.orm.aliased(RenderJob)
    return ~sa.exists().where(other.letter_id == RenderJob.letter_id, other.id != RenderJob.id,
                              other.status == "working", other.due > utcnow())


def test_a_render_that_would_change_nothing_renders_nothing(app, letter, counted):
    run_all()
    before = storage.newest(letter.id)
    with writing():
        renders.want(letter)
    assert run_all() == 1
    assert counted == [(letter.id, 1)]  # the first render only
    assert storage.newest(letter.id) == before


def test_a_new_day_queues_a_refresh_of_letters_not_delivered(app, letter, make_letter):
    delivered = make_letter(slug="delivered", title="Delivered")
    draft = make_letter(slug="draft", title="Draft", status="draft")
    run_all()
    with writing():
        worker.sweep()  # the same day: nothing to do
    assert [j for j in jobs() if j[1] == "queued"] == []
    with writing():
        db.session.add(delivery.Delivery(letter_id=delivered.id, signatory_count=0, sha256="0",
                                         pdf=b"%PDF", contacts_csv=""))
    worker.sweep(utcnow() + timedelta(days=1))
    assert jobs(letter.id)[-1] == ("refresh", "queued")
    assert jobs(draft.id)[-1] == ("refresh", "queued")
    assert jobs(delivered.id)[-1] == ("refresh", "done")  # its PDF is the delivered copy


def test_a_new_day_queues_a_refresh_of_a_delivered_letters_addendum(app, make_letter,
                                                                    make_signature):
    delivered = make_letter(slug="delivered", title="Delivered")
    with writing():
        db.session.add(delivery.Delivery(letter_id=delivered.id, signatory_count=0, sha256="0",
                                         pdf=b"%PDF", contacts_csv=""))
    make_signature(delivered, organization="Late Allies")  # listed after the delivery
    run_all()
    assert storage.newest(delivered.id, "addendum").signatory_count == 1
    worker.sweep()  # the same day: nothing to do
    assert jobs(delivered.id)[-1] == ("refresh", "done")
    worker.sweep(utcnow() + timedelta(days=1))
    assert jobs(delivered.id)[-1] == ("refresh", "queued")


def test_a_new_day_does_not_queue_again_a_render_that_failed_for_good(app, make_letter):
    app.config["PDF_TIMEOUT"] = 0.05
    letter = make_letter()
    run_all()
    worker.run_due(utcnow() + timedelta(hours=1))
    worker.run_due(utcnow() + timedelta(hours=2))
    assert jobs(letter.id) == [("refresh", "failed")]
    worker.sweep(utcnow() + timedelta(days=1))  # shown to its organizers; not tried every minute
    assert jobs(letter.id) == [("refresh", "failed")]
    with writing():
        renders.want(letter)  # an organizer asks again ("Make the PDF again"), or a change
    assert jobs(letter.id)[-1] == ("refresh", "queued")


def test_the_sweep_deletes_refreshes_done_two_weeks_ago_and_keeps_deliveries(app, letter,
                                                                              make_signature):
    run_all()  # the first refresh: done now
    with writing():
        db.session.add(RenderJob(letter_id=letter.id, kind="deliver", status="failed",
                                 created_at=utcnow()))
    make_signature(letter, organization="Late Allies")  # a refresh waiting
    assert jobs(letter.id) == [("refresh", "done"), ("deliver", "failed"), ("refresh", "queued")]
    worker.sweep(utcnow() + timedelta(days=13))
    assert len(jobs(letter.id)) == 3  # not two weeks yet
    worker.sweep(utcnow() + timedelta(days=15))
    assert jobs(letter.id) == [("deliver", "failed"), ("refresh", "queued")]


def test_the_newest_pdf_is_kept_once_per_letter_and_served_from_the_database(app, client,
                                                                             letter,
                                                                             make_signature):
    run_all()
    first = storage.newest(letter.id)
    make_signature(letter, organization="Late Allies")
    run_all()
    newest = storage.newest(letter.id)
    assert newest.id == first.id and newest.fingerprint != first.fingerprint
    assert newest.signatory_count == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PdfFile)) == 1
    served = client.get("/letters/stop-forwarding.pdf")
    assert served.status_code == 200 and served.data == storage.data(newest)
    assert served.headers["ETag"].strip('"') == newest.fingerprint


def test_a_pdf_replaced_between_its_two_reads_is_never_served_under_the_old_tag(
        app, letter, make_signature):
    run_all()
    first = storage.newest(letter.id)
    storage.BYTES.clear()
    make_signature(letter, organization="Late Allies")
    run_all()  # kept in the same row, in place of the first
    assert storage.data(first) is None
    newest = storage.newest(letter.id)
    assert storage.data(newest) is not None and newest.fingerprint != first.fingerprint


@pytest.mark.parametrize("workers", [3])
def test_workers_at_once_never_render_one_job_twice(app_config, app, make_letter,
                                                    make_signature, workers, monkeypatch):
    """Several workers (each its own app and connection, as on several hosts) share the jobs of
    six letters: every letter is rendered exactly once."""
    made = []
    for n in range(6):
        made.append(make_letter(slug=f"letter-{n}", title=f"Letter {n}"))
        make_signature(made[-1])
    db.session.commit()
    renders_done: Counter[int] = Counter()
    lock = threading.Lock()
    real = pdf.render

    def render(letter, rows, *args, **kwargs):  # type: ignore[no-untyped-def]
        with lock:
            renders_done[letter.id] += 1
        return real(letter, rows, *args, **kwargs)

    monkeypatch.setattr(pdf, "render", render)
    errors = []

    def one_worker(other) -> None:  # type: ignore[no-untyped-def]
        try:
            with other.app_context():
                while worker.run_due():
                    pass
                db.session.remove()
                db.engine.dispose()
        except Exception as exc:  # reported below
            errors.append(exc)

    # The apps are made here, one after the other: CPython 3.11's ast.parse, which werkzeug uses
    # to compile the routes, is not safe in threads at once ("AST constructor recursion depth
    # mismatch", python/cpython#106905).
    apps = [create_app(app_config) for _ in range(workers)]
    threads = [threading.Thread(target=one_worker, args=(other,)) for other in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert renders_done == Counter({letter.id: 1 for letter in made})
    assert all(status == "done" for _, status in jobs())
