"""A Google Forms export imported in a real browser, at phone and desktop sizes: the organizer
uploads it from the Signatures page, reads the preview (the columns matched, Timestamp and Zip
ignored, the first rows with their accents right) and confirms; the rows are stored."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from test_browser import (  # noqa: F401  (fixtures used by name)
    DESKTOP,
    PHONE,
    SLUG,
    app_config,
    base_url,
    browse,
    browser,
    idle,
    live,
    log_in,
)
from test_import_preview import GOOGLE_FORMS

from campaign.extensions import db
from campaign.models import Signature

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("device", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_google_forms_export_is_previewed_then_imported_in_the_browser(
        browse, base_url, make_letter, organizer, device):  # noqa: F811
    make_letter()
    idle()
    page = browse.page(device)
    log_in(page, base_url)
    page.goto(f"{base_url}/admin/letters/{SLUG}/signatures")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "Sign-on responses.csv", "mimeType": "text/csv", "buffer": GOOGLE_FORMS}])
    page.get_by_role("button", name="Import", exact=True).click()

    expect(page.get_by_role("heading", name="Check the import of Sign-on responses.csv"))\
        .to_be_visible()
    idle()
    assert db.session.scalars(select(Signature.id)).all() == []  # nothing yet
    columns = page.locator("table.import-columns")
    expect(columns.locator("tr").filter(has_text="Contact Name")).to_contain_text("Contact name")
    expect(columns.locator("tr").filter(has_text="Timestamp"))\
        .to_contain_text("Ignored: not imported")
    expect(page.locator(".ignored-columns")).to_contain_text("Timestamp, Zip")
    expect(page.locator("main")).to_contain_text("read as Windows-1252 text")
    rows = page.locator("table.import-rows tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("Asociación de Trabajadores del Valle")
    expect(rows.first).to_contain_text("José Peña")
    expect(rows.nth(1)).to_contain_text("Centro Laboral Ñandú")
    expect(page.locator("ul.import-problems")).to_have_count(0)

    page.get_by_role("button", name="Confirm: import 3 signatories").click()
    expect(page.locator(".flash.success")).to_contain_text("Imported 3 signatories.")
    expect(page.locator("main")).to_contain_text("Asociación de Trabajadores del Valle")
    idle()
    stored = db.session.execute(select(Signature.organization, Signature.contact_name,
                                       Signature.status).order_by(Signature.id)).all()
    assert [tuple(row) for row in stored] == [
        ("Asociación de Trabajadores del Valle", "José Peña", "pending"),
        ("Centro Laboral Ñandú", "Ana Müller", "pending"),
        ("Unión de Jornaleros; Local 3", "", "pending")]
    idle()
