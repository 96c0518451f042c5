"""Collecting letters (the embargo): signing works at the letter's address, but its count, list,
exports and PDF answer 404, it is not on the home page and not indexed, until an organizer opens
it or the worker does at its publish_at time; and the time a letter closes."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select
from support import (
    SIGNER,
    assert_one_line_error,
    do_render_jobs,
    form_fields,
    submit,
    text_of,
    with_smtp,
)

from campaign import letter_files, letters, outbox, worker
from campaign.database import writing
from campaign.errors import LetterError
from campaign.extensions import db
from campaign.models import AuditEntry, Letter, Signature, utcnow

SLUG = "stop-forwarding"
LETTER = f"/letters/{SLUG}"
HIDDEN = [f"{LETTER}/signers", f"{LETTER}/signers?q=Workers", f"{LETTER}/signers.csv",
          f"{LETTER}/signers.json", f"{LETTER}.pdf", f"{LETTER}/addendum.pdf"]


@pytest.fixture
def app_config(app_config, smtp):
    return with_smtp(app_config, smtp)


def reload(letter: Letter) -> Letter:
    db.session.rollback()
    found = db.session.get(Letter, letter.id)
    assert found is not None
    return found


def visible(html: str) -> str:
    return " ".join(BeautifulSoup(html, "html.parser").get_text(" ").split())


def audit_actions(letter: Letter) -> list[tuple[str, str]]:
    return [(entry.action, entry.actor) for entry in db.session.scalars(
        select(AuditEntry).where(AuditEntry.letter_id == letter.id).order_by(AuditEntry.id))]


# ------------------------------------------------------------------ what the public sees


def test_a_collecting_letter_hides_its_count_list_exports_and_pdf(client, make_letter,
                                                                  make_signature):
    letter = make_letter(status="collecting")
    make_signature(letter, organization="Workers Alliance Listed")
    do_render_jobs()  # its PDF exists: organizers may look at it
    for path in HIDDEN:
        assert client.get(path).status_code == 404, path

    page = client.get(LETTER)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("meta", attrs={"name": "robots"})["content"] == "noindex"
    assert page.headers["X-Robots-Tag"] == "noindex"
    assert soup.find("form", action=LETTER) is not None  # the sign form
    assert soup.find(class_="count") is None
    assert f"{LETTER}/signers" not in html and f"{LETTER}.pdf" not in html
    assert "Workers Alliance Listed" not in html
    assert "Stop Forwarding Fingerprints" not in client.get("/").get_data(as_text=True)


def test_an_open_letter_is_indexed_and_lists_its_count(client, make_letter, make_signature):
    letter = make_letter()
    make_signature(letter)
    page = client.get(LETTER)
    assert "X-Robots-Tag" not in page.headers
    soup = BeautifulSoup(page.get_data(as_text=True), "html.parser")
    assert soup.find("meta", attrs={"name": "robots"}) is None
    assert soup.find(class_="count").strong.get_text() == "1"


def test_signing_and_confirming_a_collecting_letter_work_and_tell_no_count(
        new_client, make_letter, admin, smtp):
    make_letter(status="collecting", require_approval=False)
    signer = new_client()
    answer = submit(signer, LETTER, {**SIGNER}, "Sign")
    assert answer.status_code == 303
    assert outbox.send_due() == 1
    smtp.wait(1)
    [link] = re.findall(r"https?://\S+", text_of(smtp.messages[0]))
    path = link.removeprefix("http://localhost")
    confirmed = submit(signer, path, {}, "Confirm")
    assert "confirmed" in visible(confirmed.get_data(as_text=True)).lower()
    assert f"{LETTER}/signers" not in confirmed.get_data(as_text=True)
    assert db.session.scalar(select(Signature.status)) == "approved"  # listed, privately

    assert signer.get(f"{LETTER}/signers.json").status_code == 404
    assert "Sunrise Tenants Union" not in signer.get(LETTER).get_data(as_text=True)
    # the organizers see it as usual
    moderation = admin.get(f"/admin/letters/{SLUG}/signatures?status=approved")
    assert "Sunrise Tenants Union" in moderation.get_data(as_text=True)
    assert "private until the letter opens" in moderation.get_data(as_text=True)
    contacts = admin.get(f"/admin/letters/{SLUG}/signatures.csv").get_data(as_text=True)
    assert "rosa@sunrise.example.org" in contacts


def test_a_collecting_letters_deadline_still_closes_it(client, make_letter):
    make_letter(status="collecting", deadline=datetime(2020, 1, 1, tzinfo=UTC))
    html = client.get(LETTER).get_data(as_text=True)
    assert BeautifulSoup(html, "html.parser").find("form", action=LETTER) is None
    assert "deadline" in html


# ------------------------------------------------------------------ opening


def test_an_organizer_opens_it_and_the_list_appears(new_client, admin, make_letter,
                                                    make_signature):
    client = new_client()  # anonymous: its pages are kept (pagecache.py)
    letter = make_letter(status="collecting")
    make_signature(letter, organization="Harbor Food Bank")
    assert client.get(f"{LETTER}/signers").status_code == 404
    client.get(LETTER)  # kept by the page cache while collecting

    edit = admin.get(f"/admin/letters/{SLUG}/edit").get_data(as_text=True)
    assert "Collecting (private until launch)" in edit
    action, values = form_fields(edit, "Open to the public now")
    assert action == f"/admin/letters/{SLUG}/open"
    answer = admin.post(action, data=values)
    assert answer.status_code == 303
    assert reload(letter).status == "open"
    assert ("letter.open", "staff@example.org") in audit_actions(letter)

    assert "Harbor Food Bank" in client.get(f"{LETTER}/signers").get_data(as_text=True)
    assert client.get(f"{LETTER}/signers.json").get_json()["count"] == 1
    page = client.get(LETTER)
    assert "X-Robots-Tag" not in page.headers
    count = BeautifulSoup(page.get_data(as_text=True), "html.parser").find(class_="count")
    assert count.strong.get_text() == "1"
    assert "Stop Forwarding Fingerprints" in client.get("/").get_data(as_text=True)


def test_opening_twice_opens_once(admin, make_letter):
    letter = make_letter(status="collecting")
    with writing():
        assert letters.open_to_public(letter, actor="worker")
    with writing():
        assert not letters.open_to_public(reload(letter), actor="worker")
    assert audit_actions(letter).count(("letter.open", "worker")) == 1


def test_the_worker_opens_a_letter_whose_publish_at_has_passed(client, make_letter):
    now = utcnow()
    due = make_letter(status="collecting", publish_at=now - timedelta(minutes=1))
    later = make_letter(slug="later", status="collecting", publish_at=now + timedelta(days=1))
    assert client.get(f"{LETTER}/signers").status_code == 404

    worker.sweep()
    assert reload(due).status == "open" and reload(due).publish_at is None
    assert reload(later).status == "collecting"
    assert ("letter.open", "worker") in audit_actions(due)
    assert client.get(f"{LETTER}/signers").status_code == 200
    assert client.get("/letters/later/signers").status_code == 404


def test_worker_once_opens_it_from_the_command_line(runner, make_letter):
    letter_id = make_letter(status="collecting", publish_at=utcnow() - timedelta(seconds=1)).id
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert db.session.get(Letter, letter_id).status == "open"


# ------------------------------------------------------------------ the letter file and the form


def test_a_letter_file_may_be_collecting_with_a_publish_at(app):
    text = letter_files.parse_text(
        "---\ntitle: T\nslug: t\nstatus: collecting\npublish_at: 2026-06-01T09:00-04:00\n---\nB\n",
        app.config["TZ"])
    assert text.status == "collecting"
    assert text.publish_at == datetime(2026, 6, 1, 13, 0, tzinfo=UTC)
    date_only = letter_files.parse_text(
        "---\ntitle: T\nslug: t\nstatus: collecting\npublish_at: 2026-06-01\n---\nB\n",
        app.config["TZ"])
    assert date_only.publish_at == datetime(2026, 6, 1, tzinfo=UTC)  # the start of that day


@pytest.mark.parametrize(("front", "message"), [
    ("status: collecting\npublish_at: soon", "publish_at 'soon' is not an ISO 8601 date"),
    ("status: collecting\npublish_at: 1999-01-01", "publish_at '1999-01-01' is not between"),
    ("status: open\npublish_at: 2026-06-01", "publish_at is only for a collecting letter"),
])
def test_a_bad_publish_at_is_refused_in_one_line(runner, tmp_path, front, message):
    path = tmp_path / "x.md"
    path.write_text(f"---\ntitle: T\nslug: t\n{front}\n---\nBody\n")
    with pytest.raises(LetterError, match=message):
        letter_files.parse_file(path, runner.app.config["TZ"])
    assert_one_line_error(runner.invoke(args=["import-letter", str(path)]), message)


def test_the_form_sets_a_publish_at_on_a_collecting_letter_only(admin, make_letter):
    letter = make_letter(status="draft")
    edit = f"/admin/letters/{SLUG}/edit"
    refused = submit(admin, edit, {"status": "open", "publish_at": "2026-06-01 09:00"},
                     "Save letter")
    assert refused.status_code == 422
    assert "Only a collecting letter opens by itself" in refused.get_data(as_text=True)
    bad = submit(admin, edit, {"status": "collecting", "publish_at": "tomorrow"}, "Save letter")
    assert bad.status_code == 422 and "publish_at" in bad.get_data(as_text=True)
    saved = submit(admin, edit, {"status": "collecting", "publish_at": "2026-06-01 09:00"},
                   "Save letter")
    assert saved.status_code == 303
    letter = reload(letter)
    assert (letter.status, letter.publish_at) == ("collecting",
                                                  datetime(2026, 6, 1, 9, tzinfo=UTC))
    page = admin.get(edit).get_data(as_text=True)
    assert 'value="2026-06-01T09:00"' in page  # a date-and-time input since #15
    assert "it opens by itself on June 1, 2026" in visible(page)


# ------------------------------------------------------------------ when a letter closed


def test_closing_keeps_when_and_reopening_forgets_it(admin, make_letter):
    letter = make_letter()
    assert letter.closed_at is None
    assert submit(admin, f"/admin/letters/{SLUG}/edit", {"status": "closed"},
                  "Save letter").status_code == 303
    closed_at = reload(letter).closed_at
    assert closed_at is not None and utcnow() - closed_at < timedelta(minutes=1)
    submit(admin, f"/admin/letters/{SLUG}/edit", {"title": "Renamed"}, "Save letter")
    assert reload(letter).closed_at == closed_at  # still closed: since then
    submit(admin, f"/admin/letters/{SLUG}/edit", {"status": "open"}, "Save letter")
    assert reload(letter).closed_at is None
    statuses = [entry for entry in audit_actions(letter) if entry[0] == "letter.status"]
    assert statuses == [("letter.status", "staff@example.org")] * 2


def test_close_and_deliver_keeps_when_the_letter_closed(admin, make_letter, make_signature):
    letter = make_letter()
    make_signature(letter)
    action, values = form_fields(admin.get(f"/admin/letters/{SLUG}/deliver")
                                 .get_data(as_text=True), "Close and deliver")
    admin.post(action, data={**values, "confirm": "y"})
    letter = reload(letter)
    assert letter.status == "closed" and letter.closed_at is not None


def test_a_letter_made_collecting_again_hides_what_its_pages_kept(new_client, admin,
                                                                 make_letter, make_signature):
    client = new_client()
    letter = make_letter()
    make_signature(letter, organization="Harbor Food Bank")
    assert client.get(LETTER).status_code == 200
    for path in (f"{LETTER}/signers", f"{LETTER}/signers.json"):
        assert "Harbor Food Bank" in client.get(path).get_data(as_text=True)
    assert submit(admin, f"/admin/letters/{SLUG}/edit", {"status": "collecting"},
                  "Save letter").status_code == 303
    for path in HIDDEN:
        assert client.get(path).status_code == 404, path
    assert BeautifulSoup(client.get(LETTER).get_data(as_text=True),
                         "html.parser").find(class_="count") is None
