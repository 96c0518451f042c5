"""Letter bodies: Markdown to sanitized HTML (markdown-it-py without raw HTML, then nh3)."""
from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_md = MarkdownIt("js-default", {"typographer": True}).enable(["replacements", "smartquotes"])

ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "u", "s",
    "blockquote", "ul", "ol", "li", "a", "code", "pre", "table", "thead", "tbody", "tr", "th",
    "td", "sup", "sub", "img",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"},
                      "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}


def markdown_to_html(text: str) -> Markup:
    """Sanitized HTML for a letter body; raw HTML in the source is shown as text, never run."""
    rendered = _md.render(text or "")
    clean = nh3.clean(
        rendered,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(clean)  # noqa: S704 - sanitized just above


def stored(html: str) -> Markup:
    """HTML that markdown_to_html made and the database kept (a letter's body_html), to show as
    it is: it was sanitized when it was made."""
    return Markup(html)  # noqa: S704 - made by markdown_to_html
