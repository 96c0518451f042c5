"""Organizer log in and out: the form, next= only to this site, throttling, cookies, hashes."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from bs4 import BeautifulSoup
from support import PASSWORD, submit

from campaign import accounts
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Organizer, utcnow
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


def test_five_failures_throttle_the_account_even_with_the_right_password(client, organizer):
    for _ in range(accounts.FREE_TRIES):
        assert log_in(client, password="not the password").status_code == 401
    response = log_in(client)
    text = response.get_data(as_text=True)
    assert response.status_code == 401
    assert "Too many failed attempts" in text
    assert "Try again in about" in text
    assert session_user(client) is None


def test_four_failures_still_let_the_right_password_in_and_reset_the_count(client, organizer):
    for _ in range(accounts.FREE_TRIES - 1):
        log_in(client, password="not the password")
    assert log_in(client).status_code == 303
    db.session.refresh(organizer)
    assert organizer.failed_logins == 0


def test_failures_are_counted_on_the_account(client, organizer):
    log_in(client, password="not the password")
    log_in(client, password="still not it")
    db.session.refresh(organizer)
    assert organizer.failed_logins == 2
    assert organizer.last_failed_login is not None


def test_throttle_ends_after_the_wait(client, organizer):
    with writing():
        organizer.failed_logins = accounts.FREE_TRIES
        organizer.last_failed_login = utcnow() - timedelta(minutes=1)
    assert log_in(client).status_code == 303
    assert session_user(client) == str(organizer.id)


def test_throttle_wait_doubles_and_is_capped():
    organizer = Organizer(email=EMAIL, password_hash="", last_failed_login=utcnow(),
                          failed_logins=accounts.FREE_TRIES)
    first = accounts.lock_remaining(organizer)
    organizer.failed_logins = accounts.FREE_TRIES + 1
    second = accounts.lock_remaining(organizer)
    organizer.failed_logins = accounts.FREE_TRIES + 30
    assert timedelta(seconds=25) < first <= timedelta(seconds=30)
    assert timedelta(seconds=55) < second <= timedelta(seconds=60)
    assert accounts.lock_remaining(organizer) <= accounts.MAX_LOCK


def test_checking_a_login_writes_nothing_and_recording_it_counts_the_failure(organizer):
    attempt = accounts.check_login(EMAIL, "not the password", "192.0.2.1")  # outside any unit
    assert attempt.organizer_id is None
    assert attempt.failed_id == organizer.id
    db.session.expire_all()
    assert db.session.get(Organizer, organizer.id).failed_logins == 0
    with writing():
        assert accounts.record_login(attempt) is None
    db.session.expire_all()
    assert db.session.get(Organizer, organizer.id).failed_logins == 1


def test_recording_a_right_password_logs_in_and_clears_the_count(organizer):
    with writing():
        organizer.failed_logins = accounts.FREE_TRIES - 1
    attempt = accounts.check_login(EMAIL, PASSWORD, "192.0.2.1")
    assert attempt.organizer_id == organizer.id
    with writing():
        person = accounts.record_login(attempt)
    assert person is not None and person.id == organizer.id
    db.session.expire_all()
    assert db.session.get(Organizer, organizer.id).failed_logins == 0


def test_checking_a_login_for_a_throttled_account_raises_login_throttled(organizer):
    with writing():
        organizer.failed_logins = accounts.FREE_TRIES
        organizer.last_failed_login = utcnow()
    with pytest.raises(accounts.LoginThrottled, match="Too many failed attempts"):
        accounts.check_login(EMAIL, PASSWORD, "192.0.2.1")


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
