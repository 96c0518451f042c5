"""Confirmation links: expired, used and tampered links, and the form that sends a new one."""
from __future__ import annotations

import re
import time

import pytest
from bs4 import BeautifulSoup
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select
from support import SECRET, SIGNER, form_fields, submit, text_of, with_smtp

from campaign import outbox
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Signature

LETTER = "/letters/stop-forwarding"
EMAIL = SIGNER["email"]


@pytest.fixture
def app_config(app_config, smtp):
    return with_smtp(app_config, smtp)


def link_in(message) -> str:
    [link] = re.findall(r"https?://\S+", text_of(message))
    return link.removeprefix("http://localhost")


@pytest.fixture
def link(client, make_letter, smtp) -> str:
    """The path of the confirmation link mailed to a fresh, unconfirmed signer."""
    make_letter()
    assert submit(client, LETTER, SIGNER, "Sign").status_code == 303
    outbox.send_due()
    smtp.wait(1)
    return link_in(smtp.to(EMAIL)[-1])


def status() -> str:
    db.session.expire_all()
    return str(db.session.scalar(select(Signature.status)))


def text(response) -> str:
    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    return " ".join(soup.get_text(" ").split())


def aged(link: str, days: float) -> str:
    """The same link, signed as if it had been made `days` ago."""
    token = link.rsplit("/", 1)[1]
    payload = URLSafeTimedSerializer(SECRET, salt="confirm-signature").loads(token)

    class Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - days * 86400)

    return "/confirm/" + URLSafeTimedSerializer(SECRET, salt="confirm-signature",
                                                signer=Then).dumps(payload)


# ------------------------------------------------------------------ expired


def test_a_link_within_its_days_still_works(client, link):
    answer = client.get(aged(link, 6.9))
    assert answer.status_code == 200
    assert "Confirm" in text(answer)


def test_an_expired_link_gives_a_clear_page_with_a_form_for_a_new_one(client, link):
    answer = client.get(aged(link, 7.1))
    assert answer.status_code == 400
    assert "expired" in text(answer)
    action, _ = form_fields(answer.get_data(as_text=True), "new link")
    assert action == f"{LETTER}/resend"


def test_an_expired_link_confirms_nothing_when_posted(client, link):
    _, values = form_fields(client.get(link).get_data(as_text=True), "Confirm")
    answer = client.post(aged(link, 8), data=values)
    assert answer.status_code == 400
    assert status() == "unconfirmed"


def test_the_expiry_follows_the_token_max_age_setting(client, link, app):
    app.config["TOKEN_MAX_AGE_DAYS"] = 2
    assert client.get(aged(link, 1.9)).status_code == 200
    assert client.get(aged(link, 2.1)).status_code == 400


def test_the_new_link_asked_for_on_the_expired_page_confirms(client, link, smtp):
    expired = client.get(aged(link, 30)).get_data(as_text=True)
    action, values = form_fields(expired, "new link")
    assert client.post(action, data={**values, "email": EMAIL}).status_code == 200
    outbox.send_due()
    smtp.wait(2)
    assert len(smtp.to(EMAIL)) == 2
    submit(client, link_in(smtp.to(EMAIL)[-1]), {}, "Confirm")
    assert status() == "pending"


# ------------------------------------------------------------------ used


def test_a_used_link_says_the_signature_is_already_confirmed(client, link):
    submit(client, link, {}, "Confirm")
    again = client.get(link)
    assert again.status_code == 200
    assert "Already confirmed" in text(again)
    soup = BeautifulSoup(again.get_data(as_text=True), "html.parser")
    assert not [b for b in soup.find_all("button") if "Confirm" in b.get_text()]


def test_a_used_link_posted_again_changes_nothing(client, link, admin):
    _, values = form_fields(client.get(link).get_data(as_text=True), "Confirm")
    client.post(link, data=values)
    with writing():
        db.session.scalar(select(Signature)).status = "rejected"
    assert client.post(link, data=values).status_code == 200
    assert status() == "rejected"


def test_a_used_link_for_a_letter_without_approval_stays_approved(client, make_letter, smtp):
    make_letter(require_approval=False)
    submit(client, LETTER, SIGNER, "Sign")
    outbox.send_due()
    smtp.wait(1)
    link = link_in(smtp.messages[0])
    _, values = form_fields(client.get(link).get_data(as_text=True), "Confirm")
    client.post(link, data=values)
    again = client.post(link, data=values)
    assert "Already confirmed" in text(again)
    assert status() == "approved"


# ------------------------------------------------------------------ tampered


@pytest.mark.parametrize("change", ["flip", "cut", "garbage", "other-payload"])
def test_a_tampered_link_gives_a_400_page_offering_a_new_link(client, link, change):
    token = link.rsplit("/", 1)[1]
    if change == "flip":
        token = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    elif change == "cut":
        token = token[: len(token) // 2]
    elif change == "garbage":
        token = "not-a-token..!"
    else:
        token = URLSafeTimedSerializer("some other key", salt="confirm-signature").dumps(
            {"s": 1, "e": "0" * 12})
    answer = client.get(f"/confirm/{token}")
    assert answer.status_code == 400
    assert "not valid" in text(answer)
    soup = BeautifulSoup(answer.get_data(as_text=True), "html.parser")
    assert soup.find("a", href=f"{LETTER}/resend") or soup.find("form", action=f"{LETTER}/resend")
    assert status() == "unconfirmed"


def test_a_link_for_a_signature_whose_email_changed_is_refused(client, link):
    with writing():
        db.session.scalar(select(Signature)).email = "someone.else@example.net"
    assert client.get(link).status_code == 400


def test_a_link_for_a_deleted_signature_is_refused(client, link):
    with writing():
        db.session.delete(db.session.scalar(select(Signature)))
    answer = client.get(link)
    assert answer.status_code == 400
    assert "not valid" in text(answer)


# ------------------------------------------------------------------ asking for a new link


def resend(client, email: str):
    return submit(client, f"{LETTER}/resend", {"email": email}, "new link")


def test_resend_sends_a_new_link_to_an_unconfirmed_signer(client, link, smtp):
    assert resend(client, EMAIL.upper()).status_code == 200
    outbox.send_due()
    smtp.wait(2)
    assert len(smtp.to(EMAIL)) == 2
    assert "new link" in text_of(smtp.to(EMAIL)[-1])


def test_resend_sends_nothing_to_a_confirmed_signer(client, link, smtp):
    submit(client, link, {}, "Confirm")
    assert outbox.send_due() == 1  # the receipt, with the link to the signer's own page
    smtp.wait(2)
    resend(client, EMAIL)
    assert outbox.send_due() == 0
    assert len(smtp.messages) == 2
    assert "Your signature" in smtp.messages[-1]["Subject"]


def test_resend_sends_nothing_for_an_address_that_never_signed(client, make_letter):
    make_letter()
    resend(client, "nobody@example.net")
    assert outbox.send_due() == 0


def test_resend_answers_the_same_page_whoever_asks(new_client, link):
    submit(new_client(), link, {}, "Confirm")
    pages = []
    for email in (EMAIL, "nobody@example.net"):
        browser = new_client()
        answer = resend(browser, email)  # the page at once: nothing kept in the cookie
        assert answer.status_code == 200
        pages.append(text(answer).replace(email, "ADDRESS"))
    assert pages[0] == pages[1]
    assert "Check your email" in pages[0]


def test_resend_with_a_malformed_address_shows_the_form_again(client, make_letter):
    make_letter()
    answer = resend(client, "not an address")
    assert answer.status_code == 422
    assert "Send a new confirmation link" in text(answer)


def test_the_check_email_page_sends_the_link_again_with_its_button(client, link, smtp):
    page = client.get(f"{LETTER}/check-email").get_data(as_text=True)
    assert EMAIL in page
    action, values = form_fields(page, "Send the link again")
    assert client.post(action, data=values).status_code == 200
    outbox.send_due()
    smtp.wait(2)
    assert len(smtp.to(EMAIL)) == 2
