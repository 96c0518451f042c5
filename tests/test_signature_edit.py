"""An organizer edits every field of a signature (its keys follow, the history records the
change without contact details) and merges a duplicate into the one that stays (off every list
and count, recorded); contact fields only for those who may see them; a partner or a viewer
cannot."""
from __future__ import annotations

import json
from typing import Any

from bs4 import BeautifulSoup
from sqlalchemy import select
from support import PASSWORD, form_by_action, form_fields, submit

from campaign import accounts, signature_edits, signer_links
from campaign.database import writing
from campaign.extensions import db
from campaign.models import (
    AuditEntry,
    DeliveredSignature,
    Delivery,
    LetterRole,
    ListedCount,
    Signature,
    SignerLink,
)

SLUG = "stop-forwarding"  # make_letter's
ADMIN = f"/admin/letters/{SLUG}"


def edit_path(signature_id: int) -> str:
    return f"{ADMIN}/signatures/{signature_id}/edit"


def merge_path(signature_id: int) -> str:
    return f"{ADMIN}/signatures/{signature_id}/merge"


def entries(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id)))


def fresh(signature_id: int) -> Signature | None:
    db.session.expire_all()
    return db.session.get(Signature, signature_id)


def listed_total(letter_id: int) -> int:
    db.session.expire_all()
    return sum(row.listed for row in db.session.scalars(
        select(ListedCount).where(ListedCount.letter_id == letter_id)))


def token_of(client: Any, path: str) -> str:
    return form_fields(client.get(path).get_data(as_text=True))[1]["csrf_token"]


def logged_in(new_client: Any, email: str) -> Any:
    browser = new_client()
    response = submit(browser, "/login", {"email": email, "password": PASSWORD}, "Log in")
    assert response.status_code == 303, response.status_code
    return browser


def with_role(letter: Any, role: str) -> str:
    from support import password_hash

    email = f"{role}@coalition.example.net"
    with writing():
        person = accounts.create_organizer(email, password_hash(), role.title(), admin=False)
        db.session.add(LetterRole(letter_id=letter.id, organizer_id=person.id, role=role))
    return email


# ------------------------------------------------------------------ editing


def test_the_form_shows_every_field_filled_in(admin, make_letter, make_signature):
    letter = make_letter()
    signature = make_signature(letter, status="pending", organization="Casa Tucson",
                               contact_title="Director", website="https://casa.example.org",
                               phone="+1 555 0142")
    page = admin.get(edit_path(signature.id))
    assert page.status_code == 200
    values = form_fields(page.get_data(as_text=True), "Save changes")[1]
    assert values["organization"] == "Casa Tucson" and values["display_name"] == ""
    assert values["email"] == signature.email and values["phone"] == "+1 555 0142"
    assert values["contact_name"] == signature.contact_name
    assert values["contact_title"] == "Director" and values["city"] == "Tucson"
    assert values["region"] == "AZ" and values["country"] == "United States"
    assert values["website"] == "https://casa.example.org" and values["scope"] == "local"
    assert "affiliation" in values
    html = page.get_data(as_text=True)
    assert "None" not in html.replace("No other", "")


def test_editing_changes_the_fields_keeps_the_keys_and_records_no_contacts(
        admin, make_letter, make_signature):
    letter = make_letter()
    signature = make_signature(letter, status="approved", organization="Casa Tuscon")
    before_total = listed_total(letter.id)
    response = submit(admin, edit_path(signature.id), {
        "organization": "The Casa Tucson", "city": "Phoenix", "region": "AZ",
        "country": "MX", "scope": "state", "email": "New.Director@Casa.example.org",
        "phone": "+1 555 0199", "contact_name": "Rosa Díaz", "website": "casa.example.org"},
        "Save changes")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(edit_path(signature.id))
    assert "Saved the changes" in admin.get(response.headers["Location"]).get_data(as_text=True)
    changed = fresh(signature.id)
    assert changed is not None
    assert (changed.organization, changed.city, changed.country, changed.scope) == \
        ("The Casa Tucson", "Phoenix", "Mexico", "state")
    assert changed.email == "new.director@casa.example.org" and changed.phone == "+1 555 0199"
    assert changed.website == "https://casa.example.org" and changed.contact_name == "Rosa Díaz"
    assert changed.sort_key == "casa tucson" and changed.org_key == "casa tucson"
    assert changed.status == "approved"  # the organizer is the reviewer: its state stays
    assert listed_total(letter.id) == before_total  # still listed, under its new scope
    public = admin.get(f"/letters/{SLUG}/signers.json").get_json()
    assert {"organization": "The Casa Tucson", "city": "Phoenix", "scope": "state"}.items() <= \
        next(s for s in public["signatories"] if s["organization"] == "The Casa Tucson").items()
    [entry] = entries("signature.edit")
    assert entry.actor == "staff@example.org" and entry.subject == "The Casa Tucson"
    detail = json.loads(entry.detail)
    assert detail["before"]["city"] == "Tucson" and detail["after"]["city"] == "Phoenix"
    assert detail["after"]["email"] == detail["after"]["phone"] == "changed"
    assert detail["after"]["contact_name"] == "changed"
    for secret in ("new.director", "0199", "Rosa", "org1@example.org"):
        assert secret not in entry.detail, secret
    assert "email" not in detail["before"] and "phone" not in detail["before"]


def test_a_shown_name_sorts_the_list_and_blank_goes_back(admin, make_letter, make_signature):
    letter = make_letter()
    signature = make_signature(letter, organization="Zeta Workers")
    submit(admin, edit_path(signature.id), {"display_name": "Alpha Workers"}, "Save changes")
    changed = fresh(signature.id)
    assert changed is not None and changed.shown_name == "Alpha Workers"
    assert changed.sort_key == "alpha workers" and changed.org_key == "zeta workers"
    submit(admin, edit_path(signature.id), {"display_name": ""}, "Save changes")
    changed = fresh(signature.id)
    assert changed is not None and changed.display_name is None
    assert changed.sort_key == "zeta workers"


def test_saving_unchanged_records_nothing(admin, make_letter, make_signature):
    letter = make_letter()
    signature = make_signature(letter)
    response = submit(admin, edit_path(signature.id), {}, "Save changes")
    assert response.status_code == 303
    assert "Nothing was changed" in admin.get(response.headers["Location"]).get_data(as_text=True)
    assert entries("signature.edit") == []


def test_bad_values_are_refused_at_their_fields_and_change_nothing(admin, make_letter,
                                                                   make_signature):
    letter = make_letter()
    signature = make_signature(letter, organization="Casa Tucson")
    other = make_signature(letter, organization="Other Group")
    cases = [({"organization": "  "}, "organization"),
             ({"email": "not an address"}, "email"),
             ({"email": other.email.upper()}, "email"),
             ({"scope": "individual"}, "scope"),  # the letter takes organizations only
             ({"website": "javascript:alert(1)"}, "website"),
             ({"city": "x" * 121}, "city")]
    for data, name in cases:
        response = submit(admin, edit_path(signature.id), data, "Save changes")
        assert response.status_code == 422, data
        soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
        assert soup.find(id=f"{name}-error") is not None, data
        assert soup.select_one(f'.error-summary a[href="#{name}"]') is not None, data
        kept = fresh(signature.id)
        assert kept is not None and kept.organization == "Casa Tucson" and kept.city == "Tucson"
        assert kept.email == "org1@example.org"
    assert entries("signature.edit") == []


def test_an_empty_email_is_none_and_an_individual_can_be_made_one(admin, make_letter,
                                                                 make_signature):
    letter = make_letter(signers="both")
    signature = make_signature(letter, organization="Ana Ferreira")
    response = submit(admin, edit_path(signature.id),
                      {"email": "", "scope": "individual", "affiliation": "Harbor College"},
                      "Save changes")
    assert response.status_code == 303
    changed = fresh(signature.id)
    assert changed is not None and changed.email is None and changed.is_individual
    assert changed.affiliation == "Harbor College"


def test_another_letters_signature_or_a_missing_one_is_not_found(admin, make_letter,
                                                                 make_signature):
    make_letter()
    other_letter = make_letter(slug="other-letter", title="Other")
    foreign = make_signature(other_letter)
    assert admin.get(edit_path(foreign.id)).status_code == 404
    assert admin.get(edit_path(999_999)).status_code == 404
    token = token_of(admin, "/admin/letters/new")
    assert admin.post(merge_path(999_999), data={"csrf_token": token,
                                                 "other": "1"}).status_code == 404


# ------------------------------------------------------------------ roles


def test_contacts_are_hidden_from_a_role_without_them(app, new_client, make_letter,
                                                      make_signature, organizer, monkeypatch):
    from campaign import roles

    letter = make_letter()
    signature = make_signature(letter, phone="+1 555 0142")
    email = with_role(letter, "moderator")
    # a moderator without the contact details (none such by default): the fields go, and
    # what it sends for them is ignored
    monkeypatch.setitem(roles.ROLE_CAPABILITIES, "moderator",
                        frozenset({"signatures", "read", "moderate"}))
    browser = logged_in(new_client, email)
    page = browser.get(edit_path(signature.id)).get_data(as_text=True)
    assert signature.email not in page and "555 0142" not in page
    values = form_fields(page, "Save changes")[1]
    assert "email" not in values and "phone" not in values
    response = browser.post(edit_path(signature.id), data={
        **values, "city": "Mesa", "email": "taken@example.org", "phone": "0"})
    assert response.status_code == 303
    changed = fresh(signature.id)
    assert changed is not None and changed.city == "Mesa"
    assert changed.email == signature.email and changed.phone == "+1 555 0142"


def test_viewers_and_partners_may_not_edit_or_merge(app, new_client, make_letter,
                                                    make_signature, organizer):
    letter = make_letter()
    one = make_signature(letter, organization="Casa Tucson")
    two = make_signature(letter, organization="Casa Tucson")
    for role in ("viewer", "editor"):
        browser = logged_in(new_client, with_role(letter, role))
        token = token_of(browser, "/admin/")
        assert browser.get(edit_path(one.id)).status_code == 403
        assert browser.post(edit_path(one.id), data={"csrf_token": token, "city": "x",
                                                     "organization": "x"}).status_code == 403
        assert browser.post(merge_path(one.id), data={"csrf_token": token,
                                                      "other": str(two.id)}).status_code == 403
    assert fresh(two.id) is not None and fresh(one.id).city == "Tucson"  # type: ignore[union-attr]


# ------------------------------------------------------------------ duplicates and merging


def test_the_page_lists_possible_duplicates_by_name_and_mailbox(admin, make_letter,
                                                                make_signature):
    letter = make_letter()
    signature = make_signature(letter, organization="Casa Tucson, Inc.",
                               email="ana@casa.example.org")
    same_name = make_signature(letter, status="pending", organization="casa tucson")
    same_box = make_signature(letter, organization="CASA (Arizona)",
                              email="ana+letters@casa.example.org")
    make_signature(letter, organization="Someone Else", email="anab@casa.example.org")
    make_signature(make_letter(slug="other-letter", title="Other"), organization="Casa Tucson")
    found = signature_edits.duplicates(signature)
    assert [s.id for s in found] == [same_name.id, same_box.id]
    html = admin.get(edit_path(signature.id)).get_data(as_text=True)
    soup = BeautifulSoup(html, "html.parser")
    box = soup.find("section", class_="duplicates")
    assert box is not None
    assert "casa tucson" in box.get_text() and "CASA (Arizona)" in box.get_text()
    assert "Someone Else" not in box.get_text()
    assert box.find("a", href=edit_path(same_name.id)) is not None
    keep_here = form_by_action(html, merge_path(signature.id))
    assert keep_here["other"] in (str(same_name.id), str(same_box.id))
    buttons = [b.get_text(" ", strip=True) for b in box.find_all("button")]
    assert f"Keep this one (number {signature.id}), delete number {same_name.id}" in buttons
    assert f"Keep number {same_name.id}, delete this one (number {signature.id})" in buttons


def test_merging_keeps_one_deletes_the_other_and_records_it(admin, make_letter,
                                                            make_signature):
    letter = make_letter()
    kept = make_signature(letter, status="approved", organization="Casa Tucson", phone="",
                          website="")
    duplicate = make_signature(letter, status="approved", organization="Casa Tucson",
                               phone="+1 555 0177", website="https://casa.example.org",
                               city="Tucson")
    with writing():
        signer_links.create(db.session.get(Signature, duplicate.id))
    assert listed_total(letter.id) == 2
    token = token_of(admin, edit_path(kept.id))
    response = admin.post(merge_path(kept.id), data={"csrf_token": token,
                                                     "other": str(duplicate.id),
                                                     "fill_blanks": "y"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(edit_path(kept.id))
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Merged" in page and "2 blank fields were filled" in page
    assert fresh(duplicate.id) is None
    assert db.session.scalar(select(SignerLink).where(
        SignerLink.signature_id == duplicate.id)) is None
    survivor = fresh(kept.id)
    assert survivor is not None and survivor.status == "approved"
    assert survivor.phone == "+1 555 0177" and survivor.website == "https://casa.example.org"
    assert listed_total(letter.id) == 1
    public = admin.get(f"/letters/{SLUG}/signers.json").get_json()
    assert public["count"] == 1
    [entry] = entries("signature.merge")
    detail = json.loads(entry.detail)
    assert detail["before"]["merged"]["number"] == duplicate.id
    assert detail["before"]["merged"]["contacts"] == ["contact_name", "email", "phone"]
    assert sorted(detail["after"]["filled"]) == ["phone", "website"]
    assert "555 0177" not in entry.detail and "@example.org" not in entry.detail


def test_merging_without_filling_keeps_the_survivor_as_it_was(admin, make_letter,
                                                              make_signature):
    letter = make_letter()
    kept = make_signature(letter, status="pending", organization="Casa Tucson", website="")
    duplicate = make_signature(letter, status="approved", organization="Casa Tucson",
                               website="https://casa.example.org")
    page = admin.get(edit_path(kept.id)).get_data(as_text=True)
    values = form_by_action(page, merge_path(kept.id))
    assert values["other"] == str(duplicate.id)
    assert admin.post(merge_path(kept.id), data=values).status_code == 303
    survivor = fresh(kept.id)
    assert survivor is not None and survivor.website == "" and survivor.status == "pending"
    assert fresh(duplicate.id) is None


def test_the_survivor_takes_the_duplicates_email_when_it_had_none(admin, make_letter,
                                                                   make_signature):
    letter = make_letter()
    kept = make_signature(letter, organization="Casa Tucson", email=None)
    duplicate = make_signature(letter, organization="Casa Tucson", email="ana@casa.example.org")
    token = token_of(admin, edit_path(kept.id))
    admin.post(merge_path(kept.id), data={"csrf_token": token, "other": str(duplicate.id),
                                          "fill_blanks": "y"})
    survivor = fresh(kept.id)
    assert survivor is not None and survivor.email == "ana@casa.example.org"


def test_a_merge_that_cannot_be_made_says_why_and_changes_nothing(admin, make_letter,
                                                                  make_signature):
    letter = make_letter()
    kept = make_signature(letter, organization="Casa Tucson")
    delivered = make_signature(letter, organization="Casa Tucson")
    foreign = make_signature(make_letter(slug="other-letter", title="Other"))
    with writing():
        record = Delivery(letter_id=letter.id, signatory_count=1, sha256="0" * 64, pdf=b"%PDF",
                          contacts_csv="")
        db.session.add(record)
        db.session.flush()
        db.session.add(DeliveredSignature(delivery_id=record.id, signature_id=delivered.id))
    token = token_of(admin, edit_path(kept.id))
    for other, message in ((str(kept.id), "Choose another signature"),
                           (str(foreign.id), "Choose another signature"),
                           ("x", "Choose another signature"), ("", "Choose another signature"),
                           ("99999999999", "Choose another signature"),
                           (str(delivered.id), "is in the delivered letter")):
        response = admin.post(merge_path(kept.id), data={"csrf_token": token, "other": other})
        assert response.status_code == 303, other
        page = admin.get(response.headers["Location"]).get_data(as_text=True)
        assert message in page, other
    assert fresh(delivered.id) is not None and fresh(foreign.id) is not None
    assert entries("signature.merge") == []
    # the other way round works: the delivered one stays
    response = admin.post(merge_path(delivered.id), data={"csrf_token": token,
                                                          "other": str(kept.id)})
    assert response.status_code == 303 and fresh(kept.id) is None


def test_an_email_taken_meanwhile_is_refused_at_its_field_not_a_server_error(
        admin, make_letter, make_signature, monkeypatch):
    letter = make_letter()
    signature = make_signature(letter)
    other = make_signature(letter)
    # another request gives the same address between the check and the write: the unique
    # constraint refuses it, and the page says so
    monkeypatch.setattr(signature_edits, "_email", lambda found, typed: other.email)
    response = submit(admin, edit_path(signature.id), {"email": "x@example.org",
                                                      "city": "Mesa"}, "Save changes")
    assert response.status_code == 422
    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    error = soup.find(id="email-error")
    assert error is not None and "merge the two instead" in error.get_text()
    kept = fresh(signature.id)
    assert kept is not None and kept.city == "Tucson" and kept.email != other.email
