"""A long list's pages as sheets.py plans them: names wrapped into the lines a column holds,
columns filled then balanced, and the measures the plan is made with checked against WeasyPrint
laying out the same part (in this process, without the child). No database."""
from __future__ import annotations

import pytest
from support_pdf import entry

from campaign.paths import STATIC
from campaign.pdf import html, sheets, writer

LONG = "for Immigrant Rights and Economic Justice in the Greater Metropolitan Región"
PAGE_TOP = 2.2 / 2.54 * 96  # px: the page's top margin
SETTINGS = html.PartSettings("en", "A Letter", "Signatories", True)


def rows(count: int, **contact: str):
    return [entry(n, f"Comité {n:03d} {LONG if n % 3 == 0 else 'Unidos'}", **contact)
            for n in range(1, count + 1)]


# ------------------------------------------------------------------ lines


def test_a_name_is_wrapped_at_spaces_into_lines_that_fit_a_column():
    assert sheets.wrap("", "name") == []
    assert sheets.wrap("Sunrise Tenants Union", "name") == ["Sunrise Tenants Union"]
    lines = sheets.wrap(f"Red {LONG} {LONG}", "name")
    assert len(lines) >= 3
    assert " ".join(lines) == f"Red {LONG} {LONG}"
    assert all(sheets._width(line, "name") <= sheets.WRAP_WIDTH for line in lines)


def test_a_word_wider_than_a_line_is_cut_between_characters_never_before_a_mark():
    word = "x" * 300
    lines = sheets.wrap(word, "name")
    assert "".join(lines) == word and len(lines) >= 2
    accented = "e\u0301" * 200  # é as e and a combining accent
    pieces = sheets.wrap(accented, "name")
    assert "".join(pieces) == accented
    assert not any(piece.startswith("\u0301") for piece in pieces)


def test_characters_the_font_lacks_count_a_full_em():
    assert sheets.lines("東京都労働組合連合会" * 4, "name") >= 2  # no spaces, not in DejaVu


# ------------------------------------------------------------------ pages


def test_columns_are_filled_in_turn_and_the_last_pages_two_are_balanced():
    part = sheets.Part("Local organizations", True, tuple(rows(120)))
    pages = sheets.paginate(part, False)
    assert len(pages) >= 3
    assert [e for page in pages for column in (page.left, page.right) for e in column] == [
        sheets.shown(row, False) for row in part.rows]
    room = sheets.PAGE_HEIGHT - sheets.SPARE
    first = room - sheets.HEADING - sheets.LIST_HEADING
    for n, page in enumerate(pages):
        for column in (page.left, page.right):
            assert sum(e.height for e in column) <= (first if n == 0 else room)
    *full, last = pages
    for page in full:  # full: the next entry would not have fit
        assert sum(e.height for e in page.left) > room - 2 * sheets.NAME_FIRST - 4 * sheets.LINE
    left, right = (sum(e.height for e in column) for column in (last.left, last.right))
    assert max(left, right) <= (left + right) / 2 + max(e.height for e in last.left + last.right)


def test_a_part_that_fits_one_column_is_still_set_in_two():
    pages = sheets.paginate(sheets.Part(None, False, tuple(rows(4))), False)
    assert [len(pages[0].left), len(pages[0].right)] == [2, 2]


@pytest.mark.parametrize("contacts", [False, True])
def test_the_plans_measures_are_weasyprints(bare, contacts):
    part = sheets.Part("Local organizations", True, tuple(rows(70, contact_name="Ana Ruiz")))
    pages = sheets.paginate(part, contacts)
    document = writer._render(html.part_html(part, pages, html.PartSettings(
        "en", "A Letter", "Signatories", contacts)), STATIC, {})
    assert len(document.pages) == len(pages)
    for n, page in enumerate(pages):
        top = PAGE_TOP + (sheets.HEADING + sheets.LIST_HEADING if n == 0 else 0)
        for c, column in enumerate(page.columns):
            bottom = document.pages[n].anchors[html.end_id(n, c)][3]
            assert bottom - top == pytest.approx(sum(e.height for e in column), abs=0.05)
    assert writer.as_planned(document, len(pages), {
        html.end_id(n, c): n for n, page in enumerate(pages) for c in range(len(page.columns))})


def test_a_column_too_long_for_its_page_is_found_out(bare, monkeypatch):
    monkeypatch.setattr(sheets, "PAGE_HEIGHT", 1200.0)
    part = sheets.Part(None, False, tuple(rows(70)))
    pages = sheets.paginate(part, False)
    document = writer._render(html.part_html(part, pages, SETTINGS), STATIC, {})
    assert not writer.as_planned(document, len(pages), {
        html.end_id(n, c): n for n, page in enumerate(pages) for c in range(len(page.columns))})
