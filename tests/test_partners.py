"""A letter's partners (issue #12): from a letter file and the Partners page, the signatures that
come through a partner's link (`?ref=<code>`) recording it, kept from the first visit through
confirming; their counts, the Signatures page's filter and the contacts CSV's partner column."""
from __future__ import annotations

import csv
import io
import re

import pytest
from bs4 import BeautifulSoup
from flask import session
from sqlalchemy import select
from support import SIGNER, assert_one_line_error, form_fields, submit, text_of, with_smtp

from campaign import letter_files, outbox, partners
from campaign.database import writing
from campaign.extensions import db
from campaign.models import AuditEntry, Partner, Signature

SLUG = "stop-forwarding"
LETTER = f"/letters/{SLUG}"
PAGE = f"/admin/letters/{SLUG}/partners"
FILE = """---
title: Stop Forwarding Fingerprints
slug: stop-forwarding
status: open
partners:
  casa: CASA de Maryland
  fiel: FIEL Houston
---
We, the undersigned, ask you to **stop**.
"""


@pytest.fixture
def app_config(app_config, smtp):
    return with_smtp(app_config, smtp)


@pytest.fixture
def letter(make_letter):
    made = make_letter(signers="both")
    with writing():
        partners.add(made, "casa", "CASA de Maryland")
        partners.add(made, "fiel", "FIEL Houston")
    return made


def partner_codes() -> dict[str, str]:
    return {p.code: p.name for p in db.session.scalars(select(Partner).order_by(Partner.id))}


def hidden_ref(html: str) -> str | None:
    field = BeautifulSoup(html, "html.parser").find("input", attrs={"name": "ref"})
    return field["value"] if field is not None else None


def sign_and_confirm(client, smtp, url: str, email: str, **more: str) -> Signature:
    """Sign from the page at `url` as a visitor with `client`, then confirm from the email."""
    answer = submit(client, url, {**SIGNER, "email": email, **more}, "Sign")
    assert answer.status_code == 303, answer.get_data(as_text=True)
    outbox.send_due()
    smtp.wait(1)
    [link] = re.findall(r"https?://[^\s<>\"]+", text_of(smtp.to(email)[-1]))
    confirmed = submit(client, link.removeprefix("http://localhost"), {}, "Confirm")
    assert confirmed.status_code == 200
    db.session.expire_all()
    signature = db.session.scalar(select(Signature).where(Signature.email == email))
    assert signature is not None and signature.status == "pending"
    return signature


def code_of(signature: Signature) -> str | None:
    partner = db.session.get(Partner, signature.partner_id) if signature.partner_id else None
    return partner.code if partner else None


# ------------------------------------------------------------------ letter files


def test_a_letter_file_names_partners_and_export_letter_writes_them_back(runner, tmp_path, app):
    path = tmp_path / "letter.md"
    path.write_text(FILE, encoding="utf-8")
    assert runner.invoke(args=["import-letter", str(path)]).exit_code == 0
    assert partner_codes() == {"casa": "CASA de Maryland", "fiel": "FIEL Houston"}

    out = tmp_path / "out.md"
    assert runner.invoke(args=["export-letter", SLUG, "-o", str(out)]).exit_code == 0
    written = out.read_text(encoding="utf-8")
    assert "partners:\n  casa: CASA de Maryland\n  fiel: FIEL Houston\n" in written
    assert letter_files.parse_text(written, app.config["TZ"]).partners == {
        "casa": "CASA de Maryland", "fiel": "FIEL Houston"}

    # a file that renames one and leaves the other out: renamed, the other kept, one added
    path.write_text(FILE.replace("  fiel: FIEL Houston\n", "  '123': Partner 123\n")
                    .replace("CASA de Maryland", "CASA"), encoding="utf-8")
    assert runner.invoke(args=["import-letter", str(path)]).exit_code == 0
    db.session.expire_all()
    assert partner_codes() == {"casa": "CASA", "fiel": "FIEL Houston", "123": "Partner 123"}
    assert runner.invoke(args=["export-letter", SLUG, "-o", str(out)]).exit_code == 0
    assert "  '123': Partner 123\n" in out.read_text(encoding="utf-8")  # quoted: read back as text
    assert runner.invoke(args=["import-letter", str(out)]).exit_code == 0
    db.session.expire_all()
    assert len(partner_codes()) == 3
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions.count("partner.add") == 3 and actions.count("partner.rename") == 1


@pytest.mark.parametrize(("front", "fragment"), [
    ("partners:\n  Bad Code: Someone\n", "partner code 'Bad Code' must be lowercase"),
    ("partners:\n  - casa\n", "'partners' must be 'code: name' lines"),
    ("partners:\n  casa:\n", "casa"),
    ("partners:\n  no: Someone\n", "must be in quotes"),
    (f"partners:\n  {'a' * 41}: Someone\n", "at most 40"),
])
def test_bad_partners_in_a_letter_file_are_refused_in_one_line(runner, tmp_path, front, fragment):
    path = tmp_path / "letter.md"
    path.write_text(FILE.replace("partners:\n  casa: CASA de Maryland\n  fiel: FIEL Houston\n",
                                 front), encoding="utf-8")
    result = runner.invoke(args=["import-letter", str(path)])
    assert_one_line_error(result, fragment)
    assert "partners:" in result.output
    assert partner_codes() == {}


# ------------------------------------------------------------------ the Partners page


def test_organizers_add_rename_and_remove_partners(admin, make_letter):
    make_letter()
    added = submit(admin, PAGE, {"code": "casa", "name": "CASA de Maryland"}, "Add partner")
    assert added.status_code == 303
    page = admin.get(PAGE).get_data(as_text=True)
    assert "CASA de Maryland" in page
    assert 'value="http://localhost/letters/stop-forwarding?ref=casa"' in page
    assert ("&lt;iframe src=&#34;http://localhost/letters/stop-forwarding/embed?ref=casa&#34;"
            in page)
    assert "copy.js" in page and "<script>" not in page  # no inline script (CSP)

    taken = submit(admin, PAGE, {"code": "casa", "name": "Another"}, "Add partner")
    assert taken.status_code == 422
    assert "The code &#39;casa&#39; is taken by the partner" in taken.get_data(as_text=True)
    bad = submit(admin, PAGE, {"code": "Not A Code", "name": "Someone"}, "Add partner")
    assert bad.status_code == 422
    assert "must be lowercase letters, digits and single hyphens" in bad.get_data(as_text=True)
    nameless = submit(admin, PAGE, {"code": "ok", "name": "  "}, "Add partner")
    assert nameless.status_code == 422 and "A partner needs a name." in nameless.get_data(
        as_text=True)
    assert partner_codes() == {"casa": "CASA de Maryland"}

    [partner_id] = db.session.scalars(select(Partner.id)).all()
    renamed = submit(admin, PAGE, {"name": "CASA"}, "Rename")
    assert renamed.status_code == 303
    db.session.expire_all()
    assert partner_codes() == {"casa": "CASA"}
    removed = submit(admin, PAGE, {}, "Remove CASA")
    assert removed.status_code == 303
    assert partner_codes() == {}
    assert db.session.get(Partner, partner_id) is None
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-3:] == ["partner.add", "partner.rename", "partner.remove"]
    history = admin.get(f"/admin/letters/{SLUG}/history").get_data(as_text=True)
    assert "Partner removed" in history and "Partner added" in history


def test_a_partner_that_brought_signatures_is_not_removed(admin, letter, make_signature):
    casa = partners.for_code(letter, "casa")
    make_signature(letter, "rejected", partner_id=casa.id)
    with pytest.raises(partners.PartnerError, match="brought 1 signature"), writing():
        partners.remove(letter, casa)
    answer = admin.post(f"{PAGE}/{casa.id}/remove", data={"csrf_token": csrf(admin)})
    assert answer.status_code == 303
    assert "cannot be removed" in admin.get(PAGE).get_data(as_text=True)
    assert "casa" in partner_codes()


def csrf(client) -> str:
    _, values = form_fields(client.get(PAGE).get_data(as_text=True), "Add partner")
    return values["csrf_token"]


def test_the_partners_page_counts_what_each_partner_brought(admin, letter, make_signature):
    casa, fiel = partners.for_code(letter, "casa"), partners.for_code(letter, "fiel")
    for status in ("approved", "approved", "pending", "unconfirmed", "rejected"):
        make_signature(letter, status, partner_id=casa.id)
    make_signature(letter, "pending", partner_id=fiel.id)
    make_signature(letter, "approved")
    assert partners.tallies(letter) == {casa.id: partners.Tally(3, 2),
                                        fiel.id: partners.Tally(1, 0), None: partners.Tally(1, 1)}
    soup = BeautifulSoup(admin.get(PAGE).get_data(as_text=True), "html.parser")
    cells = [[td.get_text(" ", strip=True) for td in row.find_all("td")]
             for row in soup.select("table.partners tbody tr")]
    assert cells == [["CASA de Maryland", "casa", "3", "2"], ["FIEL Houston", "fiel", "1", "0"],
                     ["Through no partner", "", "1", "1"]]
    # a partner that brought signatures shows no Remove button
    assert "Remove CASA" not in str(soup) and "Remove FIEL" not in str(soup)


def test_the_signatures_page_filters_by_partner_and_names_it(admin, letter, make_signature):
    casa = partners.for_code(letter, "casa")
    make_signature(letter, "pending", organization="Brought By Casa", partner_id=casa.id)
    make_signature(letter, "pending", organization="Came Alone")
    everyone = admin.get(f"/admin/letters/{SLUG}/signatures").get_data(as_text=True)
    assert "Brought By Casa" in everyone and "Came Alone" in everyone
    assert f'href="{PAGE}"' in everyone
    filtered = admin.get(f"/admin/letters/{SLUG}/signatures?partner=casa").get_data(as_text=True)
    assert "Brought By Casa" in filtered and "Came Alone" not in filtered
    assert "Awaiting approval (1)" in filtered  # the tabs count the partner's alone
    assert "<dt>Partner</dt><dd>CASA de Maryland</dd>" in filtered
    assert "partner=casa" in filtered  # the tabs keep the filter
    unknown = admin.get(f"/admin/letters/{SLUG}/signatures?partner=nobody")
    assert unknown.status_code == 200 and "Came Alone" in unknown.get_data(as_text=True)


# ------------------------------------------------------------------ signing through a link


def test_a_signature_through_a_partner_link_records_the_partner(new_client, letter, smtp):
    visitor = new_client()
    page = visitor.get(f"{LETTER}?ref=casa")
    assert page.status_code == 200 and hidden_ref(page.get_data(as_text=True)) == "casa"
    signature = sign_and_confirm(visitor, smtp, f"{LETTER}?ref=casa", "a@casa.example.org")
    assert code_of(signature) == "casa"


def test_an_unknown_code_is_ignored(new_client, letter, smtp):
    visitor = new_client()
    for code in ("nobody", "NOT%20A%20CODE", "x" * 300):
        page = visitor.get(f"{LETTER}?ref={code}")
        assert page.status_code == 200 and hidden_ref(page.get_data(as_text=True)) is None
    signature = sign_and_confirm(visitor, smtp, f"{LETTER}?ref=nobody", "b@example.org",
                                 ref="nobody")
    assert signature.partner_id is None


def test_the_first_partner_is_kept_through_the_form(new_client, letter, smtp):
    visitor = new_client()
    visitor.get(f"{LETTER}?ref=casa")
    later = visitor.get(f"{LETTER}?ref=fiel").get_data(as_text=True)
    assert hidden_ref(later) == "casa"
    # even a form that says otherwise: the first partner the session remembers wins
    signature = sign_and_confirm(visitor, smtp, f"{LETTER}?ref=fiel", "c@example.org",
                                 ref="fiel")
    assert code_of(signature) == "casa"


def test_the_hidden_field_records_the_partner_without_an_earlier_visit(new_client, letter,
                                                                       smtp):
    visitor = new_client()
    signature = sign_and_confirm(visitor, smtp, LETTER, "d@example.org", ref="fiel")
    assert code_of(signature) == "fiel"


def test_ref_from_request_reads_the_session_then_the_form_then_the_address(app, letter):
    with app.test_request_context(f"{LETTER}?ref=casa", method="POST", data={"ref": "fiel"}):
        assert partners.ref_from_request(SLUG).code == "fiel"  # no session: the form's
        assert session[partners.session_key(SLUG)] == "fiel"
        assert partners.ref_from_request(SLUG).code == "fiel"  # remembered
    with app.test_request_context(f"{LETTER}?ref=casa"):
        assert partners.ref_from_request(SLUG).code == "casa"
        assert partners.ref_from_request("other-letter") is None  # another letter's session
    with app.test_request_context(f"{LETTER}?ref=nobody", method="POST", data={"ref": "x y"}):
        assert partners.ref_from_request(SLUG) is None
        assert partners.session_key(SLUG) not in session
    with app.test_request_context("/letters/other-letter?ref=casa"):  # a code of another letter
        assert partners.ref_from_request("other-letter") is None


def test_the_kept_page_never_mixes_partners(new_client, letter):
    first, second, third = new_client(), new_client(), new_client()
    assert hidden_ref(first.get(f"{LETTER}?ref=casa").get_data(as_text=True)) == "casa"
    assert hidden_ref(second.get(LETTER).get_data(as_text=True)) is None
    assert hidden_ref(third.get(f"{LETTER}?ref=fiel").get_data(as_text=True)) == "fiel"
    assert hidden_ref(second.get(f"{LETTER}?ref=nobody").get_data(as_text=True)) is None


def test_the_form_for_individuals_keeps_the_partner(new_client, letter, smtp):
    visitor = new_client()
    page = visitor.get(f"{LETTER}?ref=casa").get_data(as_text=True)
    link = BeautifulSoup(page, "html.parser").select_one("p.other-form a")["href"]
    assert link == f"{LETTER}?as=individual&ref=casa"
    individual = visitor.get(link).get_data(as_text=True)
    back = BeautifulSoup(individual, "html.parser").select_one("p.other-form a")["href"]
    assert back == f"{LETTER}?ref=casa"
    assert hidden_ref(individual) == "casa"
    answer = submit(visitor, link, {"name": "Dana Lee", "email": "dana@example.org",
                                    "consent": "y"}, "Sign")
    assert answer.status_code == 303, answer.get_data(as_text=True)
    signature = db.session.scalar(select(Signature).where(Signature.email == "dana@example.org"))
    assert signature.scope == "individual" and code_of(signature) == "casa"


def test_a_refused_form_keeps_the_partner(new_client, letter):
    visitor = new_client()
    refused = submit(visitor, LETTER, {**SIGNER, "email": "not an address", "ref": "fiel"},
                     "Sign")
    assert refused.status_code == 422
    assert hidden_ref(refused.get_data(as_text=True)) == "fiel"


# ------------------------------------------------------------------ the contacts CSV


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_contacts_csv_has_a_partner_column(admin, letter, make_signature, runner, tmp_path):
    casa = partners.for_code(letter, "casa")
    make_signature(letter, organization="Brought By Casa", partner_id=casa.id)
    make_signature(letter, organization="Came Alone")
    download = admin.get(f"/admin/letters/{SLUG}/signatures.csv").get_data(as_text=True)
    by_name = {row["organization"]: row["partner"] for row in rows_of(download)}
    assert by_name == {"Brought By Casa": "casa", "Came Alone": ""}

    out = tmp_path / "contacts.csv"
    assert runner.invoke(args=["export-csv", SLUG, "-o", str(out), "--private"]).exit_code == 0
    assert {row["organization"]: row["partner"] for row in rows_of(out.read_text())} == by_name

    public = admin.get(f"{LETTER}/signers.csv").get_data(as_text=True)
    assert "partner" not in public.splitlines()[0] and "casa" not in public
    assert "casa" not in admin.get(f"{LETTER}/signers.json").get_data(as_text=True)
    assert runner.invoke(args=["export-csv", SLUG, "-o", str(out)]).exit_code == 0
    assert "partner" not in out.read_text().splitlines()[0]
