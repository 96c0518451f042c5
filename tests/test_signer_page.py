"""The signer's own page: the Manage link after confirming and in the receipt (a token kept
hashed, taken out of the sent email's row), correcting details, withdrawing in two steps (off
the list, its exports and the next PDF at once), after delivery the page of the delivered PDF
and a request the organizers carry out; unknown links. With a real SMTP server."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup
from support import SIGNER, do_render_jobs, form_fields, submit, text_of, with_smtp
from support_pdf import entry, in_listing_order, letter_in_memory, pdf_pages, pdf_text, rendered

from campaign import listing, outbox, signer_links, signing
from campaign.database import writing
from campaign.extensions import db
from campaign.models import AuditEntry, OutboxMessage, Signature, SignerLink
from campaign.pdf.pages import signatory_pages
from campaign.tokens import make_token

SLUG = "stop-forwarding"
LETTER = f"/letters/{SLUG}"


@pytest.fixture
def app_config(app_config, smtp):
    return with_smtp(app_config, smtp)


def links(text: str) -> list[str]:
    return re.findall(r"https?://[^\s<>\"]+", text)


def path_of(url: str) -> str:
    return url.removeprefix("http://localhost")


def visible(html: str) -> str:
    return " ".join(BeautifulSoup(html, "html.parser").get_text(" ").split())


def manage_links(html: str) -> list[str]:
    soup = BeautifulSoup(html, "html.parser")
    return [a["href"] for a in soup.find_all("a", href=True) if "Manage" in a.get_text()]


def own_link(signature: Signature) -> str:
    """A personal link of `signature`, made as confirming makes one."""
    with writing():
        return f"/signature/{signer_links.create(signature)}"


def public_names(client) -> tuple[str, list[str], str, int]:
    """The public list page, the JSON's names, the CSV and the JSON's count."""
    page = client.get(f"{LETTER}/signers").get_data(as_text=True)
    data = json.loads(client.get(f"{LETTER}/signers.json").get_data(as_text=True))
    sheet = client.get(f"{LETTER}/signers.csv").get_data(as_text=True)
    names = [row.get("organization") or row.get("name") for row in data["signatories"]]
    return page, names, sheet, data["count"]


def withdraw(client, page: str):
    """Press Withdraw on the signer's page, then the confirmation page's button."""
    first = submit(client, page, {}, "Withdraw")
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    assert "Withdraw your signature from “Stop Forwarding Fingerprints”?" in visible(html)
    action, values = form_fields(html, "Withdraw my signature")
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("a", string="Cancel")["href"] == page
    return client.post(action, data=values)


# ------------------------------------------------------------------ the link


def test_confirming_gives_a_manage_link_also_mailed_in_a_receipt_and_kept_only_hashed(
        client, make_letter, smtp):
    make_letter()
    assert submit(client, LETTER, SIGNER, "Sign").status_code == 303
    assert outbox.send_due() == 1
    smtp.wait(1)
    confirm = path_of(links(text_of(smtp.messages[0]))[0])
    answer = submit(client, confirm, {}, "Confirm")
    html = answer.get_data(as_text=True)
    assert answer.headers["Cache-Control"] == "no-store"
    [manage] = manage_links(html)
    token = manage.rsplit("/", 1)[1]
    assert len(token) >= 40

    assert outbox.send_due() == 1  # the receipt, after the confirmation
    smtp.wait(2)
    receipt = smtp.to(SIGNER["email"])[-1]
    assert "Your signature" in receipt["Subject"]
    assert f"http://localhost{manage}" in links(text_of(receipt))
    assert f"http://localhost{manage}" in receipt.get_body(("html",)).get_content()

    [link] = db.session.scalars(sa.select(SignerLink)).all()
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    sent = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "receipt")).one()
    assert sent.status == "sent"
    for kept in (sent.params, sent.subject, sent.body_text, sent.body_html):
        assert token not in kept
    assert json.loads(sent.params)["token"] == outbox.REMOVED
    assert outbox.REMOVED in sent.body_text  # the mail page shows where the link was

    own = client.get(manage)
    assert own.status_code == 200
    assert own.headers["Cache-Control"] == "no-store"
    page = visible(own.get_data(as_text=True))
    assert "Sunrise Tenants Union" in page and "Awaiting review" in page


def test_a_receipt_that_fails_keeps_no_link_but_goes_out_whole_when_tried_again(
        client, make_letter, make_signature, smtp):
    letter = make_letter()
    signature = make_signature(letter, "unconfirmed")
    with writing():
        token = signing.confirm(signature)
    smtp.refuse = True
    assert outbox.send_due() == 0
    failed = db.session.scalars(sa.select(OutboxMessage)).one()
    assert failed.status == "queued" and failed.body_text
    assert token not in failed.body_text and token not in failed.body_html
    smtp.refuse = False
    with writing():  # due again now
        db.session.execute(sa.update(OutboxMessage).values(due=failed.created_at))
    assert outbox.send_due() == 1
    smtp.wait(1)
    assert f"http://localhost/signature/{token}" in links(text_of(smtp.messages[0]))


def test_the_confirm_link_opened_again_shows_no_link_but_mails_one_on_request(
        client, new_client, make_letter, smtp):
    """The confirm link lasts and its email is kept (in the outbox too): opened again it shows
    no personal link and makes none (a GET, as a mail scanner's, writes nothing); its button
    mails a fresh one to the signature's own address, taken out of the outbox row once sent."""
    make_letter()
    submit(client, LETTER, SIGNER, "Sign")
    outbox.send_due()
    smtp.wait(1)
    confirm = path_of(links(text_of(smtp.messages[0]))[0])
    [first] = manage_links(submit(client, confirm, {}, "Confirm").get_data(as_text=True))
    outbox.send_due()
    smtp.wait(2)  # the receipt
    made = db.session.scalar(sa.select(sa.func.count()).select_from(SignerLink))
    other = new_client()  # whoever reads the email again, or its copy in the outbox
    for _ in range(3):
        again = other.get(confirm).get_data(as_text=True)
        assert "Already confirmed" in again and "is confirmed" in visible(again)
        assert manage_links(again) == [] and "/signature/" not in again
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SignerLink)) == made

    answer = submit(other, confirm, {"action": "send-link"}, "Email me the link")
    assert answer.status_code == 200
    shown = answer.get_data(as_text=True)
    assert "on its way" in visible(shown) and "/signature/" not in shown
    assert outbox.send_due() == 1
    smtp.wait(3)
    message = smtp.messages[2]
    assert message["To"] == SIGNER["email"]
    [second] = [path_of(url) for url in links(text_of(message)) if "/signature/" in url]
    assert second != first
    assert "Sunrise Tenants Union" in other.get(second).get_data(as_text=True)
    kept = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    assert kept.kind == "receipt" and second.rsplit("/", 1)[1] not in kept.body_text + kept.params


def test_the_confirm_link_of_a_withdrawn_signature_says_so(client, make_letter, make_signature):
    letter = make_letter()
    signature = make_signature(letter, "unconfirmed")
    confirm = f"/confirm/{make_token(signature)}"
    with writing():
        signing.confirm(signature)
        signature.status = "withdrawn"
    page = visible(client.get(confirm).get_data(as_text=True))
    assert "was withdrawn" in page and "is confirmed" not in page
    assert "Email me the link to my signature page" in page


def test_a_receipt_given_up_keeps_no_link_and_is_not_sent_again(
        app, admin, make_letter, make_signature, smtp):
    """A dead row stays for the Mail page: without the signer's link, and without a retry box
    (it would go with a link that no longer works)."""
    letter = make_letter()
    signature = make_signature(letter, "unconfirmed")
    with writing():
        token = signing.confirm(signature)
    app.config["MAIL_MAX_ATTEMPTS"] = 1
    smtp.refuse = True
    assert outbox.send_due() == 0
    dead = db.session.scalars(sa.select(OutboxMessage)).one()
    db.session.refresh(dead)
    assert dead.status == "dead"
    assert token not in dead.params + dead.body_text + dead.body_html
    assert json.loads(dead.params)["token"] == outbox.REMOVED
    page = admin.get("/admin/outbox").get_data(as_text=True)
    assert "cannot be sent again" in page and f'name="ids" value="{dead.id}"' not in page
    with writing():
        assert outbox.retry([dead.id]) == 0
    db.session.refresh(dead)
    assert dead.status == "dead"


def test_pages_with_a_token_in_their_address_send_no_referrer(client, make_letter,
                                                              make_signature):
    """Following the letter, its list or its PDF from a page whose address holds a secret tells
    no server (not even this one's access log) that address."""
    from campaign.tokens import unsubscribe_token

    letter = make_letter()
    page = own_link(make_signature(letter))
    unconfirmed = make_signature(letter, "unconfirmed", email="later@example.org")
    for url in (page, f"{page}/new-text", f"/unsubscribe/{unsubscribe_token(unconfirmed.id)}",
                f"/confirm/{make_token(unconfirmed)}"):
        answer = client.get(url)
        assert answer.status_code < 500, url
        assert answer.headers["Referrer-Policy"] == "no-referrer", url
    assert client.get(LETTER).headers["Referrer-Policy"] == "same-origin"


# ------------------------------------------------------------------ correcting


def test_a_new_name_sends_an_approved_signature_back_to_review(client, make_letter,
                                                               make_signature):
    letter = make_letter()
    signature = make_signature(letter, organization="Sunrise Tenants Union")
    page = own_link(signature)
    assert "Sunrise Tenants Union" in public_names(client)[1]

    answer = submit(client, page, {"organization": "Sunrise Tenants Union of Tucson"}, "Save")
    assert answer.status_code == 303
    shown = visible(client.get(answer.headers["Location"]).get_data(as_text=True))
    assert "The organizers review the new name or scope" in shown
    db.session.refresh(signature)
    assert (signature.status, signature.organization) == ("pending",
                                                          "Sunrise Tenants Union of Tucson")
    assert public_names(client)[1] == [] and listing.count(letter) == 0
    entry = db.session.scalars(sa.select(AuditEntry)).one()
    assert (entry.actor, entry.action) == ("signer", "signature.correct")
    assert json.loads(entry.detail)["after"]["status"] == "pending"


def test_new_contact_details_keep_it_listed_and_stay_out_of_the_audit(client, make_letter,
                                                                      make_signature):
    letter = make_letter()
    signature = make_signature(letter, organization="Sunrise Tenants Union")
    page = own_link(signature)
    answer = submit(client, page, {"contact_name": "Ana Ruiz", "phone": "+1 555 0142",
                                   "city": "Phoenix"}, "Save")
    assert answer.status_code == 303
    assert "Your changes are saved." in client.get(answer.headers["Location"]).get_data(
        as_text=True)
    db.session.refresh(signature)
    assert (signature.status, signature.contact_name, signature.phone, signature.city) == \
        ("approved", "Ana Ruiz", "+1 555 0142", "Phoenix")
    assert "Sunrise Tenants Union" in public_names(client)[1]
    entry = db.session.scalars(sa.select(AuditEntry)).one()
    assert "0142" not in entry.detail and "Ana Ruiz" not in entry.detail
    assert json.loads(entry.detail)["after"]["city"] == "Phoenix"


def test_an_individual_corrects_their_name_and_affiliation_and_keeps_the_rest(
        client, make_letter, make_signature):
    letter = make_letter(signers="both")
    signature = make_signature(letter, organization="Jane Roe", contact_name="Jane Roe",
                               scope="individual", affiliation="Hill College", phone="")
    page = own_link(signature)
    html = client.get(page).get_data(as_text=True)
    _, fields = form_fields(html, "Save")
    assert {"organization", "affiliation", "city"} <= set(fields)
    assert not {"scope", "phone", "website", "contact_name"} & set(fields)
    answer = submit(client, page, {"organization": "Jane Q. Roe",
                                   "affiliation": "Hill University"}, "Save")
    assert answer.status_code == 303
    db.session.refresh(signature)
    assert (signature.organization, signature.contact_name, signature.affiliation,
            signature.scope, signature.status) == ("Jane Q. Roe", "Jane Q. Roe",
                                                   "Hill University", "individual", "pending")


def test_a_bad_correction_is_refused_and_changes_nothing(client, make_letter, make_signature):
    letter = make_letter()
    signature = make_signature(letter, organization="Sunrise Tenants Union")
    page = own_link(signature)
    answer = submit(client, page, {"organization": "", "website": "not a site"}, "Save")
    assert answer.status_code == 422
    assert "Enter a web address" in answer.get_data(as_text=True)
    db.session.refresh(signature)
    assert (signature.status, signature.organization) == ("approved", "Sunrise Tenants Union")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0


# ------------------------------------------------------------------ withdrawing


def test_a_withdrawal_takes_two_steps_and_is_off_the_list_json_csv_and_count_at_once(
        client, make_letter, make_signature, admin):
    letter = make_letter()
    signature = make_signature(letter, organization="Changed Its Mind Collective")
    make_signature(letter, organization="Staying Put Alliance")
    page = own_link(signature)
    html, names, sheet, count = public_names(client)  # pages kept by this process from now
    assert "Changed Its Mind Collective" in html and "Changed Its Mind Collective" in sheet
    assert count == 2 and "Changed Its Mind Collective" in names

    first = submit(client, page, {}, "Withdraw")
    assert first.status_code == 200
    db.session.refresh(signature)
    assert signature.status == "approved"  # the first press only asks
    answer = withdraw(client, page)
    assert answer.status_code == 303
    shown = visible(client.get(answer.headers["Location"]).get_data(as_text=True))
    assert "Your signature is withdrawn" in shown
    assert "Withdraw my signature" not in shown and "Save changes" not in shown

    html, names, sheet, count = public_names(client)
    assert "Changed Its Mind Collective" not in html
    assert "Changed Its Mind Collective" not in sheet
    assert list(csv.DictReader(io.StringIO(sheet)))  # the other one is still there
    assert (names, count) == (["Staying Put Alliance"], 1)
    assert listing.count(letter) == 1
    db.session.refresh(signature)
    assert signature.status == "withdrawn" and signature.withdrawn_at is not None
    entry = db.session.scalars(sa.select(AuditEntry)).one()
    assert (entry.actor, entry.action) == ("signer", "signature.withdraw")

    organizers = admin.get(f"/admin/letters/{SLUG}/signatures?status=withdrawn")
    assert "Changed Its Mind Collective" in organizers.get_data(as_text=True)
    assert "Withdrawn (1)" in visible(organizers.get_data(as_text=True))


def test_a_correction_or_withdrawal_of_a_withdrawn_signature_is_answered_without_error(
        client, make_letter, make_signature):
    """Forms of the page as it was before the signature was withdrawn (another tab), sent
    after: a clear refusal or the page again, nothing changed."""
    letter = make_letter()
    signature = make_signature(letter, organization="Changed Its Mind Collective")
    page = own_link(signature)
    html = client.get(page).get_data(as_text=True)
    _, corrected = form_fields(html, "Save")
    first = submit(client, page, {}, "Withdraw")
    action, sure = form_fields(first.get_data(as_text=True), "Withdraw my signature")
    assert client.post(action, data=sure).status_code == 303
    db.session.refresh(signature)
    assert signature.status == "withdrawn"

    answer = client.post(page, data={**corrected, "organization": "A New Name"})
    assert answer.status_code == 409
    again = client.post(action, data=sure)
    assert again.status_code == 303 and again.headers["Location"].endswith(page)
    db.session.refresh(signature)
    assert (signature.status, signature.organization) == ("withdrawn",
                                                          "Changed Its Mind Collective")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 1


def test_the_next_pdf_leaves_a_withdrawn_signature_out(client, make_letter, make_signature):
    letter = make_letter()
    signature = make_signature(letter, organization="Changed Its Mind Collective")
    make_signature(letter, organization="Staying Put Alliance")
    do_render_jobs()
    assert "Changed Its Mind Collective" in pdf_text(client.get(f"{LETTER}.pdf").data)
    withdraw(client, own_link(signature))
    assert do_render_jobs() >= 1  # the withdrawal queued a render
    text = pdf_text(client.get(f"{LETTER}.pdf").data)
    assert "Staying Put Alliance" in text and "Changed Its Mind Collective" not in text


# ------------------------------------------------------------------ after delivery


def test_after_delivery_the_page_shows_where_it_is_listed_and_a_withdrawal_is_asked_for(
        client, make_letter, make_signature, admin):
    letter = make_letter(body="We, the undersigned, ask you to **stop**.\n\n" * 30)
    for n in range(40):
        make_signature(letter, organization=f"Neighbors Coalition {n:02d}")
    signature = make_signature(letter, organization="Zapata Workers Center")
    page = own_link(signature)
    assert submit(admin, f"/admin/letters/{SLUG}/deliver", {"confirm": "y", "notify": None},
                  "Close and deliver").status_code == 303
    assert do_render_jobs() >= 1
    delivered = client.get(f"{LETTER}.pdf").data
    where = [n + 1 for n, text in enumerate(pdf_pages(delivered))
             if "Zapata Workers Center" in text]
    assert len(where) == 1 and where[0] > 1

    shown = visible(client.get(page).get_data(as_text=True))
    assert f"Your organization is listed on page {where[0]} of the delivered letter" in shown
    assert hashlib.sha256(delivered).hexdigest() in shown.replace(" ", "")
    assert "Save changes" not in shown  # the delivered copy cannot change

    first = submit(client, page, {}, "Ask the organizers to withdraw")
    assert "Ask the organizers to withdraw your signature" in first.get_data(as_text=True)
    action, values = form_fields(first.get_data(as_text=True), "Ask the organizers")
    assert client.post(action, data=values).status_code == 303
    db.session.refresh(signature)
    assert signature.status == "approved" and signature.withdraw_requested_at is not None
    assert "Zapata Workers Center" in public_names(client)[1]  # until the organizers act
    assert "You asked the organizers to withdraw it" in visible(
        client.get(page).get_data(as_text=True))

    queue = admin.get(f"/admin/letters/{SLUG}/signatures?status=requested").get_data(
        as_text=True)
    assert "Zapata Workers Center" in queue
    action, values = form_fields(queue, "Withdraw, as asked")
    assert admin.post(action, data=values).status_code == 303
    db.session.refresh(signature)
    assert signature.status == "withdrawn"
    assert "Zapata Workers Center" not in public_names(client)[1]
    actions = db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-2:] == ["signature.withdraw_request", "signature.withdraw"]
    assert client.get(f"{LETTER}.pdf").data == delivered  # the delivered copy stays as it was


def test_each_signatory_is_found_on_its_own_page_not_in_the_text_or_a_longer_name(bare):
    letter = letter_in_memory(body="We stand with the Union.\n\n" * 12)
    rows = in_listing_order([entry(n, f"Coalition for Fair Housing {n:03d}") for n in range(60)]
                            + [entry(100, "Union"), entry(101, "Union of Farm Workers"),
                               entry(102, "Zebra \N{LATIN SMALL LIGATURE FI}eld Collective")])
    data = rendered(letter, rows)
    texts = [" ".join(text.split()) for text in pdf_pages(data)]
    assert len(texts) >= 2
    found = signatory_pages(data, rows)
    assert set(found) == {row.id for row in rows}
    for row in rows:
        assert row.shown_name.replace("\N{LATIN SMALL LIGATURE FI}", "fi").replace(" ", "") in \
            texts[found[row.id] - 1].replace("\N{LATIN SMALL LIGATURE FI}", "fi").replace(" ", "")
    assert found[100] > 1  # the list's "Union", not the letter's
    assert signatory_pages(b"not a pdf", rows) == {}


# ------------------------------------------------------------------ unknown links


@pytest.mark.parametrize("token", ["nope", "x" * 500, "%C3%A9t%C3%A9", "%00", "a" * 43])
def test_an_unknown_link_answers_a_friendly_404(client, make_letter, token):
    make_letter()
    answer = client.get(f"/signature/{token}")
    assert answer.status_code == 404
    assert "This link to a signer's page is not known" in visible(answer.get_data(as_text=True))
