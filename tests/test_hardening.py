"""The security review's findings (issue #11) that are not about logins, sessions or imports:
mail a stranger can aim at an address, dates at the calendar's ends, ids that are not numbers a
column holds, absolute links from the Host header, pages a browser must not keep, spam traps."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlalchemy import text as text_sql
from support import PASSWORD, SIGNER, form_fields, submit, text_of, with_smtp

from campaign import dates, outbox, ratelimit, signing, text
from campaign.database import writing
from campaign.errors import LetterError
from campaign.extensions import db
from campaign.models import Letter, OutboxMessage, Signature

SLUG = "stop-forwarding"
LETTER = f"/letters/{SLUG}"
SCAM = "Customer. URGENT: your bank account is locked, verify at https://evil.example/login"


def confirm_mails(address: str | None = None) -> int:
    query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "confirm")
    if address is not None:
        query = query.where(OutboxMessage.recipient == address)
    return int(db.session.scalar(query) or 0)


def sign(client, email: str, address: str = "127.0.0.1", **changes: str):  # type: ignore[no-untyped-def]
    return submit(client, LETTER, {**SIGNER, "email": email, **changes}, "Sign",
                  environ_base={"REMOTE_ADDR": address})


# ------------------------------------------------------------------ 2. mail aimed at an address


class TestVerificationMail:
    @pytest.fixture
    def app_config(self, app_config, smtp):  # type: ignore[no-untyped-def]
        return with_smtp(app_config, smtp)

    def test_the_verification_email_carries_no_text_the_signer_typed(self, client, make_letter,
                                                                      smtp):
        make_letter()
        response = sign(client, "victim@example.org", contact_name=SCAM,
                        organization="Visit https://evil.example now", contact_title=SCAM)
        assert response.status_code == 303
        assert outbox.send_due() == 1
        [message] = smtp.to("victim@example.org")
        whole = message.as_string() + text_of(message)
        for typed in ("URGENT", "evil.example", "bank account", "Visit"):
            assert typed not in whole
        assert "http://localhost/confirm/" in text_of(message)  # the link is still there

    def test_the_confirm_page_behind_the_link_shows_what_was_sent(self, client, make_letter,
                                                                 smtp):
        make_letter()
        sign(client, "rosa@sunrise.example.org")
        outbox.send_due()
        [message] = smtp.to("rosa@sunrise.example.org")
        link = next(w for w in text_of(message).split() if "/confirm/" in w)
        page = client.get(link.removeprefix("http://localhost")).get_data(as_text=True)
        assert "Sunrise Tenants Union" in page and "Rosa Diaz" in page and "Confirm" in page


def test_plus_addresses_of_one_mailbox_share_its_mail_limit(client, make_letter):
    for n in range(1, 5):
        make_letter(slug=f"letter-{n}", title=f"Letter {n}")
    for n in range(1, 5):  # four letters, so that no repeat-signer rule is what stops them
        response = submit(client, f"/letters/letter-{n}",
                          {**SIGNER, "email": f"target+{n}@example.org"}, "Sign")
        assert response.status_code == 303
    assert confirm_mails() == signing.MAILBOX_LIMITS[0][0]
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 4  # all kept


def test_the_dots_of_a_gmail_address_do_not_make_another_mailbox(client, make_letter):
    for n, address in enumerate(["jane.doe@gmail.com", "janedoe@gmail.com", "j.a.n.e.doe@gmail.com",
                                 "Jane.Doe+x@googlemail.com"]):
        make_letter(slug=f"letter-{n}", title=f"Letter {n}")
        submit(client, f"/letters/letter-{n}", {**SIGNER, "email": address}, "Sign")
    assert confirm_mails() == signing.MAILBOX_LIMITS[0][0]


def test_other_mailboxes_still_get_their_mail(client, make_letter):
    make_letter()
    for n in range(6):
        assert sign(client, f"person{n}@example.org").status_code == 303
    assert confirm_mails() == 6


def test_the_mailbox_limit_also_holds_for_the_resend_form(client, make_letter, make_signature):
    letter = make_letter()
    make_signature(letter, status="unconfirmed", email="ana+1@harbor.example.org")
    make_signature(letter, status="unconfirmed", email="ana+2@harbor.example.org")
    for n in (1, 2, 1, 2, 1, 2):
        response = submit(client, f"{LETTER}/resend", {"email": f"ana+{n}@harbor.example.org"},
                          "Send")
        assert response.status_code == 200  # the same answer every time
    assert confirm_mails() == signing.MAILBOX_LIMITS[0][0]


def test_every_address_of_an_ipv6_slash_64_counts_as_one_sender(app, client, make_letter):
    app.config["SIGN_LIMIT_PER_HOUR"] = 3
    make_letter()
    for n in range(5):
        sign(client, f"person{n}@example.org", address=f"2001:db8:1:2::{n + 1:x}")
    held = db.session.scalars(select(Signature.held).order_by(Signature.id)).all()
    assert held == [False, False, False, True, True]
    sign(client, "other@example.org", address="2001:db8:1:3::1")  # another /64
    assert db.session.scalar(select(Signature.held).where(
        Signature.email == "other@example.org")) is False


def test_mail_asked_for_from_one_network_is_limited_across_letters(app, client, make_letter,
                                                                   monkeypatch):
    monkeypatch.setattr(signing, "NETWORK_LIMITS", ((2, timedelta(hours=1)),))
    for n in range(3):
        make_letter(slug=f"letter-{n}", title=f"Letter {n}")
        submit(client, f"/letters/letter-{n}", {**SIGNER, "email": f"p{n}@example.org"}, "Sign",
               environ_base={"REMOTE_ADDR": f"2001:db8::{n + 1}"})
    assert confirm_mails() == 2


@pytest.mark.parametrize(("address", "mailbox"), [
    ("Target+1@Example.org", "target@example.org"),
    ("t.a.r.g.e.t@gmail.com", "target@gmail.com"),
    ("T.Arget+news@googlemail.com", "target@gmail.com"),
    ("first.last@example.org", "first.last@example.org"),  # dots count elsewhere
    ("+tag@example.org", "+tag@example.org"),
])
def test_mailbox_folds_tags_and_the_dots_of_gmail(address, mailbox):
    assert text.mailbox(address) == mailbox


@pytest.mark.parametrize(("address", "network"), [
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2::ffff", "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("192.0.2.7", "192.0.2.7"),
    ("not an address", "not an address"),
])
def test_the_limits_count_an_ipv6_slash_64_as_one_network(address, network):
    assert ratelimit.network(address) == network


# ------------------------------------------------------------------ 8. spam traps, held cap


def test_a_sign_post_without_the_hidden_trap_field_is_held(client, make_letter):
    make_letter()
    page = client.get(LETTER).get_data(as_text=True)
    action, fields = form_fields(page, "Sign")
    fields.pop("leave_empty")
    response = client.post(LETTER, data={**fields, **{k: v for k, v in SIGNER.items()
                                                      if k != "leave_empty"}})
    assert response.status_code == 303  # the same answer: a bot learns nothing
    assert db.session.scalar(select(Signature.held)) is True
    assert confirm_mails() == 0


@pytest.mark.parametrize("trap", ["leave_empty", "comment"])
def test_a_filled_trap_field_holds_the_submission(client, make_letter, trap):
    make_letter()
    assert sign(client, "rosa@sunrise.example.org", **{trap: "http://spam.example.net"}) \
        .status_code == 303
    assert db.session.scalar(select(Signature.held)) is True
    assert confirm_mails() == 0


def test_held_submissions_stop_being_kept_at_the_letters_cap(app, client, make_letter):
    app.config["HELD_LIMIT"] = 3
    make_letter()
    for n in range(5):
        assert sign(client, f"bot{n}@example.net", comment="spam").status_code == 303
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 3
    assert sign(client, "rosa@sunrise.example.org").status_code == 303  # people still sign
    assert db.session.scalar(select(Signature.held).where(
        Signature.email == "rosa@sunrise.example.org")) is False
    assert confirm_mails("rosa@sunrise.example.org") == 1


# ------------------------------------------------------------------ 3. dates at the edges


EDGE_DEADLINES = ["0001-01-01T00:00+05:00", "9999-12-31T23:59:59-05:00", "9999-12-31",
                  "9999-12-31T23:00Z", "1999-12-31", "2200-01-01", "0001-01-01"]


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Tokyo", "Pacific/Kiritimati",
                                  "Etc/GMT+12"])
def test_a_deadline_at_the_calendars_ends_is_refused_with_a_message(app, admin, make_letter,
                                                                     zone):
    app.config["TZ"] = ZoneInfo(zone)
    make_letter()
    for typed in EDGE_DEADLINES:
        response = submit(admin, f"/admin/letters/{SLUG}/edit", {"deadline": typed}, "Save")
        assert response.status_code == 422, (zone, typed)
        assert "between the years 2000 and 2199" in response.get_data(as_text=True)
    assert db.session.scalar(select(Letter.deadline)) is None  # nothing half-saved


@pytest.mark.parametrize("typed", ["2000-01-01", "2199-12-31", "2199-12-31T23:59:59-12:00",
                                   "2000-01-01T00:00+14:00"])
def test_deadlines_at_the_ends_of_the_range_are_taken_in_any_zone(typed):
    for zone in ("UTC", "America/New_York", "Asia/Tokyo", "Pacific/Kiritimati", "Etc/GMT+12"):
        assert dates.parse_deadline(typed, ZoneInfo(zone)) is not None


def test_a_letter_file_deadline_out_of_range_is_a_letter_error():
    with pytest.raises(LetterError, match="between the years"):
        dates.parse_deadline("9999-12-31", ZoneInfo("America/New_York"))


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/New_York", "Etc/GMT+12",
                                  "Pacific/Kiritimati"])
@pytest.mark.parametrize("stored", [datetime(9999, 12, 31, 23, 0, tzinfo=UTC),
                                    datetime(1, 1, 1, 0, 0, tzinfo=UTC)])
def test_a_stored_date_at_the_calendars_ends_shows_on_every_page(app, admin, make_letter, zone,
                                                                 stored):
    """Dates saved before the bounds (or written by hand) never take a page down."""
    app.config["TZ"] = ZoneInfo(zone)
    letter = make_letter()
    with writing():
        db.session.execute(update(Letter).values(deadline=stored))
    db.session.expire_all()
    for path in ("/", LETTER, "/admin/", f"/admin/letters/{SLUG}/edit",
                 f"/admin/letters/{SLUG}/deliver", f"/admin/letters/{SLUG}/signatures"):
        assert admin.get(path).status_code == 200, path
    assert letter.id


# ------------------------------------------------------------------ 4. ids


BAD_IDS = ["²", "١٢", "9" * 25, str(2**31), "0", "-1", " 1", "1 ", "0x1", "1_0", "1.0", "", "a"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_the_bulk_forms_refuse_a_malformed_id_and_change_nothing(admin, make_letter,
                                                                 make_signature, bad):
    letter = make_letter()
    signature = make_signature(letter, status="pending")
    page = admin.get(f"/admin/letters/{SLUG}/signatures").get_data(as_text=True)
    _, fields = form_fields(page)
    for path, data in [(f"/admin/letters/{SLUG}/signatures/bulk", {"verb": "approve"}),
                       ("/admin/outbox/retry", {})]:
        response = admin.post(path, data={"csrf_token": fields["csrf_token"], **data,
                                          "ids": [str(signature.id), bad]})
        assert response.status_code == 303, (path, bad)
    db.session.expire_all()
    assert db.session.get(Signature, signature.id).status == "pending"


@pytest.mark.parametrize("bad", ["9" * 25, str(2**31), "²", "0"])
@pytest.mark.parametrize("verb", ["approve", "reject", "rename"])
def test_an_id_no_column_holds_in_an_address_is_not_found(admin, make_letter, bad, verb):
    make_letter()
    page = admin.get(f"/admin/letters/{SLUG}/signatures").get_data(as_text=True)
    _, fields = form_fields(page)
    response = admin.post(f"/admin/letters/{SLUG}/signatures/{bad}/{verb}",
                          data={"csrf_token": fields["csrf_token"], "display_name": "x"})
    assert response.status_code == 404


@pytest.mark.parametrize(("typed", "number"), [
    ("1", 1), ("2147483647", 2**31 - 1), ("2147483648", None), ("²", None), ("١", None),
    ("01", 1), ("", None), (None, None), ("+1", None), ("1e3", None)])
def test_parse_id_takes_ascii_digits_within_the_columns_range(typed, number):
    assert text.parse_id(typed) == number


@pytest.mark.parametrize("page", ["²", "9" * 5000, "-3", "0", "1e9", "١"])
def test_a_malformed_page_number_shows_the_first_page(client, make_letter, make_signature, page):
    letter = make_letter()
    make_signature(letter)
    assert client.get(f"{LETTER}/signers?page={page}").status_code == 200
    assert client.get(f"{LETTER}/signers.json?page={page}").json["count"] == 1


# ------------------------------------------------------------------ 7. the Host header


def test_the_json_lists_next_page_comes_from_the_base_url_not_the_host_header(
        client, make_letter, make_signature):
    letter = make_letter()
    with writing():
        for n in range(201):
            db.session.add(Signature(**signing.signature_values(
                letter, signing.SignerInput(organization=f"Group {n}"), email=f"g{n}@example.org",
                status="approved", source="import")))
    answer = client.get(f"{LETTER}/signers.json", headers={"Host": "evil.test"}).json
    assert answer["next"] == f"http://localhost{LETTER}/signers.json?page=2"


def test_a_redirect_after_an_organizer_form_never_goes_to_the_referers_host(app, admin,
                                                                           make_letter):
    make_letter()
    page = admin.get(f"/admin/letters/{SLUG}/deliver").get_data(as_text=True)
    _, fields = form_fields(page)
    name = app.config["SESSION_COOKIE_NAME"]
    admin.set_cookie(name, admin.get_cookie(name).value, domain="evil.test")
    for referer in ("http://evil.test/admin/letters", "//evil.test/x", "http://evil.test/"):
        response = admin.post(f"/admin/letters/{SLUG}/pdf/refresh",
                              data={"csrf_token": fields["csrf_token"]},
                              headers={"Host": "evil.test", "Referer": referer})
        assert response.status_code == 303
        assert "evil.test" not in response.headers["Location"]


# ------------------------------------------------------------------ 8. pages not to keep


def test_organizer_pages_and_downloads_are_not_kept_by_browsers(admin, make_letter,
                                                                make_signature):
    make_letter()
    for path in ("/admin/", f"/admin/letters/{SLUG}/signatures",
                 f"/admin/letters/{SLUG}/signatures.csv", f"/admin/letters/{SLUG}/edit",
                 "/admin/outbox", f"/admin/letters/{SLUG}/letter.pdf", "/login"):
        assert admin.get(path).headers.get("Cache-Control") == "no-store", path


def test_a_signers_own_pages_are_not_kept_but_public_ones_may_be(client, make_letter):
    make_letter()
    checked = sign(client, "rosa@sunrise.example.org")
    assert client.get(checked.headers["Location"]).headers["Cache-Control"] == "no-store"
    assert client.get(LETTER).headers.get("Cache-Control") != "no-store"


def test_the_delivery_package_is_not_kept_by_browsers(admin, make_letter, make_signature,
                                                      runner):
    from campaign import delivery

    letter = make_letter()
    make_signature(letter)
    with writing():
        delivery.request(letter, organizer_id=None, notify_signatories=False)
    result = runner.invoke(args=["worker", "--once"])  # renders the final PDF and delivers
    assert result.exit_code == 0, result.output
    response = admin.get(f"/admin/letters/{SLUG}/delivery.zip")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


# ------------------------------------------------------------------ 5. bounded work: the body


def test_a_body_the_markdown_parser_would_take_seconds_over_is_refused_at_its_field(admin,
                                                                                    make_letter):
    """markdown-it's work grows with the square of the '[' in a body: 100,000 take 7 s."""
    make_letter()
    for body in ("[" * 2_001, "[a" * 50_000):
        response = submit(admin, f"/admin/letters/{SLUG}/edit", {"body": body}, "Save")
        assert response.status_code == 422
        assert "more than 2,000 &#39;[&#39;" in response.get_data(as_text=True)
    assert "[" not in db.session.scalar(select(Letter.body))
    ordinary = "See [the report](https://example.org/report). " * 40
    assert submit(admin, f"/admin/letters/{SLUG}/edit", {"body": ordinary}, "Save") \
        .status_code == 303


def test_a_letter_file_with_such_a_body_is_refused_in_one_line(runner, tmp_path):
    path = tmp_path / "brackets.md"
    path.write_text("---\ntitle: Brackets\nslug: brackets\n---\n" + "[" * 90_000 + "\n")
    result = runner.invoke(args=["import-letter", str(path)])
    assert result.exit_code != 0
    assert "more than 2,000 '['" in result.output and "Traceback" not in result.output
    assert db.session.scalar(select(func.count()).select_from(Letter)) == 0


# ------------------------------------------------------------------ found in review


def test_the_check_email_page_cannot_tell_a_signed_address_once_the_held_cap_is_full(
        app, new_client, make_letter):
    """Dropped or not, held or not, signed before or not: the page shows what was typed."""
    app.config["HELD_LIMIT"] = 2
    make_letter()
    sign(new_client(), "victim@example.org")
    for n in range(2):
        sign(new_client(), f"bot{n}@example.net", comment="spam")
    pages = {}
    for address in ("victim@example.org", "nobody@example.org"):
        browser = new_client()
        response = sign(browser, address, comment="spam")
        pages[address] = browser.get(response.headers["Location"]).get_data(as_text=True)
    for address, page in pages.items():
        assert f"<strong>{address}</strong>" in page
    same = {address: re.sub(r'name="csrf_token" type="hidden" value="[^"]*"', "",
                            page.replace(address, "ADDRESS")) for address, page in pages.items()}
    assert same["victim@example.org"] == same["nobody@example.org"]


def test_a_trapped_submission_with_a_signers_address_mails_nobody(client, make_letter):
    make_letter()
    sign(client, "rosa@sunrise.example.org")
    assert confirm_mails("rosa@sunrise.example.org") == 1
    sign(client, "rosa@sunrise.example.org", comment="spam")
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_releasing_held_submissions_keeps_to_the_mailbox_limit(admin, make_letter,
                                                               make_signature):
    letter = make_letter()
    held = [make_signature(letter, status="unconfirmed", email=f"v.i.c.t.i.m+{n}@gmail.com")
            for n in range(6)]
    with writing():
        db.session.execute(update(Signature).values(held=True))
    page = admin.get(f"/admin/letters/{SLUG}/signatures?status=held").get_data(as_text=True)
    _, fields = form_fields(page)
    response = admin.post(f"/admin/letters/{SLUG}/signatures/bulk", follow_redirects=True,
                          data={"csrf_token": fields["csrf_token"], "verb": "release",
                                "ids": [str(s.id) for s in held]})
    assert "Released 6 signature(s)" in response.get_data(as_text=True)
    assert "3 of them got no verification email" in response.get_data(as_text=True)
    assert confirm_mails() == signing.MAILBOX_LIMITS[0][0]
    assert db.session.scalar(select(func.count()).select_from(Signature)
                             .where(Signature.held.is_(True))) == 0


def test_a_body_whose_tables_would_fill_up_millions_of_cells_is_refused(admin, make_letter):
    make_letter()
    wide = "|" + "|".join("a" * 300) + "|\n|" + "|".join("-" * 300) + "|\n" + "x\n" * 300
    response = submit(admin, f"/admin/letters/{SLUG}/edit", {"body": wide + "\n"}, "Save")
    assert response.status_code == 422
    assert "tables have more than 10,000 cells" in response.get_data(as_text=True)
    table = "| Group | City |\n| --- | --- |\n" + "| Harbor | Eureka |\n" * 50
    assert submit(admin, f"/admin/letters/{SLUG}/edit", {"body": table}, "Save") \
        .status_code == 303


def test_the_recipients_are_bounded_and_checked_before_the_writing_unit(admin, make_letter):
    make_letter()
    many = "\n".join(f"office{n}@example.org" for n in range(51))
    response = submit(admin, f"/admin/letters/{SLUG}/deliver", {"delivery_emails": many},
                      "Save")
    assert response.status_code == 422
    assert "at most 50 addresses" in response.get_data(as_text=True)
    assert db.session.scalar(select(Letter.delivery_emails)) in ("", None)


@pytest.mark.parametrize(("name", "value"), [("SESSION_MAX_HOURS", "999999999"),
                                             ("SESSION_IDLE_MINUTES", "999999999")])
def test_a_session_time_too_long_for_the_calendar_stops_the_app(tmp_path, monkeypatch, name,
                                                               value):
    from support_apps import build_app

    from campaign.config import ConfigError

    with pytest.raises(ConfigError, match=f"CAMPAIGN_{name} must be more than 0 and at most"):
        build_app(f"sqlite:///{tmp_path / 'unused.sqlite3'}", tmp_path,
                  **{name: int(value)})


@pytest.mark.parametrize(("line", "message"), [
    ("PROXIES = 1.5", "PROXIES in .* must be a number"),
    ("SECRET_KEY = 12345678901234567890", "SECRET_KEY in .* must be text"),
    ("BASE_URL = ['https://letters.example.org']", "BASE_URL in .* must be text")])
def test_an_instance_setting_of_the_wrong_type_stops_the_app_with_one_line(tmp_path,
                                                                           monkeypatch, line,
                                                                           message):
    from support_apps import build_app

    from campaign.config import ConfigError

    (tmp_path / "config.py").write_text(line + "\n")
    with pytest.raises(ConfigError, match=message):
        build_app(f"sqlite:///{tmp_path / 'unused.sqlite3'}", tmp_path)


@pytest.mark.parametrize("nested", ["[" * 3000 + "]" * 3000, "{a: " * 3000 + "1" + "}" * 3000])
def test_front_matter_nested_thousands_deep_is_one_line(runner, tmp_path, nested):
    path = tmp_path / "deep.md"
    path.write_text(f"---\ntitle: {nested}\nslug: deep\n---\nText.\n")
    result = runner.invoke(args=["import-letter", str(path)])
    assert result.exit_code != 0
    assert "nested too deeply" in result.output and "Traceback" not in result.output


def test_an_answer_to_a_form_is_not_kept_by_browsers(client, make_letter):
    """A refused sign form shows what was typed (email and phone among it)."""
    make_letter()
    response = sign(client, "rosa@sunrise.example.org", consent="")
    assert response.status_code == 422
    assert response.headers["Cache-Control"] == "no-store"


def test_the_held_cap_is_counted_through_its_partial_index(app):
    """SQLite uses a partial index only when the query's condition is written as the index's:
    else every held submission would read all of its letter's signatures under the lock."""
    if db.engine.dialect.name != "sqlite":
        plan = " ".join(db.session.execute(
            text_sql("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_signature_held'"))
            .scalars())
        assert "WHERE held" in plan
        return
    statement = signing._insert_statement("sqlite", True)
    sql = str(statement.compile(dialect=db.engine.dialect))
    connection = db.session.connection().connection.driver_connection
    plan = connection.execute("EXPLAIN QUERY PLAN " + sql, [None] * sql.count("?")).fetchall()
    assert any("USING INDEX ix_signature_held" in str(row) for row in plan), plan


def test_a_seal_that_was_changed_is_not_read_back(app):
    from campaign import tokens

    sealed = tokens.seal("a@b.org")
    raw = bytearray(__import__("base64").urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4)))
    raw[12] ^= ord("a") ^ ord("z")  # what would turn a@ into z@ in a bare stream cipher
    changed = __import__("base64").urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    assert tokens.unseal(sealed) == "a@b.org"
    assert tokens.unseal(changed) is None


def test_a_login_without_a_remote_address_is_still_counted(app, client, organizer):
    from campaign import accounts

    for _ in range(accounts.PAIR_TRIES):
        response = submit(client, "/login", {"email": "staff@example.org",
                                              "password": "wrong password 1"}, "Log in",
                          environ_base={"REMOTE_ADDR": ""})
        assert response.status_code == 401
    response = submit(client, "/login", {"email": "staff@example.org",
                                          "password": "wrong password 1"}, "Log in",
                      environ_base={"REMOTE_ADDR": ""})
    assert "Too many failed logins" in response.get_data(as_text=True)


def test_an_ipv6_slash_48_has_a_wider_login_limit(app, client, organizer):
    from campaign import accounts

    with writing():
        ratelimit.hit(*[ratelimit.key("login-wide", "2001:db8:7::/48")] * accounts.WIDE_TRIES,
                      always=True)
    response = submit(client, "/login", {"email": "staff@example.org", "password": "x" * 12},
                      "Log in", environ_base={"REMOTE_ADDR": "2001:db8:7:9::1"})
    assert "Too many failed logins" in response.get_data(as_text=True)
    other = submit(client, "/login", {"email": "staff@example.org", "password": PASSWORD},
                   "Log in", environ_base={"REMOTE_ADDR": "2001:db8:8::1"})
    assert other.status_code == 303


def test_an_unknown_setting_in_the_instance_config_is_taken_as_given(tmp_path):
    from support_apps import build_app

    (tmp_path / "config.py").write_text("SESSION_COOKIE_SAMESITE = 'Strict'\n"
                                        "SQLALCHEMY_ECHO = False\nMY_NUMBER = 3\n")
    app = build_app(f"sqlite:///{tmp_path / 'unused.sqlite3'}", tmp_path)
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Strict" and app.config["MY_NUMBER"] == 3


def test_releasing_a_thousand_held_submissions_reads_the_limits_twice(app, make_letter):
    letter = make_letter()
    with writing():
        for n in range(300):
            db.session.add(Signature(**signing.signature_values(
                letter, signing.SignerInput(organization=f"Group {n}"),
                email=f"g{n}@example.org", status="unconfirmed", source="web"), held=True))
    ids = list(db.session.scalars(select(Signature.id)))
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    from sqlalchemy import event

    from campaign import moderation
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with writing():
            released, unmailed = moderation.release(letter, ids)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert (released, unmailed) == (300, 0)
    assert sum("FROM rate_event" in s for s in statements) == 2
    assert confirm_mails() == 300
