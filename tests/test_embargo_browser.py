"""A collecting letter in a real browser: a signer signs it and sees no count and no list; an
organizer opens it to the public; the list appears. The server, the browser and the mail are the
ones tests/test_browser.py sets up."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from test_browser import (  # noqa: F401  (fixtures used by name)
    ALDER,
    DESKTOP,
    PHONE,
    SLUG,
    app_config,
    base_url,
    browse,
    browser,
    confirm_link,
    deliver_mail,
    live,
    log_in,
    sign,
    status_of,
)

pytestmark = pytest.mark.browser


def test_a_collecting_letter_is_signed_in_private_then_opened_by_an_organizer(
        browse, base_url, smtp, make_letter, make_signature, organizer):  # noqa: F811
    make_letter(status="collecting", require_approval=False)
    signer = browse.page(PHONE)

    response = signer.goto(f"{base_url}/letters/{SLUG}")
    assert response is not None and response.headers.get("x-robots-tag") == "noindex"
    expect(signer.locator('meta[name="robots"]')).to_have_attribute("content", "noindex")
    expect(signer.locator(".count")).to_have_count(0)
    expect(signer.get_by_role("link", name="signed")).to_have_count(0)
    expect(signer.get_by_role("link", name="PDF")).to_have_count(0)
    expect(signer.locator("main")).to_contain_text("published when it is")

    sign(signer, base_url, ALDER)
    deliver_mail(smtp, 1)
    signer.goto(confirm_link(smtp, ALDER.email, base_url))
    signer.get_by_role("button", name="Confirm").click()
    expect(signer.get_by_role("heading", name="confirmed")).to_be_visible()
    expect(signer.get_by_role("link", name="Who has signed")).to_have_count(0)
    assert status_of(ALDER.email) == "approved"

    assert signer.goto(f"{base_url}/letters/{SLUG}/signers").status == 404
    signer.goto(f"{base_url}/")
    expect(signer.locator("main")).not_to_contain_text("Stop Forwarding Fingerprints")

    staff = browse.page(DESKTOP)
    log_in(staff, base_url)
    staff.goto(f"{base_url}/admin/letters/{SLUG}/signatures?status=approved")
    expect(staff.locator("main")).to_contain_text(ALDER.organization)  # organizers see it
    staff.goto(f"{base_url}/admin/letters/{SLUG}/edit")
    expect(staff.get_by_role("heading", name="Collecting: private until launch")).to_be_visible()
    staff.get_by_role("button", name="Open to the public now").click()
    expect(staff.get_by_role("status")).to_contain_text("The letter is open")
    expect(staff.get_by_role("button", name="Open to the public now")).to_have_count(0)

    response = signer.goto(f"{base_url}/letters/{SLUG}")
    assert response is not None and response.headers.get("x-robots-tag") is None
    expect(signer.locator(".count strong")).to_have_text("1")
    signer.locator(".count").get_by_role("link", name="has signed").click()
    expect(signer.locator("ul.signatories .org")).to_have_text([ALDER.organization])
    assert ALDER.email not in signer.content()
    signer.goto(f"{base_url}/")
    expect(signer.locator("main")).to_contain_text("Stop Forwarding Fingerprints")
