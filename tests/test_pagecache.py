"""Pages kept per process (pagecache.py): never stale, never someone else's."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from support import SIGNER, form_fields, submit

from campaign import letters, moderation, pagecache
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Signature

LETTER = "/letters/stop-forwarding"
LIST = LETTER + "/signers"


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with nothing kept (the cache is per process, and tests share one)."""
    pagecache.PAGES.clear()
    yield
    pagecache.PAGES.clear()


@pytest.fixture
def letter(make_letter, make_signature):
    letter = make_letter()
    make_signature(letter, organization="Heartland Workers Center")
    return letter


def token_of(html: str) -> str:
    return form_fields(html, "Sign")[1]["csrf_token"]


def test_a_kept_list_shows_an_approval_on_the_next_view(client, letter, make_signature):
    waiting = make_signature(letter, "pending", organization="Late Arrivals Union")
    assert "Late Arrivals Union" not in client.get(LIST).get_data(as_text=True)
    assert pagecache.PAGES._items  # the page was kept
    with writing():
        moderation.decide(letter, [waiting.id], approve=True)
    page = client.get(LIST).get_data(as_text=True)
    assert "Late Arrivals Union" in page and "<strong>2</strong>" in page
    assert "Late Arrivals Union" in client.get(LIST + ".json").get_data(as_text=True)


def test_a_kept_list_shows_a_rename_and_a_change_of_city(client, letter):
    client.get(LIST)
    client.get(LIST + ".json")
    signature = db.session.scalar(sa.select(Signature))
    with writing():
        moderation.rename(signature, "Heartland Workers Centre")
    assert "Heartland Workers Centre" in client.get(LIST).get_data(as_text=True)
    with writing():
        db.session.execute(sa.update(Signature).values(city="Omaha"))
    assert "Omaha" in client.get(LIST).get_data(as_text=True)
    assert "Omaha" in client.get(LIST + ".json").get_data(as_text=True)


def test_a_kept_list_shows_the_letters_new_title(client, letter):
    client.get(LIST)
    with writing():
        letters.update(letter, letters.LetterText(title="A Better Title", slug=letter.slug,
                                                  body=letter.body, status="open"))
    assert "A Better Title" in client.get(LIST).get_data(as_text=True)


def test_an_organizer_never_gets_the_anonymous_page_nor_leaves_theirs(admin, new_client,
                                                                     letter):
    visitor = new_client()
    assert "Log out" not in visitor.get(LIST).get_data(as_text=True)
    assert "Log out" in admin.get(LIST).get_data(as_text=True)
    assert "Log out" not in visitor.get(LIST).get_data(as_text=True)


def test_each_visitor_gets_the_kept_page_with_their_own_token(new_client, letter):
    first, second = new_client(), new_client()
    one, two = (token_of(b.get(LETTER).get_data(as_text=True)) for b in (first, second))
    assert one != two
    assert len(pagecache.PAGES._items) == 1  # the page itself was written once
    assert pagecache.PLACEHOLDER not in first.get(LETTER).get_data(as_text=True)
    response = submit(second, LETTER, SIGNER, "Sign")
    assert response.status_code == 303


def test_a_form_sent_back_with_errors_is_the_visitors_own(client, letter):
    client.get(LETTER)
    response = submit(client, LETTER, {**SIGNER, "email": "not an address",
                                       "organization": "Typed By This Visitor"}, "Sign")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'value="Typed By This Visitor"' in page
    fresh = client.get(LETTER).get_data(as_text=True)
    assert "Typed By This Visitor" not in fresh  # nobody else gets what this visitor typed
    assert not re.search(r'class="error"', fresh)
