"""Re-consent when a signed letter's text changes: the organizer says whether a new text is a
correction or a change; a change emails earlier signers the difference and a link to confirm
it; until they do, the list, its exports and the PDF show them apart. With a real SMTP server
and the PDF read by its extracted text."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select
from support import do_render_jobs, form_fields, submit, text_of, with_smtp
from support_pdf import one_line, pdf_text

from campaign import outbox, reconsent, signing
from campaign.database import reading, writing
from campaign.extensions import db
from campaign.models import AuditEntry, OutboxMessage, Signature

SLUG = "stop-forwarding"
EDIT = f"/admin/letters/{SLUG}/edit"
VERSIONS = f"/admin/letters/{SLUG}/versions"
SIGNERS = f"/letters/{SLUG}/signers"
BODY = "We, the undersigned, ask you to **stop**.\n"
EARLIER = "Signed an earlier version of this letter"


@pytest.fixture
def app_config(app_config, smtp):
    return with_smtp(app_config, smtp)


@pytest.fixture
def signed(make_letter, make_signature):
    """An open letter signed by two approved groups (one the organizers still review, one
    withdrawn, who are not asked)."""
    letter = make_letter()
    first = make_signature(letter, organization="Alpha Tenants Union", email="alpha@example.org")
    second = make_signature(letter, organization="Beta Food Bank", email="beta@example.org",
                            scope="national")
    make_signature(letter, "pending", organization="Gamma Choir", email="gamma@example.org")
    make_signature(letter, "withdrawn", organization="Delta Club", email="delta@example.org")
    return letter, first, second


def visible(html: str) -> str:
    return " ".join(BeautifulSoup(html, "html.parser").get_text(" ").split())


def save_text(admin, body: str, choice: str | None):
    """The edit form sent with a new body and the choice made (None: no radio button picked)."""
    action, values = form_fields(admin.get(EDIT).get_data(as_text=True), "Save letter")
    values.pop("text_change", None)  # radio buttons: only a picked one is sent
    values.update(body=body, submit="Save letter", require_approval="y")
    if choice is not None:
        values["text_change"] = choice
    return admin.post(action or EDIT, data=values)


def emails_of(kind: str) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


def link_in(message) -> str:
    [found] = re.findall(r"http://localhost/signature/[^\s<>\"]+/new-text", text_of(message))
    return found.removeprefix("http://localhost")


def section_of(html: str, name: str) -> str:
    """The heading of the list's section that holds `name`."""
    soup = BeautifulSoup(html, "html.parser")
    item = soup.find(string=re.compile(re.escape(name)))
    assert item is not None, name
    return item.find_parent("section").find("h2").get_text(" ", strip=True)


def rendered_pdf(client) -> str:
    do_render_jobs()
    response = client.get(f"/letters/{SLUG}.pdf")
    assert response.status_code == 200
    return one_line(pdf_text(response.data))


# ------------------------------------------------------------------ asking which it is


def test_a_new_text_of_a_signed_letter_needs_a_choice_and_keeps_what_was_typed(admin, signed):
    page = admin.get(EDIT).get_data(as_text=True)
    assert "A correction: typos or formatting" in page and "A change: signers are emailed" in page
    response = save_text(admin, "We ask you to **stop** at once.\n", None)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "say whether the new text is a correction or a change" in html
    assert "We ask you to **stop** at once." in html  # nothing typed is lost
    with reading():
        db.session.refresh(signed[0])
        assert len(signed[0].versions) == 1
        assert emails_of("reconsent") == []


def test_a_letter_nobody_signed_is_saved_without_the_question(admin, make_letter):
    make_letter()
    assert "A correction: typos" not in admin.get(EDIT).get_data(as_text=True)
    response = save_text(admin, "Another text.\n", None)
    assert response.status_code == 303


def test_an_unchanged_text_needs_no_choice(admin, signed):
    response = save_text(admin, BODY, None)
    assert response.status_code == 303
    assert emails_of("reconsent") == []


# ------------------------------------------------------------------ a correction


def test_a_correction_asks_nobody_and_leaves_the_list_as_it_was(admin, client, signed, smtp):
    before = visible(client.get(SIGNERS).get_data(as_text=True))
    response = save_text(admin, "We, the undersigned, ask you to **stop**!\n", "correction")
    assert response.status_code == 303
    admin.get(EDIT)  # shows the flash message
    outbox.send_due()
    assert smtp.messages == []
    assert visible(client.get(SIGNERS).get_data(as_text=True)) == before
    assert EARLIER not in before
    letter = signed[0]
    with reading():
        db.session.refresh(letter)
        assert [v.kind for v in letter.versions] == ["original", "correction"]
        entry = db.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "letter.version")).one()
        detail = json.loads(entry.detail)
        assert detail["after"]["kind"] == "correction"
        assert detail["before"]["content_hash"] != detail["after"]["content_hash"]
    assert EARLIER not in rendered_pdf(client)


# ------------------------------------------------------------------ a change


def test_a_change_emails_earlier_signers_the_difference_and_a_link(admin, signed, smtp):
    response = save_text(admin, "We, the undersigned, ask you to **stop** forwarding now.\n",
                         "change")
    assert response.status_code == 303
    assert "3 signer(s) are asked" in visible(admin.get(EDIT).get_data(as_text=True))
    outbox.send_due()
    recipients = sorted(r for _, rcpts in smtp.envelopes for r in rcpts)
    # the approved and the pending signers; not the withdrawn one
    assert recipients == ["alpha@example.org", "beta@example.org", "gamma@example.org"]
    text = text_of(smtp.to("alpha@example.org")[0])
    assert "We, the undersigned, ask you to [-**stop**.-]{+**stop** forwarding now.+}" in text
    assert "/new-text" in text
    html = smtp.to("alpha@example.org")[0].get_body(("html",)).get_content()
    assert "<ins" in html and "forwarding" in html
    with reading():
        asked = db.session.scalars(select(Signature.reconsent_asked_at).where(
            Signature.email.in_(["alpha@example.org", "beta@example.org"]))).all()
        assert all(asked)
        # the link's token is not kept readable once sent
        token = link_in(smtp.to("alpha@example.org")[0]).split("/")[2]
        assert all(token not in (m.params or "") + m.body_text for m in emails_of("reconsent"))


def test_until_they_confirm_earlier_signers_are_listed_apart_then_not(
        admin, client, signed, smtp):
    save_text(admin, "We ask you to stop forwarding fingerprints.\n", "change")
    outbox.send_due()
    page = client.get(SIGNERS).get_data(as_text=True)
    assert section_of(page, "Alpha Tenants Union") == f"{EARLIER}: Local organizations"
    assert section_of(page, "Beta Food Bank") == f"{EARLIER}: National organizations"
    assert "have not yet confirmed the current text" in page
    # true of each of them: some confirmed after the change, or have no address, and were not
    # emailed it
    assert "They are being asked to confirm the new text" in page and "emailed" not in page
    text = rendered_pdf(client)
    assert f"{EARLIER}: National organizations Beta Food Bank" in text
    assert f"{EARLIER}: Local organizations Alpha Tenants Union" in text

    link = link_in(smtp.to("alpha@example.org")[0])
    shown = admin.get(link)  # the organizer's client: anyone's browser; a GET confirms nothing
    assert shown.status_code == 200
    assert shown.headers["Cache-Control"] == "no-store"
    assert "Confirm the new text" in shown.get_data(as_text=True)
    assert "<ins>" in shown.get_data(as_text=True)
    assert section_of(client.get(SIGNERS).get_data(as_text=True),
                      "Alpha Tenants Union") == f"{EARLIER}: Local organizations"

    action, values = form_fields(shown.get_data(as_text=True), "Confirm the new text")
    done = client.post(action, data=values)
    assert done.status_code == 303
    after = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "your signature now stands under the current text" in after
    page = client.get(SIGNERS).get_data(as_text=True)
    assert section_of(page, "Alpha Tenants Union") == "Local organizations"
    assert section_of(page, "Beta Food Bank") == f"{EARLIER}: National organizations"
    text = rendered_pdf(client)
    assert "Local organizations Alpha Tenants Union" in text
    assert f"{EARLIER}: Local organizations" not in text
    assert f"{EARLIER}: National organizations Beta Food Bank" in text
    with reading():
        entry = db.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "signature.reconfirm")).one()
        assert entry.actor == "signer" and entry.subject == "Alpha Tenants Union"
    again = client.post(action, data=values)  # a second press changes nothing
    assert again.status_code == 303
    with reading():
        assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "signature.reconfirm")) == 1


def test_exports_say_which_text_each_agreed_to(admin, client, signed):
    plain = client.get(f"{SIGNERS}.json").get_json()
    assert all("current_text" not in row for row in plain["signatories"])
    assert "current_text" not in client.get(f"{SIGNERS}.csv").get_data(as_text=True)
    save_text(admin, "A changed text.\n", "change")
    rows = {row["organization"]: row
            for row in client.get(f"{SIGNERS}.json").get_json()["signatories"]}
    assert rows["Alpha Tenants Union"]["version"] == 1
    assert rows["Alpha Tenants Union"]["current_text"] is False
    table = list(csv.DictReader(io.StringIO(client.get(f"{SIGNERS}.csv").get_data(as_text=True))))
    assert {row["organization"]: row["current_text"] for row in table} == \
        {"Alpha Tenants Union": "no", "Beta Food Bank": "no"}


def test_a_bad_link_answers_404_and_a_post_without_its_token_confirms_nothing(
        admin, client, signed, smtp):
    assert client.get("/signature/not-a-token/new-text").status_code == 404
    save_text(admin, "A changed text.\n", "change")
    outbox.send_due()
    link = link_in(smtp.to("beta@example.org")[0])
    assert client.post(link, data={}).status_code == 400
    with reading():
        assert not reconsent.has_agreed(db.session.get(Signature, signed[2].id))


# ------------------------------------------------------------------ organizers


def test_versions_page_shows_kinds_an_escaped_difference_and_who_has_not_reconfirmed(
        admin, signed):
    save_text(admin, "We ask you to <script>alert(1)</script> stop.\n", "change")
    page = admin.get(VERSIONS).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    soup = BeautifulSoup(page, "html.parser")
    assert any("<script>" in ins.get_text() for ins in soup.find_all("ins"))
    assert "Version 2 (change)" in visible(page) and "Version 1 (original)" in visible(page)
    assert "Not yet reconfirmed: 3" in visible(page)
    for name in ("Alpha Tenants Union", "Beta Food Bank", "Gamma Choir"):
        assert name in page
    assert "Delta Club" not in page


def test_remind_emails_each_at_most_once(admin, signed, make_signature, smtp):
    late = make_signature(signed[0], "unconfirmed", organization="Epsilon Press",
                          email="epsilon@example.org")
    save_text(admin, "A changed text.\n", "change")
    with writing():  # confirmed after the change was sent: never asked
        signing.confirm(db.session.get(Signature, late.id))
    outbox.send_due()
    with reading():
        assert "epsilon@example.org" not in [m.recipient for m in emails_of("reconsent")]
    smtp.messages.clear()
    smtp.envelopes.clear()
    response = submit(admin, VERSIONS, {}, "Remind them")
    assert response.status_code == 303
    assert "Reminded 4 signer(s)" in admin.get(VERSIONS).get_data(as_text=True)
    outbox.send_due()
    assert len(smtp.messages) == 4
    assert all(m["Subject"].startswith("Reminder:") for m in smtp.messages)
    assert "{+A changed text.+}" in text_of(smtp.to("epsilon@example.org")[0])
    with reading():
        asked = db.session.get(Signature, late.id)
        assert asked.reconsent_asked_at == asked.reminded_at
        assert asked.reminded_at.utcoffset() is not None
    submit(admin, VERSIONS, {}, "Remind them")
    assert "Nobody to remind" in admin.get(VERSIONS).get_data(as_text=True)
    outbox.send_due()
    assert len(smtp.messages) == 4
    with reading():
        assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "reconsent.remind")) == 1


# ------------------------------------------------------------------ the command line


def test_import_letter_is_a_correction_without_reconsent_and_a_change_with_it(
        runner, signed, tmp_path):
    path = tmp_path / "letter.md"
    path.write_text(f"---\ntitle: Stop Forwarding Fingerprints\nslug: {SLUG}\nstatus: open\n"
                    "recipient: |\n  The Director\n  Washington, DC\n---\nA corrected text.\n")
    result = runner.invoke(args=["import-letter", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == SLUG
    path.write_text(path.read_text().replace("A corrected text.", "A changed text."))
    result = runner.invoke(args=["import-letter", str(path), "--reconsent"])
    assert result.exit_code == 0, result.output
    letter = signed[0]
    with reading():
        db.session.refresh(letter)
        assert [v.kind for v in letter.versions] == ["original", "correction", "change"]
        assert len(emails_of("reconsent")) == 3


# ------------------------------------------------------------------ the pieces


def test_the_difference_shows_removed_and_added_words_of_changed_paragraphs_only():
    from campaign import differences

    hunks = differences.difference("Same.\n\nWe ask you to stop.\n",
                                   "Same.\n\nWe urge you to stop.\n")
    assert differences.as_text(hunks) == "We [-ask-]{+urge+} you to stop."


def test_the_difference_compares_lines_then_words_and_shows_a_long_block_whole():
    """A changed row of a table shows that row's changed words, its other rows the same; a pair
    too long to compare word by word (or made of one word repeated, difflib's worst case) is
    shown removed and added whole, at once."""
    from campaign import differences

    rows = [f"| {n} | group {n} | city {n} |" for n in range(150)]
    changed = [*rows[:70], "| 70 | band 70 | city 70 |", *rows[71:]]
    [hunk] = differences.difference("Intro.\n\n" + "\n".join(rows),
                                    "Intro.\n\n" + "\n".join(changed))
    assert [(p.change, p.text) for p in hunk if p.change != "same"] == [
        ("removed", "group"), ("added", "band")]
    assert hunk[0].text.startswith("| 0 | group 0 |") and hunk[-1].text.endswith("city 149 |")

    old, new = "x " * 4900, "x y " * 2450
    assert [(p.change, p.text) for p in differences.difference(old, new)[0]] == [
        ("removed", old.strip()), ("added", new.strip())]
    many = "\n".join(["x"] * 2500)
    assert [p.change for p in differences.difference(many, many.replace("x", "y", 1000))[0]] \
        == ["removed", "added"]


def test_a_change_is_compared_once_for_all_its_emails_and_pages(admin, client, signed, smtp):
    from campaign import differences, signer_links

    differences._compared.cache_clear()
    save_text(admin, "We, the undersigned, ask you to **stop** forwarding now.\n", "change")
    assert outbox.send_due() == 3
    with writing():
        token = signer_links.create(db.session.get(Signature, signed[1].id))
    for _ in range(3):
        assert "<ins>" in client.get(f"/signature/{token}/new-text").get_data(as_text=True)
    computed = differences._compared.cache_info()
    assert computed.misses == 1 and computed.hits >= 5


def test_a_rejected_signer_is_not_asked_to_reconfirm(admin, signed, make_signature, smtp):
    make_signature(signed[0], "rejected", organization="Epsilon Press",
                   email="epsilon@example.org")
    save_text(admin, "A changed text.\n", "change")
    outbox.send_due()
    recipients = sorted(r for _, rcpts in smtp.envelopes for r in rcpts)
    assert recipients == ["alpha@example.org", "beta@example.org", "gamma@example.org"]
    smtp.messages.clear()
    smtp.envelopes.clear()
    submit(admin, VERSIONS, {}, "Remind them")
    outbox.send_due()
    assert "epsilon@example.org" not in [r for _, rcpts in smtp.envelopes for r in rcpts]


def test_who_withdrew_or_agreed_after_being_asked_is_not_emailed(admin, client, signed, smtp):
    """The emails are written when the worker sends them: by then Alpha withdrew and Beta
    confirmed the new text on their own page. Neither is emailed; neither message is shown to
    the organizers as not delivered."""
    from campaign import signer_changes, signer_links

    save_text(admin, "A changed text.\n", "change")
    with writing():
        signer_changes.withdraw(db.session.get(Signature, signed[1].id))
        token = signer_links.create(db.session.get(Signature, signed[2].id))
    action, values = form_fields(client.get(f"/signature/{token}/new-text").get_data(as_text=True),
                                 "Confirm the new text")
    assert client.post(action, data=values).status_code == 303
    outbox.send_due()
    assert [r for _, rcpts in smtp.envelopes for r in rcpts] == ["gamma@example.org"]
    with reading():
        skipped = {m.recipient: m for m in emails_of("reconsent") if m.sent_at is None}
        assert sorted(skipped) == ["alpha@example.org", "beta@example.org"]
        assert all(m.status == "sent" and m.last_error.startswith("skipped: ")
                   and not m.body_text and json.loads(m.params)["token"] == outbox.REMOVED
                   for m in skipped.values())
        assert outbox.dead_messages() == []
    assert "Every message so far was delivered" in admin.get("/admin/outbox").get_data(
        as_text=True)


def test_a_letter_never_changed_lists_as_before(client, signed):
    page = client.get(SIGNERS).get_data(as_text=True)
    assert EARLIER not in page
    assert section_of(page, "Alpha Tenants Union") == "Local organizations"


def test_a_long_list_in_parts_sets_earlier_signers_under_their_heading_as_planned(bare):
    """Past PARTS_FROM the list is set in parts laid out ahead; the earlier signers' longer
    headings still fit the line that plan gives a heading."""
    from support_pdf import entry, letter_in_memory, rendered, warnings_logged

    from campaign.pdf.html import PARTS_FROM

    current = [entry(n, f"Current Group {n:03d}") for n in range(1, PARTS_FROM)]
    earlier = [entry(1000 + n, f"Earlier Group {n:03d}", scope=scope)._replace(
                   signed_version=1, earlier=True)
               for n, scope in enumerate(["national"] * 60 + ["individual"] * 60)]
    with warnings_logged("campaign.pdf.assemble") as warned:
        text = one_line(pdf_text(rendered(letter_in_memory(), current + earlier)))
    assert warned == []  # every part came out as planned
    assert f"{EARLIER}: National organizations Earlier Group 000" in text
    assert (f"{EARLIER}: Individuals (*affiliations for identification only) "
            "Earlier Group 060") in text
    assert text.index("Current Group 399") < text.index(EARLIER)


def test_the_signers_own_page_links_to_the_new_text_until_they_confirm(admin, client, signed):
    from campaign import signer_links

    with writing():
        token = signer_links.create(db.session.get(Signature, signed[1].id))
    own = f"/signature/{token}"
    assert "The letter's text has changed" not in client.get(own).get_data(as_text=True)
    save_text(admin, "A changed text.\n", "change")
    page = client.get(own).get_data(as_text=True)
    assert "The letter's text has changed" in page
    assert f'href="{own}/new-text"' in page
    action, values = form_fields(client.get(f"{own}/new-text").get_data(as_text=True),
                                 "Confirm the new text")
    assert client.post(action, data=values).status_code == 303
    assert "The letter's text has changed" not in client.get(own).get_data(as_text=True)
