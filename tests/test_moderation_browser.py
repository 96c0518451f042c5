"""The moderation work queue in a real browser, on a letter of 5,000 signatures: an organizer
finds one by search, corrects its city, merges its duplicate and approves it, ticks a row and
rejects it by keyboard alone, approves all matching a search in one action, discards held spam;
the table fits a phone's screen, and axe-core finds nothing wrong with it, flags, partners and
held ones shown."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select, update
from support_axe import axe_source, described, violations
from test_browser import (  # noqa: F401  (fixtures used by name)
    DESKTOP,
    PHONE,
    SLUG,
    app_config,
    base_url,
    browse,
    browser,
    fits_width,
    idle,
    live,
    log_in,
    signature_article,
)
from test_moderation_queue import many

from campaign import partners
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Signature

pytestmark = pytest.mark.browser


def counted(**where: object) -> int:
    """How many signatures are so now (the test's own read ended at once: idle())."""
    try:
        return int(db.session.scalar(select(func.count()).select_from(Signature)
                                     .filter_by(**where)) or 0)
    finally:
        idle()


def test_an_organizer_works_through_a_queue_of_five_thousand(
        browse, base_url, make_letter, make_signature, organizer):  # noqa: F811
    letter = make_letter()
    many(letter, 5_000)
    voces = make_signature(letter, status="pending", organization="Voces Unidas del Valle",
                           city="Fresnoo", website="")
    twice = make_signature(letter, status="pending", organization="VOCES UNIDAS DEL VALLE",
                           city="Fresno", website="https://voces.example.org")
    voces_id, twice_id = voces.id, twice.id
    spam = many(letter, 30, status="unconfirmed", prefix="Spam Bot")
    with writing():
        db.session.execute(update(Signature).where(Signature.id.in_(spam)).values(held=True))

    staff = browse.page(DESKTOP)
    log_in(staff, base_url)
    staff.goto(f"{base_url}/admin/letters/{SLUG}/signatures")
    expect(staff.locator("tr.signature")).to_have_count(50)
    expect(staff.get_by_role("link", name="Awaiting approval (5002)")).to_be_visible()

    # finds one by search: it and its duplicate, flagged
    staff.get_by_label("Search").fill("voces unidas")
    staff.get_by_label("Search").press("Enter")
    expect(staff.locator("tr.signature")).to_have_count(2)
    row = signature_article(staff, "Voces Unidas del Valle")
    expect(row).to_contain_text("same organization signed more than once")

    # corrects its city on its own page
    row.get_by_role("link", name="Voces Unidas del Valle", exact=True).click()
    staff.get_by_label("City").fill("Fresno")
    staff.get_by_role("button", name="Save changes").click()
    expect(staff.get_by_role("status").first).to_contain_text("Saved the changes")
    assert counted(id=voces_id, city="Fresno") == 1

    # merges the duplicate into it, taking the website it lacked
    duplicates = staff.locator("section.duplicates")
    expect(duplicates).to_contain_text("VOCES UNIDAS DEL VALLE")
    duplicates.get_by_label(f"Fill this one’s blank fields from number {twice_id}").check()
    duplicates.get_by_role(
        "button", name=f"Keep this one (number {voces_id}), delete number {twice_id}").click()
    expect(staff.get_by_role("status").first).to_contain_text("Merged")
    assert counted(id=twice_id) == 0
    assert counted(id=voces_id, website="https://voces.example.org") == 1

    # back in the queue the search finds one, approved in one click
    staff.goto(f"{base_url}/admin/letters/{SLUG}/signatures?q=voces+unidas")
    expect(staff.locator("tr.signature")).to_have_count(1)
    signature_article(staff, "Voces Unidas del Valle").get_by_role(
        "button", name="Approve", exact=True).click()
    expect(staff.get_by_role("status").first).to_contain_text("Approved 1 signature")
    assert counted(id=voces_id, status="approved") == 1

    # the keyboard alone: tick the first row, reject the ticked ones
    staff.goto(f"{base_url}/admin/letters/{SLUG}/signatures")
    staff.get_by_label("Select Group 00000").focus()
    staff.keyboard.press("Space")
    staff.get_by_role("button", name="Reject selected").focus()
    staff.keyboard.press("Enter")
    expect(staff.get_by_role("status").first).to_contain_text("Rejected 1 signature")
    assert counted(organization="Group 00000", status="rejected") == 1

    # all matching a search, on every page, in one action
    staff.get_by_label("Search").fill("group 04")
    staff.get_by_role("button", name="Filter").click()
    expect(staff.locator(".queue-count")).to_contain_text("of 1,000")
    staff.get_by_label("Apply to").select_option("matching")
    staff.get_by_role("button", name="Approve selected").click()
    expect(staff.get_by_role("status").first).to_contain_text("Approved 1000 signature")
    assert counted(status="approved") == 1_001
    expect(staff.get_by_label("Search")).to_have_value("group 04")  # the filters stay

    # held spam: discarded for good, the whole page at once
    staff.get_by_role("link", name="Clear filters").click()
    staff.get_by_role("link", name=re.compile(r"^Held \(30\)")).click()
    staff.get_by_label("Apply to").select_option("page")
    staff.get_by_role("button", name="Discard (delete for good)").click()
    expect(staff.get_by_role("status").first).to_contain_text("Discarded 30 held submissions")
    assert counted(held=True) == 0

    phone = browse.page(PHONE)
    log_in(phone, base_url)
    phone.goto(f"{base_url}/admin/letters/{SLUG}/signatures")
    expect(phone.locator("tr.signature").first).to_be_visible()
    assert fits_width(phone)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # HTML and layout only
def test_axe_finds_no_violation_on_the_queue_at_phone_and_desktop_sizes(
        browse, base_url, make_letter, make_signature, organizer):  # noqa: F811
    letter = make_letter()
    with writing():
        casa = partners.add(letter, "casa", "CASA de Maryland")
    make_signature(letter, status="pending", organization="Sunrise Tenants Union",
                   email="sunrise@gmail.com", website="https://sunrise.example.org",
                   partner_id=casa.id)
    make_signature(letter, status="pending", organization="The Sunrise Tenants Union, Inc.",
                   scope="individual", affiliation="Sample College")
    many(letter, 60)
    spam = many(letter, 3, status="unconfirmed", prefix="Spam Bot")
    with writing():
        db.session.execute(update(Signature).where(Signature.id.in_(spam)).values(held=True))
    axe = axe_source()
    found = []
    for device, size in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page = browse.page(device)
        page.add_init_script(script=axe)
        log_in(page, base_url)
        for query in ("", "?status=held", "?q=sunrise&sort=-name&flag=duplicate"):
            page.goto(f"{base_url}/admin/letters/{SLUG}/signatures{query}")
            expect(page.locator("tr.signature").first).to_be_visible()
            found += described(f"{size} {query or 'pending'}", violations(page))
        if size == "phone":
            assert fits_width(page)
    assert found == [], "\n".join(found)


def test_the_headings_checkbox_ticks_the_whole_page_and_the_bulk_form_acts_on_them(
        browse, base_url, make_letter, organizer):  # noqa: F811
    many(make_letter(), 60)
    staff = browse.page(DESKTOP)
    log_in(staff, base_url)
    staff.goto(f"{base_url}/admin/letters/{SLUG}/signatures")
    staff.get_by_label("Select every signature on this page").check()
    expect(staff.locator("input[name=ids]:checked")).to_have_count(50)
    staff.get_by_label("Select Group 00001").uncheck()
    staff.get_by_role("button", name="Approve selected").click()
    expect(staff.get_by_role("status").first).to_contain_text("Approved 49 signature")
    assert counted(status="approved") == 49 and counted(organization="Group 00001",
                                                         status="pending") == 1
