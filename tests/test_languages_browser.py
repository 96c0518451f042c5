"""Issue #14's walk in a real browser (test_browser.py's served app, chromium and mail): an open
English letter and its Spanish translation, both imported from letter files on the command line.
A visitor reads the Spanish page, signs on its Spanish form (a bad address answered in Spanish),
gets a Spanish email and confirms in Spanish; another signs the English page in English. Once the
organizer approves both, the one public list has both, and the Spanish PDF the worker makes
lists them under Spanish headings, date and page footers.

The Spanish words expected are the catalog's own (campaign/translations/es), read from the .po:
each must be translated there, and the pages must show that translation."""
from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
import test_browser as served
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from playwright.sync_api import Page, expect
from sqlalchemy import select
from support import do_render_jobs
from support_pdf import one_line, pdf_pages
from test_browser import (
    ALDER,
    BRIDGEPORT,
    DESKTOP,
    SLUG,
    Signer,
    confirm_link,
    deliver_mail,
    field_error,
    idle,
    log_in,
    sign,
    signature_article,
)

from campaign.dates import local
from campaign.extensions import db
from campaign.i18n import TRANSLATIONS
from campaign.models import Signature, utcnow
from campaign.pdf import child

pytestmark = pytest.mark.browser
# the served app, its chromium and its mail, as test_browser.py makes them
app_config, live, base_url, browser, browse = (
    served.app_config, served.live, served.base_url, served.browser, served.browse)

TITLE = "Protect the Wages of Day Laborers"
TITULO = "Proteger los salarios de los jornaleros"
ENGLISH = f"""---
title: {TITLE}
slug: {SLUG}
recipient: |
  The Secretary of Labor
  Washington, DC
status: open
language: en
---
We, the undersigned organizations, ask the Department to **recover unpaid wages** for day
laborers within thirty days of a claim.
"""
SPANISH = f"""---
title: {TITULO}
slug: {SLUG}
recipient: |
  Secretaría de Trabajo
  Washington, DC
language: es
---
Las organizaciones firmantes pedimos al Departamento que **recupere los salarios no pagados** a
los jornaleros dentro de los treinta días de cada reclamo.
"""
# a Spanish-speaking signer; the English one is test_browser's ALDER
ROBLE = replace(BRIDGEPORT, organization="Centro de Jornaleros El Roble",
                contact_name="Ana Beltrán", email="ana@elroble.example.org")
MONTHS = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
          "septiembre", "octubre", "noviembre", "diciembre")


@pytest.fixture
def warm_worker() -> Iterator[None]:
    """As `campaign worker` runs: the next render's WeasyPrint loaded ahead (here while the
    browser signs), and once each render starts, the next."""
    child.keep_warm()
    yield
    child.keep_warm(False)


@functools.cache
def spanish() -> Catalog:
    with (TRANSLATIONS / "es" / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale="es")


def es(msgid: str, **values: Any) -> str:
    """The Spanish catalog's translation of `msgid` (which it must have, not fuzzy), filled in."""
    message = spanish().get(msgid)
    assert message is not None and message.string and not message.fuzzy, \
        f"the Spanish catalog does not translate {msgid!r}"
    return str(message.string) % values if values else str(message.string)


def fill_spanish_form(page: Page, who: Signer) -> None:
    """test_browser.fill_sign_form, by the Spanish labels."""
    page.get_by_label(es("Organization name"), exact=True).fill(who.organization)
    page.get_by_label(es("Your organization works at the level of")).select_option(
        label=es(who.scope))
    page.get_by_label(es("City"), exact=True).fill(who.city)
    page.get_by_label(es("State / Region"), exact=True).fill(who.region)
    page.get_by_label(es("Country"), exact=True).select_option(value=who.country)
    page.get_by_label(es("Your name"), exact=True).fill(who.contact_name)
    page.get_by_label(es("Email"), exact=True).fill(who.email)
    page.get_by_label(es("I agree that our organization's name may be listed publicly as a "
                         "signatory")).check()
    page.get_by_label(es("I am authorized to sign on behalf of this organization")).check()


def import_letter(runner: Any, folder: Path) -> None:
    """The English letter, then its Spanish file (a translation: same slug, other language)."""
    for name, text in (("letter.md", ENGLISH), ("letter.es.md", SPANISH)):
        path = folder / name
        path.write_text(text, encoding="utf-8")
        result = runner.invoke(args=["import-letter", str(path)])
        assert result.exit_code == 0, result.output
    idle()


def test_a_spanish_visitor_signs_in_spanish_and_the_spanish_pdf_lists_both_signers(
        browse, base_url, smtp, runner, organizer, tmp_path, warm_worker):
    import_letter(runner, tmp_path)

    # the Spanish page: its title, and a form, labels, button and error message in Spanish
    visitor = browse.page(DESKTOP)
    visitor.goto(f"{base_url}/letters/{SLUG}?lang=es")
    expect(visitor.locator("html")).to_have_attribute("lang", "es")
    expect(visitor.get_by_role("heading", level=1)).to_have_text(TITULO)
    expect(visitor.locator("article.letter")).to_have_attribute("lang", "es")
    expect(visitor.locator("article.letter")).to_contain_text("recupere los salarios")
    form = visitor.locator("section.sign form")
    for word in ("Nombre", "Correo", "Ciudad", "País"):
        expect(form.locator("label").filter(has_text=word).first).to_be_visible()
    button = visitor.get_by_role("button", name=es("Sign the letter"))
    expect(button).to_contain_text("Firmar")

    fill_spanish_form(visitor, replace(ROBLE, email="ana-en-elroble"))
    button.click()
    expect(visitor.get_by_role("alert")).to_have_text(es("Please correct the fields marked "
                                                         "below."))
    assert field_error(visitor, es("Email")) == es("Invalid email address.")
    assert field_error(visitor, es("Email")) != "Invalid email address."
    expect(visitor.get_by_label(es("Organization name"))).to_have_value(ROBLE.organization)

    visitor.get_by_label(es("Email"), exact=True).fill(ROBLE.email)
    visitor.get_by_role("button", name=es("Sign the letter")).click()
    expect(visitor.get_by_role("heading", name=es("Check your email"))).to_be_visible()
    expect(visitor.locator("main")).to_contain_text(ROBLE.email)
    expect(visitor.locator("html")).to_have_attribute("lang", "es")  # kept by the cookie

    # the email, through the worker's outbox and the SMTP server, is in Spanish
    deliver_mail(smtp, 1)
    (mail,) = smtp.to(ROBLE.email)
    prefix = es("Confirm your signature: %(title)s").split("%(title)s")[0]
    assert prefix.strip() and mail["Subject"].startswith(prefix), mail["Subject"]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert es("Hello,") in text
    assert es("Open this link: the page shows what was sent, and a Confirm button to press if "
              "it is right.") in " ".join(text.split())

    visitor.goto(confirm_link(smtp, ROBLE.email, base_url))
    confirm = visitor.get_by_role("button", name=es("Confirm my signature"))
    expect(confirm).to_contain_text("Confirmar")
    confirm.click()
    expect(visitor.get_by_role("heading", level=1)).to_have_text(
        es("Thank you: your signature is confirmed"))
    expect(visitor.locator("p.manage a")).to_contain_text("Gestionar")

    # an English visitor signs the English page, in English
    english = browse.page({**DESKTOP, "locale": "en-US"})
    sign(english, base_url, ALDER)
    expect(english.locator("html")).to_have_attribute("lang", "en")
    english.goto(f"{base_url}/letters/{SLUG}")
    expect(english.get_by_role("heading", level=1)).to_have_text(TITLE)
    deliver_mail(smtp, 3)  # the Spanish signer's receipt, the English signer's link
    (receipt,) = [m for m in smtp.to(ROBLE.email) if m is not mail]
    assert receipt["Subject"].startswith(es("Your signature: %(title)s").split("%(title)s")[0])
    english.goto(confirm_link(smtp, ALDER.email, base_url))
    english.get_by_role("button", name="Confirm").click()
    expect(english.get_by_role("heading", name="confirmed")).to_be_visible()

    # the organizer approves both; the one public list has both
    staff = browse.page(DESKTOP)
    log_in(staff, base_url)
    staff.goto(f"{base_url}/admin/letters/{SLUG}/signatures")
    for who in (ROBLE, ALDER):
        signature_article(staff, who.organization).get_by_role(
            "button", name="Approve", exact=True).click()
        expect(signature_article(staff, who.organization)).to_have_count(0)
    listed = requests.get(f"{base_url}/letters/{SLUG}/signers.json", timeout=10).json()
    assert listed["count"] == 2
    assert sorted(row["organization"] for row in listed["signatories"]) == sorted(
        [ROBLE.organization, ALDER.organization])
    idle()  # each signature keeps the language it was made in, and the version of that text
    made = {row.organization: (row.language, row.version.language)
            for row in db.session.scalars(select(Signature))}
    assert made == {ROBLE.organization: ("es", "es"), ALDER.organization: ("en", "en")}
    spanish_list = requests.get(f"{base_url}/letters/{SLUG}/signers.json?lang=es",
                                timeout=10).json()
    assert spanish_list["signatories"] == listed["signatories"]

    # the worker makes a PDF for each language, with the same list
    idle()
    waiting = requests.get(f"{base_url}/letters/{SLUG}.pdf?lang=es", timeout=10)
    assert waiting.status_code == 503 and "Retry-After" in waiting.headers
    do_render_jobs()
    idle()
    answer = requests.get(f"{base_url}/letters/{SLUG}.pdf?lang=es", timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/pdf"
    pages = [one_line(page) for page in pdf_pages(answer.content)]
    text = " ".join(pages)
    assert TITULO in text and "recupere los salarios no pagados" in text
    assert TITLE not in text
    assert ROBLE.organization in text and ALDER.organization in text
    assert es("Signatories") in text
    today = local(utcnow())
    dates = re.findall(r"\b\d{1,2} de (" + "|".join(MONTHS) + r") de (\d{4})\b", text)
    assert (MONTHS[today.month - 1], str(today.year)) in dates, text[:400]
    for number, page in enumerate(pages, start=1):
        assert es("Page %(page)s of %(pages)s", page=number, pages=len(pages)) in page

    original = requests.get(f"{base_url}/letters/{SLUG}.pdf", timeout=10)
    assert original.status_code == 200
    english_text = one_line(" ".join(pdf_pages(original.content)))
    assert TITLE in english_text and TITULO not in english_text
    assert ROBLE.organization in english_text and ALDER.organization in english_text
    assert f"Page 1 of {len(pdf_pages(original.content))}" in english_text
    assert f"{today:%B} {today.day}, {today.year}" in english_text
    assert not re.search(r"\bde (" + "|".join(MONTHS) + r") de\b", english_text)
