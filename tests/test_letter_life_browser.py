"""A letter's deadline passes while people look at it, in a real browser: the home page, the
organizers' list, the JSON and the letter's form all say it is closed on their next load, with
nobody closing it and no job run; a sign form loaded before the deadline and sent after it is
refused with a message. Then the organizer gives it a later deadline and it is open again."""
from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect
from support_axe import axe_source, described, violations
from support_life import delivered_with_addendum
from test_browser import (  # noqa: F401  (fixtures used by name)
    ALDER,
    DESKTOP,
    PHONE,
    SLUG,
    app_config,
    base_url,
    browse,
    browser,
    fill_sign_form,
    idle,
    live,
    log_in,
)

from campaign.database import writing
from campaign.extensions import db
from campaign.models import Letter, Signature, utcnow

pytestmark = pytest.mark.browser


def json_status(page: Page, base: str) -> str:
    page.goto(f"{base}/letters/{SLUG}/signers.json")
    return str(json.loads(page.locator("body").inner_text())["status"])


def deadline_in(seconds: float) -> None:
    """Set the letter's deadline `seconds` from now, as a clock would bring it: nothing else of
    the letter changes (not its updated_at, which keys the pages each process keeps)."""
    with writing():
        db.session.execute(sa.update(Letter).where(Letter.slug == SLUG).values(
            deadline=utcnow() + timedelta(seconds=seconds), updated_at=Letter.updated_at))
    idle()


def test_the_status_follows_a_deadline_that_passes_during_the_test(
        browse, base_url, make_letter, organizer):  # noqa: F811
    make_letter(deadline=utcnow() + timedelta(hours=1))
    idle()
    visitor = browse.page(PHONE)
    staff = browse.page(DESKTOP)
    log_in(staff, base_url)

    # while it is open: every page says so (and each process keeps its pages)
    visitor.goto(base_url)
    expect(visitor.locator("main article.card h2")).to_have_text("Stop Forwarding Fingerprints")
    assert json_status(visitor, base_url) == "open"
    staff.goto(f"{base_url}/admin/")
    expect(staff.locator("span.status")).to_have_text("open")
    signer = browse.page(PHONE)  # a signer who opens the form now and sends it later
    signer.goto(f"{base_url}/letters/{SLUG}")
    fill_sign_form(signer, ALDER)

    deadline_in(2)
    time.sleep(2.5)  # the deadline passes: nobody acts, no job runs

    visitor.goto(base_url)
    expect(visitor.locator("main")).to_contain_text("No letter is open for signatures right now.")
    expect(visitor.get_by_role("heading", name="Closed letters")).to_be_visible()
    expect(visitor.get_by_role("link", name="Stop Forwarding Fingerprints")).to_be_visible()
    assert json_status(visitor, base_url) == "closed"
    visitor.goto(f"{base_url}/letters/{SLUG}")
    expect(visitor.locator("main")).to_contain_text("The deadline for this letter has passed")
    expect(visitor.get_by_role("button", name="Sign")).to_have_count(0)
    staff.goto(f"{base_url}/admin/")
    expect(staff.locator("span.status")).to_have_text("closed (deadline passed)")
    staff.goto(f"{base_url}/admin/letters/{SLUG}/edit")
    expect(staff.locator("main")).to_contain_text("This letter is closed: its deadline")

    signer.get_by_role("button", name="Sign").click()  # the form loaded while it was open
    expect(signer.get_by_role("alert")).to_contain_text("The deadline for this letter has passed")
    expect(signer.get_by_role("button", name="Sign")).to_have_count(0)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Signature)) == 0
    assert db.session.scalar(sa.select(Letter.status)) == "open"  # stored as it was
    idle()

    # a later deadline, typed in the date-and-time field, opens it again everywhere
    deadline = staff.get_by_label("Deadline")
    expect(deadline).to_have_attribute("type", "datetime-local")
    deadline.fill("2199-01-01T12:00")
    staff.get_by_role("button", name="Save letter").click()
    expect(staff.get_by_role("status")).to_contain_text("Saved")
    assert json_status(visitor, base_url) == "open"
    visitor.goto(base_url)
    expect(visitor.get_by_role("heading", name="Closed letters")).to_have_count(0)
    visitor.goto(f"{base_url}/letters/{SLUG}")
    expect(visitor.get_by_role("button", name="Sign")).to_be_visible()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # HTML and layout only
def test_the_preview_sits_beside_the_editor_on_a_desktop_and_above_it_on_a_phone(
        browse, base_url, make_letter, organizer):  # noqa: F811
    make_letter()
    idle()
    for device, beside in ((DESKTOP, True), (PHONE, False)):
        page = browse.page(device)
        log_in(page, base_url)
        page.goto(f"{base_url}/admin/letters/{SLUG}/edit")
        page.get_by_label("Letter (Markdown)").fill("A **previewed** text.\n")
        page.get_by_role("button", name="Preview").click()
        preview = page.get_by_role("region", name="Preview")
        expect(preview.locator("strong")).to_have_text("previewed")
        shown = preview.bounding_box()
        editor = page.get_by_label("Letter (Markdown)").bounding_box()
        assert shown is not None and editor is not None
        if beside:
            assert shown["x"] > editor["x"] + editor["width"] - 1  # to its right
        else:
            assert shown["y"] + shown["height"] <= editor["y"] + 1  # above it
        expect(page.get_by_label("Letter (Markdown)")).to_have_value("A **previewed** text.\n")
        assert page.evaluate("document.documentElement.scrollWidth") <= \
            page.evaluate("window.innerWidth")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # HTML and layout only
def test_the_after_delivery_forms_and_the_preview_pass_axe_at_both_sizes(
        browse, base_url, make_letter, make_signature, organizer):  # noqa: F811
    make_letter(slug="with-preview")
    delivered_with_addendum(make_letter, make_signature, SLUG)
    idle()
    source = axe_source()
    found: list[str] = []
    for name, device in (("phone", PHONE), ("desktop", DESKTOP)):
        page = browse.page(device)
        page.context.add_init_script(script=source)
        log_in(page, base_url)
        page.goto(f"{base_url}/admin/letters/{SLUG}/deliver")
        expect(page.get_by_role("heading", name="Email the addendum")).to_be_visible()
        found += described(f"deliver [{name}]", violations(page))
        page.get_by_role("button", name="Reopen for an addendum").click()  # the box not ticked
        expect(page.get_by_role("button", name="Reopen for an addendum")).to_be_visible()
        found += described(f"reopen refused [{name}]", violations(page))
        page.goto(f"{base_url}/admin/letters/with-preview/edit")
        page.get_by_role("button", name="Preview").click()
        expect(page.get_by_role("region", name="Preview")).to_be_visible()
        found += described(f"preview [{name}]", violations(page))
    assert found == [], "\n".join(found)
