"""A long list of signatories: cut into sheets ahead of rendering (sheets.py), rendered in parts
in several processes at once and joined, numbered and titled as one document. The thresholds
are lowered here so that a few dozen signatories take that path."""
from __future__ import annotations

import io
import logging

import pypdf
import pytest
from support_pdf import one_line, pdf_pages

from campaign import render, sheets, signing
from campaign.extensions import db

PDF = "/letters/stop-forwarding.pdf"
SCOPES = ("national", "state", "local", "international")
LONG = "for Immigrant Rights and Economic Justice in the Greater Metropolitan Región"


@pytest.fixture(autouse=True)
def small_parts(monkeypatch):
    monkeypatch.setattr(render, "PARTS_FROM", 20)
    monkeypatch.setattr(render, "PART_SIGNATORIES", 12)


def names(count: int) -> list[str]:
    """Short, long and accented names, in four scopes (the listing order sorts them)."""
    return [f"Comité {n:03d} {LONG if n % 5 == 0 else 'Unidos'}" for n in range(count)]


@pytest.fixture
def long_list(make_letter):
    letter = make_letter(show_contact_names=True)
    letter.coalition_name = "Coalición por la Justicia Laboral"
    rows = [f'"{name}",Ana Ruiz,Tucson,AZ,United States,{SCOPES[n % 4]}'
            for n, name in enumerate(names(90))]
    signing.import_csv(letter, "organization,contact_name,city,region,country,scope\n"
                       + "\n".join(rows), approved=True)
    db.session.commit()
    return letter


@pytest.fixture
def long_pdf(client, long_list, caplog):
    caplog.set_level(logging.INFO, logger="campaign.render")
    response = client.get(PDF)
    assert response.status_code == 200
    return response.data


def squeezed(text: str) -> str:
    return "".join(text.split())


def test_a_long_list_is_cut_into_parts_after_the_letter(app, long_list):
    job = render.job(long_list, render.listed_entries(long_list), render.utcnow())
    assert len(job.parts) >= 4
    assert "Comité" not in job.parts[0] and "Signatories" not in job.parts[0]
    assert sum(job.pages) >= 3


def test_every_page_of_the_joined_parts_is_numbered_n_of_m_under_the_title(long_pdf, caplog):
    pages = [one_line(page) for page in pdf_pages(long_pdf)]
    assert len(pages) >= 5
    for number, page in enumerate(pages, start=1):
        assert page.endswith(f"Stop Forwarding Fingerprints Page {number} of {len(pages)}")
    assert not [r for r in caplog.records if "did not come out" in r.getMessage()]


def test_every_signatory_is_listed_once_whole_and_in_listing_order(long_pdf, long_list):
    pages = [squeezed(page) for page in pdf_pages(long_pdf)]
    expected = [squeezed(f"{e.shown_name}{e.place}{e.contact_name}")
                for e in render.listed_entries(long_list)]
    assert len(expected) == 90
    found = []
    for entry in expected:
        holding = [n for n, page in enumerate(pages) if entry in page]
        assert len(holding) == 1, entry
        found.append((holding[0], pages[holding[0]].index(entry)))
    assert found == sorted(found)


def test_the_parts_keep_two_columns(long_pdf):
    starts: set[int] = set()
    for page in pypdf.PdfReader(io.BytesIO(long_pdf)).pages[1:]:
        page.extract_text(visitor_text=lambda text, cm, tm, *_: starts.add(round(cm[4] + tm[4]))
                          if text.startswith("Comité") else None)
    assert len(starts) == 2, starts


def test_the_joined_pdf_has_the_letters_metadata_and_language(long_pdf):
    reader = pypdf.PdfReader(io.BytesIO(long_pdf))
    assert reader.metadata.title == "Stop Forwarding Fingerprints"
    assert reader.metadata.author == "Coalición por la Justicia Laboral"
    assert "signed by 90 organizations" in reader.metadata.subject
    assert reader.trailer["/Root"]["/Lang"] == "en"


def test_the_letterhead_is_on_the_first_page_only(long_pdf):
    pages = [one_line(page) for page in pdf_pages(long_pdf)]
    assert pages[0].startswith("Coalición por la Justicia Laboral")
    assert not any("Coalición por la Justicia Laboral" in page for page in pages[1:])


def test_parts_that_do_not_come_out_as_planned_give_way_to_one_pass(client, long_list, caplog,
                                                                    monkeypatch):
    monkeypatch.setattr(sheets, "PAGE_HEIGHT", 3000.0)  # sheets far too full for a page
    caplog.set_level(logging.WARNING, logger="campaign.render")
    response = client.get(PDF)
    assert response.status_code == 200
    pages = [one_line(page) for page in pdf_pages(response.data)]
    for number, page in enumerate(pages, start=1):
        assert page.endswith(f"Page {number} of {len(pages)}")
    text = squeezed(" ".join(pages))
    assert all(squeezed(name) in text for name in names(90))
    assert any("did not come out as planned" in r.getMessage() for r in caplog.records)


def test_a_name_is_never_given_fewer_lines_than_a_line_holds(app):
    assert sheets.lines("", "name") == 0
    assert sheets.lines("Sunrise Tenants Union", "name") == 1
    long_name = f"Red {LONG} {LONG}"
    assert sheets.lines(long_name, "name") >= 3
    assert sheets.lines("x" * 300, "name") >= 2  # one word wider than the line
    assert sheets.lines("東京都労働組合連合会" * 4, "name") >= 2  # no spaces, not in DejaVu
