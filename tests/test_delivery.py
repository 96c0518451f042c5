"""Final export and delivery: closing a letter, which queues its delivery; the worker's render of
the final PDF, then the delivery record and its fingerprint, the public page, the addendum, the
final package, delivery emails through a real SMTP server; a render that fails or a list that
changes meanwhile; and migration 0002 over existing data."""
from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from datetime import timedelta

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup
from support import assert_one_line_error, do_render_jobs, submit, text_of, with_smtp
from support_pdf import one_line, pdf_text

import campaign.pdf
from campaign import delivery, errors, moderation, outbox
from campaign.database import writing
from campaign.extensions import db
from campaign.models import (
    DeliveredSignature,
    Delivery,
    Letter,
    OutboxMessage,
    RenderJob,
    Signature,
    utcnow,
)

SLUG = "stop-forwarding"
PDF = f"/letters/{SLUG}.pdf"
ADDENDUM = f"/letters/{SLUG}/addendum.pdf"
DELIVER = f"/admin/letters/{SLUG}/deliver"


@pytest.fixture
def app_config(app_config, smtp):
    return with_smtp(app_config, smtp)


@pytest.fixture
def letter(make_letter, make_signature):
    """An open letter with three listed signatories, one awaiting approval, one rejected."""
    letter = make_letter()
    make_signature(letter, organization="Sunrise Tenants Union", email="rosa@sunrise.example.org",
                   contact_name="Rosa Díaz", phone="+1 555 0199")
    make_signature(letter, organization="Asociación de Jornaleros",
                   email="ana@jornaleros.example.org", scope="state", city="Fresno", region="CA")
    make_signature(letter, organization="Heartland Alliance", email="info@heartland.example.net",
                   scope="national", city="Omaha", region="NE")
    make_signature(letter, "pending", organization="Waiting Room Collective",
                   email="wait@example.net")
    make_signature(letter, "rejected", organization="Turned Away Group", email="no@example.net")
    return letter


def close(admin, notify: bool = True, confirm: bool = True):
    """Press "Close and deliver": the letter closes and its delivery is queued."""
    return submit(admin, DELIVER, {"confirm": "y" if confirm else None,
                                   "notify": "y" if notify else None}, "Close and deliver")


def deliver(admin, notify: bool = True):
    """Close and deliver, and let the worker make the final PDF and record the delivery."""
    response = close(admin, notify=notify)
    assert response.status_code == 303
    assert do_render_jobs() >= 1
    return response


def counts() -> tuple[int, int, int]:
    """Deliveries, delivered signatures and queued emails."""
    return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(model))
                 for model in (Delivery, DeliveredSignature, OutboxMessage))


def jobs() -> list[RenderJob]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(RenderJob).order_by(RenderJob.id)))


def record() -> Delivery:
    db.session.expire_all()
    return db.session.scalar(sa.select(Delivery))


def settings(admin, **fields):
    return submit(admin, DELIVER, fields, "Save", content_type="multipart/form-data")


def approve_the_waiting_one(letter: Letter) -> None:
    waiting = db.session.scalar(sa.select(Signature).where(
        Signature.organization == "Waiting Room Collective"))
    with writing():
        moderation.decide(letter, [waiting.id], approve=True)


def visible_text(html: str) -> str:
    return " ".join(BeautifulSoup(html, "html.parser").get_text(" ").split())


# ------------------------------------------------------------------ closing and the record


def test_close_and_deliver_closes_the_letter_and_shows_the_delivery_in_progress(admin, letter):
    response = close(admin)
    assert response.status_code == 303
    assert db.session.get(Letter, letter.id).status == "closed"
    assert record() is None  # the worker has not made the final PDF yet
    assert [(job.kind, job.status) for job in jobs() if job.kind == "deliver"] == [
        ("deliver", "queued")]
    page = admin.get(DELIVER)
    assert "Delivering" in visible_text(page.get_data(as_text=True))
    soup = BeautifulSoup(page.get_data(as_text=True), "html.parser")
    assert soup.find("meta", attrs={"http-equiv": "refresh"}) is not None
    assert soup.find("form", action=f"{DELIVER}/close") is None  # asked for already


def test_closing_records_the_date_count_and_sha256_of_the_served_pdf(admin, client, letter):
    deliver(admin)
    saved = record()
    assert saved.signatory_count == 3
    assert saved.recipients == "The Director\nWashington, DC"
    served = client.get(PDF).data
    assert hashlib.sha256(served).hexdigest() == saved.sha256
    assert hashlib.sha256(saved.pdf).hexdigest() == saved.sha256
    assert db.session.get(Letter, letter.id).status == "closed"
    assert len(db.session.scalars(sa.select(DeliveredSignature)).all()) == 3


def test_the_delivered_pdf_lists_exactly_the_listed_signatories(admin, client, letter):
    deliver(admin)
    text = one_line(pdf_text(client.get(PDF).data))
    for name in ("Sunrise Tenants Union", "Asociación de Jornaleros", "Heartland Alliance"):
        assert name in text
    assert "Waiting Room Collective" not in text and "Turned Away Group" not in text


def test_the_public_page_says_when_and_with_how_many_it_was_delivered(admin, client, letter):
    deliver(admin)
    page = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    text = visible_text(page)
    saved = record()
    date = saved.delivered_at.strftime("%B %-d, %Y")
    assert f"Delivered on {date} with 3 signatories." in text
    fingerprint = BeautifulSoup(page, "html.parser").select_one(".fingerprint code").get_text()
    assert fingerprint == saved.sha256
    assert "Addendum" not in text


def test_a_public_page_seen_while_the_delivery_was_made_says_it_was_delivered(admin, client,
                                                                              letter):
    close(admin)
    assert "Delivered on" not in client.get(f"/letters/{SLUG}").get_data(as_text=True)
    do_render_jobs()
    assert "Delivered on" in client.get(f"/letters/{SLUG}").get_data(as_text=True)


def test_a_letter_not_yet_delivered_shows_no_delivery(client, letter):
    assert "Delivered on" not in client.get(f"/letters/{SLUG}").get_data(as_text=True)


def test_later_approvals_leave_the_delivered_pdf_byte_identical(admin, client, letter):
    deliver(admin)
    delivered = client.get(PDF).data
    approve_the_waiting_one(letter)
    assert client.get(PDF).data == delivered
    assert admin.get(f"/admin/letters/{SLUG}/letter.pdf").data == delivered


def test_later_approvals_go_to_the_addendum(admin, client, letter, make_signature):
    deliver(admin)
    assert client.get(ADDENDUM).status_code == 404  # nobody joined since
    delivered = client.get(PDF).data
    approve_the_waiting_one(letter)
    assert client.get(ADDENDUM).status_code == 503  # being made
    assert do_render_jobs() == 1
    response = client.get(ADDENDUM)
    assert response.status_code == 200
    assert client.get(PDF).data == delivered
    text = one_line(pdf_text(response.data))
    assert "Waiting Room Collective" in text
    assert "Sunrise Tenants Union" not in text
    assert record().sha256 in "".join(text.split())
    page = visible_text(client.get(f"/letters/{SLUG}").get_data(as_text=True))
    assert "Addendum: 1 organization signed on later (PDF)" in page
    organizers_page = visible_text(admin.get(DELIVER).get_data(as_text=True))
    assert "Delivered on" in organizers_page
    assert "Addendum: 1 organization listed since (PDF)" in organizers_page


def test_the_final_package_holds_the_pdf_the_contacts_and_the_record(admin, letter):
    deliver(admin)
    saved = record()
    response = admin.get(f"/admin/letters/{SLUG}/delivery.zip")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert sorted(archive.namelist()) == sorted([f"{SLUG}.pdf", f"{SLUG}-contacts.csv",
                                                 "delivery.txt"])
    assert hashlib.sha256(archive.read(f"{SLUG}.pdf")).hexdigest() == saved.sha256
    rows = list(csv.DictReader(io.StringIO(archive.read(f"{SLUG}-contacts.csv").decode())))
    assert [r["organization"] for r in rows] == ["Heartland Alliance", "Asociación de Jornaleros",
                                                  "Sunrise Tenants Union"]
    assert rows[2]["email"] == "rosa@sunrise.example.org"
    assert rows[2]["phone"] == "'+1 555 0199"  # a leading + is quoted so no spreadsheet runs it
    note = archive.read("delivery.txt").decode()
    assert "Signatories: 3" in note and saved.sha256 in note and "staff@example.org" in note


def test_the_final_package_needs_a_login(client, letter):
    response = client.get(f"/admin/letters/{SLUG}/delivery.zip")
    assert response.status_code in (302, 303)
    assert "/login" in response.headers["Location"]


# ------------------------------------------------------------------ refusals


def test_delivering_twice_is_refused_and_keeps_the_first_record(admin, letter):
    deliver(admin)
    first = record()
    letter = db.session.get(Letter, letter.id)
    prepared = delivery.Prepared(delivery.check_deliverable(letter), first.pdf)
    with pytest.raises(delivery.AlreadyDelivered), writing():
        delivery.close_and_deliver(letter, prepared)
    with pytest.raises(delivery.AlreadyDelivered), writing():
        delivery.request(letter, organizer_id=None, notify_signatories=True)
    assert db.session.scalars(sa.select(Delivery)).all() == [first]


def test_a_delivery_already_asked_for_is_not_queued_again(admin, letter):
    close(admin)
    with pytest.raises(errors.DeliveryError, match="being delivered already"), writing():
        delivery.request(db.session.get(Letter, letter.id), organizer_id=None,
                         notify_signatories=True)
    assert [job.kind for job in jobs() if job.kind == "deliver"] == ["deliver"]


def test_a_list_changed_after_the_pdf_was_made_is_not_recorded(letter, make_signature):
    prepared = delivery.Prepared(delivery.check_deliverable(letter), b"%PDF of the list then")
    make_signature(letter, organization="Latecomers Cooperative", email="late@example.net")
    with pytest.raises(errors.ListChanged), writing():
        delivery.close_and_deliver(letter, prepared, notify_signatories=True)
    assert record() is None
    assert db.session.scalar(sa.select(Letter.status)) == "open"
    assert counts() == (0, 0, 0)


def test_a_list_that_changes_while_the_final_pdf_renders_is_read_and_rendered_again(
        admin, client, letter, monkeypatch):
    do_render_jobs()  # the organizer's look at the PDF before closing
    real = campaign.pdf.render
    listed: list[int] = []

    def render_while_one_more_is_approved(letter, rows, *args, **kwargs):
        listed.append(len(rows))
        if len(listed) == 1:  # an organizer approves one more meanwhile, in a unit of its own
            approve_the_waiting_one(letter)
        return real(letter, rows, *args, **kwargs)

    monkeypatch.setattr(campaign.pdf, "render", render_while_one_more_is_approved)
    deliver(admin)
    assert listed == [3, 4]
    saved = record()
    assert saved.signatory_count == 4
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DeliveredSignature)) == 4
    served = client.get(PDF).data
    assert hashlib.sha256(served).hexdigest() == saved.sha256
    assert "Waiting Room Collective" in one_line(pdf_text(served))
    assert client.get(ADDENDUM).status_code == 404  # the newcomer is in the delivered copy


def test_a_delivery_whose_render_fails_is_shown_with_its_reason_and_nothing_is_delivered(
        app, admin, letter, smtp):
    app.config["PDF_TIMEOUT"] = 0.05
    close(admin)
    do_render_jobs()
    page = visible_text(admin.get(DELIVER).get_data(as_text=True))
    assert "Delivering" in page
    assert re.search(r"The last try failed \(the PDF took longer than 0\.05 seconds to make\)",
                     page)
    do_render_jobs(utcnow() + timedelta(hours=1))  # its tries with backoff run out
    assert [job.status for job in jobs() if job.kind == "deliver"] == ["failed"]
    html = admin.get(DELIVER).get_data(as_text=True)
    page = visible_text(html)
    assert "The delivery failed" in page and "Delivering" not in page
    assert re.search(r"the PDF took longer than 0\.05 seconds to make\.? Nothing was "
                     r"delivered and no email was sent\.", page)
    assert "Try to deliver again" in html
    assert counts() == (0, 0, 0)  # no record, no delivered signature, no email queued
    assert outbox.send_due() == 0 and smtp.messages == []

    app.config["PDF_TIMEOUT"] = 60
    assert submit(admin, DELIVER, {}, "Try to deliver again").status_code == 303
    assert "Delivering" in visible_text(admin.get(DELIVER).get_data(as_text=True))
    assert do_render_jobs() == 1
    assert record().signatory_count == 3
    assert outbox.send_due() == 3


def fail_the_delivery(app, admin) -> None:
    """Close and deliver with a render time limit no render meets, until its tries run out."""
    app.config["PDF_TIMEOUT"] = 0.05
    close(admin)
    do_render_jobs()
    do_render_jobs(utcnow() + timedelta(hours=1))
    app.config["PDF_TIMEOUT"] = 60
    assert [job.status for job in jobs() if job.kind == "deliver"] == ["failed"]


def test_a_failed_delivery_stays_shown_after_a_later_render_of_the_letter(app, admin, letter):
    fail_the_delivery(app, admin)
    approve_the_waiting_one(letter)  # a refresh of the PDF is queued, and done
    do_render_jobs()
    assert [job.status for job in jobs()][-1] == "done"
    html = admin.get(DELIVER).get_data(as_text=True)
    assert "The delivery failed" in visible_text(html) and "Try to deliver again" in html


def test_trying_again_a_delivery_that_still_cannot_be_made_says_why_and_queues_nothing(
        app, admin, letter):
    fail_the_delivery(app, admin)
    with writing():
        db.session.execute(sa.update(Signature).values(status="rejected"))
    response = submit(admin, DELIVER, {}, "Try to deliver again")
    assert response.status_code == 303
    page = visible_text(admin.get(DELIVER).get_data(as_text=True))
    assert "Nothing was delivered: No signatory is listed yet" in page
    assert [job.status for job in jobs() if job.kind == "deliver"] == ["failed"]


def test_trying_again_twice_queues_one_delivery(app, admin, letter):
    fail_the_delivery(app, admin)
    form = BeautifulSoup(admin.get(DELIVER).get_data(as_text=True), "html.parser").find(
        "form", action=f"{DELIVER}/retry")
    token = form.find("input", attrs={"name": "csrf_token"})["value"]
    for _ in range(2):  # a double click: the second form was loaded with the first
        assert admin.post(f"{DELIVER}/retry", data={"csrf_token": token}).status_code == 303
    assert "This letter is being delivered already" in visible_text(
        admin.get(DELIVER).get_data(as_text=True))
    assert [job.status for job in jobs() if job.kind == "deliver"] == ["failed", "queued"]


def test_the_letterhead_cannot_change_while_the_letter_is_being_delivered(admin, letter):
    close(admin)
    token = BeautifulSoup(admin.get(f"/admin/letters/{SLUG}/signatures").get_data(as_text=True),
                          "html.parser").find("input", attrs={"name": "csrf_token"})["value"]
    response = admin.post(DELIVER, data={"csrf_token": token, "coalition_name": "Changed Late",
                                         "save": "Save"})
    assert response.status_code == 303
    assert "its letterhead can no longer change" in visible_text(
        admin.get(DELIVER).get_data(as_text=True))
    assert db.session.get(Letter, letter.id).coalition_name != "Changed Late"


def test_a_letter_with_no_listed_signatory_cannot_be_delivered(admin, make_letter):
    make_letter()
    response = close(admin)
    assert response.status_code == 303
    page = visible_text(admin.get(DELIVER).get_data(as_text=True))
    assert "Nothing was delivered: No signatory is listed yet" in page
    assert record() is None
    assert db.session.scalar(sa.select(Letter.status)) == "open"
    assert [job.kind for job in jobs()] == ["refresh"]  # no delivery queued


def test_closing_needs_the_confirmation_box(admin, letter):
    close(admin, confirm=False)
    assert record() is None
    assert db.session.scalar(sa.select(Letter.status)) == "open"
    assert "Tick the box" in admin.get(DELIVER).get_data(as_text=True)


def test_recipient_addresses_are_checked(admin, letter):
    response = settings(admin, delivery_emails="director@example.net\nnot an address",
                        deliver_by_email="y")
    assert response.status_code == 422
    assert "&#39;not an address&#39; is not an email address." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(Letter.delivery_emails)) == ""


def test_the_deliver_page_needs_a_login(client, letter):
    response = client.get(DELIVER)
    assert response.status_code in (302, 303) and "/login" in response.headers["Location"]


# ------------------------------------------------------------------ delivery emails


def test_the_final_pdf_is_emailed_to_the_recipients_through_the_outbox(admin, letter, smtp):
    assert settings(admin, delivery_emails="director@example.net, deputy@example.net",
                    deliver_by_email="y").status_code == 303
    deliver(admin, notify=False)
    assert outbox.send_due() == 2
    saved = record()
    assert saved.emailed_to == "director@example.net\ndeputy@example.net"
    for address in ("director@example.net", "deputy@example.net"):
        [message] = smtp.to(address)
        [attachment] = list(message.iter_attachments())
        assert attachment.get_filename() == f"{SLUG}.pdf"
        assert hashlib.sha256(attachment.get_content()).hexdigest() == saved.sha256
        assert saved.sha256 in text_of(message)


def test_signatories_are_told_the_letter_was_delivered_with_its_link(admin, letter, smtp):
    deliver(admin)
    assert outbox.send_due() == 3
    told = sorted(rcpt for _, rcpts in smtp.envelopes for rcpt in rcpts)
    assert told == ["ana@jornaleros.example.org", "info@heartland.example.net",
                    "rosa@sunrise.example.org"]
    [message] = smtp.to("rosa@sunrise.example.org")
    body = text_of(message)
    assert message["Subject"] == "Delivered: Stop Forwarding Fingerprints"
    assert "was delivered on" in body and "with 3 signatories" in body
    assert re.findall(r"https?://\S+", body) == [f"http://localhost/letters/{SLUG}",
                                                 f"http://localhost{PDF}"]
    assert list(message.iter_attachments()) == []


def test_no_email_goes_out_unless_asked(admin, letter, smtp):
    deliver(admin, notify=False)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


def test_delivery_mail_waits_in_the_outbox_while_the_server_is_down(admin, letter, smtp):
    settings(admin, delivery_emails="director@example.net", deliver_by_email="y")
    deliver(admin, notify=False)
    smtp.refuse = True
    assert outbox.send_due() == 0
    with writing():
        db.session.execute(sa.update(OutboxMessage).values(due=sa.func.now()))
    smtp.refuse = False
    assert outbox.send_due() == 1
    [message] = smtp.to("director@example.net")
    assert hashlib.sha256(next(message.iter_attachments()).get_content()).hexdigest() == \
        record().sha256


# ------------------------------------------------------------------ the command line


def test_export_pdf_after_delivery_writes_the_delivered_copy(admin, letter, runner, tmp_path):
    deliver(admin)
    target = tmp_path / "final.pdf"
    result = runner.invoke(args=["export-pdf", SLUG, "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == record().pdf
    assert record().sha256 in result.output


def test_export_pdf_addendum_of_an_undelivered_letter_is_a_one_line_error(runner, letter,
                                                                          tmp_path):
    result = runner.invoke(args=["export-pdf", SLUG, "--addendum", "-o", str(tmp_path / "a.pdf")])
    assert result.exit_code == 1
    assert_one_line_error(result, "stop-forwarding has no addendum")
    assert result.output.startswith("Error: stop-forwarding has no addendum")


# ------------------------------------------------------------------ migration 0002


def test_migration_0002_adds_its_columns_to_existing_letters_and_goes_back(app):
    import flask_migrate

    directory = str(app.extensions["migrate"].directory)
    flask_migrate.downgrade(directory=directory, revision="0001")
    db.engine.dispose()
    with db.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO letter (slug, title, recipient, body, status, language, require_approval,"
            " show_contact_names, created_at, updated_at) VALUES ('old', 'Old', '', '', 'open',"
            " 'en', true, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    flask_migrate.upgrade(directory=directory)
    db.engine.dispose()
    old = db.session.scalar(sa.select(Letter).where(Letter.slug == "old"))
    assert (old.coalition_name, old.logo_file, old.closing, old.delivery_emails,
            old.deliver_by_email) == ("", None, "", "", False)
    db.session.rollback()  # let go of SQLite's write lock before migrating again
    flask_migrate.downgrade(directory=directory, revision="0001")
    db.engine.dispose()
    inspector = sa.inspect(db.engine)
    assert "delivery" not in inspector.get_table_names()
    assert "coalition_name" not in {c["name"] for c in inspector.get_columns("letter")}
    flask_migrate.upgrade(directory=directory)
