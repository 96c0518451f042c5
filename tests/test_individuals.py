"""Individuals can sign (issue #13): a letter's `signers`, the form for individuals at
?as=individual, signing and confirming as a person with a real SMTP server, and an individual in
every output (the public list, JSON, CSV, PDF, the contacts CSV, the counts, moderation)."""
from __future__ import annotations

import csv
import io
import re

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select
from support import SIGNER, assert_one_line_error, form_fields, submit, text_of, with_smtp
from support_pdf import (
    entry,
    in_listing_order,
    letter_in_memory,
    one_line,
    pdf_text,
    render_with,
    warnings_logged,
)

from campaign import count_check, listing, outbox, spreadsheets
from campaign.database import writing
from campaign.extensions import db
from campaign.models import AuditEntry, Letter, Signature
from campaign.pdf import MemoryStore, html, sheets

LETTER = "/letters/stop-forwarding"
PERSON = {"name": "Rosa Sample", "title": "Professor of Law", "affiliation": "Sample College",
          "email": "rosa@example.net", "city": "Tucson", "region": "AZ",
          "country": "United States", "consent": "y", "leave_empty": ""}


@pytest.fixture
def app_config(app_config, smtp):
    return with_smtp(app_config, smtp)


def sign_form(html: str):
    """The form whose submit button says "Sign"."""
    soup = BeautifulSoup(html, "html.parser")
    return soup.find("input", attrs={"type": "submit", "value": re.compile("Sign")}) \
        .find_parent("form")


def labels(html: str) -> list[str]:
    """The labels of the sign form's fields, in page order."""
    return [" ".join(label.get_text(" ").split()) for label in sign_form(html).find_all("label")]


def sign_as_person(client, **changes):
    data = {**PERSON, **changes}
    return submit(client, f"{LETTER}?as=individual", data, "Sign")


def confirm_by_email(client, smtp, address: str) -> None:
    outbox.send_due()
    smtp.wait(1)
    [link] = re.findall(r"https?://[^\s<>\"]+", text_of(smtp.to(address)[-1]))
    path = link.removeprefix("http://localhost")
    page = client.get(path).get_data(as_text=True)
    assert "as an individual" in page and "Sample College" in page
    confirmed = submit(client, path, {}, "Confirm")
    assert confirmed.status_code == 200


def approve_all(admin, letter: Letter) -> str:
    """Approves every pending signature from the moderation page; returns the page as it was."""
    page = admin.get(f"/admin/letters/{letter.slug}/signatures").get_data(as_text=True)
    action, values = form_fields(page, "Approve selected")
    ids = [str(i) for i in db.session.scalars(select(Signature.id))]
    assert admin.post(action, data={**values, "verb": "approve", "ids": ids}).status_code == 303
    return page


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# ------------------------------------------------------------------ the forms


def test_the_individual_form_has_its_labels_and_a_way_back(client, make_letter):
    make_letter(signers="both")
    html = client.get(f"{LETTER}?as=individual").get_data(as_text=True)
    shown = " ".join(labels(html))
    for word in ("Name", "Title", "Affiliation", "Email", "City", "State", "Country"):
        assert word.lower() in shown.lower(), word
    assert "Organization name" not in shown
    soup = BeautifulSoup(html, "html.parser")
    back = soup.find("a", string=re.compile("Signing for an organization"))
    assert back["href"] == LETTER
    assert sign_form(html)["action"] == f"{LETTER}?as=individual"


def test_a_letter_for_both_shows_the_organization_form_and_links_to_the_other(client,
                                                                                make_letter):
    make_letter(signers="both")
    html = client.get(LETTER).get_data(as_text=True)
    assert "Organization name" in " ".join(labels(html))
    link = BeautifulSoup(html, "html.parser").find(
        "a", string=re.compile("Signing as an individual"))
    assert link["href"] == f"{LETTER}?as=individual"


def test_a_letter_for_individuals_shows_their_form_at_its_address(client, make_letter):
    make_letter(signers="individuals")
    html = client.get(LETTER).get_data(as_text=True)
    assert "Affiliation (optional)" in " ".join(labels(html))
    assert "Signing as an individual" not in html and "Signing for an organization" not in html


def test_as_individual_on_a_letter_for_organizations_shows_the_organization_form(client,
                                                                                  make_letter):
    make_letter()
    response = client.get(f"{LETTER}?as=individual")
    assert response.status_code == 200
    shown = " ".join(labels(response.get_data(as_text=True)))
    assert "Organization name" in shown and "Affiliation" not in shown
    # the page kept for ?as=individual is not the one served at the plain address, nor back
    assert "Affiliation" not in " ".join(labels(client.get(LETTER).get_data(as_text=True)))


def test_the_kept_page_follows_the_form_asked_for(client, make_letter):
    make_letter(signers="both")
    for _ in range(2):  # the second round is served from the page cache
        assert "Affiliation" in " ".join(labels(
            client.get(f"{LETTER}?as=individual").get_data(as_text=True)))
        assert "Affiliation" not in " ".join(labels(client.get(LETTER).get_data(as_text=True)))


def test_bad_input_re_shows_the_individual_form_with_its_messages(client, make_letter):
    make_letter(signers="both")
    response = sign_as_person(client, name="", email="not an address", consent=None)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Affiliation" in " ".join(labels(html))
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find(id="name").find_parent(class_="field").find(class_="error")
    assert soup.find(id="email").find_parent(class_="field").find(class_="error")
    assert soup.find(id="affiliation")["value"] == "Sample College"  # nothing typed is lost
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 0


def test_the_organization_form_refuses_the_individual_scope(client, make_letter):
    make_letter(signers="both")
    response = submit(client, LETTER, {**SIGNER, "scope": "individual"}, "Sign")
    assert response.status_code == 422
    assert "Not a valid choice" in response.get_data(as_text=True)
    options = BeautifulSoup(client.get(LETTER).get_data(as_text=True), "html.parser").find(
        id="scope").find_all("option")
    assert "individual" not in [o["value"] for o in options]
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 0


def test_a_letter_for_organizations_refuses_an_individual_posted_anyway(client, make_letter,
                                                                        smtp):
    make_letter(signers="both")
    page = client.get(f"{LETTER}?as=individual").get_data(as_text=True)
    action, values = form_fields(page, "Sign")
    with writing():  # the organizers change their mind while the form is open
        db.session.scalar(select(Letter)).signers = "organizations"
    response = client.post(action, data={**values, **PERSON})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "signed by organizations only" in html
    assert "Organization name" in " ".join(labels(html))
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 0


# ------------------------------------------------------------------ the whole path


def test_an_individual_signs_confirms_and_is_listed_after_the_organizations(
        client, admin, make_letter, make_signature, smtp, runner, tmp_path):
    letter = make_letter(signers="both")
    # an organization's contact's title is private (the letter's recipient says "Director")
    make_signature(letter, organization="Zeta Tenants Union", scope="national",
                   contact_title="Chief Steward")
    make_signature(letter, organization="Alpha Workers Center", scope="local",
                   contact_title="Chief Steward")
    assert sign_as_person(client).status_code == 303
    confirm_by_email(client, smtp, PERSON["email"])
    mail = text_of(smtp.to(PERSON["email"])[0])
    assert "as an individual" in mail

    page = approve_all(admin, letter)
    card = BeautifulSoup(page, "html.parser").find(
        class_="shown-name", string="Rosa Sample").find_parent("tr")
    assert "an individual" in card.get_text(" ") and "Sample College" in card.get_text(" ")

    soup = BeautifulSoup(client.get(f"{LETTER}/signers").get_data(as_text=True), "html.parser")
    assert [s.h2.get_text(strip=True) for s in soup.find_all("section")] == [
        "National organizations", "Local organizations",
        "Individuals (*affiliations for identification only)"]
    last = soup.find_all("section")[-1]
    assert last.find(class_="org").get_text() == "Rosa Sample"
    assert last.find(class_="identification").get_text() == "Professor of Law, Sample College*"
    assert " ".join(soup.find(class_="count").get_text().split()) == \
        "2 organizations and 1 individual"
    assert "Chief Steward" not in soup.get_text()

    data = client.get(f"{LETTER}/signers.json").get_json()
    assert data["count"] == 3
    assert [s["kind"] for s in data["signatories"]] == ["organization", "organization",
                                                         "individual"]
    person = data["signatories"][-1]
    assert {k: person[k] for k in ("name", "title", "affiliation", "city", "region",
                                   "country")} == {
        "name": "Rosa Sample", "title": "Professor of Law", "affiliation": "Sample College",
        "city": "Tucson", "region": "AZ", "country": "United States"}
    assert all("affiliation" not in s and "title" not in s for s in data["signatories"][:2])

    rows = read_csv(client.get(f"{LETTER}/signers.csv").get_data(as_text=True))
    assert [(r["organization"], r["kind"], r["affiliation"]) for r in rows] == [
        ("Zeta Tenants Union", "organization", ""), ("Alpha Workers Center", "organization", ""),
        ("Rosa Sample", "individual", "Sample College")]
    assert [r["title"] for r in rows] == ["", "", "Professor of Law"]
    public = client.get(f"{LETTER}/signers.csv").get_data(as_text=True) + str(data)
    assert "@" not in public and "Chief Steward" not in public

    contacts = read_csv(admin.get(f"/admin/letters/{letter.slug}/signatures.csv")
                        .get_data(as_text=True))
    assert (contacts[-1]["contact_name"], contacts[-1]["contact_title"], contacts[-1]["email"],
            contacts[-1]["affiliation"], contacts[-1]["kind"]) == (
        "Rosa Sample", "Professor of Law", "rosa@example.net", "Sample College", "individual")
    out = tmp_path / "private.csv"
    assert runner.invoke(args=["export-csv", letter.slug, "-o", str(out), "--private"]) \
        .exit_code == 0
    assert read_csv(out.read_text())[-1]["affiliation"] == "Sample College"

    pdf = tmp_path / "letter.pdf"
    result = runner.invoke(args=["export-pdf", letter.slug, "-o", str(pdf)])
    assert result.exit_code == 0, result.output
    text = one_line(pdf_text(pdf.read_bytes()))
    assert "Signed by 2 organizations and 1 individual" in text
    assert text.index("Alpha Workers Center") < text.index(
        "Individuals (*affiliations for identification only)") < text.index("Rosa Sample")
    assert "Professor of Law, Sample College*" in text
    assert "Chief Steward" not in text


def test_the_counts_say_organizations_and_individuals(client, make_letter, make_signature):
    letter = make_letter(signers="both")
    html = client.get(LETTER).get_data(as_text=True)
    count = BeautifulSoup(html, "html.parser").find(class_="count")
    assert " ".join(count.get_text().split()).startswith(
        "0 organizations and 0 individuals have signed")
    make_signature(letter, organization="Alpha Workers Center")
    make_signature(letter, organization="Rosa Sample", scope="individual",
                   affiliation="Sample College")
    make_signature(letter, organization="Luis Sample", scope="individual")
    count = BeautifulSoup(client.get(LETTER).get_data(as_text=True), "html.parser").find(
        class_="count")
    assert " ".join(count.get_text().split()).startswith(
        "1 organization and 2 individuals have signed")
    assert [s.get_text() for s in count.find_all("strong")] == ["1", "2"]
    state = listing.state(letter)  # the kept counts, checked against a fresh count
    assert (state.organizations, state.individuals) == (1, 2)
    assert count_check.fresh_counts(letter.id)[(letter.id, "individual")] == 2


def test_a_letter_for_individuals_counts_only_individuals(client, make_letter, make_signature):
    letter = make_letter(signers="individuals")
    make_signature(letter, organization="Rosa Sample", scope="individual")
    count = BeautifulSoup(client.get(LETTER).get_data(as_text=True), "html.parser").find(
        class_="count")
    assert " ".join(count.get_text().split()).startswith("1 individual has signed")


def test_an_individual_signs_a_letter_for_individuals_only(client, make_letter, smtp):
    make_letter(signers="individuals")
    assert submit(client, LETTER, PERSON, "Sign").status_code == 303
    signature = db.session.scalar(select(Signature))
    assert (signature.scope, signature.organization, signature.contact_name,
            signature.contact_title, signature.affiliation) == (
        "individual", "Rosa Sample", "Rosa Sample", "Professor of Law", "Sample College")
    # an organization cannot sign it, even by posting its form
    page = client.get(LETTER).get_data(as_text=True)
    _, values = form_fields(page, "Sign")
    response = client.post(LETTER, data={**values, **SIGNER, "email": "org@example.org"})
    assert response.status_code == 422
    assert "signed by individuals only" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 1


def test_a_second_signature_with_the_same_email_signs_nothing_new(client, make_letter, smtp):
    make_letter(signers="both")
    assert sign_as_person(client).status_code == 303
    assert sign_as_person(client, name="Someone Else").status_code == 303
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 1


def test_the_pdf_sets_an_individual_with_their_identification(app):
    person = entry(1, "Rosa Sample", scope="individual")._replace(
        title="Professor", affiliation="Sample College", contact_name="Rosa Sample")
    shown = sheets.shown(person, show_contacts=True)
    assert shown.name == ("Rosa Sample",)
    assert shown.rest == ("Professor, Sample College*", "Tucson, AZ")  # no contact: it is her
    assert entry(2, "Alpha Workers Center").identification == ""


def test_a_long_list_set_in_parts_lists_individuals_last_with_their_note(bare_app,
                                                                          monkeypatch):
    monkeypatch.setattr(html, "PARTS_FROM", 10)
    monkeypatch.setattr(sheets, "PART_ENTRIES", 6)
    monkeypatch.setattr(sheets, "PART_LEAST", 3)
    monkeypatch.setattr(sheets, "PART_MOST", 12)
    letter = letter_in_memory()
    letter.signers = "both"
    rows = in_listing_order(
        [entry(n, f"Alliance {n:02d}") for n in range(1, 9)]
        + [entry(n, f"Person {n:02d}", scope="individual")._replace(
            title="Organizer", affiliation=f"College {n:02d}") for n in range(20, 29)])
    with bare_app.app_context(), warnings_logged("campaign.pdf") as warned:
        done = render_with(letter, rows, MemoryStore())
    assert not warned, warned  # every part came out as planned, with the extra line
    assert done.parts > 2
    text = one_line(pdf_text(done.data))
    assert "Signed by 8 organizations and 9 individuals" in text
    assert text.index("Alliance 08") < text.index(
        "Individuals (*affiliations for identification only)") < text.index("Person 20")
    assert "Organizer, College 28*" in text


def test_public_row_names_an_organization_and_an_individual():
    org = entry(1, "Alpha Workers Center")
    assert spreadsheets.public_row(org) == {
        "organization": "Alpha Workers Center", "city": "Tucson", "region": "AZ",
        "country": "United States", "scope": "local", "kind": "organization"}
    person = spreadsheets.public_row(entry(2, "Rosa Sample", scope="individual")
                                     ._replace(affiliation="Sample College"))
    assert (person["kind"], person["name"], person["affiliation"]) == (
        "individual", "Rosa Sample", "Sample College")


# ------------------------------------------------------------------ letter files and the form


def test_a_letter_file_says_who_signs(runner, tmp_path, app):
    path = tmp_path / "letter.md"
    path.write_text("---\ntitle: People Sign Too\nslug: people-sign\nstatus: open\n"
                    "signers: both\n---\nWe ask.\n")
    result = runner.invoke(args=["import-letter", str(path)])
    assert result.exit_code == 0, result.output
    letter = db.session.scalar(select(Letter).where(Letter.slug == "people-sign"))
    assert letter.signers == "both" and letter.takes_individuals()
    out = tmp_path / "out.md"
    assert runner.invoke(args=["export-letter", "people-sign", "-o", str(out)]).exit_code == 0
    assert "signers: both" in out.read_text()


def test_a_letter_file_with_a_bad_signers_value_gives_one_line(runner, tmp_path, app):
    path = tmp_path / "letter.md"
    path.write_text("---\ntitle: People Sign Too\nslug: people-sign\nsigners: everyone\n---\n"
                    "We ask.\n")
    result = runner.invoke(args=["import-letter", str(path)])
    assert_one_line_error(result, "signers must be one of organizations, individuals, both")
    assert db.session.scalar(select(func.count()).select_from(Letter)) == 0


def test_the_letter_form_chooses_who_signs_and_records_it(admin, make_letter):
    letter = make_letter()
    page = admin.get(f"/admin/letters/{letter.slug}/edit").get_data(as_text=True)
    assert "Who can sign" in page
    response = submit(admin, f"/admin/letters/{letter.slug}/edit", {"signers": "both"},
                      "Save letter")
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Letter, letter.id).signers == "both"
    entry_ = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "letter.signers"))
    assert entry_ is not None and entry_.actor == "staff@example.org"
    assert "organizations" in entry_.detail and "both" in entry_.detail
    bad = submit(admin, f"/admin/letters/{letter.slug}/edit", {"signers": "everyone"},
                 "Save letter")
    assert bad.status_code == 422


# ------------------------------------------------------------------ import


def test_import_takes_individuals_with_their_affiliation(runner, tmp_path, make_letter, client):
    make_letter(signers="both")
    path = tmp_path / "people.csv"
    path.write_text("organization,scope,affiliation,city\n"
                    "Rosa Sample,individual,Sample College,Tucson\n"
                    "Alpha Workers Center,local,,Tucson\n")
    result = runner.invoke(args=["import-signatures", "stop-forwarding", str(path),
                                 "--approved"])
    assert result.exit_code == 0, result.output
    people = client.get(f"{LETTER}/signers.json").get_json()["signatories"]
    assert [(p["kind"], p.get("affiliation")) for p in people] == [
        ("organization", None), ("individual", "Sample College")]
    bad = tmp_path / "bad.csv"
    bad.write_text("organization,scope,affiliation\nAlpha Group,local,Sample College\n")
    result = runner.invoke(args=["import-signatures", "stop-forwarding", str(bad)])
    assert_one_line_error(result, "an affiliation is for an individual")


@pytest.mark.parametrize(("signers", "line"), [
    ("organizations", "line 3: this letter is signed by organizations only"),
    ("individuals", "line 2: this letter is signed by individuals only")])
def test_import_refuses_the_kind_of_signer_the_letter_does_not_take(runner, tmp_path,
                                                                    make_letter, signers, line):
    make_letter(signers=signers)
    path = tmp_path / "mixed.csv"
    path.write_text("organization,scope,city\n"
                    "Alpha Workers Center,local,Tucson\n"
                    "Rosa Sample,individual,Tucson\n")
    result = runner.invoke(args=["import-signatures", "stop-forwarding", str(path),
                                 "--approved"])
    assert result.exit_code != 0 and line in result.output
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 0
