"""Organizer sessions kept on the server: logging out, a new password, idle time, an absolute
lifetime and the account's deletion end them; the cookie holds a token and no personal data."""
from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from support import PASSWORD, SIGNER, password_hash, submit

from campaign import accounts, sessions, tokens
from campaign.cli import demo_organizer
from campaign.config import ConfigError
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Organizer, OrganizerSession, Signature, utcnow

EMAIL = "staff@example.org"  # the organizer fixture's account, password support.PASSWORD
LETTER = "/letters/stop-forwarding"


def logged_in(new_client) -> Any:  # type: ignore[no-untyped-def]
    """A browser of its own, logged in as the organizer."""
    browser = new_client()
    response = submit(browser, "/login", {"email": EMAIL, "password": PASSWORD}, "Log in")
    assert response.status_code == 303
    return browser


def opens_admin(browser: Any) -> bool:
    return bool(browser.get("/admin/").status_code == 200)


def kept() -> list[OrganizerSession]:
    db.session.expire_all()
    return list(db.session.scalars(select(OrganizerSession)))


def cookie_contents(app: Any, browser: Any) -> dict[str, Any]:
    """The session cookie, decoded as anyone holding it can."""
    cookie = browser.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    return dict(app.session_interface.get_signing_serializer(app).loads(cookie.value))


def copy_of(new_client, app: Any, browser: Any) -> Any:  # type: ignore[no-untyped-def]
    """Another browser given a copy of `browser`'s session cookie."""
    name = app.config["SESSION_COOKIE_NAME"]
    thief = new_client()
    thief.set_cookie(name, browser.get_cookie(name).value)
    return thief


def age(**changes: timedelta) -> None:
    """Move every kept session's times back."""
    with writing():
        for row in db.session.scalars(select(OrganizerSession)):
            for column, by in changes.items():
                setattr(row, column, getattr(row, column) - by)


# ------------------------------------------------------------------ ending a session


def test_a_copied_cookie_opens_nothing_after_logging_out(app, new_client, organizer):
    browser = logged_in(new_client)
    thief = copy_of(new_client, app, browser)
    assert opens_admin(thief)  # the copy works while the session lasts
    assert submit(browser, "/admin/", {}, "Log out").status_code == 303
    assert not opens_admin(browser)
    assert not opens_admin(thief)
    assert kept() == []


def test_logging_out_ends_only_that_session(new_client, organizer):
    one, other = logged_in(new_client), logged_in(new_client)
    submit(one, "/admin/", {}, "Log out")
    assert not opens_admin(one)
    assert opens_admin(other)
    assert len(kept()) == 1


def test_a_new_password_ends_every_session_of_the_account(new_client, organizer, runner):
    one, other = logged_in(new_client), logged_in(new_client)
    result = runner.invoke(args=["set-password", EMAIL], input="a brand new passphrase\n")
    assert result.exit_code == 0, result.output
    assert "sessions have ended" in result.output
    assert not opens_admin(one) and not opens_admin(other)
    assert kept() == []
    assert accounts.check_login(EMAIL, "a brand new passphrase").organizer_id == organizer.id


def test_set_password_for_an_unknown_email_is_a_one_line_error(app, runner):
    result = runner.invoke(args=["set-password", "nobody@example.org"],
                           input="a brand new passphrase\n")
    assert result.exit_code != 0
    assert "no organizer has the email" in result.output


def test_the_demo_organizers_new_password_ends_its_sessions(app, new_client):
    with writing():
        demo_organizer(password_hash())
        demo = accounts.find("demo@example.org")
        assert demo is not None
        sessions.start(demo.id)
    with writing():
        demo_organizer(password_hash("another demo passphrase"))
    assert kept() == []


def test_a_session_ends_when_its_account_is_deleted(new_client, organizer):
    browser = logged_in(new_client)
    with writing():
        db.session.delete(db.session.get(Organizer, organizer.id))
    assert not opens_admin(browser)
    assert kept() == []


def test_a_session_ends_after_the_idle_time(app, new_client, organizer):
    browser = logged_in(new_client)
    age(last_seen_at=timedelta(minutes=app.config["SESSION_IDLE_MINUTES"], seconds=1))
    assert not opens_admin(browser)


def test_a_session_in_use_ends_after_its_lifetime(app, new_client, organizer):
    browser = logged_in(new_client)
    age(created_at=timedelta(hours=app.config["SESSION_MAX_HOURS"], seconds=1))
    assert kept()[0].last_seen_at > utcnow() - timedelta(minutes=1)  # used just now
    assert not opens_admin(browser)


def test_use_keeps_a_session_alive_and_is_written_at_most_once_a_minute(app, new_client,
                                                                       organizer):
    browser = logged_in(new_client)
    seen = kept()[0].last_seen_at
    assert opens_admin(browser)
    assert kept()[0].last_seen_at == seen  # less than a minute later: nothing written
    idle = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
    age(last_seen_at=idle - timedelta(minutes=1))  # nearly idle for too long
    assert opens_admin(browser)
    assert kept()[0].last_seen_at > utcnow() - timedelta(minutes=1)
    age(last_seen_at=timedelta(minutes=2))
    assert opens_admin(browser)


def test_sessions_that_have_ended_are_deleted_when_one_begins(app, new_client, organizer):
    logged_in(new_client)
    logged_in(new_client)
    age(created_at=timedelta(hours=app.config["SESSION_MAX_HOURS"], seconds=1))
    logged_in(new_client)
    assert len(kept()) == 1


# ------------------------------------------------------------------ what the cookie holds


def test_the_cookie_holds_a_random_token_whose_hash_alone_is_kept(app, new_client, organizer):
    browser = logged_in(new_client)
    token = cookie_contents(app, browser)[sessions.KEY]
    [row] = kept()
    assert len(token) >= 40
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in row.token_hash


def test_no_remember_me_cookie_is_set_at_login(app, new_client, organizer):
    browser = new_client()
    response = submit(browser, "/login", {"email": EMAIL, "password": PASSWORD}, "Log in")
    cookies = response.headers.getlist("Set-Cookie")
    assert not [c for c in cookies if c.startswith("remember_token")]
    assert not [c for c in cookies if "Expires=" in c]  # gone when the browser closes
    assert app.permanent_session_lifetime <= timedelta(hours=app.config["SESSION_MAX_HOURS"])


def test_the_user_id_of_another_organizer_opens_nothing(app, new_client, organizer):
    with writing():
        other = accounts.create_organizer("other@example.org", password_hash())
    browser = logged_in(new_client)
    with browser.session_transaction() as session:
        session["_user_id"] = str(other.id)  # only possible with the secret key, but still
    assert not opens_admin(browser)


@pytest.fixture
def letter(make_letter):  # type: ignore[no-untyped-def]
    return make_letter()


def test_signing_leaves_no_email_in_the_cookie(app, new_client, letter):
    browser = new_client()
    response = submit(browser, LETTER, SIGNER, "Sign")
    assert response.status_code == 303
    contents = repr(cookie_contents(app, browser))
    assert "@" not in contents and SIGNER["email"] not in contents
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert SIGNER["email"] in page  # unsealed from the cookie


def test_the_cookie_does_not_say_whether_an_email_had_signed(app, new_client, letter):
    seals = []
    for _ in range(2):  # the second signing makes no signature
        browser = new_client()
        submit(browser, LETTER, SIGNER, "Sign")
        seals.append(cookie_contents(app, browser)["signed"])
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 1
    assert [tokens.unseal(seal) for seal in seals] == [SIGNER["email"]] * 2
    assert seals[0] != seals[1]  # a fresh nonce each time: nothing to compare
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", seal) for seal in seals)


@pytest.mark.parametrize("sealed", [None, "", "x", "AAAA", "!!!", "é" * 10, "A" * 5000, 7])
def test_unseal_takes_anything_and_gives_text_or_none(app, sealed):
    assert tokens.unseal(sealed) is None


def test_a_seal_is_read_back_only_with_the_same_secret_key(app):
    sealed = tokens.seal("rosa@sunrise.example.org")
    assert tokens.unseal(sealed) == "rosa@sunrise.example.org"
    app.config["SECRET_KEY"] = "another-key"
    assert tokens.unseal(sealed) != "rosa@sunrise.example.org"


def test_asking_for_the_link_again_leaves_no_email_in_the_cookie(app, new_client, letter):
    browser = new_client()
    response = submit(browser, f"{LETTER}/resend", {"email": "ana@harbor.example.org"},
                      "new link")
    assert response.status_code == 200
    assert "Check your email" in response.get_data(as_text=True)
    assert "ana@harbor.example.org" in response.get_data(as_text=True)
    assert "@" not in repr(cookie_contents(app, browser))


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize("name", ["SESSION_IDLE_MINUTES", "SESSION_MAX_HOURS"])
def test_a_session_time_of_zero_stops_the_app(tmp_path, name):
    from support_apps import build_app

    with pytest.raises(ConfigError, match=f"CAMPAIGN_{name} must be more than 0"):
        build_app(f"sqlite:///{tmp_path / 'unused.sqlite3'}", tmp_path, **{name: 0})
