"""Accessibility in a real browser: axe-core over every public and organizer page, at a phone's
and at a desktop's size; the error summary of an invalid form (focused, linking to each field);
no attribute rendered as "None"; the favicon; pages that fit a phone's width.

The page list is the app's url_map (every GET rule, filled with the world's values), so that a
new page is checked without anyone adding it here; only answers that are not HTML are skipped,
by name. The world is built once for the module, on SQLite only: what is checked here is the
HTML, which does not depend on the database (every other test runs on both).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from support import PASSWORD, password_hash
from support_apps import Site, module_site
from support_axe import AxeUnavailable, axe_source, described, violations
from test_browser import (  # noqa: F401  (browser: a fixture, used by name)
    DESKTOP,
    PHONE,
    STAFF_EMAIL,
    LiveServer,
    browser,
    fits_width,
)
from werkzeug.routing import Rule

from campaign import (
    accounts,
    import_previews,
    letters,
    partners,
    roles,
    signer_links,
    signing,
    tokens,
)
from campaign import translations as letter_translations
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Signature, SignatureImport, utcnow

pytestmark = pytest.mark.browser

SLUG = "keep-records-private"
DEVICES = {"phone": PHONE, "desktop": DESKTOP}
# GET addresses that answer something other than an HTML page: not for axe.
NOT_HTML = {
    "static", "public.healthz", "public.favicon", "public.letter_pdf", "public.share_png",
    "public.signers_csv", "public.signers_json", "embed.count_badge", "admin.export_csv",
    "admin.export_pdf", "admin.letter_file", "admin.history_csv", "admin.delivery_package",
}
INVITATION_TOKEN = "an-invitation-token-for-the-accessibility-test"
LONG_BODY = "\n\n".join(
    f"## Point {n}\n\nWe, the undersigned organizations, ask the county to **protect the privacy** "
    "of every resident: delete the records it no longer needs, require a warrant for any "
    "request, and publish a yearly count of the requests it received and answered."
    for n in range(1, 13)) + "\n"
# A spreadsheet as a Google Form exports it, with a row that has a problem, for the import preview.
GOOGLE_FORM = ("Timestamp;Organization;Contact Name;E-mail;City;State\r\n"
               "2026/05/01 10:00;Pima Food Bank;Lu Chen;lu@pima.example.org;Tucson;AZ\r\n"
               "2026/05/01 10:05;;No Name;not-an-address;Tucson;AZ\r\n").encode("cp1252")


# ------------------------------------------------------------------ the world, once


@dataclass
class Served:
    site: Site
    base: str
    values: dict[str, Any]
    axe: str
    contexts: dict[tuple[str, bool], BrowserContext] = field(default_factory=dict)


def add_signature(letter: Any, status: str = "approved", partner_id: int | None = None,
                  held: bool = False, **values: Any) -> Signature:
    data = {"organization": "Workers Alliance", "email": "org@example.org", "city": "Tucson",
            "region": "AZ", "scope": "local", "contact_name": "Ana Ruiz", "phone": "+1 555 0100",
            **values}
    signature = Signature(**signing.signature_values(
        letter, signing.SignerInput(**data), email=data["email"], status=status, source="web"),
        version_id=letter.current_version.id if letter.current_version else None)
    signature.partner_id, signature.held = partner_id, held
    db.session.add(signature)
    db.session.flush()
    return signature


def build_world() -> dict[str, Any]:
    """A long open letter with a Spanish translation, two versions, a partner, signatures in
    every state (a duplicate among them), an invitation and an import; a closed letter; and the
    values that fill every address's parameters."""
    text = letters.LetterText(title="Keep Library Records Private", slug=SLUG, body=LONG_BODY,
                              recipient="The County Board\nTucson, AZ", status="open",
                              deadline=utcnow() + timedelta(days=30))
    with writing():
        staff = accounts.create_organizer(STAFF_EMAIL, password_hash(), "Staff")
        letter = letters.create_or_update(text)
        letter.embed_origins = "*"
        letters.create_or_update(letters.LetterText(
            title="Fund the Night Buses", slug="night-buses", body="Run them all night.\n",
            status="closed"))
        partner = partners.add(letter, "casa", "CASA de Maryland")
        early = add_signature(letter, organization="Tucson Tenants Union",
                              email="early@example.org")
    with writing():  # a change of the text: the early signer is asked to confirm it
        letters.create_or_update(replace(text, body=LONG_BODY + "\nAnd answer in a month.\n"))
        letter_translations.save(letter, "es", "Mantengan privados los registros", "",
                                 "Les pedimos que protejan **la privacidad**.\n")
        pending = add_signature(letter, "pending", organization="Alder Street Workers",
                                email="alder@example.org", partner_id=partner.id)
        add_signature(letter, "pending", organization="Alder Street Workers",
                      email="alder-two@example.org")  # a duplicate
        add_signature(letter, "pending", organization="Spam Spam Spam", email="spam@example.net",
                      held=True)
        add_signature(letter, organization="Bridgeport Rights Network", scope="national",
                      email="bridgeport@example.org")
        add_signature(letter, "withdrawn", organization="Gone Away Collective",
                      email="gone@example.org")
        unconfirmed = add_signature(letter, "unconfirmed", organization="New Farmworkers",
                                    email="new@example.org")
        signer = signer_links.create(early)
        invitation = roles.invite(letter, "new-editor@example.net",
                                  roles.parse_role(letter, "editor"), invited_by=staff.id)
        invitation.token_hash = roles.digest(INVITATION_TOKEN)
        job = SignatureImport(letter_id=letter.id, organizer_id=staff.id, filename="members.csv",
                              total_rows=2, rows_done=2, status="done", finished_at=utcnow())
        db.session.add(job)
        db.session.flush()
    with writing():
        file = import_previews.readable("form-answers.csv", GOOGLE_FORM)
        preview = import_previews.keep(letter, staff.id, file, False)
    return {"slug": SLUG, "signature_id": pending.id, "partner_id": partner.id,
            "organizer_id": staff.id, "import_id": job.id, "language": "es",
            "token": {"public.confirm": tokens.make_token(unconfirmed),
                      "unsubscribe.page": tokens.unsubscribe_token(early.id),
                      "invitation.accept": INVITATION_TOKEN, "signer.page": signer,
                      "reconsent.page": signer, "admin.import_preview": preview.token}}


@pytest.fixture(scope="module")
def axe() -> str:
    """axe-core's source, fetched once (and cached); its absence fails the tests, loudly."""
    try:
        return axe_source()
    except AxeUnavailable as error:
        pytest.fail(f"axe-core is needed for the accessibility tests: {error}", pytrace=False)


@pytest.fixture(scope="module", params=["sqlite"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           browser: Browser, axe: str) -> Iterator[Served]:  # noqa: F811
    live = LiveServer()
    folder = tmp_path_factory.mktemp("accessibility")
    try:
        with module_site(request, folder, BASE_URL=live.url) as site:
            with site.context():
                values = build_world()
            live.start(site.app)
            served = Served(site, live.url, values, axe)
            yield served
            for context in served.contexts.values():
                context.close()
    finally:
        live.stop()


def context_for(served: Served, browser: Browser, device: str,  # noqa: F811
                organizer: bool) -> BrowserContext:
    """One browser context per size and visitor, kept for the module; axe-core is loaded into
    every page it opens (as the browser's own script, which the pages' CSP does not govern)."""
    key = (device, organizer)
    if key not in served.contexts:
        context = browser.new_context(**DEVICES[device])
        context.set_default_timeout(15_000)
        context.add_init_script(script=served.axe)
        served.contexts[key] = context
        if organizer:
            page = context.new_page()
            page.goto(served.base + "/login")
            page.get_by_label("Email").fill(STAFF_EMAIL)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("button", name="Log out")).to_be_visible()
            page.close()
    return served.contexts[key]


# ------------------------------------------------------------------ the pages


def path_of(rule: Rule, values: dict[str, Any]) -> str:
    missing = set(rule.arguments) - set(values)
    if "token" in rule.arguments and rule.endpoint not in values["token"]:
        missing.add(f"token of {rule.endpoint}")
    assert not missing, f"no example value for {missing} in {rule.rule}: add one to build_world"
    filled = {name: values[name][rule.endpoint] if name == "token" else values[name]
              for name in rule.arguments}
    built = rule.build(filled, append_unknown=False)
    assert built is not None, rule.rule
    return built[1]


# Other states of some pages, and the error page, with the status each answers, visited after
# the others (in order: the last one turns the interface back to English).
VARIANTS = {
    False: {"/letters/night-buses": 200, "/letters/night-buses/signers": 200,
            "/letters/no-such-letter": 404, f"/letters/{SLUG}?lang=es": 200, "/?lang=en": 200},
    True: {f"/admin/letters/{SLUG}/translations?language=es": 200,
           f"/admin/letters/{SLUG}/signatures?status=pending": 200},
}


def pages(served: Served, organizer: bool) -> dict[str, int]:
    """Every HTML page of the app, the organizers' (under /admin) or everyone else's, with the
    status it answers."""
    found = sorted(path_of(rule, served.values) for rule in served.site.app.url_map.iter_rules()
                   if "GET" in (rule.methods or ()) and rule.endpoint not in NOT_HTML
                   and roles.organizer_rule(rule.rule) == organizer)
    return {**dict.fromkeys(found, 200), **VARIANTS[organizer]}


NONE_ATTRIBUTES = """() => [...document.querySelectorAll('*')].flatMap(element =>
    [...element.attributes].filter(a => a.value === 'None')
        .map(a => `<${element.localName} ${a.name}="None">`))"""


# The innermost elements that reach past the screen's right edge (what makes a page too wide).
TOO_WIDE = """(width) => {
    const past = [...document.body.querySelectorAll('*')].filter(
        e => e.getBoundingClientRect().right > width + 1);
    return past.filter(e => !past.some(inner => inner !== e && e.contains(inner))).slice(0, 4)
        .map(e => e.localName + (e.className ? '.' + String(e.className).split(' ').join('.') : '')
             + ` (${Math.round(e.getBoundingClientRect().width)}px)`);
}"""


def problems_of(page: Page, path: str, device: str) -> list[str]:
    """What is wrong with the page as shown: axe-core's violations, attributes rendered as the
    word None, and (on a phone) a page wider than the screen."""
    where = f"{path} [{device}]"
    found = described(where, violations(page))
    found += [f"{where}: attribute rendered as None: {a}" for a in page.evaluate(NONE_ATTRIBUTES)]
    if device == "phone" and not fits_width(page):
        width = page.evaluate("document.documentElement.scrollWidth")
        found.append(f"{where}: wider than the phone's screen ({width}px) because of "
                     + ", ".join(page.evaluate(TOO_WIDE, PHONE["viewport"]["width"])))
    return found


def visit(page: Page, base: str, path: str, status: int) -> list[str]:
    response = page.goto(base + path)
    assert response is not None
    kind = response.headers.get("content-type", "")
    if response.status != status or not kind.startswith("text/html"):
        return [f"{path}: answered {response.status} {kind}: an HTML page was expected (add a "
                f"non-HTML address to NOT_HTML)"]
    return []


@pytest.mark.parametrize("organizer", [False, True], ids=["public", "organizer"])
@pytest.mark.parametrize("device", list(DEVICES))
def test_axe_finds_no_violation_on_any_page(served, browser, device, organizer):  # noqa: F811
    page = context_for(served, browser, device, organizer).new_page()
    paths = pages(served, organizer)
    assert len(paths) >= (12 if organizer else 10), paths
    problems = []
    for path, status in paths.items():
        answer = visit(page, served.base, path, status)
        problems += answer or problems_of(page, path, device)
    page.close()
    assert problems == [], "\n" + "\n".join(problems)


def test_the_checker_reports_what_it_should(served, browser):  # noqa: F811
    """axe-core runs, and a page with a fault is not passed: an image with no text alternative
    and an attribute rendered as None are both reported."""
    page = context_for(served, browser, "desktop", False).new_page()
    page.goto(served.base + "/")
    assert problems_of(page, "/", "desktop") == []
    page.evaluate("""() => {
        const image = document.createElement('img');
        image.src = '/static/favicon.svg';
        image.setAttribute('aria-describedby', 'None');
        document.querySelector('main').appendChild(image);
    }""")
    found = problems_of(page, "/", "desktop")
    page.close()
    assert any(": image-alt (critical)" in line for line in found), found
    assert any('<img aria-describedby="None">' in line for line in found), found


# ------------------------------------------------------------------ invalid forms


def summary_links(page: Page) -> dict[str, str]:
    """The error summary's links: their text, by the id of the element each one goes to."""
    expect(page).to_have_title(re.compile("^Error: "))
    summary = page.locator(".error-summary")
    expect(summary).to_have_count(1)
    expect(summary).to_be_focused()
    expect(summary).to_be_in_viewport()
    expect(summary.get_by_role("heading", name="There is a problem")).to_be_visible()
    links = summary.get_by_role("link")
    return {str(link.get_attribute("href")).lstrip("#"): link.inner_text()
            for link in links.all()}


@pytest.mark.parametrize("device", list(DEVICES))
def test_an_invalid_signature_shows_a_focused_summary_that_links_to_each_field(
        served, browser, device):  # noqa: F811
    page = context_for(served, browser, device, False).new_page()
    page.goto(f"{served.base}/letters/{SLUG}")
    page.get_by_label("Organization name").fill("Pima Food Bank")
    page.get_by_label("Email").fill("not-an-address")
    page.get_by_role("button", name="Sign").click()

    links = summary_links(page)
    assert "email" in links and "Email" in links["email"], links
    assert "consent" in links and "organization" not in links, links
    for target in links:
        expect(page.locator(f"[id='{target}']")).to_have_attribute("aria-invalid", "true")
    assert fits_width(page) or device == "desktop"
    problems = problems_of(page, "the sign form, rejected", device)

    page.locator(".error-summary").get_by_role("link", name=re.compile("^Email")).click()
    expect(page.get_by_label("Email")).to_be_focused()
    expect(page.get_by_label("Email")).to_be_in_viewport()
    page.close()
    assert problems == [], "\n" + "\n".join(problems)


def test_an_organizer_form_and_the_login_page_show_the_summary_too(served, browser):  # noqa: F811
    anonymous = context_for(served, browser, "phone", False).new_page()
    anonymous.goto(served.base + "/login")
    anonymous.get_by_role("button", name="Log in").click()  # nothing typed
    assert set(summary_links(anonymous)) == {"email", "password"}
    problems = problems_of(anonymous, "/login, rejected", "phone")
    anonymous.close()

    staff = context_for(served, browser, "desktop", True).new_page()
    staff.goto(served.base + "/admin/letters/new")
    staff.get_by_role("button", name="Save letter").click()  # no title, no text
    links = summary_links(staff)
    assert "title" in links, links
    staff.locator(".error-summary").get_by_role("link").first.click()
    expect(staff.locator(f"[id='{next(iter(links))}']")).to_be_focused()
    problems += problems_of(staff, "/admin/letters/new, rejected", "desktop")
    staff.close()
    assert problems == [], "\n" + "\n".join(problems)


# ------------------------------------------------------------------ the letters list on a phone


def test_the_letters_list_is_one_card_per_letter_on_a_phone(served, browser):  # noqa: F811
    page = context_for(served, browser, "phone", True).new_page()
    page.goto(served.base + "/admin/")
    assert fits_width(page)
    rows = page.locator("table.cards tbody tr")
    expect(rows).to_have_count(2)
    assert rows.first.evaluate("row => getComputedStyle(row).display") == "block"
    labels = rows.first.locator("td[data-label]").evaluate_all(
        "cells => cells.map(c => getComputedStyle(c, '::before').content)")
    assert labels == ['"Status: "', '"Deadline: "', '"Waiting: "', '"Listed: "',
                      '"Signed letter: "'], labels
    page.close()


# ------------------------------------------------------------------ the icon


def test_the_favicon_is_linked_and_answers_at_its_usual_address(served, browser):  # noqa: F811
    page = context_for(served, browser, "desktop", False).new_page()
    page.goto(served.base + "/")
    icon = page.locator("link[rel=icon]")
    expect(icon).to_have_attribute("href", "/static/favicon.svg")
    svg = page.request.get(served.base + "/static/favicon.svg")
    assert svg.ok and svg.headers["content-type"].startswith("image/svg+xml")
    ico = page.request.get(served.base + "/favicon.ico")
    assert ico.ok and ico.headers["content-type"] == "image/vnd.microsoft.icon"
    assert ico.body()[:4] == b"\x00\x00\x01\x00"  # an icon file's header
    static = Path(served.site.app.static_folder or "")
    assert ico.body() == (static / "favicon.ico").read_bytes()
    page.close()
