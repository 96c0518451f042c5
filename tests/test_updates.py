"""Updates to signers: the organizers' preview and send, who gets one, the email at a real SMTP
server with its one-click unsubscribe headers (RFC 8058), unsubscribing, the contacts CSV."""
from __future__ import annotations

import csv
import io
import json
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select, update
from support import form_fields, text_of, with_smtp

from campaign import outbox
from campaign.database import writing
from campaign.extensions import db
from campaign.models import AuditEntry, LetterUpdate, OutboxMessage, Signature, utcnow

SLUG = "stop-forwarding"  # make_letter's
TITLE = "Stop Forwarding Fingerprints"
PAGE = f"/admin/letters/{SLUG}/updates"
BODY = "The letter goes to the Director **on Friday**.\n\n<script>alert(1)</script>"


@pytest.fixture
def app_config(app_config, smtp):
    return with_smtp(app_config, smtp)


@pytest.fixture
def letter(make_letter):
    return make_letter()


@pytest.fixture
def signers(letter, make_signature):
    """Signatures in every state; the keys say which ones an update should reach."""
    made = {
        "approved_kept": make_signature(letter, "approved", keep_updated=True),
        "pending_kept": make_signature(letter, "pending", keep_updated=True),
        "approved": make_signature(letter, "approved"),
        "rejected_kept": make_signature(letter, "rejected", keep_updated=True),
        "withdrawn_kept": make_signature(letter, "withdrawn", keep_updated=True),
        "unconfirmed_kept": make_signature(letter, "unconfirmed", keep_updated=True),
        "held_kept": make_signature(letter, "pending", keep_updated=True),
        "unsubscribed": make_signature(letter, "approved"),
    }
    with writing():
        db.session.execute(update(Signature).where(Signature.id == made["held_kept"].id)
                           .values(held=True))
        db.session.execute(update(Signature).where(Signature.id == made["unsubscribed"].id)
                           .values(unsubscribed_at=utcnow()))
    return made


def post_update(admin, button: str, **fields: str):
    """The updates page's form, sent with `button` ("Preview" or "Send")."""
    page = admin.get(PAGE)
    assert page.status_code == 200
    _, values = form_fields(page.get_data(as_text=True), "Send")
    values.update({"audience": "subscribers", "subject": "Delivery on Friday", "body": BODY})
    values.update(fields)
    values[button.lower()] = button
    return admin.post(PAGE, data=values)


def queued() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "update")
                                   .order_by(OutboxMessage.id)))


def emails_of(*signatures: Signature) -> set[str]:
    return {s.email for s in signatures}


def audit(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def unsubscribe_path(message) -> str:  # type: ignore[no-untyped-def]
    link = str(message["List-Unsubscribe"]).strip()  # a long header is folded: valid RFC 5322
    assert link.startswith("<http://localhost/unsubscribe/") and link.endswith(">"), link
    return urlsplit(link[1:-1]).path


# ------------------------------------------------------------------ organizers' page


def test_preview_shows_the_email_and_sends_nothing(admin, signers, smtp):
    response = post_update(admin, "Preview")
    assert response.status_code == 200
    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    preview = soup.select_one("section.preview")
    assert preview is not None
    assert preview.select_one(".subject").get_text() == "Delivery on Friday"
    html = preview.select_one(".email-html")
    assert html.select_one("strong").get_text() == "on Friday"
    assert html.select_one("script") is None
    text = preview.select_one(".email-text").get_text()
    assert "The letter goes to the Director **on Friday**." in text
    assert f'"{TITLE}"' in text and "/unsubscribe/" in text
    assert "To 2 address(es)" in preview.get_text()
    assert db.session.scalars(select(LetterUpdate)).all() == []
    assert queued() == []
    assert outbox.send_due() == 0
    assert smtp.messages == []


def test_the_page_counts_each_audience(admin, signers):
    soup = BeautifulSoup(admin.get(PAGE).get_data(as_text=True), "html.parser")
    labels = [label.get_text(" ", strip=True) for label in soup.select("form label")]
    assert "Signers who asked to be kept updated (2)" in labels
    assert any(label.startswith("Every confirmed signer (3)") for label in labels)


def test_send_queues_one_email_per_signer_who_asked_to_be_kept_updated(admin, signers):
    response = post_update(admin, "Send")
    assert response.status_code == 303
    messages = queued()
    assert {m.recipient for m in messages} == emails_of(signers["approved_kept"],
                                                        signers["pending_kept"])
    [record] = db.session.scalars(select(LetterUpdate)).all()
    assert (record.audience, record.recipients, record.subject) == (
        "subscribers", 2, "Delivery on Friday")
    assert record.sent_at is not None and record.organizer_id is not None
    assert all(json.loads(m.params or "")["update"] == record.id for m in messages)
    [entry] = audit("update.send")
    assert (entry.actor, entry.subject) == ("staff@example.org", "Delivery on Friday")
    assert json.loads(entry.detail)["after"]["recipients"] == 2
    page = admin.get(PAGE).get_data(as_text=True)
    assert "Delivery on Friday" in page and "Staff" in page


def test_send_to_every_confirmed_signer_leaves_out_the_unsubscribed(admin, signers):
    assert post_update(admin, "Send", audience="signers").status_code == 303
    assert {m.recipient for m in queued()} == emails_of(
        signers["approved_kept"], signers["pending_kept"], signers["approved"])


def test_one_email_per_address_whatever_its_case(admin, letter, make_signature):
    first = make_signature(letter, "approved", keep_updated=True, email="rosa@example.org")
    make_signature(letter, "pending", keep_updated=True, email="Rosa@Example.org")
    assert post_update(admin, "Send").status_code == 303
    [message] = queued()
    assert json.loads(message.params or "")["signature"] == first.id


def test_the_same_update_sent_twice_in_a_row_goes_once(admin, signers):
    assert post_update(admin, "Send").status_code == 303
    again = post_update(admin, "Send")
    assert again.status_code == 422
    assert "was sent a moment ago" in again.get_data(as_text=True)
    assert len(queued()) == 2


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"subject": "  "}, "subject", "Write a subject."),
    ({"body": " \n "}, "body", "Write the update."),
    ({"subject": "x" * 201}, "subject", "at most 200 characters"),
])
def test_a_missing_subject_or_body_is_named_at_its_field(admin, signers, fields, field, message):
    for button in ("Preview", "Send"):
        response = post_update(admin, button, **fields)
        assert response.status_code == 422
        soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
        error = soup.select_one(f"#{field}-error")
        assert error is not None and message in error.get_text()
        assert soup.select_one("section.preview") is None
    assert queued() == [] and db.session.scalars(select(LetterUpdate)).all() == []


def test_an_audience_nobody_is_in_sends_nothing_and_says_so(admin, letter, make_signature):
    make_signature(letter, "approved")
    response = post_update(admin, "Send")
    assert response.status_code == 422
    assert "No signer would get this update" in response.get_data(as_text=True)
    assert queued() == []


def test_an_organizer_not_logged_in_is_sent_to_the_login_page(client, signers):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    response = client.post(PAGE, data={"audience": "signers", "subject": "x", "body": "x",
                                       "send": "Send"})
    assert response.status_code in (302, 400)
    assert queued() == []


def test_the_signatures_page_links_to_the_updates(admin, letter):
    page = admin.get(f"/admin/letters/{SLUG}/signatures").get_data(as_text=True)
    assert f'href="{PAGE}"' in page


# ------------------------------------------------------------------ the email


def test_the_update_arrives_with_one_click_unsubscribe_headers(admin, signers, smtp):
    assert post_update(admin, "Send").status_code == 303
    assert outbox.send_due() == 2
    smtp.wait(2)
    [message] = smtp.to(signers["approved_kept"].email)
    assert message["Subject"] == "Delivery on Friday"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = unsubscribe_path(message)
    text = text_of(message)
    assert "The letter goes to the Director **on Friday**." in text
    assert f"http://localhost{path}" in text
    assert f"http://localhost/letters/{SLUG}" in text and TITLE in text
    assert "asked to be kept updated" in text
    assert signers["approved_kept"].email not in path
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "<strong>on Friday</strong>" in html and "<script>" not in html
    assert f'href="http://localhost{path}"' in html
    other = smtp.to(signers["pending_kept"].email)[0]
    assert unsubscribe_path(other) != path


def test_a_message_retried_after_a_refusal_keeps_its_headers(admin, signers, smtp):
    assert post_update(admin, "Send").status_code == 303
    smtp.refuse = True
    assert outbox.send_due() == 0
    smtp.refuse = False
    with writing():
        db.session.execute(update(OutboxMessage).values(due=utcnow()))
    assert outbox.send_due() == 2
    smtp.wait(2)
    assert all(m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" for m in smtp.messages)


def test_mail_written_locally_carries_the_headers_too(app, admin, signers):
    app.config["MAIL_SUPPRESS_SEND"] = True  # as with no mail server
    assert post_update(admin, "Send").status_code == 303
    assert outbox.send_due() == 2
    [first, _] = sorted((Path(app.instance_path) / "mail").glob("*-update.eml"))
    written = message_from_bytes(first.read_bytes(), policy=policy.default)
    assert written["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe_path(written).startswith("/unsubscribe/")


# ------------------------------------------------------------------ unsubscribing


@pytest.fixture
def delivered(admin, signers, smtp):
    """A first update sent to those kept updated; the unsubscribe path each got, by key."""
    assert post_update(admin, "Send").status_code == 303
    outbox.send_due()
    smtp.wait(2)
    return {key: unsubscribe_path(smtp.to(signers[key].email)[0])
            for key in ("approved_kept", "pending_kept")}


def state(signature: Signature) -> tuple[bool, bool]:
    db.session.expire_all()
    found = db.session.get(Signature, signature.id)
    assert found is not None
    return found.keep_updated, found.unsubscribed_at is not None


def test_a_one_click_post_without_cookies_or_token_unsubscribes(new_client, signers, delivered):
    mail_provider = new_client()
    response = mail_provider.post(delivered["approved_kept"], data="List-Unsubscribe=One-Click",
                                  content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert state(signers["approved_kept"]) == (False, True)
    assert state(signers["pending_kept"]) == (True, False)
    [entry] = audit("signature.unsubscribe")
    assert entry.actor == "signer" and entry.organizer_id is None
    again = mail_provider.post(delivered["approved_kept"], data="List-Unsubscribe=One-Click",
                               content_type="application/x-www-form-urlencoded")
    assert again.status_code == 200
    assert len(audit("signature.unsubscribe")) == 1


def test_opening_the_link_asks_and_unsubscribes_nobody(new_client, signers, delivered):
    response = new_client().get(delivered["approved_kept"])
    assert response.status_code == 200
    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert soup.h1.get_text() == f"Stop updates about “{TITLE}”?"
    assert soup.select_one("form button").get_text() == "Stop updates"
    assert response.headers["Cache-Control"] == "no-store"
    assert state(signers["approved_kept"]) == (True, False)
    assert audit("signature.unsubscribe") == []


def test_the_page_s_button_unsubscribes(new_client, signers, delivered):
    browser = new_client()
    page = browser.get(delivered["pending_kept"]).get_data(as_text=True)
    action, values = form_fields(page, "Stop updates")
    response = browser.post(action, data=values)
    assert response.status_code == 200
    assert "You are unsubscribed" in response.get_data(as_text=True)
    assert state(signers["pending_kept"]) == (False, True)


def test_an_unsubscribed_address_gets_no_later_update_of_any_audience(
        admin, new_client, signers, delivered, smtp):
    new_client().post(delivered["approved_kept"], data="List-Unsubscribe=One-Click",
                      content_type="application/x-www-form-urlencoded")
    before = len(smtp.messages)
    assert post_update(admin, "Send", audience="signers", subject="Delivered").status_code == 303
    outbox.send_due()
    smtp.wait(before + 2)
    later = smtp.messages[before:]
    assert {m["To"] for m in later} == emails_of(signers["pending_kept"], signers["approved"])


def test_unsubscribing_from_one_letter_leaves_another_letters_updates_alone(
        new_client, letter, make_letter, make_signature):
    from campaign.tokens import unsubscribe_token

    other = make_letter(slug="other-letter", title="Another Letter")
    here = make_signature(letter, keep_updated=True, email="same@example.org")
    there = make_signature(other, keep_updated=True, email="Same@example.org")
    response = new_client().post(f"/unsubscribe/{unsubscribe_token(here.id)}",
                                 data="List-Unsubscribe=One-Click",
                                 content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert state(here) == (False, True)
    assert state(there) == (True, False)


def test_who_unsubscribed_or_withdrew_after_an_update_was_queued_is_not_sent_it(
        admin, new_client, signers, smtp):
    """The update is written when the worker sends it: an address unsubscribed meanwhile, or a
    signature withdrawn meanwhile, is skipped; not shown to the organizers as undelivered."""
    from campaign import signer_changes
    from campaign.tokens import unsubscribe_token

    assert post_update(admin, "Send").status_code == 303
    new_client().post(f"/unsubscribe/{unsubscribe_token(signers['approved_kept'].id)}",
                      data="List-Unsubscribe=One-Click",
                      content_type="application/x-www-form-urlencoded")
    with writing():
        signer_changes.withdraw(db.session.get(Signature, signers["pending_kept"].id))
    outbox.send_due()
    assert smtp.messages == []
    db.session.expire_all()
    messages = queued()
    assert len(messages) == 2
    assert all(m.status == "sent" and m.sent_at is None and m.last_error.startswith("skipped: ")
               and not m.body_text for m in messages)
    assert outbox.dead_messages() == []
    assert "Every message so far was delivered" in admin.get("/admin/outbox").get_data(
        as_text=True)


@pytest.mark.parametrize("token", ["nonsense", "x" * 500, "eyJzIjoxfQ.bad-signature", "%00"])
def test_a_bad_unsubscribe_link_answers_a_friendly_404(new_client, signers, token):
    browser = new_client()
    for response in (browser.get(f"/unsubscribe/{token}"),
                     browser.post(f"/unsubscribe/{token}", data="List-Unsubscribe=One-Click",
                                  content_type="application/x-www-form-urlencoded")):
        assert response.status_code == 404
        assert "unsubscribe link is not valid" in response.get_data(as_text=True)
    assert audit("signature.unsubscribe") == []


def test_the_preview_s_example_link_unsubscribes_nobody(admin, new_client, signers):
    page = post_update(admin, "Preview").get_data(as_text=True)
    soup = BeautifulSoup(page, "html.parser")
    link = next(a["href"] for a in soup.select(".email-html a") if "/unsubscribe/" in a["href"])
    assert new_client().post(urlsplit(link).path).status_code == 404


# ------------------------------------------------------------------ the contacts CSV


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_contacts_csv_says_who_is_kept_updated_and_who_unsubscribed(admin, runner, tmp_path,
                                                                        signers):
    rows = read_csv(admin.get(f"/admin/letters/{SLUG}/signatures.csv").get_data(as_text=True))
    by_email = {row["email"]: (row["keep_updated"], row["unsubscribed"]) for row in rows}
    assert by_email == {signers["approved_kept"].email: ("yes", "no"),
                        signers["approved"].email: ("no", "no"),
                        signers["unsubscribed"].email: ("no", "yes")}
    out = tmp_path / "contacts.csv"
    result = runner.invoke(args=["export-csv", SLUG, "-o", str(out), "--private"])
    assert result.exit_code == 0, result.output
    assert read_csv(out.read_text()) == rows
    public = tmp_path / "public.csv"
    runner.invoke(args=["export-csv", SLUG, "-o", str(public)])
    assert "keep_updated" not in public.read_text()
