"""Issue #12's walk in a real browser: a letter with two partners. A visitor from each
partner's link, and one through the embed on the partner's own site (framed by the origin the
letter allows, refused by another), sign and confirm from their email; the organizer approves
them and the letter's Partners page counts each partner's signatures."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from test_browser import (  # noqa: F401  (fixtures used by name)
    ALDER,
    BRIDGEPORT,
    DESKTOP,
    SLUG,
    Signer,
    app_config,
    base_url,
    browse,
    browser,
    confirm_link,
    deliver_mail,
    fill_sign_form,
    idle,
    live,
    log_in,
    sign,
    signature_article,
)
from test_embed_browser import PartnerSite, sites  # noqa: F401

from campaign import partners
from campaign.database import writing

pytestmark = pytest.mark.browser

CEDAR = Signer("Cedar Valley Day Laborer Center", "Luis Ortega", "luis@cedar-center.example.org",
               "+1 713 555 0117", "Houston", "TX", "United States", "Local")


def partner_row(page: Page, name: str) -> list[str]:
    """A partner's row on the Partners page: name, code, confirmed, approved."""
    return page.locator("table.partners tbody tr").filter(has_text=name).first \
        .locator("td").all_inner_texts()


def confirm(page: Page, smtp, who: Signer, base: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(confirm_link(smtp, who.email, base))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="confirmed")).to_be_visible()


def test_two_partners_links_and_the_embed_bring_signers_counted_per_partner(
        browse, browser, base_url, smtp, sites, make_letter, organizer):  # noqa: F811
    allowed, refused = sites
    letter = make_letter(embed_origins=allowed.origin)
    with writing():
        partners.add(letter, "casa", "CASA de Maryland")
        partners.add(letter, "fiel", "FIEL Houston")
    idle()
    for site in sites:
        site.embed = f"{base_url}/letters/{SLUG}/embed?ref=fiel"

    # a visitor from each partner's link signs on the letter's own page
    for code, who in (("casa", ALDER), ("fiel", BRIDGEPORT)):
        visitor = browse.page(DESKTOP)
        visitor.goto(f"{base_url}/letters/{SLUG}?ref={code}")
        sign(visitor, base_url, who)  # the first partner of the visit is kept

    # the embed on FIEL's site signs inside the frame; another site cannot show it
    outsider = browser.new_context(**DESKTOP)  # its refusal is expected: not the watched pages
    complaints: list[str] = []
    refused_page = outsider.new_page()
    refused_page.on("console", lambda message: complaints.append(message.text))
    refused_page.goto(refused.origin)
    refused_page.wait_for_timeout(500)
    assert refused_page.frame_locator("iframe").get_by_role("button", name="Sign").count() == 0
    assert any("frame-ancestors" in text for text in complaints), complaints
    outsider.close()
    page = browse.page(DESKTOP)
    page.goto(allowed.origin)
    frame = page.frame_locator("iframe")
    fill_sign_form(frame, CEDAR)  # type: ignore[arg-type]  (a frame has the same locators)
    frame.get_by_role("button", name="Sign").click()
    expect(frame.get_by_role("heading", name="Check your email")).to_be_visible()

    deliver_mail(smtp, 3)
    for who in (ALDER, BRIDGEPORT, CEDAR):
        confirm(browse.page(DESKTOP), smtp, who, base_url)

    staff = browse.page(DESKTOP)
    log_in(staff, base_url)
    staff.goto(f"{base_url}/admin/letters/{SLUG}/partners")
    assert partner_row(staff, "CASA de Maryland") == ["CASA de Maryland", "casa", "1", "0"]
    assert partner_row(staff, "FIEL Houston") == ["FIEL Houston", "fiel", "2", "0"]

    staff.goto(f"{base_url}/admin/letters/{SLUG}/signatures")
    for who in (ALDER, BRIDGEPORT, CEDAR):
        signature_article(staff, who.organization).get_by_role(
            "button", name="Approve", exact=True).click()
        expect(signature_article(staff, who.organization)).to_have_count(0)
    staff.goto(f"{base_url}/admin/letters/{SLUG}/signatures?status=approved&partner=fiel")
    expect(staff.locator("tr.signature")).to_have_count(2)

    staff.goto(f"{base_url}/admin/letters/{SLUG}/partners")
    assert partner_row(staff, "CASA de Maryland") == ["CASA de Maryland", "casa", "1", "1"]
    assert partner_row(staff, "FIEL Houston") == ["FIEL Houston", "fiel", "2", "2"]
    expect(staff.locator("table.partners")).to_contain_text("Through no partner")
