"""The letter's life (#15): its status follows its deadline on every page at once (home page,
organizers' list, JSON, the letter's page and form) with nobody acting; a delivered letter is
not set back to open by the way, only reopened for an addendum on purpose (recorded), and the
addendum is emailed to the recipients; the deadline is a date-and-time input in the campaign's
time zone, the language a select; the preview beside or above the editor; the letter file
downloaded and imported back; what changed between versions."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup
from support import assert_one_line_error, do_render_jobs, submit, text_of, with_smtp

from campaign import letters, listing, moderation, outbox
from campaign.database import writing
from campaign.extensions import db
from campaign.models import AuditEntry, Letter, OutboxAttachment, OutboxMessage, Signature, utcnow
from campaign.pdf import storage

SLUG = "stop-forwarding"
EDIT = f"/admin/letters/{SLUG}/edit"
DELIVER = f"/admin/letters/{SLUG}/deliver"


@pytest.fixture
def app_config(app_config, smtp):
    return with_smtp(app_config, smtp)


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def words(response) -> str:
    return " ".join(soup(response).get_text(" ").split())


def pass_deadline(slug: str = SLUG) -> None:
    """Move the letter's deadline a second into the past, as time does: nothing else of the
    letter changes (not even updated_at, which keys its kept pages)."""
    with writing():
        db.session.execute(sa.update(Letter).where(Letter.slug == slug).values(
            deadline=utcnow() - timedelta(seconds=1), updated_at=Letter.updated_at))
    db.session.expire_all()


def entries(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)))


# ------------------------------------------------------------------ the status follows the deadline


def test_an_open_letter_past_its_deadline_reads_as_closed():
    letter = Letter(status="open", deadline=datetime(2030, 6, 30, tzinfo=UTC))
    assert letter.state(datetime(2030, 6, 29, tzinfo=UTC)) == "open"
    assert letter.state(datetime(2030, 7, 1, tzinfo=UTC)) == "closed"
    assert Letter(status="open", deadline=None).state() == "open"
    assert Letter(status="draft", deadline=datetime(2000, 1, 1, tzinfo=UTC)).state() == "draft"
    # a collecting letter stays private: its form closes, its list is not published by the clock
    assert Letter(status="collecting", deadline=datetime(2000, 1, 1, tzinfo=UTC)).state() \
        == "collecting"


def test_the_home_page_lists_of_open_and_closed_letters_follow_the_clock(make_letter):
    soon = utcnow() + timedelta(days=1)
    make_letter(deadline=soon)
    make_letter(slug="no-deadline", title="No Deadline")
    assert [x.slug for x in letters.open_letters()] == [SLUG, "no-deadline"]
    later = soon + timedelta(seconds=1)
    assert [x.slug for x in letters.open_letters(later)] == ["no-deadline"]
    assert [x.slug for x in letters.closed_letters(now=later)] == [SLUG]
    assert letters.closed_letters(now=soon) == []


def test_when_the_deadline_passes_every_page_says_closed_at_once(admin, new_client,
                                                                  make_letter):
    make_letter(deadline=utcnow() + timedelta(hours=1))
    visitor = new_client()
    # each page once while it is open, so that every kept page is made
    assert "Stop Forwarding Fingerprints" in words(visitor.get("/")).split("Closed letters")[0]
    assert visitor.get(f"/letters/{SLUG}/signers.json").json["status"] == "open"
    assert soup(visitor.get(f"/letters/{SLUG}")).find("form", attrs={"method": "post"})
    assert soup(admin.get("/admin/")).select_one("span.status").get_text() == "open"

    pass_deadline()

    home = words(visitor.get("/"))
    assert "No letter is open for signatures right now." in home
    assert "Stop Forwarding Fingerprints" in home.split("Closed letters")[1]
    assert visitor.get(f"/letters/{SLUG}/signers.json").json["status"] == "closed"
    page = visitor.get(f"/letters/{SLUG}")
    assert soup(page).find("form", attrs={"method": "post"}) is None
    assert "The deadline for this letter has passed" in words(page)
    status = soup(admin.get("/admin/")).select_one("span.status")
    assert status.get_text() == "closed (deadline passed)"
    assert "closed" in status["class"]
    form_page = words(admin.get(EDIT))
    assert "This letter is closed: its deadline" in form_page
    assert db.session.scalar(sa.select(Letter.status)) == "open"  # nobody closed it


def test_a_later_deadline_opens_the_letter_again_everywhere(admin, new_client, make_letter):
    make_letter(deadline=utcnow() + timedelta(hours=1))
    pass_deadline()
    visitor = new_client()
    assert visitor.get(f"/letters/{SLUG}/signers.json").json["status"] == "closed"
    response = submit(admin, EDIT, {"deadline": "2199-01-01T12:00"}, "Save letter")
    assert response.status_code == 303
    assert visitor.get(f"/letters/{SLUG}/signers.json").json["status"] == "open"
    assert soup(visitor.get(f"/letters/{SLUG}")).find("form", attrs={"method": "post"})


# ------------------------------------------------------------------ deadline and language fields


def test_the_deadline_is_a_date_and_time_input_read_in_the_campaigns_time_zone(app, admin,
                                                                               make_letter):
    app.config["TZ"] = ZoneInfo("America/Chicago")
    make_letter()
    page = soup(admin.get(EDIT))
    deadline = page.find("input", attrs={"name": "deadline"})
    assert deadline["type"] == "datetime-local"
    help_text = page.find(id=deadline["aria-describedby"].split()[0]).get_text()
    assert "America/Chicago" in help_text
    assert submit(admin, EDIT, {"deadline": "2030-06-30T17:00"}, "Save letter").status_code == 303
    saved = db.session.scalar(sa.select(Letter.deadline))
    assert saved == datetime(2030, 6, 30, 22, 0, tzinfo=UTC)  # 17:00 CDT
    shown = soup(admin.get(EDIT)).find("input", attrs={"name": "deadline"})["value"]
    assert shown == "2030-06-30T17:00"


def test_saving_the_form_again_keeps_a_deadlines_seconds(admin, make_letter):
    end_of_day = datetime(2030, 6, 30, 23, 59, 59, 999_999, tzinfo=UTC)
    make_letter(deadline=end_of_day)
    assert submit(admin, EDIT, {}, "Save letter").status_code == 303
    db.session.expire_all()
    assert db.session.scalar(sa.select(Letter.deadline)) == end_of_day


@pytest.mark.parametrize("typed", ["next Tuesday", "2030-02-30T10:00", "1999-12-31T10:00"])
def test_a_bad_deadline_says_how_to_write_it_and_saves_nothing(admin, make_letter, typed):
    make_letter()
    response = submit(admin, EDIT, {"deadline": typed, "title": "Changed"}, "Save letter")
    assert response.status_code == 422
    error = soup(response).find(id="deadline-error").get_text()
    assert "Give a date and time, such as 2026-06-30 17:00 (UTC time)" in error
    assert "ISO 8601" not in error
    db.session.expire_all()
    assert db.session.scalar(sa.select(Letter.title)) == "Stop Forwarding Fingerprints"


def test_the_language_is_a_select_of_the_interfaces_languages_and_the_letters_own(
        admin, make_letter):
    make_letter(language="fr")
    select = soup(admin.get(EDIT)).select_one("form.letter-form select[name=language]")
    options = {o["value"]: o.get_text() for o in select.find_all("option")}
    assert options == {"en": "English", "es": "Español", "fr": "fr"}
    assert select.find("option", selected=True)["value"] == "fr"
    assert submit(admin, EDIT, {"language": "es"}, "Save letter").status_code == 303
    db.session.expire_all()
    assert db.session.scalar(sa.select(Letter.language)) == "es"


def test_the_preview_comes_before_the_editor_in_a_two_column_block(admin, make_letter):
    make_letter()
    response = submit(admin, EDIT, {"body": "A **previewed** text.\n", "preview": "Preview"},
                      "Preview")
    assert response.status_code == 200
    editor = soup(response).select_one("div.editor.with-preview")
    assert [child.name for child in editor.find_all(recursive=False)] == ["section", "form"]
    assert editor.section.find("strong").get_text() == "previewed"
    assert soup(admin.get(EDIT)).select_one("div.editor.with-preview") is None


# ------------------------------------------------------------------ delivered, reopened, addendum


@pytest.fixture
def delivered(admin, make_letter, make_signature):
    """An open letter with two listed signatories and one awaiting approval, delivered (its
    final PDF emailed to a recipient)."""
    letter = make_letter(deadline=utcnow() + timedelta(days=1))
    make_signature(letter, organization="Sunrise Tenants Union")
    make_signature(letter, organization="Heartland Alliance", scope="national")
    make_signature(letter, "pending", organization="Waiting Room Collective",
                   email="wait@example.net")
    assert submit(admin, DELIVER, {"delivery_emails": "director@agency.example.gov",
                                   "deliver_by_email": "y"}, "Save",
                  content_type="multipart/form-data").status_code == 303
    assert submit(admin, DELIVER, {"confirm": "y", "notify": None},
                  "Close and deliver").status_code == 303
    do_render_jobs()
    db.session.expire_all()
    assert letter.delivery is not None
    return letter


def approve_the_waiting_one(letter: Letter) -> None:
    waiting = db.session.scalar(sa.select(Signature.id).where(
        Signature.organization == "Waiting Room Collective"))
    with writing():
        moderation.decide(letter, [waiting], approve=True)


def test_the_letter_form_cannot_set_a_delivered_letter_back_to_open(admin, delivered):
    page = words(admin.get(EDIT))
    assert "This letter was delivered on" in page and "Reopen for an addendum" in page
    response = submit(admin, EDIT, {"status": "open"}, "Save letter")
    assert response.status_code == 422
    assert "its status cannot be set back here" in soup(response).find(id="status-error").text
    db.session.expire_all()
    assert db.session.scalar(sa.select(Letter.status)) == "closed"


def test_import_letter_cannot_set_a_delivered_letter_back_to_open(runner, delivered, tmp_path):
    path = tmp_path / "letter.md"
    path.write_text(f"---\ntitle: Stop Forwarding Fingerprints\nslug: {SLUG}\nstatus: open\n---\n"
                    "We, the undersigned, ask you to **stop**.\n", encoding="utf-8")
    result = runner.invoke(args=["import-letter", str(path)])
    assert_one_line_error(result, "This letter was delivered")
    db.session.expire_all()
    assert db.session.scalar(sa.select(Letter.status)) == "closed"


def test_reopening_needs_the_box_ticked_and_a_deadline_to_come(admin, delivered):
    refused = submit(admin, DELIVER, {"confirm": None}, "Reopen for an addendum")
    assert refused.status_code == 422
    pass_deadline()
    past = submit(admin, DELIVER, {"confirm": "y"}, "Reopen for an addendum")
    assert past.status_code == 422
    assert "give a new deadline" in soup(past).find(id="deadline-error").get_text()
    db.session.expire_all()
    assert db.session.scalar(sa.select(Letter.status)) == "closed"
    assert entries("letter.reopen") == []


def test_reopening_for_an_addendum_is_recorded_and_the_page_links_each_pdf_once(
        admin, client, delivered):
    response = submit(admin, DELIVER, {"confirm": "y", "deadline": "2199-01-01T12:00"},
                      "Reopen for an addendum")
    assert response.status_code == 303
    db.session.expire_all()
    letter = db.session.scalar(sa.select(Letter))
    assert (letter.status, letter.state(), letter.closed_at) == ("open", "open", None)
    assert letter.deadline == datetime(2199, 1, 1, 12, tzinfo=UTC)
    (entry,) = entries("letter.reopen")
    assert json.loads(entry.detail)["after"]["status"] == "open"
    assert entry.actor == "staff@example.org"
    approve_the_waiting_one(letter)
    do_render_jobs()
    page = soup(client.get(f"/letters/{SLUG}"))
    assert page.find("form", attrs={"method": "post"}) is not None  # takes signatures again
    links = [a["href"] for a in page.find_all("a") if a["href"].endswith(".pdf")]
    assert sorted(links) == [f"/letters/{SLUG}.pdf", f"/letters/{SLUG}/addendum.pdf"]
    assert "Delivered on" in page.get_text()


def test_the_addendum_is_emailed_to_the_recipients_with_its_pdf(admin, delivered, smtp):
    approve_the_waiting_one(delivered)
    waiting = submit(admin, DELIVER, {"confirm": "y"}, "Email the addendum")
    assert waiting.status_code == 422  # the worker has not made it yet
    assert "being made" in soup(waiting).find(id="addresses-error").get_text()
    do_render_jobs()
    page = soup(admin.get(DELIVER))
    assert page.find("textarea", attrs={"name": "addresses"}).get_text().strip() \
        == "director@agency.example.gov"
    sent = submit(admin, DELIVER, {"confirm": "y",
                                   "addresses": "director@agency.example.gov\nclerk@example.gov"},
                  "Email the addendum")
    assert sent.status_code == 303
    stored = storage.newest(delivered.id, "addendum")
    attached = list(db.session.scalars(sa.select(OutboxAttachment).join(OutboxMessage).where(
        OutboxMessage.kind == "addendum")))
    assert {a.filename for a in attached} == {f"{SLUG}-addendum.pdf"}
    assert all(bytes(a.data) == storage.data(stored) for a in attached) and len(attached) == 2
    before = len(smtp.messages)
    outbox.send_due()
    smtp.wait(before + 2)
    message = smtp.to("clerk@example.gov")[-1]
    assert message["Subject"] == "Addendum: Stop Forwarding Fingerprints"
    assert "1 organization signed on since" in text_of(message)
    assert stored.sha256 in text_of(message)
    (entry,) = entries("delivery.addendum")
    assert json.loads(entry.detail)["after"]["emailed to"] == 2
    assert "Last emailed on" in words(admin.get(DELIVER))


def test_there_is_no_addendum_to_email_before_anyone_signs_on_since(admin, delivered):
    page = soup(admin.get(DELIVER))
    assert page.find("button", string="Email the addendum") is None \
        and page.find("input", attrs={"value": "Email the addendum"}) is None
    response = admin.post(f"{DELIVER}/addendum", data={
        "csrf_token": page.find("input", attrs={"name": "csrf_token"})["value"],
        "addresses": "director@agency.example.gov", "confirm": "y"})
    assert response.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == "addendum")) == 0


# ------------------------------------------------------------------ the letter file, versions


def test_the_downloaded_letter_file_imports_back_to_the_same_letter(admin, runner, make_letter,
                                                                    tmp_path):
    make_letter(deadline=datetime(2030, 6, 30, 17, tzinfo=UTC), language="es",
                recipient="La Directora\nWashington, DC")
    link = soup(admin.get(EDIT)).find("a", string="Download letter file")["href"]
    path = tmp_path / f"{SLUG}.md"
    path.write_bytes(admin.get(link).data)
    before = db.session.scalar(sa.select(Letter))
    fields = ("title", "recipient", "body", "deadline", "status", "language", "signers")
    kept = {name: getattr(before, name) for name in fields}
    versions = len(before.versions)
    result = runner.invoke(args=["import-letter", str(path)])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    after = db.session.scalar(sa.select(Letter))
    assert {name: getattr(after, name) for name in fields} == kept
    assert len(after.versions) == versions


def test_the_versions_page_shows_what_changed_from_the_version_before(admin, make_letter):
    make_letter(body="We ask you to stop forwarding fingerprints.\n")
    submit(admin, EDIT, {"body": "We ask you to end forwarding fingerprints today.\n",
                         "text_change": "correction"}, "Save letter")
    page = soup(admin.get(f"/admin/letters/{SLUG}/versions"))
    newest = page.select("details.version")[0]
    assert "What changed from version 1" in newest.get_text()
    removed = " ".join(d.get_text() for d in newest.select(".diff del"))
    added = " ".join(i.get_text() for i in newest.select(".diff ins"))
    assert "stop" in removed and "end" in added and "today" in added
    assert "forwarding" not in removed + added  # what stayed is not marked


def test_the_json_keeps_its_contract_fields_and_adds_the_status(client, make_letter,
                                                                make_signature):
    letter = make_letter()
    make_signature(letter, organization="Sunrise Tenants Union")
    data = client.get(f"/letters/{SLUG}/signers.json").json
    assert {"letter", "title", "count", "signatories", "status"} <= set(data)
    assert (data["status"], data["count"]) == ("open", 1)
    assert listing.stamped(SLUG)[0].state() == "open"
    assert not re.search(r"@|555", json.dumps(data))


HOSTILE = ["", " ", "\x00", "\u202e", "2030-13-45T99:99", "0001-01-01T00:00", "9999-12-31T23:59",
           "x" * 50_000, "<script>alert(1)</script>", "' OR 1=1 --", "2030-06-30T17:00Z\n",
           "director@agency.example.gov\x00", "a@b\nc@d\n" * 100]


def test_reopen_and_addendum_forms_take_hostile_values_without_a_5xx(admin, make_letter,
                                                                     make_signature):
    from support_life import delivered_with_addendum

    make_letter(slug="not-delivered")
    delivered_with_addendum(make_letter, make_signature, "delivered-one")
    token = soup(admin.get("/admin/letters/delivered-one/deliver")).find(
        "input", attrs={"name": "csrf_token"})["value"]
    for slug in ("delivered-one", "not-delivered"):
        for value in HOSTILE:
            for action, field in (("reopen", "deadline"), ("addendum", "addresses")):
                for confirm in ("y", "", value):
                    response = admin.post(f"/admin/letters/{slug}/deliver/{action}", data={
                        "csrf_token": token, field: value, "confirm": confirm})
                    assert response.status_code in (303, 422), (slug, action, value[:20])
    db.session.expire_all()
    assert db.session.scalar(sa.select(Letter.status).where(Letter.slug == "not-delivered")) \
        == "open"
    reopened = db.session.scalar(sa.select(Letter).where(Letter.slug == "delivered-one"))
    assert (reopened.status, reopened.deadline) == ("open", None)  # only "" was a deadline
    assert [e.actor for e in entries("letter.reopen")] == ["staff@example.org"]  # once
    sent_to = db.session.scalars(sa.select(OutboxMessage.recipient).where(
        OutboxMessage.kind == "addendum"))
    assert set(sent_to) <= {"director@agency.example.gov"}
