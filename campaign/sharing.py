"""What a shared link of a letter shows and the links that share it: the Open Graph and Twitter
card of its public page (title, a description from its first lines and its count, the preview
image share_image.py makes) and plain share links for email, WhatsApp, Facebook and X.

Plain links only: no third-party script, image or frame is ever loaded, so a visitor's browser
tells those sites nothing until the visitor clicks. A collecting letter has neither card nor
links: it is private until it opens (the count and list are not public yet either).
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import quote

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from . import share_image
from .extensions import db
from .links import external_url
from .listing import tally
from .models import Letter, ShareImage

DESCRIPTION_CHARS = 200  # of the letter's first lines, cut at a word
_BLOCK_TAG = re.compile(r"</?(?:p|br|hr|h[1-6]|li|ul|ol|blockquote|pre|table|thead|tbody|tr|th|td)"
                        r"\b[^>]*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class ShareLink:
    name: str  # email, whatsapp, facebook, x
    label: str
    href: str
    new_tab: bool = True


@dataclass(frozen=True)
class Links:
    """A letter's address and the links that share it."""

    url: str
    items: list[ShareLink]


@dataclass(frozen=True)
class Card:
    """A letter as a shared link shows it, and the links to share it."""

    title: str
    description: str
    url: str
    image: str
    image_alt: str
    links: Links


def plain_text(body_html: str) -> str:
    """The text of a letter's sanitized body (markup.py), without its markup, on one line."""
    text = _ANY_TAG.sub("", _BLOCK_TAG.sub(" ", body_html))
    return " ".join(html.unescape(text).split())


def first_lines(body_html: str, limit: int = DESCRIPTION_CHARS) -> str:
    """The body's first `limit` characters or so as plain text, cut at a word with an ellipsis."""
    text = plain_text(body_html)
    if len(text) <= limit:
        return text
    cut = text[:limit + 1].rsplit(" ", 1)[0] if " " in text[:limit + 1] else text[:limit]
    return cut.rstrip(" ,;:.-—–") + "…"


def count_sentence(letter: Letter, count: int, individuals: int = 0) -> str:
    """The count as the page says it: "42 organizations have signed." (`count` signatories
    listed, `individuals` of them individuals); the kinds tally() names, one sentence each way
    for the translators."""
    organizations = count - individuals
    if len(tally(organizations, individuals, letter.signers)) == 2:
        return _("%(organizations)s and %(individuals)s have signed.",
                 organizations=ngettext("%(num)d organization", "%(num)d organizations",
                                        organizations),
                 individuals=ngettext("%(num)d individual", "%(num)d individuals", individuals))
    if letter.signers == "individuals" and not organizations:
        return ngettext("%(num)d individual has signed.", "%(num)d individuals have signed.",
                        individuals)
    return ngettext("%(num)d organization has signed.", "%(num)d organizations have signed.",
                    organizations)


def links(letter: Letter) -> Links:
    """The share links of a letter: its title and address, URL-encoded into each site's own
    sharing address (RFC 6068 for mailto: spaces as %20, never +)."""
    url = external_url("public.letter", slug=letter.slug)
    title = letter.title
    body = f"{title}\n\n{url}"

    def q(value: str) -> str:
        return quote(value, safe="")

    return Links(url, [
        ShareLink("email", _("Email"),
                  f"mailto:?subject={q(title)}&body={q(body)}", new_tab=False),
        ShareLink("whatsapp", "WhatsApp", f"https://wa.me/?text={q(f'{title} {url}')}"),
        ShareLink("facebook", "Facebook", f"https://www.facebook.com/sharer/sharer.php?u={q(url)}"),
        ShareLink("x", "X", f"https://twitter.com/intent/tweet?text={q(title)}&url={q(url)}"),
    ])


def image_url(letter: Letter, content_hash: str | None) -> str:
    """The preview image's absolute address, with its hash as a version so that the sites that
    keep a copy fetch it again when it changes; the default image until the worker made it."""
    if content_hash is None:
        return external_url("static", filename=share_image.DEFAULT_IMAGE)
    return external_url("public.share_png", slug=letter.slug, v=content_hash[:12])


def image_hash(letter: Letter) -> str | None:
    """The hash of the letter's preview image, or None while none is made (one small query)."""
    return db.session.scalar(select(ShareImage.content_hash)
                             .where(ShareImage.letter_id == letter.id))


def card(letter: Letter, count: int, individuals: int = 0) -> Card | None:
    """The letter's card and share links, `count` signatories listed (`individuals` of them
    individuals); None while it is a draft or collecting."""
    if not letter.list_is_public():
        return None
    description = " ".join(part for part in (first_lines(letter.body_html),
                                              count_sentence(letter, count, individuals)) if part)
    what = share_image.shown_for(letter)
    alt = " — ".join(part for part in (what.coalition, letter.title) if part)
    shared = links(letter)
    return Card(title=letter.title, description=description, url=shared.url,
                image=image_url(letter, image_hash(letter)),
                image_alt=_("%(title)s. %(action)s at %(host)s", title=alt, action=what.action,
                            host=what.host), links=shared)
