"""Email that is never lost: the outbox against a real SMTP server that is down, hung or refusing;
retries, dead messages, header injection, local mail without a server, two workers; messages
written when they are sent."""
from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select, update
from support import SIGNER, form_fields, free_port, submit, text_of, with_smtp
from support_servers import HangingSMTP

from campaign import outbox
from campaign.database import writing
from campaign.extensions import db
from campaign.models import OutboxMessage, Signature, utcnow

LETTER = "/letters/stop-forwarding"
TITLE = "Stop Forwarding Fingerprints"  # make_letter's


@pytest.fixture
def app_config(app_config, smtp):
    return with_smtp(app_config, smtp, MAIL_TIMEOUT=1.0, MAIL_MAX_ATTEMPTS=3)


@pytest.fixture
def signature(make_letter, make_signature):
    return make_signature(make_letter(), organization="Sunrise Tenants Union",
                          contact_name="Rosa")


@pytest.fixture
def queue(signature):
    """Queue messages the way the app does (an 'already signed' email); returns their ids."""

    def enqueue(n: int = 1, recipient: str | None = None) -> list[int]:
        with writing():
            return [outbox.enqueue("already-signed", recipient or f"member{i}@example.org",
                                   signature=signature.id)
                    for i in range(n)]

    return enqueue


def row(message_id: int) -> OutboxMessage:
    db.session.expire_all()
    found = db.session.get(OutboxMessage, message_id)
    assert found is not None
    return found


def make_due(*ids: int) -> None:
    """Let time pass: the messages' next try is due now."""
    with writing():
        db.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                           .values(due=utcnow() - timedelta(seconds=1)))


@pytest.fixture
def hung_server():
    """The port of a TCP server that accepts connections and never says a word."""
    server = HangingSMTP()
    yield server.port
    server.close()


# ------------------------------------------------------------------ delivery and retries


def test_a_queued_message_is_delivered_once(queue, app, smtp):
    [mid] = queue()
    assert outbox.send_due() == 1
    assert outbox.send_due() == 0
    smtp.wait(1)
    assert len(smtp.messages) == 1
    assert row(mid).status == "sent"
    assert row(mid).sent_at is not None


def test_signing_queues_the_email_in_the_same_transaction(client, make_letter, smtp):
    make_letter()
    submit(client, LETTER, SIGNER, "Sign")
    [message] = db.session.scalars(select(OutboxMessage)).all()
    assert (message.status, message.recipient) == ("queued", "rosa@sunrise.example.org")
    assert smtp.messages == []


def test_a_refused_message_stays_queued_and_is_retried_within_30_seconds(queue, app, smtp):
    smtp.refuse = True
    [mid] = queue()
    before = utcnow()
    assert outbox.send_due() == 0
    message = row(mid)
    assert message.status == "queued"
    assert "451" in message.last_error
    assert before < message.due <= before + timedelta(seconds=30)


def test_a_closed_port_leaves_the_message_queued_with_its_error(queue, app, smtp):
    app.config["MAIL_PORT"] = free_port()
    app.extensions["mail"].port = app.config["MAIL_PORT"]
    [mid] = queue()
    assert outbox.send_due() == 0
    message = row(mid)
    assert message.status == "queued"
    assert "Connection" in message.last_error or "refused" in message.last_error
    assert message.due <= utcnow() + timedelta(seconds=30)


def test_a_message_is_delivered_exactly_once_when_the_server_is_back(queue, app, smtp):
    smtp.refuse = True
    [mid] = queue()
    outbox.send_due()
    assert outbox.send_due() == 0  # not due yet: no second try at once
    smtp.refuse = False
    make_due(mid)
    assert outbox.send_due() == 1
    make_due(mid)
    assert outbox.send_due() == 0
    smtp.wait(1)
    assert len(smtp.messages) == 1
    assert row(mid).status == "sent"
    assert row(mid).last_error == ""


def test_a_hung_server_is_given_up_on_within_the_timeout(queue, app, hung_server):
    app.extensions["mail"].port = hung_server
    [mid] = queue()
    started = time.monotonic()
    assert outbox.send_due() == 0
    assert time.monotonic() - started < 3
    message = row(mid)
    assert message.status == "queued"
    assert message.last_error
    assert message.due > utcnow()


def test_a_message_held_up_by_a_hung_server_goes_out_once_the_server_answers(
        queue, app, smtp, hung_server):
    app.extensions["mail"].port = hung_server
    [mid] = queue()
    outbox.send_due()
    app.extensions["mail"].port = smtp.port
    make_due(mid)
    assert outbox.send_due() == 1
    smtp.wait(1)
    assert len(smtp.to("member0@example.org")) == 1


def test_backoff_grows_between_attempts(queue, app, smtp):
    smtp.refuse = True
    [mid] = queue()
    waits = []
    for _ in range(2):
        before = utcnow()
        outbox.send_due()
        waits.append((row(mid).due - before).total_seconds())
        make_due(mid)
    assert waits[0] <= 30
    assert waits[1] > waits[0]


def test_after_the_last_attempt_a_message_is_dead(queue, app, smtp):
    smtp.refuse = True
    [mid] = queue()
    for _ in range(3):
        outbox.send_due()
        make_due(mid)
    assert row(mid).status == "dead"
    assert row(mid).attempts == 3
    assert outbox.send_due() == 0
    assert smtp.messages == []


def test_a_dead_message_shows_on_the_mail_page_and_its_retry_button_requeues_it(
        queue, admin, smtp):
    smtp.refuse = True
    [mid] = queue()
    for _ in range(3):
        outbox.send_due()
        make_due(mid)
    page = admin.get("/admin/outbox").get_data(as_text=True)
    assert f"You have already signed: {TITLE}" in page  # never sent, yet named as it would be
    assert "member0@example.org" in page
    assert "451" in page
    action, values = form_fields(page, "Retry")
    soup = BeautifulSoup(page, "html.parser")
    values["ids"] = soup.find("input", attrs={"name": "ids"})["value"]
    assert admin.post(action, data=values).status_code == 303
    assert row(mid).status == "queued"
    smtp.refuse = False
    assert outbox.send_due() == 1
    smtp.wait(1)
    assert len(smtp.messages) == 1


def test_the_mail_page_needs_a_login(bare):
    answer = bare.test_client().get("/admin/outbox")
    assert answer.status_code in (302, 303)
    assert "/login" in answer.headers["Location"]


def test_a_recipient_the_server_refuses_is_dead_at_once(queue, app, smtp):
    class Refusing:
        async def handle_RCPT(self, server, session, envelope, address, options):
            return "550 no such user"

    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app.extensions["mail"].port = port
        [mid] = queue()
        outbox.send_due()
    finally:
        controller.stop()
    assert row(mid).status == "dead"
    assert "550" in row(mid).last_error


def test_a_message_that_cannot_be_sent_does_not_hold_up_the_others(queue, app, smtp):
    first = queue(recipient="jösé@example.org")
    rest = queue(2)
    outbox.send_due()
    smtp.wait(2)
    assert sorted(r for _, rcpts in smtp.envelopes for r in rcpts) == [
        "member0@example.org", "member1@example.org"]
    assert row(first[0]).status == "dead"
    assert row(first[0]).last_error
    assert {row(i).status for i in rest} == {"sent"}


# ------------------------------------------------------------------ written when sent


def test_a_queued_message_holds_no_text_until_it_is_sent_then_exactly_what_was_sent(
        queue, signature, app, smtp):
    [mid] = queue()
    queued = row(mid)
    assert (queued.subject, queued.body_text, queued.body_html) == ("", "", "")
    assert json.loads(queued.params) == {"signature": signature.id}

    assert outbox.send_due() == 1
    smtp.wait(1)
    [mail] = smtp.messages
    sent = row(mid)
    assert sent.subject == mail["Subject"] == f"You have already signed: {TITLE}"
    assert sent.body_text.splitlines() == text_of(mail).splitlines()  # it came in CRLF
    assert "No second signature was made" in sent.body_text
    html = mail.get_body(preferencelist=("html",))
    assert html is not None
    assert sent.body_html.splitlines() == html.get_content().splitlines()


def test_a_message_written_when_sent_says_what_is_true_then(queue, signature, app, smtp):
    [mid] = queue()
    with writing():
        signature.status = "pending"  # after it was queued, before it was sent
    outbox.send_due()
    smtp.wait(1)
    assert "the organizers will review it" in text_of(smtp.messages[0])
    assert "the organizers will review it" in row(mid).body_text


def test_a_message_about_a_deleted_signature_is_skipped_not_among_the_undelivered(
        queue, signature, admin, smtp):
    # an organizer merged the signature into another, or discarded it as held spam
    [mid] = queue()
    with writing():
        db.session.delete(db.session.get(Signature, signature.id))
    assert outbox.send_due() == 0
    gone = row(mid)
    assert gone.status == "sent" and gone.sent_at is None  # done, unsent
    assert f"signature {signature.id} no longer exists" in gone.last_error
    make_due(mid)
    assert outbox.send_due() == 0  # not tried again
    assert smtp.messages == []
    page = BeautifulSoup(admin.get("/admin/outbox").get_data(as_text=True), "html.parser")
    assert f"signature {signature.id}" not in page.get_text(" ")


def test_a_message_queued_before_messages_were_written_when_sent_goes_out_as_stored(app, smtp):
    """A row from before migration 0004: no params, its subject and bodies written already."""
    with writing():
        old = OutboxMessage(kind="confirm", params=None, recipient="rosa@sunrise.example.org",
                            subject="Confirm your signature: an older letter",
                            body_text="Follow this link: http://localhost/confirm/old\n",
                            body_html="<p>Follow <a href=\"http://localhost/confirm/old\">this "
                                      "link</a></p>")
        db.session.add(old)
    assert outbox.send_due() == 1
    smtp.wait(1)
    [mail] = smtp.messages
    assert mail["Subject"] == "Confirm your signature: an older letter"
    assert text_of(mail).splitlines() == ["Follow this link: http://localhost/confirm/old"]
    assert 'href="http://localhost/confirm/old"' in \
        mail.get_body(preferencelist=("html",)).get_content()
    sent = row(old.id)
    assert (sent.status, sent.subject, sent.params) == (
        "sent", "Confirm your signature: an older letter", None)
    assert sent.body_text == "Follow this link: http://localhost/confirm/old\n"


# ------------------------------------------------------------------ header injection


def test_line_breaks_in_names_add_no_header_or_recipient(client, make_letter, smtp):
    make_letter(title="Stop Forwarding\r\nBcc: eve@example.net")
    submit(client, LETTER, {**SIGNER, "organization": "Sunrise\r\nCc: mallory@example.net",
                            "contact_name": "Rosa\nBcc: trudy@example.net\n\nfake body"}, "Sign")
    outbox.send_due()
    smtp.wait(1)
    [message] = smtp.messages
    assert smtp.envelopes[0][1] == ["rosa@sunrise.example.org"]
    assert message.get_all("Bcc") is None and message.get_all("Cc") is None
    assert message["To"] == "rosa@sunrise.example.org"
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]


def test_a_recipient_or_subject_with_line_breaks_adds_no_header_or_recipient(queue, signature,
                                                                            app, smtp):
    with writing():  # a title as no form would take it: the email must still be safe
        signature.letter.title = "Hello\r\nBcc: mallory@example.net\r\nX-Evil: 1"
    queue(recipient="rosa@sunrise.example.org\r\nBcc: eve@example.net")
    outbox.send_due()
    smtp.wait(1)
    received = [r for _, rcpts in smtp.envelopes for r in rcpts]
    assert "eve@example.net" not in received and "mallory@example.net" not in received
    [message] = smtp.messages
    assert message.get_all("Bcc") is None and message.get_all("X-Evil") is None
    assert message["Subject"].endswith("Hello Bcc: mallory@example.net X-Evil: 1")  # one line


# ------------------------------------------------------------------ no mail server


@pytest.fixture
def local_mail_app(app, smtp):
    app.config["MAIL_SERVER"] = None
    app.config["MAIL_SUPPRESS_SEND"] = True
    return app


def test_without_a_mail_server_messages_are_written_to_the_instance_folder(
        queue, local_mail_app, smtp, capsys):
    [mid] = queue(recipient="rosa@sunrise.example.org")
    assert outbox.send_due() == 1
    [eml] = (Path(local_mail_app.instance_path) / "mail").glob("*.eml")
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["To"] == "rosa@sunrise.example.org"
    assert message["Subject"] == f"You have already signed: {TITLE}"
    assert "already signed" in text_of(message)
    assert f"You have already signed: {TITLE}" in capsys.readouterr().out
    assert row(mid).status == "sent"
    assert smtp.messages == []


def test_the_worker_command_once_writes_local_mail(queue, local_mail_app, runner):
    queue(2)
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert len(list((Path(local_mail_app.instance_path) / "mail").glob("*.eml"))) == 2


# ------------------------------------------------------------------ two workers


def test_two_workers_never_send_one_message_twice(queue, app, smtp):
    ids = queue(30)
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def work():
        with app.app_context():
            try:
                start.wait()
                for _ in range(3):
                    outbox.send_due(limit=4)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    outbox.send_due()
    smtp.wait(30)
    received = sorted(r for _, rcpts in smtp.envelopes for r in rcpts)
    assert received == sorted(f"member{i}@example.org" for i in range(30))
    assert {row(i).status for i in ids} == {"sent"}


def test_a_worker_whose_lease_ran_out_does_not_send_what_another_worker_took_over(
        queue, app, smtp):
    ids = queue(3)
    with writing():
        slow = outbox.claim(10)  # this worker is slow: its lease runs out before it sends
    make_due(*ids)
    with app.app_context():
        assert outbox.send_due() == 3  # another worker takes the messages over
        db.session.remove()
    assert outbox.send_claimed(slow) == 0
    smtp.wait(3)
    assert len(smtp.messages) == 3
