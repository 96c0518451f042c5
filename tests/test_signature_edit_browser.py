"""A signature's Edit page in a real browser, on a phone, by keyboard: a typo in the city and the
email corrected, a bad address refused with the error summary focused, a duplicate merged. The
server, the browser and the mail are the ones tests/test_browser.py sets up."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from test_browser import (  # noqa: F401  (fixtures used by name)
    PHONE,
    SLUG,
    app_config,
    base_url,
    browse,
    browser,
    live,
    log_in,
)

from campaign.extensions import db
from campaign.models import Signature

pytestmark = pytest.mark.browser


def test_an_organizer_corrects_a_signature_and_merges_its_duplicate_by_keyboard_on_a_phone(
        browse, base_url, make_letter, make_signature, organizer):  # noqa: F811
    letter = make_letter()
    kept = make_signature(letter, status="approved", organization="Casa Tucson",
                          city="Tuscon", website="")
    duplicate = make_signature(letter, status="pending", organization="CASA Tucson, Inc.",
                               website="https://casa.example.org")
    kept_id, gone = kept.id, duplicate.id
    staff = browse.page(PHONE)
    log_in(staff, base_url)
    staff.goto(f"{base_url}/admin/letters/{SLUG}/signatures/{kept.id}/edit")
    expect(staff.get_by_role("heading", name="Edit “Casa Tucson”")).to_be_visible()

    city = staff.get_by_label("City")
    city.focus()
    staff.keyboard.press("Control+A")
    staff.keyboard.type("Tucson")
    email = staff.get_by_label("Email")
    email.fill("not an address")
    email.press("Enter")  # sends the form, as a keyboard user does
    summary = staff.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    summary.get_by_role("link").first.press("Enter")
    expect(email).to_be_focused()
    email.fill("director@casa.example.org")
    email.press("Enter")
    expect(staff.get_by_role("status").first).to_contain_text("Saved the changes")
    expect(staff.get_by_label("City")).to_have_value("Tucson")
    expect(staff.get_by_label("Email")).to_have_value("director@casa.example.org")

    duplicates = staff.locator("section.duplicates")
    expect(duplicates).to_contain_text("CASA Tucson, Inc.")
    fill = duplicates.get_by_label(f"Fill this one’s blank fields from number {duplicate.id}")
    fill.focus()
    staff.keyboard.press("Space")
    expect(fill).to_be_checked()
    staff.keyboard.press("Tab")
    button = duplicates.get_by_role(
        "button", name=f"Keep this one (number {kept.id}), delete number {duplicate.id}")
    expect(button).to_be_focused()
    staff.keyboard.press("Enter")
    expect(staff.get_by_role("status").first).to_contain_text("Merged “CASA Tucson, Inc.”")
    expect(staff.locator("section.duplicates")).to_contain_text("No other signature")
    width = staff.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width  # nothing wider than the phone

    db.session.rollback()  # a fresh transaction: the server committed in its own
    assert db.session.get(Signature, gone) is None
    survivor = db.session.get(Signature, kept_id)
    assert survivor is not None and survivor.status == "approved"
    assert (survivor.city, survivor.website) == ("Tucson", "https://casa.example.org")
