"""Sharing a letter (issue #12): the Open Graph and Twitter card of its public page, the preview
image the worker draws and the page links, and the plain share links on the page and after
confirming."""
from __future__ import annotations

import io
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup
from PIL import Image
from support import submit

from campaign import share_image, sharing, tokens, worker
from campaign.database import writing
from campaign.extensions import db
from campaign.models import ShareImage

SLUG = "stop-forwarding"
BASE = "http://localhost"  # CAMPAIGN_BASE_URL in tests (conftest app_config)
TITLE = 'Stop "Forwarding" & Sharing #Fingerprints'
BODY = ("We, the **undersigned**, ask you to [stop](https://example.org) forwarding the "
        "fingerprints of people who were *never charged* with anything to other agencies.\n\n"
        "- It breaks the promise made when they were taken.\n"
        "- It puts people at risk for nothing.\n\nSincerely, the coalition & friends.\n")


@pytest.fixture
def app_config(app_config):  # type: ignore[no-untyped-def]
    return {**app_config, "BASE_URL": "https://letters.example.org"}


def page(client, path: str = f"/letters/{SLUG}") -> BeautifulSoup:  # type: ignore[no-untyped-def]
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def meta(soup: BeautifulSoup) -> dict[str, str]:
    """The page's <meta property|name=...> tags, by name."""
    return {tag.get("property") or tag.get("name"): tag["content"]
            for tag in soup.find_all("meta") if tag.get("content") is not None}


def shares(soup: BeautifulSoup, section: str = "section.share") -> dict[str, str]:
    block = soup.select_one(section)
    assert block is not None
    return {link["class"][-1].removeprefix("share-"): link["href"] for link in block.find_all("a")}


def image_of(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def stored() -> ShareImage | None:
    db.session.expire_all()
    return db.session.scalars(db.select(ShareImage)).first()


def set_coalition(letter, name: str) -> None:  # type: ignore[no-untyped-def]
    with writing():
        db.session.merge(letter).coalition_name = name


# ------------------------------------------------------------------ the card


def test_the_letter_page_carries_the_card_with_its_first_lines_and_count(
        client, make_letter, make_signature):
    letter = make_letter(title=TITLE, body=BODY)
    for _ in range(3):
        make_signature(letter)
    tags = meta(page(client))
    assert tags["og:type"] == "website"
    assert tags["og:title"] == tags["twitter:title"] == TITLE
    assert tags["og:url"] == f"https://letters.example.org/letters/{SLUG}"
    description = tags["og:description"]
    assert description == tags["twitter:description"] == tags["description"]
    # plain text from the Markdown: no markup, the link's text kept, cut at a word
    assert description.startswith("We, the undersigned, ask you to stop forwarding the "
                                  "fingerprints of people who were never charged")
    first, count = description.split("… ")
    assert "*" not in first and "[" not in first and "<" not in first and "http" not in first
    plain = sharing.plain_text(letter.body_html)
    assert len(first) <= 200 and plain.startswith(first)
    assert plain[len(first)] == " "  # cut between words
    assert count == "3 organizations have signed."
    assert tags["twitter:card"] == "summary_large_image"
    assert (tags["og:image:width"], tags["og:image:height"]) == ("1200", "630")
    assert TITLE in tags["og:image:alt"]
    # no image made yet: the default, which answers
    assert tags["og:image"] == tags["twitter:image"] \
        == "https://letters.example.org/static/share-default.png"
    with client.get("/static/share-default.png") as default:
        assert default.status_code == 200
        assert image_of(default.data).size == (1200, 630)


def test_a_short_body_is_the_description_whole_and_one_signatory_has_signed(
        client, make_letter, make_signature):
    letter = make_letter(body="We ask you to *stop*.\n")
    make_signature(letter)
    make_signature(letter, "pending")  # not listed: not counted
    assert meta(page(client))["og:description"] == \
        "We ask you to stop. 1 organization has signed."


def test_a_collecting_letter_has_no_card_no_count_and_no_share_links(client, make_letter,
                                                                     make_signature):
    letter = make_letter(status="collecting")
    make_signature(letter)
    soup = page(client)
    tags = meta(soup)
    assert not any(name.startswith(("og:", "twitter:")) for name in tags)
    assert "description" not in tags
    assert soup.select_one("section.share") is None
    assert "share.js" not in str(soup)
    worker.sweep()  # its image is made, ready for the day it opens, but not served until then
    assert stored() is not None
    assert client.get(f"/letters/{SLUG}/share.png").status_code == 404


# ------------------------------------------------------------------ the image


def test_the_worker_draws_the_image_which_the_page_then_links_versioned(client, make_letter):
    letter = make_letter(title=TITLE, body=BODY)
    set_coalition(letter, "Coalition for Privacy")
    assert client.get(f"/letters/{SLUG}/share.png").status_code == 404  # none made yet
    before = meta(page(client))["og:image"]
    worker.sweep()
    made = stored()
    assert made is not None
    image = image_of(made.png)
    assert image.format == "PNG" and image.size == (1200, 630) and image.mode == "RGB"
    colours = image.getcolors(maxcolors=100_000)
    assert colours is not None and len(colours) > 50  # text, anti-aliased: not a blank image
    assert made.content_hash == share_image.Shown(
        TITLE, "Coalition for Privacy", "Sign the letter", "letters.example.org").content_hash()
    # the kept page was made again: it links the letter's own image, with its version
    tags = meta(page(client))
    assert tags["og:image"] != before
    assert tags["og:image"] == tags["twitter:image"] == \
        f"https://letters.example.org/letters/{SLUG}/share.png?v={made.content_hash[:12]}"


def test_the_image_is_made_again_only_when_what_it_shows_changes(client, make_letter,
                                                                 make_signature):
    letter = make_letter()
    worker.sweep()
    first = stored()
    assert first is not None
    first_hash, first_made = first.content_hash, first.made_at
    make_signature(letter)  # a new signatory: the image shows no count
    assert share_image.make_due() == 0
    assert stored().made_at == first_made
    make_letter(title="Stop Forwarding Fingerprints Now")  # the same letter, retitled
    assert share_image.make_due() == 1
    again = stored()
    assert again.content_hash != first_hash
    assert share_image.make_due() == 0
    set_coalition(letter, "The Coalition")
    assert share_image.make_due() == 1
    with writing():
        db.session.merge(letter).status = "closed"
    assert share_image.make_due() == 1  # "Read the letter" rather than "Sign the letter"


def test_the_image_is_served_as_made_with_its_hash_as_etag_and_cached_when_versioned(
        client, make_letter):
    make_letter()
    worker.sweep()
    made = stored()
    assert made is not None
    versioned = client.get(f"/letters/{SLUG}/share.png?v={made.content_hash[:12]}")
    assert versioned.status_code == 200 and versioned.mimetype == "image/png"
    assert versioned.data == made.png
    assert versioned.headers["ETag"] == f'"{made.content_hash}"'
    assert versioned.cache_control.public and versioned.cache_control.max_age == 86400
    for stale in ("", "?v=000000000000"):  # another version: checked each time
        answer = client.get(f"/letters/{SLUG}/share.png{stale}")
        assert answer.status_code == 200 and answer.cache_control.no_cache
        assert answer.cache_control.max_age is None
    again = client.get(f"/letters/{SLUG}/share.png",
                       headers={"If-None-Match": versioned.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize("slug", ["quiet-draft", "no-such-letter"])
def test_the_image_of_a_draft_or_no_letter_is_404(client, make_letter, slug):
    make_letter(slug="quiet-draft", status="draft")
    worker.sweep()
    assert stored() is None  # a draft's is never made
    assert client.get(f"/letters/{slug}/share.png").status_code == 404


def test_the_image_shows_no_signers_contact_details(make_letter, make_signature):
    letter = make_letter()
    signature = make_signature(letter)
    worker.sweep()
    made = stored()
    shown = share_image.shown_for(letter)
    assert signature.email not in "".join(shown) and signature.phone not in "".join(shown)
    assert made is not None and made.content_hash == shown.content_hash()


# ------------------------------------------------------------------ the links


def check_links(links: dict[str, str], title: str, url: str) -> None:
    assert set(links) == {"email", "whatsapp", "facebook", "x"}
    mail = urlsplit(links["email"])
    assert mail.scheme == "mailto" and mail.path == ""
    assert "+" not in mail.query  # RFC 6068: spaces as %20
    assert parse_qs(mail.query) == {"subject": [title], "body": [f"{title}\n\n{url}"]}
    whatsapp = urlsplit(links["whatsapp"])
    assert (whatsapp.scheme, whatsapp.netloc, whatsapp.path) == ("https", "wa.me", "/")
    assert parse_qs(whatsapp.query) == {"text": [f"{title} {url}"]}
    facebook = urlsplit(links["facebook"])
    assert (facebook.netloc, facebook.path) == ("www.facebook.com", "/sharer/sharer.php")
    assert parse_qs(facebook.query) == {"u": [url]}
    x = urlsplit(links["x"])
    assert (x.netloc, x.path) == ("twitter.com", "/intent/tweet")
    assert parse_qs(x.query) == {"text": [title], "url": [url]}
    for link in links.values():
        assert " " not in link and "#" not in link and '"' not in link


def test_share_links_are_plain_well_formed_and_url_encoded(client, make_letter):
    make_letter(title=TITLE, body=BODY)
    soup = page(client)
    url = f"https://letters.example.org/letters/{SLUG}"
    check_links(shares(soup), TITLE, url)
    for link in soup.select("section.share a"):
        if link["href"].startswith("https://"):
            assert link["target"] == "_blank"
            assert set(link["rel"]) == {"noopener", "noreferrer"}
    field = soup.select_one("section.share input#share-url")
    assert field["value"] == url and field.has_attr("readonly")
    button = soup.select_one("section.share button[data-copy=share-url]")
    assert button is not None and button.has_attr("hidden")  # shown by share.js only


def test_the_page_loads_nothing_from_another_host(client, make_letter):
    make_letter(title=TITLE, body=BODY)
    worker.sweep()
    response = client.get(f"/letters/{SLUG}")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "img-src 'self' data:" in csp
    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    loaded = [tag.get("src") for tag in soup.find_all(["script", "iframe", "img", "embed",
                                                         "object", "video", "audio"])] \
        + [tag["href"] for tag in soup.find_all("link") if tag["rel"] != ["canonical"]]
    assert loaded and all(src and src.startswith("/") and not src.startswith("//")
                          for src in loaded), loaded
    assert any(src.endswith("/static/share.js") for src in loaded)
    with client.get("/static/share.js") as script:
        assert script.status_code == 200 and "clipboard" in script.get_data(as_text=True)
    assert all(not tag.string for tag in soup.find_all("script"))  # no inline script


def test_confirming_invites_the_signer_to_share_and_keeps_the_manage_link(client, make_letter,
                                                                         make_signature):
    letter = make_letter(title=TITLE, body=BODY)
    signature = make_signature(letter, "unconfirmed")
    answer = submit(client, f"/confirm/{tokens.make_token(signature)}", {}, "Confirm")
    assert answer.status_code == 200
    soup = BeautifulSoup(answer.get_data(as_text=True), "html.parser")
    assert "now ask others to sign" in soup.select_one("section.share h2").get_text()
    check_links(shares(soup), TITLE, f"https://letters.example.org/letters/{SLUG}")
    assert soup.find("a", string="Manage your signature") is not None


def test_confirming_on_a_collecting_letter_offers_no_share_links(client, make_letter,
                                                                 make_signature):
    letter = make_letter(status="collecting")
    signature = make_signature(letter, "unconfirmed")
    answer = submit(client, f"/confirm/{tokens.make_token(signature)}", {}, "Confirm")
    soup = BeautifulSoup(answer.get_data(as_text=True), "html.parser")
    assert soup.select_one("section.share") is None
    assert "not public yet" in soup.get_text()


# ------------------------------------------------------------------ the kept page


def test_the_kept_page_follows_the_count_and_the_image_and_stays_fast(client, make_letter,
                                                                      make_signature):
    letter = make_letter()
    make_signature(letter)
    assert meta(page(client))["og:description"].endswith("1 organization has signed.")
    make_signature(letter)
    assert meta(page(client))["og:description"].endswith("2 organizations have signed.")
    worker.sweep()
    assert "share.png?v=" in meta(page(client))["og:image"]
    client.get(f"/letters/{SLUG}")
    started = time.perf_counter()
    for _ in range(20):
        assert client.get(f"/letters/{SLUG}").status_code == 200
    assert (time.perf_counter() - started) / 20 < 0.05  # answered from the kept page
