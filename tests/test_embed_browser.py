"""The embed on partner sites, in a real browser: two tiny partner sites on their own local
servers frame the letter's embed; the one the letter allows shows the form, and a signer signs
inside the frame and confirms from the email; the other is refused. The app, the browser and
the mail are the ones tests/test_browser.py sets up.

The app is served at http://127.0.0.1:<port>; the allowed partner at http://localhost:<port>
(another site, so its frame is a third-party context), the refused one at
http://127.0.0.1:<another port> (the same site, but another origin). Chromium neither sends nor
keeps the app's session cookie in a third-party frame (it is SameSite=Lax, and an http page can
set no SameSite=None cookie), so the frame signs exactly as with third-party cookies blocked: the
test checks that the browser kept no cookie of the app at all."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Browser, FrameLocator, Page, expect
from sqlalchemy import select
from test_browser import (  # noqa: F401  (fixtures used by name)
    ALDER,
    DESKTOP,
    SLUG,
    app_config,
    base_url,
    browse,
    browser,
    confirm_link,
    deliver_mail,
    fill_sign_form,
    idle,
    live,
)

from campaign import partners
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Signature

pytestmark = pytest.mark.browser


class PartnerSite:
    """A partner's web page on a server of its own: one page holding a frame of `embed`."""

    def __init__(self, host: str) -> None:
        self.embed = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802  (http.server's name)
                body = (f'<!doctype html><title>Partner</title><h1>Our campaign</h1>'
                        f'<iframe src="{site.embed}" title="Sign the letter" width="700" '
                        f'height="1400"></iframe>').encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sites() -> Iterator[tuple[PartnerSite, PartnerSite]]:
    allowed, refused = PartnerSite("localhost"), PartnerSite("127.0.0.1")
    yield allowed, refused
    allowed.stop()
    refused.stop()


def the_form(page: Page) -> FrameLocator:
    return page.frame_locator("iframe")


def test_a_signer_signs_inside_an_allowed_partners_frame_and_another_site_is_refused(
        browse, browser: Browser, base_url, smtp, sites, make_letter):  # noqa: F811
    allowed, refused = sites
    letter = make_letter(embed_origins=allowed.origin, require_approval=False)
    with writing():
        casa = partners.add(letter, "casa", "CASA de Maryland", actor="test")
    idle()
    for site in sites:
        site.embed = f"{base_url}/letters/{SLUG}/embed?ref=casa"

    # another origin: the browser refuses to show the embed in its frame
    outsider = browser.new_context(**DESKTOP)
    complaints: list[str] = []
    other = outsider.new_page()
    other.on("console", lambda message: complaints.append(message.text))
    other.goto(refused.origin)
    expect(other.get_by_role("heading", name="Our campaign")).to_be_visible()
    other.wait_for_timeout(500)
    assert the_form(other).get_by_role("button", name="Sign").count() == 0
    assert any("frame-ancestors" in text for text in complaints), complaints
    outsider.close()

    # the allowed origin: the form, signed inside the frame
    page = browse.page(DESKTOP)
    page.goto(allowed.origin)
    frame = the_form(page)
    expect(frame.get_by_role("heading", name="Stop Forwarding Fingerprints")).to_be_visible()
    expect(frame.locator(".count")).to_contain_text("0 organizations have signed")
    fill_sign_form(frame, ALDER)  # type: ignore[arg-type]  (a frame has the same locators)
    frame.get_by_role("button", name="Sign").click()
    expect(frame.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(frame.locator("main")).to_contain_text(ALDER.email)
    assert page.url.rstrip("/") == allowed.origin  # the partner's page stayed where it was
    assert page.context.cookies(base_url) == []  # signed with no cookie of the app at all

    idle()
    signature = db.session.scalar(select(Signature).where(Signature.email == ALDER.email))
    assert signature is not None and signature.partner_id == casa.id
    idle()

    # the link in the email opens at the top level, in the signer's own tab
    deliver_mail(smtp, 1)
    mail = browse.page(DESKTOP)
    mail.goto(confirm_link(smtp, ALDER.email, base_url))
    mail.get_by_role("button", name="Confirm").click()
    expect(mail.get_by_role("heading", name="confirmed")).to_be_visible()

    page.reload()
    expect(the_form(page).locator(".count")).to_contain_text("1 organization has signed")
    mail.goto(f"{base_url}/letters/{SLUG}/count.svg")
    expect(mail.locator("svg")).to_contain_text("1 organization")

    # "*": every site may frame it, the other origin too
    with writing():
        letter.embed_origins = "*"
    idle()
    anyone = browse.page(DESKTOP)
    anyone.goto(refused.origin)
    expect(the_form(anyone).get_by_role("button", name="Sign")).to_be_visible()
