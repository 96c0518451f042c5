"""Partners in a real browser (issue #12): a signer who arrives through a partner's link, opens
another partner's, switches to the form for individuals, signs and confirms, is counted for the
first partner; the organizer copies a partner's link with the Copy button (static script, no
Content Security Policy refusal)."""
from __future__ import annotations

import pytest
import test_browser as served
from playwright.sync_api import expect
from sqlalchemy import select
from test_browser import DESKTOP, SLUG, confirm_link, deliver_mail, idle, log_in

from campaign import partners
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Partner, Signature

pytestmark = pytest.mark.browser
# the served app, its chromium and its mail, as test_browser.py makes them
app_config, live, base_url, browser, browse = (
    served.app_config, served.live, served.base_url, served.browser, served.browse)


def test_a_signer_through_a_partner_link_is_counted_for_the_first_partner(
        browse, base_url, smtp, make_letter, organizer):
    letter = make_letter(signers="both")
    with writing():
        partners.add(letter, "casa", "CASA de Maryland")
        partners.add(letter, "fiel", "FIEL Houston")
    page = browse.page(DESKTOP)
    page.goto(f"{base_url}/letters/{SLUG}?ref=casa")
    page.goto(f"{base_url}/letters/{SLUG}?ref=fiel")
    page.get_by_role("link", name="Signing as an individual? Use this form").click()
    assert page.url.endswith("?as=individual&ref=casa")  # the first partner, kept
    page.get_by_label("Your name").fill("Dana Lee")
    page.get_by_label("Email").fill("dana@example.org")
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Sign").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    deliver_mail(smtp, 1)
    page.goto(confirm_link(smtp, "dana@example.org", base_url))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="confirmed")).to_be_visible()
    idle()
    code = db.session.scalar(select(Partner.code).join(
        Signature, Signature.partner_id == Partner.id).where(Signature.email == "dana@example.org"))
    assert code == "casa"

    staff = browse.page(DESKTOP)
    staff.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    log_in(staff, base_url)
    staff.goto(f"{base_url}/admin/letters/{SLUG}/signatures")
    staff.get_by_role("link", name="Partners", exact=True).click()
    expect(staff.locator("table.partners tbody tr").first.locator("td")).to_have_text(
        ["CASA de Maryland", "casa", "1", "0"])
    copy = staff.locator("section.partner").first.locator("button[data-copy^=link]")
    expect(copy).to_have_text("Copy")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert staff.evaluate("navigator.clipboard.readText()") == \
        f"{base_url}/letters/{SLUG}?ref=casa"
