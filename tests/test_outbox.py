"""Email that is never lost: the outbox against a real SMTP server that is down, hung or refusing;
retries, dead messages, header injection, local mail without a server, two workers."""
from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from conftest import form_fields, free_port, submit, text_of
from sqlalchemy import select, update

from campaign import outbox
from campaign.extensions import db
from campaign.models import OutboxMessage, utcnow

LETTER = "/letters/stop-forwarding"
SIGNER = {"organization": "Sunrise Tenants Union", "contact_name": "Rosa Diaz",
          "email": "rosa@sunrise.example.org", "city": "Tucson", "consent": "y", "authorized": "y"}


@pytest.fixture
def app_config(app_config, smtp):
    return {**app_config, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp.port, "MAIL_TIMEOUT": 1.0,
            "MAIL_MAX_ATTEMPTS": 3}


@pytest.fixture
def queue(make_letter, make_signature):
    """Queue messages the way the app does (an 'already signed' email); returns their ids."""
    letter = make_letter()
    signature = make_signature(letter, organization="Sunrise Tenants Union", contact_name="Rosa")

    def enqueue(n: int = 1, recipient: str | None = None, subject: str | None = None) -> list[int]:
        ids = [outbox.enqueue("already-signed", recipient or f"member{i}@example.org",
                              subject or f"Message {i}", "already_signed", signature=signature,
                              letter=letter, letter_url="http://localhost/letters/x").id
               for i in range(n)]
        db.session.commit()
        return ids

    return enqueue


def row(message_id: int) -> OutboxMessage:
    db.session.expire_all()
    found = db.session.get(OutboxMessage, message_id)
    assert found is not None
    return found


def make_due(*ids: int) -> None:
    """Let time pass: the messages' next try is due now."""
    db.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                       .values(send_after=utcnow() - timedelta(seconds=1)))
    db.session.commit()


@pytest.fixture
def hung_server():
    """A TCP server that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


# ------------------------------------------------------------------ delivery and retries


def test_a_queued_message_is_delivered_once(queue, app, smtp):
    [mid] = queue()
    assert outbox.deliver_due() == 1
    assert outbox.deliver_due() == 0
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
    assert outbox.deliver_due() == 0
    message = row(mid)
    assert message.status == "queued"
    assert "451" in message.last_error
    assert before < message.send_after <= before + timedelta(seconds=30)


def test_a_closed_port_leaves_the_message_queued_with_its_error(queue, app, smtp):
    app.config["MAIL_PORT"] = free_port()
    app.extensions["mail"].port = app.config["MAIL_PORT"]
    [mid] = queue()
    assert outbox.deliver_due() == 0
    message = row(mid)
    assert message.status == "queued"
    assert "Connection" in message.last_error or "refused" in message.last_error
    assert message.send_after <= utcnow() + timedelta(seconds=30)


def test_a_message_is_delivered_exactly_once_when_the_server_is_back(queue, app, smtp):
    smtp.refuse = True
    [mid] = queue()
    outbox.deliver_due()
    assert outbox.deliver_due() == 0  # not due yet: no second try at once
    smtp.refuse = False
    make_due(mid)
    assert outbox.deliver_due() == 1
    make_due(mid)
    assert outbox.deliver_due() == 0
    smtp.wait(1)
    assert len(smtp.messages) == 1
    assert row(mid).status == "sent"
    assert row(mid).last_error == ""


def test_a_hung_server_is_given_up_on_within_the_timeout(queue, app, hung_server):
    app.extensions["mail"].port = hung_server
    [mid] = queue()
    started = time.monotonic()
    assert outbox.deliver_due() == 0
    assert time.monotonic() - started < 3
    message = row(mid)
    assert message.status == "queued"
    assert message.last_error
    assert message.send_after > utcnow()


def test_a_message_held_up_by_a_hung_server_goes_out_once_the_server_answers(
        queue, app, smtp, hung_server):
    app.extensions["mail"].port = hung_server
    [mid] = queue()
    outbox.deliver_due()
    app.extensions["mail"].port = smtp.port
    make_due(mid)
    assert outbox.deliver_due() == 1
    smtp.wait(1)
    assert len(smtp.to("member0@example.org")) == 1


def test_backoff_grows_between_attempts(queue, app, smtp):
    smtp.refuse = True
    [mid] = queue()
    waits = []
    for _ in range(2):
        before = utcnow()
        outbox.deliver_due()
        waits.append((row(mid).send_after - before).total_seconds())
        make_due(mid)
    assert waits[0] <= 30
    assert waits[1] > waits[0]


def test_after_the_last_attempt_a_message_is_dead(queue, app, smtp):
    smtp.refuse = True
    [mid] = queue()
    for _ in range(3):
        outbox.deliver_due()
        make_due(mid)
    assert row(mid).status == "dead"
    assert row(mid).attempts == 3
    assert outbox.deliver_due() == 0
    assert smtp.messages == []


def test_a_dead_message_shows_on_the_mail_page_and_its_retry_button_requeues_it(
        queue, admin, smtp):
    smtp.refuse = True
    [mid] = queue(subject="Confirm your signature: Stop Forwarding")
    for _ in range(3):
        outbox.deliver_due()
        make_due(mid)
    page = admin.get("/admin/outbox").get_data(as_text=True)
    assert "Confirm your signature: Stop Forwarding" in page
    assert "451" in page
    action, values = form_fields(page, "Retry")
    soup = BeautifulSoup(page, "html.parser")
    values["ids"] = soup.find("input", attrs={"name": "ids"})["value"]
    assert admin.post(action, data=values).status_code == 303
    assert row(mid).status == "queued"
    smtp.refuse = False
    assert outbox.deliver_due() == 1
    smtp.wait(1)
    assert len(smtp.messages) == 1


def test_the_mail_page_needs_a_login(client):
    answer = client.get("/admin/outbox")
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
        outbox.deliver_due()
    finally:
        controller.stop()
    assert row(mid).status == "dead"
    assert "550" in row(mid).last_error


def test_a_message_that_cannot_be_sent_does_not_hold_up_the_others(queue, app, smtp):
    first = queue(recipient="jösé@example.org")
    rest = queue(2)
    outbox.deliver_due()
    smtp.wait(2)
    assert sorted(r for _, rcpts in smtp.envelopes for r in rcpts) == [
        "member0@example.org", "member1@example.org"]
    assert row(first[0]).status == "dead"
    assert row(first[0]).last_error
    assert {row(i).status for i in rest} == {"sent"}


# ------------------------------------------------------------------ header injection


def test_line_breaks_in_names_add_no_header_or_recipient(client, make_letter, smtp):
    make_letter(title="Stop Forwarding\r\nBcc: eve@example.net")
    submit(client, LETTER, {**SIGNER, "organization": "Sunrise\r\nCc: mallory@example.net",
                            "contact_name": "Rosa\nBcc: trudy@example.net\n\nfake body"}, "Sign")
    outbox.deliver_due()
    smtp.wait(1)
    [message] = smtp.messages
    assert smtp.envelopes[0][1] == ["rosa@sunrise.example.org"]
    assert message.get_all("Bcc") is None and message.get_all("Cc") is None
    assert message["To"] == "rosa@sunrise.example.org"
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]


def test_a_recipient_or_subject_with_line_breaks_adds_no_header_or_recipient(queue, app, smtp):
    queue(recipient="rosa@sunrise.example.org\r\nBcc: eve@example.net",
          subject="Hello\r\nBcc: mallory@example.net\r\nX-Evil: 1")
    outbox.deliver_due()
    smtp.wait(1)
    received = [r for _, rcpts in smtp.envelopes for r in rcpts]
    assert "eve@example.net" not in received and "mallory@example.net" not in received
    for message in smtp.messages:
        assert message.get_all("Bcc") is None and message.get_all("X-Evil") is None


# ------------------------------------------------------------------ no mail server


@pytest.fixture
def local_mail_app(app, smtp):
    app.config["MAIL_SERVER"] = None
    app.config["MAIL_SUPPRESS_SEND"] = True
    return app


def test_without_a_mail_server_messages_are_written_to_the_instance_folder(
        queue, local_mail_app, smtp, capsys):
    [mid] = queue(recipient="rosa@sunrise.example.org", subject="Confirm your signature")
    assert outbox.deliver_due() == 1
    [eml] = (Path(local_mail_app.instance_path) / "mail").glob("*.eml")
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["To"] == "rosa@sunrise.example.org"
    assert message["Subject"] == "Confirm your signature"
    assert "already signed" in text_of(message)
    assert "Confirm your signature" in capsys.readouterr().out
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
                    outbox.deliver_due(limit=4)
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
    outbox.deliver_due()
    smtp.wait(30)
    received = sorted(r for _, rcpts in smtp.envelopes for r in rcpts)
    assert received == sorted(f"member{i}@example.org" for i in range(30))
    assert {row(i).status for i in ids} == {"sent"}


def test_a_worker_whose_lease_ran_out_does_not_send_what_another_worker_took_over(
        queue, app, smtp):
    ids = queue(3)
    slow = outbox.claim(10)  # this worker is slow: its lease runs out before it sends
    make_due(*ids)
    with app.app_context():
        assert outbox.deliver_due() == 3  # another worker takes the messages over
        db.session.remove()
    assert outbox.deliver(slow) == 0
    smtp.wait(3)
    assert len(smtp.messages) == 3
