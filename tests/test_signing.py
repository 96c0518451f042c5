"""The signer's path: the sign form, the check-email page, the email, confirming, duplicates,
letters that take no signatures; with a real SMTP server."""
from __future__ import annotations

import json
import re
import threading
from datetime import timedelta

import email_validator
import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select
from support import SIGNER, form_fields, submit, text_of, with_smtp

from campaign import fields, outbox, signing, text
from campaign.database import reading, writing
from campaign.extensions import db
from campaign.models import Letter, OutboxMessage, Signature, utcnow

LETTER = "/letters/stop-forwarding"
# The sign form with every optional field filled in too.
VALID = {**SIGNER, "contact_title": "Director", "phone": "+1 555 0199",
         "website": "https://sunrise.example.org"}


@pytest.fixture
def app_config(app_config, smtp):
    return with_smtp(app_config, smtp)


def sign(client, **changes):
    data = {**VALID, **changes}
    return submit(client, LETTER, {k: v for k, v in data.items() if v is not None}, "Sign")


def signature_count() -> int:
    return int(db.session.scalar(select(func.count()).select_from(Signature)) or 0)


def links(text: str) -> list[str]:
    return re.findall(r"https?://[^\s<>\"]+", text)


def confirm_link(smtp, address: str) -> str:
    [found] = links(text_of(smtp.to(address)[-1]))
    return found


def visible_text(html: str) -> str:
    return " ".join(BeautifulSoup(html, "html.parser").get_text(" ").split())


def error_at(html: str, field: str) -> str:
    """The error message shown next to a field of the form ('' when there is none)."""
    soup = BeautifulSoup(html, "html.parser")
    box = soup.find(id=field).find_parent(class_="field")
    return " ".join(p.get_text(" ") for p in box.find_all(class_="error"))


def path_of(url: str) -> str:
    return url.removeprefix("http://localhost")


# ------------------------------------------------------------------ the whole path


def labelled_inputs(html: str) -> list[tuple[str, str]]:
    """(label text, input name) for every labelled control of the sign form, in page order."""
    soup = BeautifulSoup(html, "html.parser")
    form = soup.find("form", action=LETTER)
    pairs = []
    for label in form.find_all("label"):
        target = form.find(id=label.get("for"))
        if target is not None and target.get("name"):
            pairs.append((" ".join(label.get_text(" ").split()), target["name"]))
    return pairs


def fill_by_label(html: str, values: dict[str, str]) -> dict[str, str]:
    """Form data from label keywords, the way a person reads the form: each keyword takes the first
    unclaimed label that contains it (so "Organization" is claimed before the bare "Name")."""
    pairs = labelled_inputs(html)
    _, data = form_fields(html, "Sign")
    claimed: set[str] = set()
    for keyword, value in values.items():
        name = next(n for text, n in pairs if keyword.lower() in text.lower() and n not in claimed)
        claimed.add(name)
        data[name] = value
    return data


def test_a_signer_goes_from_the_form_to_the_public_list(new_client, make_letter, admin, smtp):
    make_letter()
    signer = new_client()
    page = signer.get(LETTER).get_data(as_text=True)
    data = fill_by_label(page, {
        "Organization": "Voces Unidas del Valle", "Name": "Marisol Reyes",
        "Email": "marisol@voces.example.org", "City": "Fresno", "State / Region": "CA",
        "Country": "United States", "listed publicly": "y", "authorized": "y",
    })

    answer = signer.post(LETTER, data=data)
    assert answer.status_code == 303
    check = signer.get(answer.headers["Location"])
    assert "Check your email" in check.get_data(as_text=True)
    assert "marisol@voces.example.org" in check.get_data(as_text=True)
    assert smtp.messages == []  # the request itself never talks to the mail server

    assert outbox.send_due() == 1
    smtp.wait(1)
    [mail] = smtp.messages
    assert smtp.envelopes[0][1] == ["marisol@voces.example.org"]
    assert mail.get_body(preferencelist=("html",)) is not None
    [link] = links(text_of(mail))
    assert link.startswith("http://localhost/")

    opened = signer.get(path_of(link))
    assert opened.status_code == 200
    assert "Confirm" in opened.get_data(as_text=True)
    assert db.session.scalar(select(Signature.status)) == "unconfirmed"  # opening confirms nothing

    confirmed = submit(signer, path_of(link), {}, "Confirm")
    assert "confirmed" in visible_text(confirmed.get_data(as_text=True)).lower()
    db.session.expire_all()
    assert db.session.scalar(select(Signature.status)) == "pending"
    assert "Voces Unidas del Valle" not in signer.get(f"{LETTER}/signers").get_data(as_text=True)

    moderation = admin.get("/admin/letters/stop-forwarding/signatures").get_data(as_text=True)
    assert "Voces Unidas del Valle" in moderation
    approve = BeautifulSoup(moderation, "html.parser").find(
        "button", string=re.compile(r"^\s*Approve\s*$")).find_parent("form")
    assert admin.post(approve["action"], data={"csrf_token": approve.find(
        attrs={"name": "csrf_token"})["value"]}).status_code == 303

    listed = signer.get(f"{LETTER}/signers").get_data(as_text=True)
    assert "Voces Unidas del Valle" in listed and "Fresno" in listed
    assert "Voces Unidas del Valle" in signer.get(f"{LETTER}/signers.csv").get_data(as_text=True)
    assert signer.get(f"{LETTER}/signers.json").get_json() == {
        "letter": "stop-forwarding", "title": "Stop Forwarding Fingerprints", "count": 1,
        "status": "open",  # added by #15 (the contract lets fields be added)
        "signatories": [{"organization": "Voces Unidas del Valle", "city": "Fresno",
                         "region": "CA", "country": "United States", "scope": "local",
                         "kind": "organization"}],
    }
    page = BeautifulSoup(signer.get(LETTER).get_data(as_text=True), "html.parser")
    assert page.find(class_="count").strong.get_text() == "1"


def test_two_people_in_two_browsers_are_listed_grouped_and_sorted(new_client, make_letter, admin,
                                                                   smtp):
    make_letter()
    people = [("the Zócalo Workers", "ana@zocalo.example.org", "local"),
              ("Alianza Nacional", "luis@alianza.example.net", "national")]
    browsers = [new_client() for _ in people]
    for browser, (org, email, scope) in zip(browsers, people, strict=True):
        assert sign(browser, organization=org, email=email, scope=scope).status_code == 303
    outbox.send_due()
    smtp.wait(2)
    for browser, (_, email, _) in zip(browsers, people, strict=True):
        submit(browser, path_of(confirm_link(smtp, email)), {}, "Confirm")
    page = admin.get("/admin/letters/stop-forwarding/signatures").get_data(as_text=True)
    action, values = form_fields(page, "Approve selected")
    ids = [str(i) for i in db.session.scalars(select(Signature.id))]
    admin.post(action, data={**values, "verb": "approve", "ids": ids})

    reader = new_client()
    html = BeautifulSoup(reader.get(f"{LETTER}/signers").get_data(as_text=True), "html.parser")
    assert [(s.h2.get_text(strip=True), [o.get_text(strip=True) for o in s.find_all(class_="org")])
            for s in html.find_all("section")] == [
        ("National organizations", ["Alianza Nacional"]),
        ("Local organizations", ["the Zócalo Workers"])]
    csv_text = reader.get(f"{LETTER}/signers.csv").get_data(as_text=True)
    assert csv_text.index("Alianza Nacional") < csv_text.index("the Zócalo Workers")
    data = reader.get(f"{LETTER}/signers.json").get_json()
    assert [s["organization"] for s in data["signatories"]] == ["Alianza Nacional",
                                                                "the Zócalo Workers"]
    assert "@" not in csv_text + json.dumps(data) + str(html)


def test_the_email_has_a_text_and_an_html_part_with_the_same_link(client, make_letter, smtp):
    make_letter()
    sign(client)
    outbox.send_due()
    smtp.wait(1)
    [mail] = smtp.messages
    html = mail.get_body(preferencelist=("html",)).get_content()
    [link] = links(text_of(mail))
    assert f'href="{link}"' in html


def test_opening_the_link_twice_still_confirms_nothing(client, make_letter, smtp):
    make_letter()
    sign(client)
    outbox.send_due()
    smtp.wait(1)
    link = path_of(confirm_link(smtp, VALID["email"]))
    client.get(link)
    client.get(link)
    assert db.session.scalar(select(Signature.status)) == "unconfirmed"


def test_a_letter_without_approval_lists_a_signature_once_confirmed(client, make_letter, smtp):
    make_letter(require_approval=False)
    sign(client)
    outbox.send_due()
    smtp.wait(1)
    submit(client, path_of(confirm_link(smtp, VALID["email"])), {}, "Confirm")
    assert "Sunrise Tenants Union" in client.get(f"{LETTER}/signers").get_data(as_text=True)


def test_confirming_records_the_letter_version_that_was_signed(client, make_letter):
    letter = make_letter()
    sign(client)
    signature = db.session.scalar(select(Signature))
    assert signature.version_id == letter.current_version.id


# ------------------------------------------------------------------ bad input


BAD_INPUT = [
    ("organization", {"organization": ""}),
    ("organization", {"organization": "   "}),
    ("organization", {"organization": "x" * 301}),
    ("contact_name", {"contact_name": ""}),
    ("contact_name", {"contact_name": "x" * 201}),
    ("contact_title", {"contact_title": "x" * 201}),
    ("email", {"email": ""}),
    ("email", {"email": "rosa at sunrise"}),
    ("email", {"email": "rosa@"}),
    ("email", {"email": "rosa@sunrise.example.org\r\nBcc: eve@example.net"}),
    ("email", {"email": "r" * 250 + "@example.org"}),
    ("phone", {"phone": "5" * 51}),
    ("website", {"website": "not a website"}),
    ("website", {"website": "javascript:alert(1)"}),
    ("website", {"website": "ftp://sunrise.example.org"}),
    ("website", {"website": "https://" + "a" * 300 + ".org"}),
    ("city", {"city": "x" * 121}),
    ("region", {"region": "x" * 121}),
    ("country", {"country": "Atlantis"}),
    ("scope", {"scope": "galactic"}),
    ("consent", {"consent": None}),
    ("authorized", {"authorized": None}),
]


@pytest.mark.parametrize(("field", "change"), BAD_INPUT,
                         ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD_INPUT)])
def test_bad_input_reshows_the_form_with_a_message_at_the_field(client, make_letter, field, change):
    make_letter()
    answer = sign(client, **change)
    assert answer.status_code == 422
    assert error_at(answer.get_data(as_text=True), field)


@pytest.mark.parametrize(("field", "change"), BAD_INPUT[:2] + BAD_INPUT[7:8] + BAD_INPUT[-2:],
                         ids=["organization-missing", "organization-blank", "email-invalid",
                              "consent", "authorized"])
def test_bad_input_stores_nothing_and_sends_nothing(client, make_letter, field, change):
    make_letter()
    sign(client, **change)
    assert signature_count() == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_a_rejected_form_keeps_what_was_typed(client, make_letter):
    make_letter()
    answer = sign(client, email="not an email", organization="Café <Solidaridad> & Co")
    _, values = form_fields(answer.get_data(as_text=True), "Sign")
    for name in ("organization", "contact_name", "contact_title", "phone", "website", "city",
                 "region", "country", "scope"):
        assert values[name] == {**VALID, "organization": "Café <Solidaridad> & Co"}[name], name
    assert values["email"] == "not an email"
    soup = BeautifulSoup(answer.get_data(as_text=True), "html.parser")
    assert soup.find(id="consent").has_attr("checked")
    assert soup.find(id="authorized").has_attr("checked")


def test_an_email_with_an_accented_local_part_is_refused_at_the_field(client, make_letter):
    make_letter()
    answer = sign(client, email="josé@example.org")
    assert answer.status_code == 422
    assert error_at(answer.get_data(as_text=True), "email")
    assert signature_count() == 0


@pytest.mark.parametrize(("email", "message"), [
    ("rosa at sunrise", "Invalid email address."),
    ("rosa@", "Invalid email address."),
    ("josé@example.org", "Internationalized characters before the @-sign are not supported"),
])
def test_a_refused_email_says_why_at_the_field(client, make_letter, email, message):
    make_letter()
    answer = sign(client, email=email)
    assert answer.status_code == 422
    assert message in error_at(answer.get_data(as_text=True), "email")


def test_an_email_is_checked_once_per_submission(client, make_letter, monkeypatch):
    make_letter()
    checked = []
    check = email_validator.validate_email

    def counted(address, *args, **kwargs):  # type: ignore[no-untyped-def]
        checked.append(address)
        return check(address, *args, **kwargs)

    for module in (email_validator, text, fields):
        monkeypatch.setattr(module, "validate_email", counted)
    assert sign(client, email="Rosa@Sunrise.example.org").status_code == 303
    assert checked == ["Rosa@Sunrise.example.org"]
    assert db.session.scalar(select(Signature.email)) == "rosa@sunrise.example.org"


def test_a_submission_without_a_csrf_token_is_refused_without_storing(client, make_letter):
    make_letter()
    answer = client.post(LETTER, data=VALID)
    assert answer.status_code == 400
    assert signature_count() == 0


def test_control_characters_and_line_breaks_are_removed_from_what_is_stored(client, make_letter):
    make_letter()
    sign(client, organization="Sunrise\r\nTenants\x00 Union\u202e", city="Tuc\u200bson")
    signature = db.session.scalar(select(Signature))
    assert signature.organization == "Sunrise Tenants Union"
    assert signature.city == "Tucson"


def test_a_website_without_its_scheme_is_taken_as_https(client, make_letter):
    make_letter()
    assert sign(client, website="sunrise.example.org/about").status_code == 303
    assert db.session.scalar(select(Signature.website)) == "https://sunrise.example.org/about"


def test_an_email_is_stored_in_lower_case(client, make_letter):
    make_letter()
    sign(client, email="Rosa@Sunrise.Example.ORG")
    assert db.session.scalar(select(Signature.email)) == "rosa@sunrise.example.org"


# ------------------------------------------------------------------ duplicates


def test_signing_twice_with_one_email_stores_one_signature(client, make_letter):
    make_letter()
    sign(client)
    sign(client, organization="Sunrise Tenants Union of Tucson", email="ROSA@sunrise.example.org")
    assert signature_count() == 1


def test_the_second_submission_gets_the_same_check_email_page(new_client, make_letter):
    make_letter()
    first = new_client()
    second = new_client()
    one = sign(first)
    two = sign(second)
    assert one.status_code == two.status_code == 303
    assert one.headers["Location"] == two.headers["Location"]
    assert visible_text(first.get(one.headers["Location"]).get_data(as_text=True)) == \
        visible_text(second.get(two.headers["Location"]).get_data(as_text=True))


def test_signing_again_unconfirmed_re_sends_the_link(client, make_letter, smtp):
    make_letter()
    sign(client)
    sign(client)
    outbox.send_due()
    smtp.wait(2)
    first, second = smtp.to(VALID["email"])
    assert "new link" in text_of(second)
    [link] = links(text_of(second))
    assert "Confirm" in client.get(path_of(link)).get_data(as_text=True)


def test_signing_again_after_confirming_says_already_signed(client, make_letter, smtp):
    make_letter()
    sign(client)
    outbox.send_due()
    smtp.wait(1)
    submit(client, path_of(confirm_link(smtp, VALID["email"])), {}, "Confirm")
    sign(client)
    outbox.send_due()
    smtp.wait(2)
    again = smtp.to(VALID["email"])[-1]
    assert "already signed" in again["Subject"].lower()
    assert "No second signature was made" in text_of(again)
    assert links(text_of(again)) == ["http://localhost/letters/stop-forwarding"]


def test_parallel_identical_submissions_store_one_signature(new_client, make_letter):
    make_letter()
    clients = [new_client() for _ in range(4)]
    forms = []
    for each in clients:
        action, values = form_fields(each.get(LETTER).get_data(as_text=True), "Sign")
        forms.append({**values, **VALID})
    start = threading.Barrier(len(clients))
    answers: list[int] = []

    def post(each, data):
        start.wait()
        answers.append(each.post(LETTER, data=data).status_code)

    threads = [threading.Thread(target=post, args=pair)
               for pair in zip(clients, forms, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert answers == [303] * 4
    db.session.expire_all()
    assert signature_count() == 1


def test_parallel_identical_submissions_each_queue_an_email(client, make_letter, app):
    letter_id = make_letter().id
    start = threading.Barrier(3)
    failures: list[BaseException] = []

    def sign_directly():
        with app.app_context():
            try:
                start.wait()
                letter = db.session.get(Letter, letter_id)
                with writing():
                    signing.sign(letter.slug, signing.submission(signing.SignerInput(
                        organization="Sunrise Tenants Union", email=VALID["email"])))
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=sign_directly) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert failures == []
    with reading():  # a snapshot taken now, after the threads' commits
        assert signature_count() == 1
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 3


# ------------------------------------------------------------------ letters that take no signatures


def test_a_draft_letter_cannot_be_seen_or_signed(client, make_letter):
    make_letter(status="draft")
    assert client.get(LETTER).status_code == 404
    _, values = form_fields(client.get("/login").get_data(as_text=True), "Log in")
    answer = client.post(LETTER, data={"csrf_token": values["csrf_token"], **VALID})
    assert answer.status_code == 404
    assert signature_count() == 0


@pytest.mark.parametrize("status", ["closed", "open-past-deadline"])
def test_a_letter_that_no_longer_takes_signatures_shows_no_form(client, make_letter, status):
    if status == "closed":
        make_letter(status="closed")
    else:
        make_letter(deadline=utcnow() - timedelta(minutes=1))
    page = client.get(LETTER)
    assert page.status_code == 200
    text = visible_text(page.get_data(as_text=True))
    assert "no longer takes signatures" in text
    soup = BeautifulSoup(page.get_data(as_text=True), "html.parser")
    assert soup.find("form", action=LETTER) is None


@pytest.mark.parametrize("change", ["closed", "deadline"])
def test_a_form_sent_after_the_letter_stopped_taking_signatures_is_refused(client, make_letter,
                                                                          change):
    letter = make_letter()
    _, values = form_fields(client.get(LETTER).get_data(as_text=True), "Sign")
    with writing():
        if change == "closed":
            letter.status = "closed"
        else:
            letter.deadline = utcnow() - timedelta(seconds=1)
    answer = client.post(LETTER, data={**values, **VALID})
    assert 400 <= answer.status_code < 500
    assert "no longer takes signatures" in visible_text(answer.get_data(as_text=True))
    assert signature_count() == 0


def test_a_form_sent_to_no_letter_gets_404_and_stores_nothing(client, make_letter):
    make_letter()
    _, values = form_fields(client.get(LETTER).get_data(as_text=True), "Sign")
    answer = client.post("/letters/no-such-letter", data={**values, **VALID})
    assert answer.status_code == 404
    assert signature_count() == 0


def test_a_letter_whose_deadline_is_ahead_takes_signatures(client, make_letter):
    make_letter(deadline=utcnow() + timedelta(minutes=5))
    assert sign(client).status_code == 303
    assert signature_count() == 1


@pytest.mark.parametrize("status", ["draft", "closed"])
def test_the_domain_refuses_to_sign_a_letter_that_is_not_open(app, make_letter, status):
    letter = make_letter(status=status)
    with pytest.raises(signing.LetterNotOpen), writing():
        signing.sign(letter.slug, signing.submission(
            signing.SignerInput(organization="Sunrise", email=VALID["email"])))


def test_confirming_after_the_letter_closed_gives_a_clear_page(client, make_letter, smtp):
    letter = make_letter()
    sign(client)
    outbox.send_due()
    smtp.wait(1)
    link = path_of(confirm_link(smtp, VALID["email"]))
    _, values = form_fields(client.get(link).get_data(as_text=True), "Confirm")
    with writing():
        letter.status = "closed"
    answer = client.post(link, data=values)
    assert answer.status_code == 409
    assert "closed" in visible_text(answer.get_data(as_text=True))
    db.session.expire_all()
    assert db.session.scalar(select(Signature.status)) == "unconfirmed"
