"""The pages people use, driven in a real browser: Debian's chromium through Playwright.

The app is served for real on loopback (werkzeug, threaded), mail goes through the real test SMTP
server, and each test runs on SQLite and PostgreSQL like the rest of the suite. One chromium runs
for the whole module; every test opens its own browser contexts (separate cookie jars).
"""
from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Response,
    expect,
    sync_playwright,
)
from sqlalchemy import func, select
from support import PASSWORD, ROOT, with_smtp
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from campaign import letter_files, letters, outbox
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Signature

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
                         "is_mobile": True, "has_touch": True}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}}
SCREENSHOT = Path("/tmp/campaign-phone.png")

SLUG = "stop-forwarding"  # make_letter's default
STAFF_EMAIL = "staff@example.org"  # the organizer fixture's account (password support.PASSWORD)


# ------------------------------------------------------------------ the server


class QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without a log line per request (errors are still reported)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class LiveServer:
    """A real HTTP server on a free loopback port. It listens before the app exists, so that its
    address can go into the app's BASE_URL (the links in emails); the app is attached later."""

    def __init__(self) -> None:
        self.app: Any = None
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, self, threaded=True,
                                                  request_handler=QuietHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-server",
                                       daemon=True)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)

    def start(self, app: Any) -> None:
        self.app = app
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join(10)
        self.server.server_close()


@pytest.fixture
def live() -> Iterator[LiveServer]:
    server = LiveServer()
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp: Any, live: LiveServer) -> dict[str, Any]:
    return with_smtp(app_config, smtp, BASE_URL=live.url)


@pytest.fixture
def base_url(app: Any, live: LiveServer) -> str:
    """The served app's address. The test thread keeps its own app context for set-up and checks."""
    live.start(app)
    return live.url


def idle() -> None:
    """End the test thread's read transaction, so that its next read sees what the server has
    written since (on SQLite a transaction reads one snapshot from its first read to its end)."""
    db.session.rollback()


def deliver_mail(smtp: Any, expected: int) -> None:
    outbox.send_due()
    idle()
    smtp.wait(expected)
    assert len(smtp.messages) == expected


def status_of(email: str) -> str | None:
    try:
        return db.session.scalar(select(Signature.status).where(Signature.email == email))
    finally:
        idle()


def confirm_link(smtp: Any, email: str, base: str) -> str:
    """The one link in the plain-text part of the email sent to `email`."""
    (message,) = smtp.to(email)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    links = re.findall(r"https?://\S+", body.get_content())
    assert len(links) == 1, links
    assert links[0].startswith(base + "/confirm/"), links[0]
    return str(links[0])


# ------------------------------------------------------------------ the browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Browsing:
    """Opens pages in fresh contexts and watches them: console messages and 5xx responses."""

    browser: Browser
    console: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)

    def page(self, device: dict[str, Any]) -> Page:
        idle()
        context = self.browser.new_context(**device)
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", self._on_console)
        page.on("response", self._on_response)
        return page

    def _on_console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def _on_response(self, response: Response) -> None:
        if response.status >= 500:
            self.server_errors.append(f"{response.status} {response.url}")

    def csp_complaints(self) -> list[str]:
        return [m for m in self.console if "content security policy" in m.lower()]

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browse(browser: Browser, base_url: str) -> Iterator[Browsing]:
    """Every test's pages; afterwards, none may have hit a 5xx or a Content Security Policy
    refusal."""
    watcher = Browsing(browser)
    yield watcher
    watcher.close()
    assert watcher.server_errors == []
    assert watcher.csp_complaints() == []


# ------------------------------------------------------------------ steps


@dataclass
class Signer:
    organization: str
    contact_name: str
    email: str
    phone: str
    city: str
    region: str
    country: str
    scope: str  # the option's visible text


ALDER = Signer("The Alder Street Tenants Union", "Rosa Delgado", "rosa@alder-tenants.example.org",
               "+1 520 555 0142", "Tucson", "AZ", "United States", "Local")
BRIDGEPORT = Signer("Bridgeport Immigrant Rights Network", "Tomás Whitfield",
                    "tomas@bridgeport-rights.example.net", "+1 203 555 0199", "Bridgeport",
                    "Connecticut", "United States", "National")


def fill_sign_form(page: Page, who: Signer) -> None:
    page.get_by_label("Organization name").fill(who.organization)
    page.get_by_label("works at the level of").select_option(label=who.scope)
    page.get_by_label("City").fill(who.city)
    page.get_by_label("State / Region").fill(who.region)
    page.get_by_label("Country").select_option(label=who.country)
    page.get_by_label("Your name").fill(who.contact_name)
    page.get_by_label("Email").fill(who.email)
    page.get_by_label("Phone").fill(who.phone)
    page.get_by_label("I agree that our organization's name may be listed").check()
    page.get_by_label("I am authorized to sign").check()


def sign(page: Page, base: str, who: Signer) -> None:
    page.goto(f"{base}/letters/{SLUG}")
    fill_sign_form(page, who)
    page.get_by_role("button", name="Sign").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(page.locator("main")).to_contain_text(who.email)


def log_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(STAFF_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def signature_article(page: Page, organization: str) -> Locator:
    """The row of the moderation table (admin/signatures.html) whose shown name is this."""
    return page.locator("tr.signature").filter(has=page.locator(
        ".shown-name", has_text=re.compile(f"^{re.escape(organization)}$")))


def field_error(page: Page, label: str) -> str:
    """The error message tied to the input labelled `label`: named by its aria-describedby,
    visible, and inside the same field block as the input. Returns its text."""
    control = page.get_by_label(label)
    expect(control).to_have_attribute("aria-invalid", "true")
    described = (control.get_attribute("aria-describedby") or "").split()
    errors = [page.locator(f"[id='{ident}']") for ident in described]
    errors = [e for e in errors if "error" in (e.get_attribute("class") or "").split()]
    assert len(errors) == 1, described
    expect(errors[0]).to_be_visible()
    same_block = control.evaluate(
        "(input, id) => input.closest('.field') === document.getElementById(id).closest('.field')",
        errors[0].get_attribute("id"))
    assert same_block
    return errors[0].inner_text()


def fits_width(page: Page) -> bool:
    """No horizontal scroll. A mobile browser zooms out to show content wider than the screen,
    which widens window.innerWidth too, so both are compared with the screen's own width."""
    screen = PHONE["viewport"]["width"]
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return bool(scroll <= inner == screen)


# ------------------------------------------------------------------ scenarios


def test_two_signers_sign_confirm_and_appear_on_the_public_list_once_approved(
        browse, base_url, smtp, make_letter, make_signature, organizer):
    letter = make_letter()
    make_signature(letter, organization="Zuni Mutual Aid", scope="local")
    make_signature(letter, organization="Amistad Workers Center", scope="local")
    phone, desktop = browse.page(PHONE), browse.page(DESKTOP)

    sign(phone, base_url, ALDER)
    sign(desktop, base_url, BRIDGEPORT)
    deliver_mail(smtp, 2)

    for page, who in ((phone, ALDER), (desktop, BRIDGEPORT)):
        page.goto(confirm_link(smtp, who.email, base_url))
        expect(page.get_by_role("button", name="Confirm")).to_be_visible()
        assert status_of(who.email) == "unconfirmed"  # opening the link confirms nothing
        page.get_by_role("button", name="Confirm").click()
        expect(page.get_by_role("heading", name="confirmed")).to_be_visible()
        assert status_of(who.email) == "pending"

    staff = browse.page(DESKTOP)
    log_in(staff, base_url)
    staff.goto(f"{base_url}/admin/letters/{SLUG}/signatures")
    for who in (ALDER, BRIDGEPORT):
        article = signature_article(staff, who.organization)
        article.get_by_role("button", name="Approve", exact=True).click()
        expect(staff.get_by_role("status")).to_contain_text("Approved 1 signature")
        expect(signature_article(staff, who.organization)).to_have_count(0)

    phone.goto(f"{base_url}/letters/{SLUG}/signers")
    assert phone.locator("main section h2").all_inner_texts() == [
        "National organizations", "Local organizations"]
    assert phone.locator("ul.signatories .org").all_inner_texts() == [
        "Bridgeport Immigrant Rights Network",
        "The Alder Street Tenants Union", "Amistad Workers Center", "Zuni Mutual Aid"]
    html = phone.content()
    for who in (ALDER, BRIDGEPORT):
        assert who.email not in html
        assert who.phone not in html
    assert "@" not in phone.locator("main").inner_text()


def test_bad_input_shows_a_message_at_each_field_and_keeps_what_was_typed(
        browse, base_url, make_letter):
    make_letter()
    page = browse.page(DESKTOP)
    page.goto(f"{base_url}/letters/{SLUG}")
    fill_sign_form(page, replace(BRIDGEPORT, email="tomas-at-bridgeport", country="Canada",
                                 region="Ontario", city="Windsor"))
    page.get_by_label("I agree that our organization's name may be listed").uncheck()
    page.get_by_role("button", name="Sign").click()

    expect(page.get_by_role("alert")).to_contain_text("Please correct the fields marked below")
    assert "email" in field_error(page, "Email").lower()
    assert "agree" in field_error(page, "I agree that our organization's name").lower()
    expect(page.get_by_label("Email")).to_have_accessible_description(re.compile("email", re.I))
    expect(page.locator(".field.has-error")).to_have_count(2)

    expect(page.get_by_label("Email")).to_have_value("tomas-at-bridgeport")
    expect(page.get_by_label("Organization name")).to_have_value(BRIDGEPORT.organization)
    expect(page.get_by_label("Your name")).to_have_value(BRIDGEPORT.contact_name)
    expect(page.get_by_label("City")).to_have_value("Windsor")
    expect(page.get_by_label("State / Region")).to_have_value("Ontario")
    expect(page.get_by_label("Country")).to_have_value("Canada")
    expect(page.get_by_label("works at the level of")).to_have_value("national")
    expect(page.get_by_label("I am authorized to sign")).to_be_checked()
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 0
    idle()


def test_organizer_writes_previews_publishes_and_revises_a_letter(browse, base_url, organizer):
    page = browse.page(DESKTOP)
    log_in(page, base_url)
    page.goto(f"{base_url}/admin/letters/new")
    page.get_by_label("Title", exact=True).fill("Keep Library Records Private")
    page.get_by_label("Letter (Markdown)").fill(
        "We ask the county to protect **the privacy of every reader**.\n\n"
        "- Delete borrowing records after return\n- Require a warrant for any record\n")
    page.get_by_label("Status").select_option(label="Open")

    page.get_by_role("button", name="Preview").click()
    preview = page.get_by_role("region", name="Preview")
    expect(preview.locator("strong")).to_have_text("the privacy of every reader")
    expect(preview.locator("li")).to_have_count(2)
    expect(page.get_by_label("Title", exact=True)).to_have_value("Keep Library Records Private")

    page.get_by_role("button", name="Save letter").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    page.goto(f"{base_url}/letters/keep-library-records-private")
    expect(page.get_by_role("heading", level=1)).to_have_text("Keep Library Records Private")
    expect(page.locator("article.letter strong")).to_have_text("the privacy of every reader")

    page.goto(f"{base_url}/admin/letters/keep-library-records-private/edit")
    page.get_by_label("Letter (Markdown)").fill(
        "We ask the county to protect **the privacy of every reader**.\n\n"
        "- Delete borrowing records after return\n- Require a warrant for any record\n"
        "- Publish a yearly count of requests\n")
    page.get_by_role("button", name="Save letter").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    page.goto(f"{base_url}/admin/letters/keep-library-records-private/versions")
    expect(page.locator("details.version")).to_have_count(2)
    expect(page.locator("details.version summary").first).to_contain_text("Version 2")


def example_letter() -> str:
    """The example letter shipped in letters/, open and without its deadline; returns its slug."""
    text = letter_files.parse_file(ROOT / "letters" / "stop-fingerprint-forwarding.md", UTC)
    with writing():
        letters.create(replace(text, status="open", deadline=None))
    idle()
    return text.slug


def test_letter_page_and_sign_form_fit_a_phone_screen(browse, base_url):
    slug = example_letter()
    page = browse.page(PHONE)
    page.goto(f"{base_url}/letters/{slug}")
    expect(page.get_by_label("Organization name")).to_be_visible()
    assert fits_width(page)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.get_by_role("button", name="Sign").click()  # empty: every required field complains
    expect(page.get_by_role("alert")).to_be_visible()
    page.wait_for_load_state("load")  # measured before the stylesheet applies, the page is wider
    assert fits_width(page)


def test_signers_page_fits_a_phone_screen(browse, base_url, make_letter, make_signature):
    letter = make_letter()
    for organization, scope, city, region in [
        ("Red Nacional de Jornaleros Unidos", "national", "Los Angeles", "CA"),
        ("Asociación de Trabajadores del Valle", "state", "Fresno", "CA"),
        ("The Greater Southwestern Interfaith Coalition for Immigrant Dignity and Due Process",
         "local", "Albuquerque", "New Mexico"),
        ("Comité-de-Solidaridad-Internacional-con-los-Trabajadores-Migrantes", "international",
         "Ciudad Juárez", "Chihuahua"),
    ]:
        make_signature(letter, organization=organization, scope=scope, city=city, region=region)
    page = browse.page(PHONE)
    page.goto(f"{base_url}/letters/{SLUG}/signers")
    expect(page.locator("ul.signatories li")).to_have_count(4)
    assert fits_width(page)


def test_every_page_renders_styled_without_a_content_security_policy_refusal(
        browse, base_url, smtp, make_letter, organizer):
    make_letter()
    page = browse.page(DESKTOP)
    visited = [f"/letters/{SLUG}"]
    page.goto(base_url + "/")
    page.goto(f"{base_url}/letters/{SLUG}")
    page.get_by_role("button", name="Sign").click()
    expect(page.get_by_role("alert")).to_be_visible()
    sign(page, base_url, ALDER)
    deliver_mail(smtp, 1)
    page.goto(confirm_link(smtp, ALDER.email, base_url))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="confirmed")).to_be_visible()
    visited.append(f"/letters/{SLUG}/signers")
    log_in(page, base_url)
    visited += ["/admin/", "/admin/outbox", f"/admin/letters/{SLUG}/signatures",
                f"/admin/letters/{SLUG}/edit", f"/admin/letters/{SLUG}/versions"]
    for path in visited:
        page.goto(base_url + path)
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(251, 250, 247)", path  # style.css applied
    page.goto(f"{base_url}/admin/letters/{SLUG}/edit")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("region", name="Preview")).to_be_visible()
    assert browse.csp_complaints() == []


def test_the_content_security_policy_refuses_inline_style_and_the_console_says_so(
        browse, base_url, make_letter):
    make_letter()
    page = browse.page(DESKTOP)
    page.goto(f"{base_url}/letters/{SLUG}")
    page.evaluate("""() => {
        const style = document.createElement('style');
        style.textContent = 'body { background: rgb(255, 0, 0); }';
        document.head.appendChild(style);
    }""")
    expect(page.locator("body")).to_have_css("background-color", "rgb(251, 250, 247)")
    assert any("Content Security Policy" in m for m in browse.console), browse.console
    browse.console.clear()  # the refusal was provoked on purpose
