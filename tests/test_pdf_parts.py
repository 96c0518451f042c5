"""A long list of signatories: cut into sheets ahead of rendering (sheets.py), rendered in parts
in several processes at once and joined, numbered and titled as one document. The thresholds
are lowered here so that a few dozen signatories take that path. The list is given (built in
memory, in listing order), so these run once, without a database."""
from __future__ import annotations

import io
import logging

import pypdf
import pytest
from support_pdf import (
    entry,
    in_listing_order,
    letter_in_memory,
    one_line,
    pdf_pages,
    rendered,
    warnings_logged,
)

from campaign.models import utcnow
from campaign.pdf import html, sheets

SCOPES = ("national", "state", "local", "international")
LONG = "for Immigrant Rights and Economic Justice in the Greater Metropolitan Región"
COALITION = "Coalición por la Justicia Laboral"


def names(count: int) -> list[str]:
    """Short, long and accented names, in four scopes (the listing order sorts them)."""
    return [f"Comité {n:03d} {LONG if n % 5 == 0 else 'Unidos'}" for n in range(count)]


LETTER = letter_in_memory(show_contact_names=True, coalition_name=COALITION)
ROWS = in_listing_order(entry(n + 1, name, scope=SCOPES[n % 4], contact_name="Ana Ruiz")
                        for n, name in enumerate(names(90)))


@pytest.fixture(scope="module", autouse=True)
def small_parts():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(html, "PARTS_FROM", 20)
        mp.setattr(html, "PART_SIGNATORIES", 12)
        yield


@pytest.fixture(scope="module")
def long_pdf(bare_app, small_parts):
    """The long list's PDF, rendered once for the module, in parts."""
    with bare_app.app_context(), warnings_logged("campaign.pdf") as warned:
        data = rendered(LETTER, ROWS)
    assert not [w for w in warned if "did not come out" in w], warned  # not in one pass
    return data


def squeezed(text: str) -> str:
    return "".join(text.split())


def test_a_long_list_is_cut_into_parts_after_the_letter(bare):
    job = html.job(LETTER, ROWS, utcnow())
    assert len(job.parts) >= 4
    assert "Comité" not in job.parts[0] and "Signatories" not in job.parts[0]
    assert sum(job.pages) >= 3


def test_every_page_of_the_joined_parts_is_numbered_n_of_m_under_the_title(long_pdf):
    pages = [one_line(page) for page in pdf_pages(long_pdf)]
    assert len(pages) >= 5
    for number, page in enumerate(pages, start=1):
        assert page.endswith(f"Stop Forwarding Fingerprints Page {number} of {len(pages)}")


def test_every_signatory_is_listed_once_whole_and_in_listing_order(long_pdf):
    pages = [squeezed(page) for page in pdf_pages(long_pdf)]
    expected = [squeezed(f"{e.shown_name}{e.place}{e.contact_name}") for e in ROWS]
    assert len(expected) == 90
    found = []
    for shown in expected:
        holding = [n for n, page in enumerate(pages) if shown in page]
        assert len(holding) == 1, shown
        found.append((holding[0], pages[holding[0]].index(shown)))
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
    assert reader.metadata.author == COALITION
    assert "signed by 90 organizations" in reader.metadata.subject
    assert reader.trailer["/Root"]["/Lang"] == "en"


def test_the_letterhead_is_on_the_first_page_only(long_pdf):
    pages = [one_line(page) for page in pdf_pages(long_pdf)]
    assert pages[0].startswith(COALITION)
    assert not any(COALITION in page for page in pages[1:])


def test_parts_that_do_not_come_out_as_planned_give_way_to_one_pass(bare, caplog, monkeypatch):
    monkeypatch.setattr(sheets, "PAGE_HEIGHT", 3000.0)  # sheets far too full for a page
    caplog.set_level(logging.WARNING, logger="campaign.pdf")
    pages = [one_line(page) for page in pdf_pages(rendered(LETTER, ROWS))]
    for number, page in enumerate(pages, start=1):
        assert page.endswith(f"Page {number} of {len(pages)}")
    text = squeezed(" ".join(pages))
    assert all(squeezed(name) in text for name in names(90))
    assert any("did not come out as planned" in r.getMessage() for r in caplog.records)


def test_a_name_is_never_given_fewer_lines_than_a_line_holds():
    assert sheets.lines("", "name") == 0
    assert sheets.lines("Sunrise Tenants Union", "name") == 1
    long_name = f"Red {LONG} {LONG}"
    assert sheets.lines(long_name, "name") >= 3
    assert sheets.lines("x" * 300, "name") >= 2  # one word wider than the line
    assert sheets.lines("東京都労働組合連合会" * 4, "name") >= 2  # no spaces, not in DejaVu
