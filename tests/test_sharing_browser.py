"""Sharing a letter in a real browser (test_browser.py's served app and chromium): "Copy link"
puts the letter's address in the clipboard under the page's Content Security Policy; without
script the address is there to select, and no button that would do nothing."""
from __future__ import annotations

import pytest
import test_browser as served
from playwright.sync_api import expect
from test_browser import DESKTOP, SLUG

pytestmark = pytest.mark.browser
# the served app, its chromium and its mail, as test_browser.py makes them
app_config, live, base_url, browser, browse = (
    served.app_config, served.live, served.base_url, served.browser, served.browse)


def test_copy_link_puts_the_letters_address_in_the_clipboard(browse, base_url, make_letter):
    make_letter()
    page = browse.page({**DESKTOP, "permissions": ["clipboard-read", "clipboard-write"]})
    page.goto(f"{base_url}/letters/{SLUG}")
    share = page.get_by_role("region", name="Share this letter")
    expect(share.get_by_role("link", name="WhatsApp")).to_have_attribute(
        "href", f"https://wa.me/?text=Stop%20Forwarding%20Fingerprints%20"
                f"{base_url.replace(':', '%3A').replace('/', '%2F')}%2Fletters%2F{SLUG}")
    share.get_by_role("button", name="Copy link").click()
    expect(share.get_by_role("status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == f"{base_url}/letters/{SLUG}"


def test_without_script_the_address_is_shown_to_copy_by_hand(browse, base_url, make_letter):
    make_letter()
    page = browse.page({**DESKTOP, "java_script_enabled": False})
    page.goto(f"{base_url}/letters/{SLUG}")
    share = page.get_by_role("region", name="Share this letter")
    expect(share.get_by_label("The letter's address")).to_have_value(f"{base_url}/letters/{SLUG}")
    expect(share.get_by_role("button", name="Copy link")).to_be_hidden()
