"""The signer's own page in a real browser (test_browser.py's served app, chromium and mail): sign,
confirm from the email, follow Manage, correct a detail, withdraw, and see the public list
without the name."""
from __future__ import annotations

import re

import pytest
import test_browser as served
from playwright.sync_api import expect
from test_browser import (
    ALDER,
    DESKTOP,
    PHONE,
    SLUG,
    confirm_link,
    deliver_mail,
    fits_width,
    idle,
    sign,
)

from campaign.extensions import db
from campaign.models import Signature

pytestmark = pytest.mark.browser
# the served app, its chromium and its mail, as test_browser.py makes them
app_config, live, base_url, browser, browse = (
    served.app_config, served.live, served.base_url, served.browser, served.browse)


def test_a_signer_manages_then_withdraws_their_signature_and_leaves_the_public_list(
        browse, base_url, smtp, make_letter, make_signature):
    letter = make_letter(require_approval=False)
    make_signature(letter, organization="Zuni Mutual Aid")
    page = browse.page(PHONE)
    sign(page, base_url, ALDER)
    deliver_mail(smtp, 1)
    page.goto(confirm_link(smtp, ALDER.email, base_url))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="confirmed")).to_be_visible()
    manage = page.get_by_role("link", name="Manage your signature")
    mailed = manage.get_attribute("href")

    deliver_mail(smtp, 2)  # the receipt carries the same link
    receipt = smtp.to(ALDER.email)[-1].get_body(preferencelist=("plain",)).get_content()
    assert f"{base_url}{mailed}" in re.findall(r"https?://\S+", receipt)

    manage.click()
    expect(page.get_by_role("heading", name="Your signature", exact=True)).to_be_visible()
    expect(page.locator("main")).to_contain_text("Listed on the public list")
    expect(page.get_by_label("Phone")).to_have_value(ALDER.phone)  # their own, on their page
    assert fits_width(page)
    page.get_by_label("City").fill("Phoenix")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_contain_text("Your changes are saved.")
    expect(page.get_by_label("City")).to_have_value("Phoenix")

    page.get_by_role("button", name="Withdraw my signature").click()
    expect(page.get_by_role("heading", name="Withdraw your signature from")).to_be_visible()
    page.get_by_role("button", name="Withdraw my signature").click()
    expect(page.get_by_role("status")).to_contain_text("Your signature is withdrawn")
    expect(page.get_by_role("button", name="Withdraw my signature")).to_have_count(0)

    public = browse.page(DESKTOP)
    public.goto(f"{base_url}/letters/{SLUG}/signers")
    expect(public.locator("main")).to_contain_text("Zuni Mutual Aid")
    expect(public.locator("main")).not_to_contain_text(ALDER.organization)
    idle()
    signature = db.session.query(Signature).filter_by(email=ALDER.email).one()
    assert (signature.status, signature.city) == ("withdrawn", "Phoenix")
