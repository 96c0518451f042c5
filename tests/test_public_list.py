"""The public list of signatories and its CSV and JSON: grouping, sorting, search, pages, and
privacy (never an email, phone or contact name unless the organizer shows contact names)."""
from __future__ import annotations

import csv
import io

import pytest
from bs4 import BeautifulSoup

from campaign import count_check, listing, moderation
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Signature
from campaign.views import lists

LIST = "/letters/stop-forwarding/signers"


def soup_of(response) -> BeautifulSoup:
    assert response.status_code == 200, response.status_code
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def listed(client, query: str = "") -> list[str]:
    page = soup_of(client.get(LIST + query))
    return [s.get_text(strip=True) for s in page.find_all(class_="org")]


def groups(client) -> list[tuple[str, list[str]]]:
    page = soup_of(client.get(LIST))
    return [(section.h2.get_text(strip=True),
             [s.get_text(strip=True) for s in section.find_all(class_="org")])
            for section in page.find_all("section")]


def count_text(client, query: str = "") -> str:
    return " ".join(soup_of(client.get(LIST + query)).find(class_="count").get_text(" ").split())


def csv_rows(client) -> list[dict[str, str]]:
    answer = client.get(LIST + ".csv")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))


# ------------------------------------------------------------------ grouping and sorting


def test_signatories_are_grouped_by_scope_in_order(client, make_letter, make_signature):
    letter = make_letter()
    for scope in ("international", "local", "state", "national"):
        make_signature(letter, organization=f"{scope.title()} Org", scope=scope)
    assert groups(client) == [
        ("National organizations", ["National Org"]),
        ("State and regional organizations", ["State Org"]),
        ("Local organizations", ["Local Org"]),
        ("International organizations", ["International Org"]),
    ]


def test_empty_groups_are_left_out(client, make_letter, make_signature):
    letter = make_letter()
    make_signature(letter, organization="Far Away Alliance", scope="international")
    make_signature(letter, organization="Country Wide", scope="national")
    assert [heading for heading, _ in groups(client)] == ["National organizations",
                                                         "International organizations"]


def test_names_sort_ignoring_a_leading_the_case_and_accents(client, make_letter, make_signature):
    letter = make_letter()
    for name in ("the Beta Group", "Ábaco", "alpha", "The Theater Guild", "Çedar Co-op", "beta"):
        make_signature(letter, organization=name)
    assert listed(client) == ["Ábaco", "alpha", "beta", "the Beta Group", "Çedar Co-op",
                              "The Theater Guild"]


def test_each_signatory_shows_its_city_and_state(client, make_letter, make_signature):
    letter = make_letter()
    make_signature(letter, organization="Sunrise Tenants Union", city="Tucson", region="AZ")
    make_signature(letter, organization="Nowhere Group", city="", region="")
    items = soup_of(client.get(LIST)).find_all("li")
    places = {li.find(class_="org").get_text(strip=True):
              (li.find(class_="place").get_text(strip=True) if li.find(class_="place") else None)
              for li in items}
    assert places == {"Sunrise Tenants Union": "Tucson, AZ", "Nowhere Group": None}


def test_the_list_shows_the_count(client, make_letter, make_signature):
    letter = make_letter()
    for _ in range(3):
        make_signature(letter)
    assert count_text(client) == "3 organizations"


def test_the_count_follows_every_change_to_the_list(client, make_letter, make_signature):
    letter = make_letter()
    kept, rejected, held, deleted = (make_signature(letter) for _ in range(4))
    waiting = make_signature(letter, status="pending")
    assert count_text(client) == "4 organizations"
    with writing():
        moderation.decide(letter, [waiting.id], approve=True)
        moderation.decide(letter, [rejected.id], approve=False)
        db.session.get(Signature, held.id).held = True
        db.session.delete(db.session.get(Signature, deleted.id))
        db.session.get(Signature, kept.id).scope = "national"
    assert count_text(client) == "2 organizations"
    assert soup_of(client.get("/letters/stop-forwarding")).find(class_="count").strong \
        .get_text() == "2"
    assert [heading for heading, _ in groups(client)] == ["National organizations",
                                                         "Local organizations"]
    assert count_check.kept_counts(letter.id) == count_check.fresh_counts(letter.id)


def test_a_name_with_markup_is_shown_as_text(client, make_letter, make_signature):
    make_signature(make_letter(), organization="<script>alert(1)</script> Collective")
    page = client.get(LIST).get_data(as_text=True)
    assert "<script>alert(1)" not in page
    assert listed(client) == ["<script>alert(1)</script> Collective"]


# ------------------------------------------------------------------ who is listed


@pytest.fixture
def every_state(make_letter, make_signature):
    letter = make_letter()
    make_signature(letter, organization="Listed Group", email="listed@example.org",
                   phone="+1 555 0111", contact_name="Lena Listed")
    for status in ("pending", "unconfirmed", "rejected"):
        make_signature(letter, status=status, organization=f"{status.title()} Group",
                       email=f"{status}@example.org")
    held = make_signature(letter, organization="Held Group", email="held@example.org")
    with writing():
        held.held = True
    return letter


def test_only_approved_signatures_are_listed(client, every_state):
    assert listed(client) == ["Listed Group"]


def test_only_approved_signatures_are_in_the_csv_and_json(client, every_state):
    assert [r["organization"] for r in csv_rows(client)] == ["Listed Group"]
    data = client.get(LIST + ".json").get_json()
    assert data["count"] == 1
    assert [s["organization"] for s in data["signatories"]] == ["Listed Group"]


def test_the_letter_page_counts_only_listed_signatures(client, every_state):
    page = soup_of(client.get("/letters/stop-forwarding"))
    assert page.find(class_="count").strong.get_text() == "1"


@pytest.mark.parametrize("suffix", ["", ".csv", ".json", "?q=group", "?q=example.org"])
def test_no_public_view_shows_an_email_phone_or_contact_name(client, every_state, suffix):
    text = client.get(LIST + suffix).get_data(as_text=True)
    for private in ("@example.org", "555 0111", "Lena Listed", "Contact "):
        assert private not in text


def test_the_json_has_the_contract_shape(client, make_letter, make_signature):
    make_signature(make_letter(), organization="Sunrise Tenants Union", city="Tucson", region="AZ",
                   country="United States", scope="state")
    assert client.get(LIST + ".json").get_json() == {
        "letter": "stop-forwarding", "title": "Stop Forwarding Fingerprints", "count": 1,
        "status": "open",  # added by #15 (the contract lets fields be added)
        "signatories": [{"organization": "Sunrise Tenants Union", "city": "Tucson",
                         "region": "AZ", "country": "United States", "scope": "state",
                         "kind": "organization"}],
    }


def test_the_csv_has_the_public_columns_in_listing_order(client, make_letter, make_signature):
    letter = make_letter()
    make_signature(letter, organization="Zeta", scope="local")
    make_signature(letter, organization="Omega", scope="national", city="Denver", region="CO",
                   country="United States")
    rows = csv_rows(client)
    assert list(rows[0]) == ["organization", "city", "region", "country", "scope", "kind",
                             "title", "affiliation"]
    assert rows[0] == {"organization": "Omega", "city": "Denver", "region": "CO",
                       "country": "United States", "scope": "national", "kind": "organization",
                       "title": "", "affiliation": ""}
    assert [r["organization"] for r in rows] == ["Omega", "Zeta"]


def test_contact_names_are_shown_when_the_organizer_chose_so(client, make_letter, make_signature):
    letter = make_letter(show_contact_names=True)
    make_signature(letter, organization="Sunrise", contact_name="Rosa Diaz",
                   email="rosa@example.org", phone="+1 555 0199")
    page = client.get(LIST).get_data(as_text=True)
    assert "Rosa Diaz" in page
    assert "rosa@example.org" not in page and "555 0199" not in page


def test_contact_names_shown_on_the_list_are_in_its_csv_and_json_too(client, make_letter,
                                                                    make_signature):
    letter = make_letter(show_contact_names=True)
    make_signature(letter, organization="Sunrise", contact_name="Rosa Diaz",
                   email="rosa@example.org")
    assert csv_rows(client)[0]["contact_name"] == "Rosa Diaz"
    [entry] = client.get(LIST + ".json").get_json()["signatories"]
    assert entry["contact_name"] == "Rosa Diaz"
    assert "email" not in entry and "phone" not in entry


@pytest.mark.parametrize("suffix", ["", ".csv", ".json"])
def test_the_list_of_a_draft_letter_is_not_found(client, make_letter, make_signature, suffix):
    make_signature(make_letter(status="draft"), organization="Early Bird")
    assert client.get(LIST + suffix).status_code == 404


def test_a_closed_letter_still_shows_its_signatories(client, make_letter, make_signature):
    make_signature(make_letter(status="closed"), organization="Sunrise Tenants Union")
    assert listed(client) == ["Sunrise Tenants Union"]


# ------------------------------------------------------------------ search


@pytest.fixture
def searchable(make_letter, make_signature):
    letter = make_letter()
    make_signature(letter, organization="Ábaco Cooperative", city="Santa Fe", region="NM")
    make_signature(letter, organization="The Beta Group", city="Tucson", region="AZ")
    make_signature(letter, organization="100% Renewable Now", city="Denver", region="CO")
    make_signature(letter, organization="São Paulo Solidarity", city="São Paulo", region="SP")
    return letter


@pytest.mark.parametrize(("query", "found"), [
    ("beta", ["The Beta Group"]),
    ("The Beta", ["The Beta Group"]),
    ("BETA group", ["The Beta Group"]),
    ("abaco", ["Ábaco Cooperative"]),
    ("Ábaco", ["Ábaco Cooperative"]),
    ("tucson", ["The Beta Group"]),
    ("São Paulo", ["São Paulo Solidarity"]),
    ("100%", ["100% Renewable Now"]),
    ("%", ["100% Renewable Now"]),
    ("_", []),
    ("nothing like it", []),
])
def test_search_finds_by_name_or_city(client, searchable, query, found):
    assert listed(client, "?q=" + query.replace("%", "%25")) == found


def test_search_shows_the_matching_count(client, searchable):
    assert count_text(client, "?q=beta") == "1 organization matching “beta”"


def test_a_long_search_is_cut_and_answered(client, searchable):
    assert client.get(LIST + "?q=" + "x" * 5000).status_code == 200


# ------------------------------------------------------------------ pages


@pytest.fixture
def seven(make_letter, make_signature, monkeypatch):
    monkeypatch.setattr(lists, "PAGE_SIZE", 3)
    letter = make_letter()
    for n in range(7):
        make_signature(letter, organization=f"Group {n}")
    return letter


def test_a_long_list_is_split_into_pages(client, seven):
    assert listed(client) == ["Group 0", "Group 1", "Group 2"]
    assert listed(client, "?page=2") == ["Group 3", "Group 4", "Group 5"]
    assert listed(client, "?page=3") == ["Group 6"]


def test_the_pages_link_to_each_other(client, seven):
    nav = soup_of(client.get(LIST + "?page=2")).find("nav", class_="pages")
    links = {a.get_text(strip=True): a["href"] for a in nav.find_all("a")}
    assert listed(client, links["Next"].removeprefix(LIST)) == ["Group 6"]
    assert listed(client, links["Previous"].removeprefix(LIST)) == ["Group 0", "Group 1", "Group 2"]
    assert "Page 2 of 3" in nav.get_text(" ")


@pytest.mark.parametrize(("page", "first"), [("0", "Group 0"), ("-4", "Group 0"), ("x", "Group 0"),
                                             ("99", "Group 6"), ("9" * 30, "Group 6")])
def test_a_page_number_out_of_range_is_answered(client, seven, page, first):
    assert listed(client, f"?page={page}")[0] == first


def test_every_page_shows_the_whole_count(client, seven):
    assert count_text(client, "?page=3") == "7 organizations"


def test_the_csv_and_json_carry_every_signatory_not_one_page(client, seven):
    assert len(csv_rows(client)) == 7
    assert client.get(LIST + ".json").get_json()["count"] == 7


def test_search_results_are_paged_too(client, seven):
    assert listed(client, "?q=group&page=3") == ["Group 6"]


def test_a_search_past_the_count_limit_says_more_than_and_pages_through_that_many(
        client, seven, monkeypatch):
    monkeypatch.setattr(listing, "SEARCH_COUNT_LIMIT", 4)  # seven match; pages of three
    assert count_text(client, "?q=group").startswith("More than 4 organizations match “group”")
    assert "Page 1 of 2" in soup_of(client.get(LIST + "?q=group")).find(
        "nav", class_="pages").get_text(" ")
    assert listed(client, "?q=group&page=2") == ["Group 3"]
    assert listed(client, "?q=group&page=3") == ["Group 3"]  # no page past the limit
    assert count_text(client, "?q=group 6") == "1 organization matching “group 6”"
    assert count_text(client) == "7 organizations"  # the whole list is counted, not searched
