"""Organizer log in and out: the form, next= only to this site, throttling, cookies, hashes."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select
from support import PASSWORD, submit

from campaign import accounts, ratelimit
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Organizer, RateEvent, utcnow
from campaign.views.auth import safe_next

EMAIL = "staff@example.org"  # the organizer fixture's account, password support.PASSWORD


def log_in(client, password: str = PASSWORD, next_: str | None = None, email: str = EMAIL):  # type: ignore[no-untyped-def]
    url = "/login" if next_ is None else f"/login?next={quote(next_, safe='')}"
    return submit(client, url, {"email": email, "password": password}, "Log in")


def session_user(client) -> str | None:  # type: ignore[no-untyped-def]
    """The organizer id in the client's session cookie, if any."""
    with client.session_transaction() as session:
        return session.get("_user_id")


# ------------------------------------------------------------------ the form


def test_login_page_has_email_password_and_log_in_button(bare):
    page = bare.test_client().get("/login")
    soup = BeautifulSoup(page.get_data(as_text=True), "html.parser")
    labels = [label.get_text(strip=True) for label in soup.find_all("label")]
    assert "Email" in labels
    assert "Password" in labels
    assert soup.find("input", attrs={"type": "password", "name": "password"}) is not None
    buttons = [b.get("value") or b.get_text() for b in soup.select("input[type=submit], button")]
    assert any("Log in" in b for b in buttons)


# ------------------------------------------------------------------ logging in


def test_right_password_logs_in_and_goes_to_the_letters(client, organizer):
    response = log_in(client)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/"
    assert session_user(client) == str(organizer.id)
    assert client.get("/admin/").status_code == 200


def test_email_is_matched_without_regard_to_case_or_spaces(client, organizer):
    assert log_in(client, email="  Staff@Example.ORG ").status_code == 303
    assert session_user(client) == str(organizer.id)


def test_login_redirects_to_a_local_next_path(client, organizer):
    response = log_in(client, next_="/admin/letters/new?from=menu")
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/letters/new?from=menu"


def test_login_sent_from_an_admin_page_returns_there(client, organizer):
    bounce = client.get("/admin/outbox")
    assert bounce.status_code == 302
    login_url = bounce.headers["Location"]
    assert login_url.startswith("/login?next=")
    response = submit(client, login_url, {"email": EMAIL, "password": PASSWORD}, "Log in")
    assert response.headers["Location"] == "/admin/outbox"


@pytest.mark.parametrize("target", ["https://evil.example", "//evil.example", "/\\evil.example"])
def test_login_ignores_a_next_that_leaves_the_site(client, organizer, target):
    response = log_in(client, next_=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/"


@pytest.mark.parametrize("target", [
    "https://evil.example/admin/", "//evil.example", "/\\evil.example", "http:/evil.example",
    "javascript:alert(1)", "/\t/evil.example", " //evil.example", "evil.example", "", None,
    "/admin/\r\nSet-Cookie: x=1",
])
def test_safe_next_refuses_anything_but_a_path_on_this_site(target):
    assert safe_next(target) is None


@pytest.mark.parametrize("target", ["/admin/", "/admin/letters/new?x=1", "/letters/a-b#sign"])
def test_safe_next_keeps_a_path_on_this_site(target):
    assert safe_next(target) == target


def test_wrong_password_gives_a_clear_message_and_no_session(client, organizer):
    response = log_in(client, password="wrong horse battery 9")
    assert response.status_code == 401
    assert "do not match an organizer account" in response.get_data(as_text=True)
    assert session_user(client) is None


def test_unknown_email_gives_the_same_message(client, organizer):
    response = log_in(client, email="nobody@example.org")
    assert response.status_code == 401
    assert "do not match an organizer account" in response.get_data(as_text=True)
    assert session_user(client) is None


def test_empty_form_is_refused_without_a_server_error(client, organizer):
    response = submit(client, "/login", {"email": "", "password": ""}, "Log in")
    assert response.status_code == 200
    assert "This field is required" in response.get_data(as_text=True)
    assert session_user(client) is None


def test_logged_in_organizer_visiting_login_goes_to_the_letters(client, organizer):
    log_in(client)
    response = client.get("/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


# ------------------------------------------------------------------ throttling
# Failures count per email and address together (PAIR_TRIES), and per address (IP_TRIES), the
# same whether or not an account has the email; nothing on the account locks its owner out.


def log_in_from(client, address: str, password: str = PASSWORD, email: str = EMAIL):  # type: ignore[no-untyped-def]
    return submit(client, "/login", {"email": email, "password": password}, "Log in",
                  environ_base={"REMOTE_ADDR": address})


def answer(response, email: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """A login page's status and visible text, the email typed in it left out."""
    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    return response.status_code, soup.get_text(" ", strip=True).replace(email, "EMAIL")


def pair_key(email: str, address: str) -> str:
    return ratelimit.key("login-pair", f"{address}\n{email}")


def failing(browser, email: str, address: str) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    return [answer(log_in_from(browser, address, "not the password", email), email)
            for _ in range(accounts.PAIR_TRIES + 3)]


def test_known_and_unknown_emails_get_the_same_answers_however_many_failures(new_client,
                                                                            organizer):
    known = failing(new_client(), EMAIL, "192.0.2.1")
    assert failing(new_client(), "nobody@example.org", "192.0.2.2") == known
    assert known[0][0] == 401 and "do not match an organizer account" in known[0][1]
    assert known[-1][0] == 401 and "Too many failed logins. Try again in about" in known[-1][1]


def test_a_strangers_failures_do_not_keep_the_owner_out_from_another_address(new_client,
                                                                             organizer):
    stranger = new_client()
    for _ in range(accounts.PAIR_TRIES + 3):
        assert log_in_from(stranger, "198.51.100.7", "a guess at it").status_code == 401
    assert log_in_from(new_client(), "192.0.2.50").status_code == 303


def test_five_failures_for_one_email_from_one_address_throttle_that_pair(new_client, organizer):
    for _ in range(accounts.PAIR_TRIES):
        assert "do not match" in log_in_from(new_client(), "192.0.2.1", "wrong guess").get_data(
            as_text=True)
    refused = log_in_from(new_client(), "192.0.2.1")  # even the right password, from there
    assert refused.status_code == 401
    assert "Too many failed logins. Try again in about 15 minute(s)." in refused.get_data(
        as_text=True)
    other_email = log_in_from(new_client(), "192.0.2.1", "wrong guess", "other@example.org")
    assert "do not match" in other_email.get_data(as_text=True)  # the address is not throttled


def test_an_unknown_email_is_throttled_like_a_known_one(new_client, organizer):
    for _ in range(accounts.PAIR_TRIES):
        log_in_from(new_client(), "192.0.2.1", "wrong guess", "nobody@example.org")
    refused = log_in_from(new_client(), "192.0.2.1", "wrong guess", "nobody@example.org")
    assert "Too many failed logins" in refused.get_data(as_text=True)


def test_refused_attempts_count_towards_the_address_limit(new_client, organizer):
    for _ in range(accounts.IP_TRIES):  # the first PAIR_TRIES fail, the rest are refused
        log_in_from(new_client(), "192.0.2.1", "wrong guess")
    elsewhere = log_in_from(new_client(), "192.0.2.1", "wrong guess", "other@example.org")
    assert "Too many failed logins" in elsewhere.get_data(as_text=True)
    assert ratelimit.count(ratelimit.key("login-ip", "192.0.2.1"), accounts.IP_WINDOW) \
        == accounts.IP_TRIES  # and no more: an address over its limit adds no rows


def test_failures_from_one_ipv6_network_count_together(new_client, organizer):
    for host in range(accounts.PAIR_TRIES):
        log_in_from(new_client(), f"2001:db8:1:2::{host + 1}", "wrong guess")
    refused = log_in_from(new_client(), "2001:db8:1:2:ffff::9")
    assert "Too many failed logins" in refused.get_data(as_text=True)
    assert log_in_from(new_client(), "2001:db8:1:3::1").status_code == 303


def test_one_failure_every_fifteen_minutes_never_locks_anyone_out(new_client, organizer):
    for _ in range(3 * accounts.PAIR_TRIES):
        assert log_in_from(new_client(), "192.0.2.1", "one guess a while").status_code == 401
        with writing():  # fifteen minutes go by
            for event in db.session.scalars(select(RateEvent)):
                event.created_at -= accounts.PAIR_WINDOW
    assert log_in_from(new_client(), "192.0.2.1").status_code == 303


def test_the_pair_throttle_ends_after_fifteen_minutes(new_client, organizer):
    old = utcnow() - accounts.PAIR_WINDOW - timedelta(seconds=5)
    with writing():
        db.session.add_all([RateEvent(key=pair_key(EMAIL, "192.0.2.1"), created_at=old)
                            for _ in range(accounts.PAIR_TRIES)])
    assert log_in_from(new_client(), "192.0.2.1").status_code == 303


def test_a_success_forgets_the_failures_of_its_email_from_its_address(new_client, organizer):
    for _ in range(accounts.PAIR_TRIES - 1):
        log_in_from(new_client(), "192.0.2.1", "a typo")
    assert log_in_from(new_client(), "192.0.2.1").status_code == 303
    assert ratelimit.count(pair_key(EMAIL, "192.0.2.1"), accounts.PAIR_WINDOW) == 0
    assert ratelimit.count(ratelimit.key("login-ip", "192.0.2.1"), accounts.IP_WINDOW) \
        == accounts.PAIR_TRIES - 1  # the address's count stays


def test_checking_a_login_writes_nothing_and_recording_it_counts_the_failure(organizer):
    attempt = accounts.check_login(EMAIL, "not the password", "192.0.2.1")  # outside any unit
    assert attempt.organizer_id is None and attempt.throttled is None
    assert db.session.scalar(select(func.count()).select_from(RateEvent)) == 0
    with writing():
        assert accounts.record_login(attempt) is None
    assert ratelimit.count(pair_key(EMAIL, "192.0.2.1"), accounts.PAIR_WINDOW) == 1
    assert ratelimit.count(ratelimit.key("login-ip", "192.0.2.1"), accounts.IP_WINDOW) == 1


def test_recording_a_right_password_logs_in(organizer):
    attempt = accounts.check_login(EMAIL, PASSWORD, "192.0.2.1")
    assert attempt.organizer_id == organizer.id
    with writing():
        person = accounts.record_login(attempt)
    assert person is not None and person.id == organizer.id


def test_a_throttled_login_is_refused_without_checking_the_password(organizer, monkeypatch):
    with writing():
        db.session.add_all([RateEvent(key=pair_key(EMAIL, "192.0.2.1"), created_at=utcnow())
                            for _ in range(accounts.PAIR_TRIES)])
    monkeypatch.setattr(accounts, "hasher", None)  # any use of it would fail
    attempt = accounts.check_login(EMAIL, PASSWORD, "192.0.2.1")
    assert attempt.organizer_id is None
    assert attempt.throttled is not None and "Too many failed logins" in attempt.throttled
    assert attempt.counts == (ratelimit.key("login-ip", "192.0.2.1"),)


def test_the_account_keeps_no_failure_count(organizer):
    assert not {"failed_logins", "last_failed_login"} & set(Organizer.__table__.columns.keys())


# ------------------------------------------------------------------ logging out


def test_logout_by_get_is_not_allowed(admin):
    assert admin.get("/logout").status_code == 405
    assert session_user(admin) is not None


def test_logout_without_csrf_token_is_refused_and_keeps_the_session(admin):
    assert admin.post("/logout").status_code == 400
    assert session_user(admin) is not None


def test_logout_with_the_csrf_token_ends_the_session(admin):
    response = submit(admin, "/admin/", {}, "Log out")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert session_user(admin) is None
    assert admin.get("/admin/").status_code == 302


# ------------------------------------------------------------------ cookies and hashes


def test_session_cookie_is_httponly_and_samesite_lax(client, organizer):
    response = log_in(client)
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, response.headers
    flags = [part.strip().lower() for part in cookies[-1].split(";")]
    assert "httponly" in flags
    assert "samesite=lax" in flags


def test_passwords_are_hashed_with_argon2id():
    hashed = accounts.hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert PASSWORD not in hashed
    assert accounts.hasher.verify(hashed, PASSWORD)


def test_a_password_too_short_is_refused_before_hashing():
    with pytest.raises(accounts.AccountError, match=f"at least {accounts.MIN_PASSWORD}"):
        accounts.hash_password("x" * (accounts.MIN_PASSWORD - 1))


def test_passwords_are_stored_as_argon2id_hashes(organizer):
    db.session.expire_all()
    stored = db.session.get(Organizer, organizer.id)
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    assert accounts.hasher.verify(stored.password_hash, PASSWORD)


def test_same_password_gets_a_different_salt(organizer):
    password_hash = accounts.hash_password(PASSWORD)
    with writing():
        other = accounts.create_organizer("second@example.org", password_hash)
    assert other.password_hash != organizer.password_hash
    assert accounts.hasher.verify(other.password_hash, PASSWORD)
