"""The moderation work queue at size: search, filters (flag, scope, version, source, partner),
sorting, paging with a stable order, bulk actions on the ticked rows, the whole page or all
matching the filters (run again on the server), discarding held spam, the duplicate flag's
link, and a partner's role kept to its own signatures throughout."""
from __future__ import annotations

import json
from typing import Any

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, insert, select, update
from support import PASSWORD, form_fields, password_hash, submit

from campaign import accounts, moderation_queue, signing
from campaign.database import writing
from campaign.extensions import db
from campaign.models import AuditEntry, Letter, LetterRole, Partner, Signature
from campaign.moderation_queue import Filters

SLUG = "stop-forwarding"
PAGE = f"/admin/letters/{SLUG}/signatures"
BULK = f"{PAGE}/bulk"


def soup_of(response: Any) -> BeautifulSoup:
    assert response.status_code == 200, response.status_code
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def names_on(admin: Any, query: str = "") -> list[str]:
    page = soup_of(admin.get(f"{PAGE}?{query}"))
    return [row.find(class_="shown-name").get_text(" ", strip=True)
            for row in page.find_all("tr", class_="signature")]


def many(letter: Letter, count: int, status: str = "pending", prefix: str = "Group",
         **overrides: Any) -> list[int]:
    """`count` signatures in one insert (each with its own name, address and time order)."""
    rows = []
    for n in range(count):
        values = {"organization": f"{prefix} {n:05d}", "city": "Tucson", "region": "AZ",
                  "scope": "local", **overrides}
        email = f"{prefix.lower().replace(' ', '')}{n}@example.org"
        rows.append(signing.signature_values(letter, signing.SignerInput(**values), email=email,
                                             status=status, source="web"))
    with writing():
        db.session.execute(insert(Signature), rows)
    return list(db.session.scalars(select(Signature.id).where(
        Signature.organization.like(f"{prefix} %")).order_by(Signature.id)))


def statuses() -> dict[str, int]:
    db.session.expire_all()
    return {status: int(n) for status, n in db.session.execute(
        select(Signature.status, func.count()).group_by(Signature.status))}


def bulk_form(admin: Any, query: str, button: str) -> dict[str, Any]:
    """The bulk form's fields as the page at `query` has them (its filters among them)."""
    action, fields = form_fields(admin.get(f"{PAGE}?{query}").get_data(as_text=True), button)
    assert action == BULK
    return fields


# ------------------------------------------------------------------ the table at size


def test_a_long_tab_is_paged_in_a_stable_order(admin, make_letter):
    letter = make_letter()
    many(letter, 120)
    first, second, third = (names_on(admin, f"page={n}") for n in (1, 2, 3))
    assert len(first) == 50 and len(second) == 50 and len(third) == 20
    assert first + second + third == [f"Group {n:05d}" for n in range(120)]
    page = soup_of(admin.get(f"{PAGE}?page=2"))
    assert "Showing 51–100 of 120." in page.get_text(" ")
    pages = page.find("nav", class_="pages")
    assert "Page 2 of 3" in pages.get_text(" ")
    assert {a.get_text(strip=True) for a in pages.find_all("a")} == {"First", "Previous", "Next",
                                                                  "Last"}
    assert len(names_on(admin, "size=100")) == 100
    assert names_on(admin, "page=999") == names_on(admin, "page=3")  # past the end: the last


def test_every_row_has_its_own_approve_and_reject_forms(admin, make_letter):
    letter = make_letter()
    ids = many(letter, 3)
    page = soup_of(admin.get(PAGE))
    for signature_id in ids:
        row = page.find("tr", id=f"s{signature_id}")
        buttons = [f.find("button").get_text(strip=True) for f in row.find_all("form")]
        assert buttons[:2] == ["Approve", "Reject"]
        assert row.find("input", type="checkbox")["form"] == "bulk"
        edit = row.find("a", class_="shown-name")["href"]
        assert edit == f"{PAGE}/{signature_id}/edit"


def test_search_finds_one_signature_among_thousands(admin, make_letter, make_signature):
    letter = make_letter()
    many(letter, 2000)
    make_signature(letter, status="pending", organization="Voces Unidas del Valle",
                   contact_name="Ana Ruiz", city="Fresno", email="ana@voces.example.org")
    assert names_on(admin, "q=unidas") == ["Voces Unidas del Valle"]
    assert names_on(admin, "q=VOCES+unidas") == ["Voces Unidas del Valle"]
    assert names_on(admin, "q=ana+ruiz") == ["Voces Unidas del Valle"]
    assert names_on(admin, "q=fresno") == ["Voces Unidas del Valle"]
    assert names_on(admin, "q=ana%40voces") == ["Voces Unidas del Valle"]
    assert names_on(admin, "q=100%25") == []  # a % is taken literally
    assert names_on(admin, "q=unidas&status=approved") == []  # within the tab


def test_the_filters_narrow_by_scope_source_version_and_flag(admin, make_letter, make_signature):
    letter = make_letter()
    make_signature(letter, status="pending", organization="National Alliance", scope="national")
    make_signature(letter, status="pending", organization="Local Union",
                   email="local.union@gmail.com")
    imported = make_signature(letter, status="pending", organization="Imported Group")
    twin = make_signature(letter, status="pending", organization="The Local Union, Inc.")
    with writing():
        db.session.execute(update(Signature).where(Signature.id == imported.id)
                           .values(source="import"))
    assert names_on(admin, "level=national") == ["National Alliance"]
    assert names_on(admin, "source=import") == ["Imported Group"]
    assert names_on(admin, "flag=free_mail") == ["Local Union"]
    assert names_on(admin, "flag=duplicate") == ["Local Union", twin.organization]
    version = letter.current_version.id
    assert len(names_on(admin, f"version={version}")) == 4
    assert names_on(admin, f"version={version + 99}") == []
    page = soup_of(admin.get(f"{PAGE}?level=national&flag=nonsense&size=7&page=x&sort=evil"))
    assert page.find(id="level").find("option", selected=True)["value"] == "national"
    assert "Clear filters" in page.get_text()


def test_sorting_by_a_column_and_back(admin, make_letter, make_signature):
    letter = make_letter()
    for name, city in (("Beta", "Austin"), ("alpha", "Yuma"), ("Gamma", "Mesa")):
        make_signature(letter, status="pending", organization=name, city=city)
    assert names_on(admin) == ["Beta", "alpha", "Gamma"]  # the queue: oldest first
    assert names_on(admin, "sort=name") == ["alpha", "Beta", "Gamma"]
    assert names_on(admin, "sort=-name") == ["Gamma", "Beta", "alpha"]
    assert names_on(admin, "sort=place") == ["Beta", "Gamma", "alpha"]
    heading = soup_of(admin.get(f"{PAGE}?sort=name")).find("th", attrs={"aria-sort": True})
    assert heading["aria-sort"] == "ascending"
    assert "sort=-name" in heading.a["href"]


@pytest.mark.parametrize("query", ["q=%00%01", "page=99999999999999", "size=-1", "version=0",
                                   "status=evil", "partner=%2F..", "sort=--name", "level=x" * 50])
def test_a_malformed_query_is_shown_as_no_filter_never_an_error(admin, make_letter, make_signature,
                                                                 query):
    make_signature(make_letter(), status="pending", organization="Still Here")
    assert admin.get(f"{PAGE}?{query}").status_code == 200


# ------------------------------------------------------------------ bulk actions


def test_approve_all_matching_a_filter_in_one_action(admin, make_letter, make_signature):
    letter = make_letter()
    many(letter, 130, prefix="Tucson Group")
    many(letter, 20, prefix="Mesa Group", city="Mesa")
    query = "q=tucson+group"
    fields = bulk_form(admin, query, "Approve selected")
    assert fields["q"] == "tucson group"
    answer = admin.post(BULK, data={**fields, "scope": "matching", "verb": "approve"},
                        follow_redirects=True)
    assert "Approved 130 signature(s)." in answer.get_data(as_text=True)
    assert statuses() == {"approved": 130, "pending": 20}
    entry = db.session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.subject) == ("signature.approve", "130 signatures")
    assert json.loads(entry.detail)["after"]["names"][-1] == "and 120 more"


def test_reject_all_matching_the_duplicate_flag(admin, make_letter, make_signature):
    letter = make_letter()
    kept = make_signature(letter, status="approved", organization="Sunrise Tenants Union")
    twins = [make_signature(letter, status="pending", organization=name)
             for name in ("The Sunrise Tenants Union", "Sunrise Tenants Union, Inc.")]
    alone = make_signature(letter, status="pending", organization="Moonrise Tenants")
    many(letter, 60)  # more than a page, so that "all matching" is offered
    fields = bulk_form(admin, "flag=duplicate", "Reject selected")
    admin.post(BULK, data={**fields, "scope": "matching", "verb": "reject"})
    db.session.expire_all()
    assert [db.session.get(Signature, s.id).status for s in (kept, *twins, alone)] == [
        "approved", "rejected", "rejected", "pending"]


def test_the_whole_page_can_be_chosen_without_ticking_each_row(admin, make_letter):
    letter = make_letter()
    ids = many(letter, 60)
    fields = bulk_form(admin, "", "Reject selected")
    answer = admin.post(BULK, data={**fields, "scope": "page", "verb": "reject",
                                    "page_ids": [str(i) for i in ids[:50]]})
    assert answer.status_code == 303
    assert statuses() == {"rejected": 50, "pending": 10}


def test_all_matching_is_run_again_on_the_server_not_taken_from_the_page(admin, make_letter,
                                                                         make_signature):
    letter = make_letter()
    many(letter, 3)
    fields = bulk_form(admin, "", "Approve selected")
    late = make_signature(letter, status="pending", organization="Came Later")
    other = make_signature(make_letter(slug="another", title="Another"), status="pending")
    admin.post(BULK, data={**fields, "scope": "matching", "verb": "approve",
                           "ids": [str(other.id)]})
    db.session.expire_all()
    assert db.session.get(Signature, late.id).status == "approved"  # matches the filter now
    assert db.session.get(Signature, other.id).status == "pending"  # another letter's


def test_ticked_ids_of_another_letter_are_left_alone(admin, make_letter, make_signature):
    letter = make_letter()
    here = make_signature(letter, status="pending")
    other = make_signature(make_letter(slug="another", title="Another"), status="pending")
    fields = bulk_form(admin, "", "Approve selected")
    admin.post(BULK, data={**fields, "verb": "approve", "ids": [str(here.id), str(other.id)]})
    db.session.expire_all()
    assert db.session.get(Signature, here.id).status == "approved"
    assert db.session.get(Signature, other.id).status == "pending"


def test_the_redirect_keeps_the_filters_and_page(admin, make_letter):
    many(make_letter(), 120)
    fields = bulk_form(admin, "q=group&page=2&sort=-name", "Approve selected")
    answer = admin.post(BULK, data={**fields, "verb": "approve", "ids": []})
    location = answer.headers["Location"]
    assert "q=group" in location and "page=2" in location and "sort=-name" in location


def test_held_spam_is_discarded_for_good_and_recorded(admin, make_letter, make_signature):
    letter = make_letter()
    spam = many(letter, 75, status="unconfirmed", prefix="Spam Bot")
    kept = make_signature(letter, status="pending", organization="Real Group")
    with writing():
        db.session.execute(update(Signature).where(Signature.id.in_(spam)).values(held=True))
    page = soup_of(admin.get(f"{PAGE}?status=held"))
    assert page.find("button", attrs={"value": "discard"}) is not None
    assert page.find("button", attrs={"value": "approve"}) is None
    fields = bulk_form(admin, "status=held", "Discard")
    answer = admin.post(BULK, data={**fields, "scope": "matching", "verb": "discard",
                                    "ids": [str(kept.id)]}, follow_redirects=True)
    assert "Discarded 75 held submissions for good." in answer.get_data(as_text=True)
    assert db.session.scalars(select(Signature.id)).all() == [kept.id]
    entry = db.session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.subject) == ("signature.discard", "75 held submissions")
    assert json.loads(entry.detail)["after"]["names"][:2] == ["Spam Bot 00000", "Spam Bot 00001"]
    assert "Held submissions discarded" in admin.get(
        f"/admin/letters/{SLUG}/history").get_data(as_text=True)


def test_discard_deletes_only_held_submissions(admin, make_letter, make_signature):
    letter = make_letter()
    confirmed = make_signature(letter, status="pending", organization="Confirmed Group")
    fields = bulk_form(admin, "", "Approve selected")
    answer = admin.post(BULK, data={**fields, "verb": "discard", "ids": [str(confirmed.id)]},
                        follow_redirects=True)
    assert "Discarded 0 held submissions" in answer.get_data(as_text=True)
    assert db.session.get(Signature, confirmed.id) is not None


# ------------------------------------------------------------------ duplicates


def test_the_duplicate_flag_links_to_the_oldest_matching_entry(admin, make_letter,
                                                               make_signature):
    letter = make_letter()
    first = make_signature(letter, status="approved", organization="Sunrise Tenants Union")
    second = make_signature(letter, status="pending", organization="The Sunrise Tenants Union")
    third = make_signature(letter, status="pending", organization="Sunrise Tenants Union, Inc.")
    page = soup_of(admin.get(PAGE))
    for row_id, match in ((second.id, first), (third.id, first)):
        flag = page.find("tr", id=f"s{row_id}").find(class_="flag")
        assert flag.a["href"] == f"{PAGE}/{match.id}/edit"
        assert flag.a.get_text() == "Sunrise Tenants Union"
        assert "(and 1 more)" in flag.get_text(" ")
    oldest = soup_of(admin.get(f"{PAGE}?status=approved")).find("tr", id=f"s{first.id}")
    assert oldest.find(class_="flag").a["href"] == f"{PAGE}/{second.id}/edit"


# ------------------------------------------------------------------ a partner's role


@pytest.fixture
def partnered(make_letter, make_signature) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A letter with one partner; the partner's organizer; signatures with and without it."""
    letter = make_letter()
    ours = [make_signature(letter, status="pending", organization=f"Casa Member {n}",
                           email=f"member{n}@casa.example.org") for n in range(2)]
    theirs = make_signature(letter, status="pending", organization="Casa Member Elsewhere",
                            email="elsewhere@casa.example.org")
    with writing():
        partner = Partner(letter_id=letter.id, code="casa", name="CASA")
        db.session.add(partner)
        db.session.flush()
        db.session.execute(update(Signature).where(Signature.id.in_([s.id for s in ours]))
                           .values(partner_id=partner.id))
        person = accounts.create_organizer("partner@example.net", password_hash(), "Partner",
                                           admin=False)
        db.session.add(LetterRole(letter_id=letter.id, organizer_id=person.id, role="partner",
                                  partner_id=partner.id))
    return {"letter": letter, "partner": partner, "ours": ours, "theirs": theirs}


def test_a_partners_role_searches_and_counts_its_own_signatures_only(new_client, partnered):
    browser = new_client()
    submit(browser, "/login", {"email": "partner@example.net", "password": PASSWORD}, "Log in")
    page = soup_of(browser.get(f"{PAGE}?q=casa+member"))
    names = [r.find(class_="shown-name").get_text(strip=True)
             for r in page.find_all("tr", class_="signature")]
    assert names == ["Casa Member 0", "Casa Member 1"]
    assert "Awaiting approval (2)" in page.find("nav", class_="tabs").get_text(" ")
    assert "Showing 1–2 of 2." in page.get_text(" ")
    assert page.find("form", id="bulk") is None  # a partner does not moderate
    assert "Casa Member Elsewhere" not in str(page)  # not even as a duplicate's match
    assert "@" not in page.find("table").get_text()  # nor their contact details


def test_the_queue_functions_keep_to_a_partner(app, partnered):
    letter, partner = partnered["letter"], partnered["partner"]
    everyone = moderation_queue.page(letter, Filters(search="casa"))
    mine = moderation_queue.page(letter, Filters(search="casa"), partner.id)
    assert (everyone.total, mine.total) == (3, 2)
    chosen = moderation_queue.chosen(letter, Filters(), partner.id)
    assert sorted(db.session.scalars(select(Signature.id).where(chosen))) == sorted(
        s.id for s in partnered["ours"])
    picked = moderation_queue.picked(letter, [partnered["theirs"].id], partner.id)
    assert db.session.scalars(select(Signature.id).where(picked)).all() == []


def test_the_email_is_searched_only_by_those_who_may_see_it(app, make_letter, make_signature):
    letter = make_letter()
    make_signature(letter, status="pending", organization="Quiet Group",
                   email="secret@hidden.example.org")
    with_contacts = moderation_queue.page(letter, Filters(search="secret@"), contacts=True)
    without = moderation_queue.page(letter, Filters(search="secret@"), contacts=False)
    assert (with_contacts.total, without.total) == (1, 0)
