"""The public list's fast reads (listing.py): pages across scopes, counts, JSON pages."""
from __future__ import annotations

import pytest

from campaign import listing, signing
from campaign.extensions import db
from campaign.views import public

LIST = "/letters/stop-forwarding/signers"
SCOPES = ("international", "local", "state", "national")  # created out of listing order


@pytest.fixture
def mixed(make_letter, make_signature):
    """Eleven signatories in all four scopes, created out of listing order."""
    letter = make_letter()
    for n in range(11):
        make_signature(letter, organization=f"Group {n:02d}", scope=SCOPES[n % 4])
    return letter


def names(rows) -> list[str]:
    return [row.shown_name for row in rows]


def test_pages_that_span_scopes_are_the_listing_order_cut_in_pieces(app, mixed):
    whole = [s.shown_name for s in signing.listed(mixed)]
    for size in (1, 2, 3, 4, 11):
        pieces = [names(listing.page(mixed, offset=at, limit=size)) for at in range(0, 11, size)]
        assert [name for piece in pieces for name in piece] == whole, size


def test_a_page_past_the_end_is_empty(app, mixed):
    assert listing.page(mixed, offset=11, limit=5) == []


def test_the_count_follows_an_approval_at_once(app, client, mixed,
                                                                   make_signature):
    assert listing.count(mixed) == 11
    waiting = make_signature(mixed, "pending", organization="Late Group")
    assert listing.count(mixed) == 11
    signing.decide(mixed, [waiting.id], approve=True)
    db.session.commit()
    assert listing.count(mixed) == 12
    assert "<strong>12</strong> organizations" in client.get(LIST).get_data(as_text=True)


def test_the_count_drops_a_change_that_was_rolled_back(app, mixed, make_signature):
    waiting = make_signature(mixed, "pending", organization="Late Group")
    signing.decide(mixed, [waiting.id], approve=True)
    assert listing.count(mixed) == 12  # this transaction sees its own change
    db.session.rollback()
    assert listing.count(mixed) == 11


def test_a_signatory_approved_by_another_worker_is_listed_on_the_next_view(app_config, app, mixed,
                                                                          new_client):
    """Another worker (or `campaign import-signatures --approved`) is another app on the same
    database: its approval must show on this worker's very next page, even in a new scope."""
    from campaign import create_app

    letter_id = mixed.id
    visitor = new_client()
    page = visitor.get(LIST).get_data(as_text=True)
    assert "Statewide Newcomer" not in page
    db.session.commit()  # the test's own session holds no lock while the other app writes
    other = create_app(app_config)
    with other.app_context():
        letter = db.session.get(type(mixed), letter_id)
        signing.import_csv(letter, "organization,scope\nStatewide Newcomer,state\n", approved=True)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    page = visitor.get(LIST).get_data(as_text=True)
    assert "Statewide Newcomer" in page
    assert "<strong>12</strong> organizations" in page


def test_a_search_counts_and_pages_only_what_matches(app, mixed):
    assert listing.count(mixed, "group 0") == 10
    assert names(listing.page(mixed, "group 1", limit=5)) == ["Group 10"]


def test_json_pages_followed_by_next_give_the_whole_list_once(client, mixed, monkeypatch):
    monkeypatch.setattr(public, "JSON_PAGE_SIZE", 4)
    url, seen = LIST + ".json", []
    while url:
        data = client.get(url).get_json()
        assert data["count"] == 11 and data["pages"] == 3
        seen += [row["organization"] for row in data["signatories"]]
        url = data["next"]
    assert seen == [s.shown_name for s in signing.listed(mixed)]


def test_a_json_page_number_past_the_end_gives_the_last_page(client, mixed, monkeypatch):
    monkeypatch.setattr(public, "JSON_PAGE_SIZE", 4)
    data = client.get(LIST + ".json?page=99").get_json()
    assert data["page"] == 3 and data["next"] is None and len(data["signatories"]) == 3
