"""A long list of signatories rendered in stable parts (sheets.py, assemble.py): each part kept
in a store under a key of what it shows and used again by the next render, the parts joined after
the letter's own pages and numbered "Page N of M" in a last step. The thresholds are lowered here
so that a few dozen signatories take that path. The list is given (built in memory, in listing
order), so these run once, without a database."""
from __future__ import annotations

import io
import logging
import random
from datetime import UTC, datetime

import pypdf
import pytest
from support_pdf import (
    CountingStore,
    canary_server,
    entry,
    in_listing_order,
    letter_in_memory,
    one_line,
    pdf_pages,
    png,
    render_with,
    warnings_logged,
)

from campaign.dates import local_time
from campaign.pdf import assemble, html, sheets

SCOPES = ("national", "state", "local", "international")
HEADINGS = ("National organizations", "State and regional organizations", "Local organizations",
            "International organizations")
LONG = "for Immigrant Rights and Economic Justice in the Greater Metropolitan Región"
COALITION = "Coalición por la Justicia Laboral"
WHEN = datetime(2026, 6, 30, 21, 5, tzinfo=UTC)


def names(count: int) -> list[str]:
    """Short, long and accented names, in four scopes (the listing order sorts them)."""
    return [f"Comité {n:03d} {LONG if n % 5 == 0 else 'Unidos'}" for n in range(count)]


LETTER = letter_in_memory(show_contact_names=True, coalition_name=COALITION)
ROWS = in_listing_order(entry(n + 1, name, scope=SCOPES[n % 4], contact_name="Ana Ruiz")
                        for n, name in enumerate(names(90)))
NEW = entry(500, "Comité 045 Nuevo", scope="local", contact_name="Ana Ruiz")  # mid-list
WITH_NEW = in_listing_order([*ROWS, NEW])


@pytest.fixture(scope="module", autouse=True)
def small_parts():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(html, "PARTS_FROM", 20)
        mp.setattr(sheets, "PART_ENTRIES", 6)
        mp.setattr(sheets, "PART_LEAST", 3)
        mp.setattr(sheets, "PART_MOST", 12)
        yield


@pytest.fixture(scope="module")
def first(bare_app):
    """The long list rendered once, in parts, into a store of its own."""
    store = CountingStore()
    with bare_app.app_context(), warnings_logged("campaign.pdf") as warned:
        done = render_with(LETTER, ROWS, store, WHEN)
    assert not warned, warned  # every part came out as planned
    assert done.reused == 0 and len(store.put_keys) == done.parts - 1  # with the letter's
    return store, done


@pytest.fixture(scope="module")
def again(bare_app, first):
    """One more signatory, in the middle of the list: rendered again with the same store."""
    store, before = first
    store.forget_calls()
    with bare_app.app_context():
        done = render_with(LETTER, WITH_NEW, store, WHEN)
    return store, done


def squeezed(text: str) -> str:
    return "".join(text.split())


def shown(row) -> str:
    return squeezed(f"{row.shown_name}{row.place}{row.contact_name}")


def assert_listed_once_in_order(pdf: bytes, rows) -> None:
    """Every row whole on one page (name, place and contact together), once, in listing order,
    each under its scope's heading."""
    pages = [squeezed(page) for page in pdf_pages(pdf)]
    text = "".join(pages)
    places = []
    for row in rows:
        holding = [n for n, page in enumerate(pages) if shown(row) in page]
        assert len(holding) == 1, row.shown_name
        assert text.count(shown(row)) == 1, row.shown_name
        places.append(text.index(shown(row)))
        heading = squeezed(HEADINGS[SCOPES.index(row.scope)])
        assert text.rfind(heading, 0, places[-1]) == max(
            text.rfind(squeezed(h), 0, places[-1]) for h in HEADINGS), row.shown_name
    assert places == sorted(places)


# ------------------------------------------------------------------ cut into stable parts


def test_a_long_list_is_cut_into_parts_each_in_one_scope_with_its_heading_on_the_first(bare):
    parts = sheets.cut(html.grouped(ROWS))
    assert len(parts) >= 8
    assert [row for part in parts for row in part.rows] == ROWS
    assert [part.heading for part in parts if part.heading] == list(HEADINGS)
    assert [part.opens_list for part in parts] == [True] + [False] * (len(parts) - 1)
    for part in parts:
        assert len({row.scope for row in part.rows}) == 1
        assert part.heading is None or HEADINGS.index(part.heading) == SCOPES.index(
            part.rows[0].scope)


def test_one_more_signatory_changes_only_the_part_it_falls_into():
    """Cut where ids hit and nowhere else (no least, no most): the new row's part is replaced
    (by one part, or two if the new row is a hit itself; by none if it is a hit that falls just
    before another), and every other part stays as it was."""
    rng = random.Random(10)
    rows = in_listing_order(entry(n, f"Org {rng.random():.6f}", scope="local")
                            for n in range(1, 400))
    before = {part.rows for part in sheets.cut(html.grouped(rows), every=8, least=1, most=10**9)}
    for ident in range(1000, 1040):
        new = entry(ident, f"Org {rng.random():.6f}", scope="local")
        after = {part.rows for part in sheets.cut(html.grouped(in_listing_order([*rows, new])),
                                                  every=8, least=1, most=10**9)}
        gone, came = before - after, after - before
        assert len(gone) <= 1 and 1 <= len(came) <= 2, ident
        assert {r.id for part in came for r in part} == {r.id for p in gone for r in p} | {ident}


def test_with_its_least_and_most_one_more_signatory_seldom_changes_more_than_its_part():
    rng = random.Random(11)
    rows = in_listing_order(entry(n, f"Org {rng.random():.6f}", scope="local")
                            for n in range(1, 3001))
    before = {part.rows for part in sheets.cut(html.grouped(rows), 250, 50, 500)}
    changed = []
    for ident in range(5000, 5100):
        new = entry(ident, f"Org {rng.random():.6f}", scope="local")
        after = sheets.cut(html.grouped(in_listing_order([*rows, new])), 250, 50, 500)
        changed.append(sum(1 for part in after if part.rows not in before))
    assert sum(changed) / len(changed) <= 1.3 and max(changed) <= 3, changed


# ------------------------------------------------------------------ kept and used again


def test_after_one_more_signatory_only_the_part_it_falls_into_is_rendered_again(first, again):
    store, before = first
    _, after = again
    assert 1 <= len(store.put_keys) <= 2  # two when the new row is a cut of its own
    assert len(set(store.got)) == after.parts - 1  # every part was looked for
    assert after.reused == after.parts - 1 - len(store.put_keys)
    assert after.reused >= before.parts - 3
    made = "".join(squeezed(page) for key in store.put_keys for page in pdf_pages(store.parts[key]))
    assert shown(NEW) in made


def test_the_joined_document_lists_every_name_once_in_order_under_its_heading(again):
    _, after = again
    assert_listed_once_in_order(after.data, WITH_NEW)


def test_every_page_is_numbered_n_of_m_after_the_title(first):
    _, done = first
    pages = [one_line(page) for page in pdf_pages(done.data)]
    assert len(pages) == done.pages >= 8
    for number, page in enumerate(pages, start=1):
        assert page.endswith(f"Stop Forwarding Fingerprints Page {number} of {len(pages)}")


def test_the_letter_says_how_many_had_signed_and_as_of_when(first, bare):
    _, done = first
    first_page = one_line(pdf_pages(done.data)[0])
    assert f"Signed by 90 organizations as of {local_time(WHEN)}" in first_page
    assert "June 30, 2026, 9:05 PM UTC" in first_page


def test_the_parts_keep_two_columns(first):
    _, done = first
    starts: set[int] = set()
    for page in pypdf.PdfReader(io.BytesIO(done.data)).pages[1:]:
        page.extract_text(visitor_text=lambda text, cm, tm, *_: starts.add(round(cm[4] + tm[4]))
                          if text.startswith("Comité") else None)
    assert len(starts) == 2, starts


def test_the_joined_pdf_has_the_letters_metadata_language_and_outline(first):
    _, done = first
    reader = pypdf.PdfReader(io.BytesIO(done.data))
    assert reader.metadata.title == "Stop Forwarding Fingerprints"
    assert reader.metadata.author == COALITION
    assert "signed by 90 organizations" in reader.metadata.subject
    assert reader.trailer["/Root"]["/Lang"] == "en"
    titles = []

    def walk(items):
        for item in items:
            walk(item) if isinstance(item, list) else titles.append(item.title)

    walk(reader.outline)
    assert titles == ["Stop Forwarding Fingerprints", "Signatories", *HEADINGS]


def test_the_letterhead_is_on_the_first_page_only(first):
    _, done = first
    pages = [one_line(page) for page in pdf_pages(done.data)]
    assert pages[0].startswith(COALITION)
    assert not any(COALITION in page for page in pages[1:])


def test_the_page_numbers_sit_on_the_titles_baseline_at_the_right_margin(first):
    _, done = first
    for page in pypdf.PdfReader(io.BytesIO(done.data)).pages:
        found: dict[str, tuple[float, float]] = {}

        def seen(text, cm, tm, font, size, found=found):
            if text.strip().startswith(("Stop Forwarding", "Page ")):
                found[text.strip()[:4]] = (cm[4] + tm[4] * cm[0], cm[5] + tm[5] * cm[3])

        page.extract_text(visitor_text=seen)
        assert abs(found["Page"][1] - found["Stop"][1]) < 0.05, found
        assert found["Page"][0] > 480  # right-aligned at the margin


def test_the_footer_is_a_parameter_and_kept_parts_do_not_depend_on_it(first, bare):
    store, _ = first
    store.forget_calls()
    done = render_with(LETTER, ROWS, store, WHEN, footer="Página {page} de {pages}")
    assert store.put_keys == []  # every part of the list was kept
    pages = [one_line(page) for page in pdf_pages(done.data)]
    for number, page in enumerate(pages, start=1):
        assert page.endswith(f"Página {number} de {len(pages)}")


# ------------------------------------------------------------------ when something goes wrong


def test_a_part_that_does_not_come_out_as_planned_is_set_as_a_short_list(bare, caplog,
                                                                          monkeypatch):
    monkeypatch.setattr(sheets, "PAGE_HEIGHT", 3000.0)  # columns far too long for a page
    monkeypatch.setattr(sheets, "PART_ENTRIES", 10**6)  # a part per scope
    rows = ROWS + in_listing_order(entry(n, f"Comité {n:03d} Local", scope="local",
                                         contact_name="Ana Ruiz") for n in range(100, 150))
    rows = in_listing_order(rows)
    caplog.set_level(logging.WARNING, logger="campaign.pdf")
    store = CountingStore()
    done = render_with(LETTER, rows, store, WHEN)
    assert any("did not come out as planned" in r.getMessage() for r in caplog.records)
    assert_listed_once_in_order(done.data, rows)
    pages = [one_line(page) for page in pdf_pages(done.data)]
    for number, page in enumerate(pages, start=1):
        assert page.endswith(f"Page {number} of {len(pages)}")
    assert len(store.put_keys) == done.parts - 1  # kept as set: the same plan fails again


class FailingStore:
    def get(self, key: str) -> bytes | None:
        raise OSError("no store today")

    def put(self, key: str, data: bytes) -> None:
        raise OSError("no store today")


def test_a_store_that_fails_only_costs_the_time_of_rendering_every_part(bare, caplog):
    done = render_with(LETTER, ROWS, FailingStore(), WHEN)
    assert done.reused == 0
    assert_listed_once_in_order(done.data, ROWS)
    assert any("could not keep a part" in r.getMessage() for r in caplog.records)


def test_an_uploaded_image_given_as_bytes_is_drawn_and_other_urls_are_not_fetched(bare):
    logo = "b" * 32 + ".png"
    with canary_server() as canary:
        letter = letter_in_memory(
            coalition_name=COALITION, logo_file=logo, show_contact_names=True,
            body=f"![net]({canary.url('/body.png')}) ![file](file:///etc/hostname) "
                 f"![up](uploads/{'c' * 32}.png)\n\nWe ask.\n")
        done = render_with(letter, ROWS, CountingStore(), WHEN, images={logo: png(240, 90)})
    assert canary.hits == []
    reader = pypdf.PdfReader(io.BytesIO(done.data))
    [image] = reader.pages[0].images
    assert image.image.size == (240, 90)
    assert sum(len(page.images) for page in reader.pages) == 1
    assert_listed_once_in_order(done.data, ROWS)


def test_a_short_list_is_one_document_numbered_the_same_way(bare):
    store = CountingStore()
    done = render_with(LETTER, ROWS[:12], store, WHEN)
    assert (done.parts, done.reused, store.got) == (1, 0, [])
    pages = [one_line(page) for page in pdf_pages(done.data)]
    assert "Signed by 12 organizations as of" in pages[0]
    for number, page in enumerate(pages, start=1):
        assert page.endswith(f"Page {number} of {len(pages)}")
    assert_listed_once_in_order(done.data, ROWS[:12])


def test_the_addendum_is_rendered_in_parts_with_its_own_list_title(bare):
    done = render_with(LETTER, ROWS, CountingStore(), WHEN, template="pdf/addendum.html",
                       title=f"Addendum: {LETTER.title}", delivered_on="June 1, 2026",
                       delivered_count=10, delivered_sha256="ab" * 32)
    pages = [one_line(page) for page in pdf_pages(done.data)]
    assert "90 additional signatories as of" in pages[0]
    assert "Additional signatories" in pages[1]
    assert all(page.endswith(f"Addendum: Stop Forwarding Fingerprints Page {n} of {len(pages)}")
               for n, page in enumerate(pages, start=1))
    assert_listed_once_in_order(done.data, ROWS)


def test_a_part_is_kept_under_a_key_of_what_it_shows(bare):
    [part, *_] = sheets.cut(html.grouped(ROWS))
    shows = html.PartSettings("en", "Title", "Signatories", True)
    key = assemble.part_key(part, shows)
    assert key == assemble.part_key(sheets.Part(part.heading, True, tuple(part.rows)), shows)
    renamed = sheets.Part(part.heading, True, (part.rows[0]._replace(shown_name="Other"),
                                               *part.rows[1:]))
    assert assemble.part_key(renamed, shows) != key
    assert assemble.part_key(part, html.PartSettings("es", "Title", "Signatories", True)) != key
    assert assemble.part_key(part, html.PartSettings("en", "Title", "Signatories", False)) != key
    moved = part.rows[0]._replace(id=99999)  # an id is not shown
    assert assemble.part_key(sheets.Part(part.heading, True, (moved, *part.rows[1:])),
                             shows) == key


def test_a_kept_part_that_cannot_be_read_is_rendered_again_with_the_others(first, bare,
                                                                             caplog):
    kept, _ = first
    store = CountingStore()
    store.parts = dict(kept.parts)
    damaged = next(iter(store.parts))
    store.parts[damaged] = b"%PDF-1.7 not really"
    done = render_with(LETTER, ROWS, store, WHEN)
    assert any("could not be read" in r.getMessage() for r in caplog.records)
    assert done.reused == 0
    assert_listed_once_in_order(done.data, ROWS)
    assert store.parts[damaged] != b"%PDF-1.7 not really"  # kept anew: the next render uses it
    assert render_with(LETTER, ROWS, store, WHEN).reused == done.parts - 1
