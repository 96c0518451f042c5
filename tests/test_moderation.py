"""The organizer's moderation page: tabs, approve and reject, bulk approve, renaming, flags, the
no-approval setting, held submissions (spam trap, rate limit) and releasing them. The queue's
search, filters, sorting, paging and "all matching": tests/test_moderation_queue.py."""
from __future__ import annotations

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select, update
from support import SIGNER, form_fields, submit, text_of, with_smtp

from campaign import outbox, signing
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Letter, OutboxMessage, Signature, utcnow

LETTER = "/letters/stop-forwarding"
PAGE = "/admin/letters/stop-forwarding/signatures"


@pytest.fixture
def app_config(app_config, smtp):
    return with_smtp(app_config, smtp)


def soup_of(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def names_on(admin, tab: str) -> list[str]:
    """The organizations listed on one tab of the moderation page (its table's rows)."""
    page = soup_of(admin.get(f"{PAGE}?status={tab}"))
    return [row.find(class_="shown-name").get_text(" ", strip=True)
            for row in page.find_all("tr", class_="signature")]


def row_of(admin, signature_id: int, tab: str = "pending"):
    """The table row of one signature on a tab."""
    row = soup_of(admin.get(f"{PAGE}?status={tab}")).find("tr", id=f"s{signature_id}")
    assert row is not None, f"signature {signature_id} is not on the {tab} tab"
    return row


def row_form(admin, signature_id: int, button: str, tab: str = "pending") -> tuple[str, dict]:
    """The action and fields of one row's own form (Approve, Reject, Save name)."""
    for form in row_of(admin, signature_id, tab).find_all("form"):
        if any(b.get_text(strip=True) == button for b in form.find_all("button")):
            inputs = form.find_all("input")
            return form["action"], {i["name"]: i.get("value", "") for i in inputs if i.get("name")}
    raise AssertionError(f"no {button!r} form for signature {signature_id}")


def status_of(signature_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Signature, signature_id).status


def public_names(client) -> list[str]:
    page = soup_of(client.get(f"{LETTER}/signers"))
    return [s.get_text(strip=True) for s in page.find_all(class_="org")]


def queued() -> int:
    return int(db.session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


# ------------------------------------------------------------------ tabs


@pytest.fixture
def one_of_each(make_letter, make_signature):
    letter = make_letter()
    made = {status: make_signature(letter, status=status, organization=f"{status.title()} Group")
            for status in ("pending", "unconfirmed", "approved", "rejected")}
    made["held"] = make_signature(letter, status="unconfirmed", organization="Held Group")
    with writing():
        made["held"].held = True
    return made


@pytest.mark.parametrize("tab", ["pending", "unconfirmed", "approved", "rejected", "held"])
def test_each_tab_shows_only_its_own_signatures(admin, one_of_each, tab):
    assert names_on(admin, tab) == [f"{tab.title()} Group"]


def test_the_page_opens_on_the_signatures_awaiting_approval(admin, one_of_each):
    assert names_on(admin, "") == ["Pending Group"]


def test_each_tab_shows_its_count(admin, one_of_each):
    tabs = soup_of(admin.get(PAGE)).find("nav", class_="tabs").get_text(" ", strip=True)
    for label in ("Awaiting approval (1)", "Unconfirmed (1)", "Approved (1)", "Rejected (1)",
                  "Held (1)"):
        assert label in tabs


def test_a_row_shows_what_was_submitted(admin, make_letter, make_signature):
    letter = make_letter()
    make_signature(letter, status="pending", organization="Sunrise Tenants Union",
                   contact_name="Rosa Diaz", contact_title="Director",
                   email="rosa@sunrise.example.org", phone="+1 555 0199",
                   website="https://sunrise.example.org", city="Tucson")
    text = soup_of(admin.get(PAGE)).find("tr", class_="signature").get_text(" ", strip=True)
    for shown in ("Sunrise Tenants Union", "Rosa Diaz, Director", "rosa@sunrise.example.org",
                  "+1 555 0199", "https://sunrise.example.org", "Tucson"):
        assert shown in text


def test_the_moderation_page_needs_a_login(client, one_of_each):
    answer = client.get(PAGE)
    assert answer.status_code in (302, 303)
    assert "/login" in answer.headers["Location"]


# ------------------------------------------------------------------ deciding


def test_approve_lists_the_signature(admin, client, one_of_each):
    pending = one_of_each["pending"]
    action, fields = row_form(admin, pending.id, "Approve")
    assert admin.post(action, data=fields).status_code == 303
    assert status_of(pending.id) == "approved"
    assert "Pending Group" in public_names(client)


def test_reject_keeps_the_signature_off_the_list(admin, client, one_of_each):
    pending = one_of_each["pending"]
    action, fields = row_form(admin, pending.id, "Reject")
    admin.post(action, data=fields)
    assert status_of(pending.id) == "rejected"
    assert "Pending Group" not in public_names(client)


def test_a_rejected_signature_can_be_approved_after_all(admin, one_of_each):
    rejected = one_of_each["rejected"]
    action, fields = row_form(admin, rejected.id, "Approve", tab="rejected")
    admin.post(action, data=fields)
    assert status_of(rejected.id) == "approved"


def test_an_approved_signature_can_be_taken_off_the_list(admin, client, one_of_each):
    approved = one_of_each["approved"]
    action, fields = row_form(admin, approved.id, "Reject", tab="approved")
    admin.post(action, data=fields)
    assert "Approved Group" not in public_names(client)


@pytest.mark.parametrize("who", ["unconfirmed", "held"])
def test_an_unconfirmed_or_held_signature_cannot_be_approved(admin, one_of_each, who):
    target = one_of_each[who]
    _, fields = row_form(admin, one_of_each["pending"].id, "Approve")
    admin.post(f"{PAGE}/{target.id}/approve", data=fields)
    assert status_of(target.id) == "unconfirmed"


def test_a_decision_without_the_csrf_token_changes_nothing(admin, one_of_each):
    pending = one_of_each["pending"]
    answer = admin.post(f"{PAGE}/{pending.id}/approve", data={})
    assert answer.status_code == 400
    assert status_of(pending.id) == "pending"


def test_a_signature_of_another_letter_cannot_be_decided_here(admin, make_letter, make_signature):
    make_letter()
    other = make_letter(slug="another-letter", title="Another letter")
    elsewhere = make_signature(other, status="pending")
    here = make_signature(db.session.scalar(select(Letter).filter_by(slug="stop-forwarding")),
                          status="pending")
    _, fields = row_form(admin, here.id, "Approve")
    admin.post(f"{PAGE}/{elsewhere.id}/approve", data=fields)
    assert status_of(elsewhere.id) == "pending"


def test_bulk_approve_approves_only_the_selected_rows(admin, make_letter, make_signature):
    letter = make_letter()
    rows = [make_signature(letter, status="pending", organization=f"Group {n}") for n in range(3)]
    action, fields = form_fields(admin.get(PAGE).get_data(as_text=True), "Approve selected")
    answer = admin.post(action, data={**fields, "verb": "approve",
                                      "ids": [str(rows[0].id), str(rows[2].id)]})
    assert answer.status_code == 303
    assert [status_of(r.id) for r in rows] == ["approved", "pending", "approved"]


def test_bulk_approve_with_nothing_selected_says_so(admin, make_letter, make_signature):
    make_signature(make_letter(), status="pending")
    action, fields = form_fields(admin.get(PAGE).get_data(as_text=True), "Approve selected")
    answer = admin.post(action, data={**fields, "verb": "approve"}, follow_redirects=True)
    assert "Select at least one" in answer.get_data(as_text=True)


# ------------------------------------------------------------------ renaming


def test_rename_changes_the_public_name_and_its_place_in_the_list(admin, client, make_letter,
                                                                 make_signature):
    letter = make_letter()
    make_signature(letter, organization="Beta Builders")
    zeta = make_signature(letter, organization="zeta org")
    assert public_names(client) == ["Beta Builders", "zeta org"]
    action, fields = row_form(admin, zeta.id, "Save name", tab="approved")
    admin.post(action, data={**fields, "display_name": "Alpha Workers Alliance"})
    assert public_names(client) == ["Alpha Workers Alliance", "Beta Builders"]
    assert "Alpha Workers Alliance" in client.get(f"{LETTER}/signers.csv").get_data(as_text=True)


def test_a_blank_rename_goes_back_to_the_submitted_name(admin, client, make_letter, make_signature):
    letter = make_letter()
    signature = make_signature(letter, organization="zeta org")
    with writing():
        signature.display_name = "Zeta Organization"
    action, fields = row_form(admin, signature.id, "Save name", tab="approved")
    admin.post(action, data={**fields, "display_name": "  "})
    assert public_names(client) == ["zeta org"]


def test_a_renamed_signature_shows_what_was_submitted_to_the_organizer(admin, make_letter,
                                                                      make_signature):
    signature = make_signature(make_letter(), status="pending", organization="sunrise TU")
    action, fields = row_form(admin, signature.id, "Save name")
    admin.post(action, data={**fields, "display_name": "Sunrise Tenants Union"})
    row = row_of(admin, signature.id)
    assert row.find(class_="shown-name").get_text(strip=True) == "Sunrise Tenants Union"
    assert "submitted as “sunrise TU”" in row.get_text(" ", strip=True)


def test_an_overlong_rename_is_refused_with_a_message(admin, make_letter, make_signature):
    signature = make_signature(make_letter(), status="pending", organization="Sunrise")
    action, fields = row_form(admin, signature.id, "Save name")
    answer = admin.post(action, data={**fields, "display_name": "x" * 301}, follow_redirects=True)
    assert answer.status_code == 200
    assert "at most 300" in answer.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Signature, signature.id).shown_name == "Sunrise"


# ------------------------------------------------------------------ flags


def flags_of(admin, signature_id: int, tab: str = "pending") -> str:
    row = row_of(admin, signature_id, tab)
    return " ".join(li.get_text(" ", strip=True) for li in row.find_all(class_="flag"))


def test_the_same_organization_signed_twice_is_flagged_on_both(admin, make_letter, make_signature):
    letter = make_letter()
    one = make_signature(letter, status="pending", organization="Sunrise Tenants Union")
    two = make_signature(letter, status="pending", organization="The Sunrise Tenants Union, Inc.")
    other = make_signature(letter, status="pending", organization="Moonrise Tenants")
    assert "same organization" in flags_of(admin, one.id)
    assert "same organization" in flags_of(admin, two.id)
    assert "same organization" not in flags_of(admin, other.id)


def test_an_email_domain_unlike_the_website_is_flagged(admin, make_letter, make_signature):
    letter = make_letter()
    odd = make_signature(letter, status="pending", email="rosa@elsewhere.example.net",
                         website="https://sunrise.example.org")
    fine = make_signature(letter, status="pending", email="rosa@sunrise.example.org",
                          website="https://www.sunrise.example.org/about")
    assert "email domain differs" in flags_of(admin, odd.id)
    assert "email domain differs" not in flags_of(admin, fine.id)


@pytest.mark.parametrize(("email", "website"), [
    ("info@sunrise.org.uk", "https://moonrise.org.uk"),
    ("info@sunrise.example.org", "http://sunrise.example.net:8080/"),
])
def test_a_flag_compares_registrable_domains(admin, make_letter, make_signature, email, website):
    odd = make_signature(make_letter(), status="pending", email=email, website=website)
    assert "email domain differs" in flags_of(admin, odd.id)


def test_a_free_mail_address_is_flagged(admin, make_letter, make_signature):
    letter = make_letter()
    free = make_signature(letter, status="pending", email="sunrise.tenants@gmail.com")
    assert "free-mail" in flags_of(admin, free.id)


def test_an_ordinary_signature_has_no_flags(admin, make_letter, make_signature):
    signature = make_signature(make_letter(), status="pending", email="rosa@sunrise.example.org",
                               website="sunrise.example.org")
    assert flags_of(admin, signature.id) == ""


# ------------------------------------------------------------------ without approval


def test_without_approval_a_confirmed_signature_is_listed_at_once(client, make_letter, smtp):
    make_letter(require_approval=False)
    submit(client, LETTER, SIGNER, "Sign")
    outbox.send_due()
    smtp.wait(1)
    link = [w for w in text_of(smtp.messages[0]).split() if w.startswith("http://localhost/")][0]
    submit(client, link.removeprefix("http://localhost"), {}, "Confirm")
    assert public_names(client) == ["Sunrise Tenants Union"]


def test_the_approval_setting_is_on_for_a_new_letter(admin):
    page = admin.get("/admin/letters/new").get_data(as_text=True)
    box = BeautifulSoup(page, "html.parser").find(id="require_approval")
    assert box.has_attr("checked")


# ------------------------------------------------------------------ held submissions


def test_a_filled_spam_trap_gets_the_same_answer_but_is_held_without_email(new_client,
                                                                           make_letter):
    make_letter()
    person, bot = new_client(), new_client()
    human = submit(person, LETTER, SIGNER, "Sign")
    trapped = submit(bot, LETTER, {**SIGNER, "email": "bot@spam.example.net",
                                   "leave_empty": "http://spam.example.net"}, "Sign")
    assert trapped.status_code == human.status_code == 303
    assert trapped.headers["Location"] == human.headers["Location"]
    page = bot.get(trapped.headers["Location"]).get_data(as_text=True)
    assert "Check your email" in page and "bot@spam.example.net" in page
    held = db.session.scalar(select(Signature).filter_by(email="bot@spam.example.net"))
    assert held.held
    assert db.session.scalars(select(OutboxMessage.recipient)).all() == [SIGNER["email"]]


def test_a_held_submission_is_not_counted_or_listed(client, admin, make_letter):
    make_letter(require_approval=False)
    submit(client, LETTER, {**SIGNER, "leave_empty": "filled"}, "Sign")
    with writing():
        db.session.execute(update(Signature).values(status="approved"))
    page = soup_of(client.get(LETTER))
    assert page.find(class_="count").strong.get_text() == "0"
    assert public_names(client) == []


def test_release_sends_the_confirmation_of_a_held_submission(admin, make_letter, smtp):
    make_letter()
    submit(admin, LETTER, {**SIGNER, "leave_empty": "filled"}, "Sign")
    held = db.session.scalar(select(Signature))
    assert names_on(admin, "held") == ["Sunrise Tenants Union"]
    action, fields = form_fields(admin.get(f"{PAGE}?status=held").get_data(as_text=True), "Release")
    admin.post(action, data={**fields, "verb": "release", "ids": str(held.id)})
    outbox.send_due()
    smtp.wait(1)
    [mail] = smtp.to(SIGNER["email"])
    assert "Confirm" in mail["Subject"]
    assert names_on(admin, "held") == []
    assert names_on(admin, "unconfirmed") == ["Sunrise Tenants Union"]


def test_submissions_over_the_hourly_limit_from_one_address_are_held(client, make_letter, app):
    app.config["SIGN_LIMIT_PER_HOUR"] = 2
    make_letter()
    for n in range(3):
        assert submit(client, LETTER, {**SIGNER, "email": f"member{n}@sunrise.example.org",
                                       "organization": f"Group {n}"}, "Sign").status_code == 303
    held = db.session.scalars(select(Signature.organization).filter_by(held=True)).all()
    assert held == ["Group 2"]
    assert queued() == 2


def test_the_hourly_limit_counts_only_this_letters_submissions_of_the_last_hour(
        client, make_letter, make_signature, app):
    app.config["SIGN_LIMIT_PER_HOUR"] = 1
    letter = make_letter()
    other = make_letter(title="Fund the Libraries", slug="libraries")
    earlier = {make_signature(letter, "unconfirmed").id: utcnow() - timedelta(minutes=61),
               make_signature(other, "unconfirmed").id: utcnow()}
    with writing():  # sent from the test client's address: one too long ago, one elsewhere
        for signature_id, created_at in earlier.items():
            db.session.execute(update(Signature).where(Signature.id == signature_id).values(
                ip_hash=signing.ip_digest("127.0.0.1"), created_at=created_at))
    for n in range(2):
        assert submit(client, LETTER, {**SIGNER, "email": f"member{n}@sunrise.example.org",
                                       "organization": f"Group {n}"}, "Sign").status_code == 303
    held = db.session.scalars(select(Signature.organization).filter_by(held=True)).all()
    assert held == ["Group 1"]
    assert queued() == 1


def test_submissions_from_another_address_are_not_held_by_the_limit(new_client, make_letter, app):
    app.config["SIGN_LIMIT_PER_HOUR"] = 1
    make_letter()
    for n, ip in enumerate(["192.0.2.1", "192.0.2.2"]):
        browser = new_client()
        browser.environ_base["REMOTE_ADDR"] = ip
        submit(browser, LETTER, {**SIGNER, "email": f"member{n}@sunrise.example.org"}, "Sign")
    assert db.session.scalars(select(Signature.held)).all() == [False, False]
