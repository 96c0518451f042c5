"""Public pages of who signed: the list (paged, searchable) and its CSV and JSON, the signed
letter's PDF and addendum, the preview image for shared links. Nothing here is public while a
letter is collecting (listed_letter, listed_stamped)."""
from __future__ import annotations

import json
from typing import Any

from flask import (
    Response,
    abort,
    render_template,
    request,
    stream_with_context,
)
from flask.typing import ResponseReturnValue

from .. import (
    agreed,
    delivery,
    i18n,
    listing,
    pagecache,
    share_image,
    spreadsheets,
)
from ..i18n import current_language
from ..links import external_url
from ..models import Letter
from ..pdf import Pdf
from ..pdf.html import grouped
from ..text import page_number
from .public import bp, listed_letter, listed_stamped

PAGE_SIZE = 200
JSON_PAGE_SIZE = 200


# ------------------------------------------------------------------ the public list


@bp.get("/letters/<slug>/signers")
def signers(slug: str) -> str:
    """The public list, PAGE_SIZE a page. A page of the whole list is kept per process until
    the list or the letter changes (pagecache.py); a search is looked up each time."""
    search = request.args.get("q", "")[:100].strip()
    page = page_number(request.args.get("page"))
    if search:
        letter = listed_letter(slug)
        total = listing.search_count(letter, search)
        more = total > listing.SEARCH_COUNT_LIMIT  # a search counts up to the limit, and one more
        total = min(total, listing.SEARCH_COUNT_LIMIT)
        page = min(page, _pages(total, PAGE_SIZE))
        offset = (page - 1) * PAGE_SIZE
        rows = listing.page(letter, search, offset=offset, limit=min(PAGE_SIZE, total - offset))
        return _signers_page(letter, rows, total, page, search, more)
    stamp, listed = listed_stamped(slug)
    page = min(page, _pages(listed.total, PAGE_SIZE))

    def make() -> str:
        letter = listed_letter(slug)
        rows = listing.page(letter, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE,
                            counts=listed.counts)
        return _signers_page(letter, rows, listed.total, page, individuals=listed.individuals)

    return pagecache.page(("signers", stamp.id, stamp.updated_at, listed.revision, page), make)


def _pages(total: int, size: int) -> int:
    return max((total + size - 1) // size, 1)


def _signers_page(letter: Letter, rows: list[listing.Listed], total: int, page: int,
                  search: str = "", more: bool = False, *, individuals: int = 0) -> str:
    """`total` listed (or matching `search`), `individuals` of the whole list individuals (a
    search's matches are not counted apart)."""
    return render_template(
        "public/signers.html", letter=letter, groups=grouped(rows), total=total, search=search,
        page=page, pages=_pages(total, PAGE_SIZE), more=more, individuals=individuals,
        split=agreed.split_of(letter) if any(row.earlier for row in rows) else None)


@bp.get("/letters/<slug>/signers.csv")
def signers_csv(slug: str) -> ResponseReturnValue:
    letter = listed_letter(slug)
    return Response(
        stream_with_context(spreadsheets.csv_lines(listing.stream(letter),
                                                   spreadsheets.public_fields(letter)
                                                   + _text_columns(letter))),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{letter.slug}-signatories.csv"'},
    )


def _text_columns(letter: Letter) -> tuple[str, ...]:
    """The export's columns that say which text each signatory agreed to: only for a letter
    whose text changed after it was signed (agreed.Split); any other exports as before."""
    return ("version", "current_text") if agreed.split_of(letter) is not None else ()


def _text_marked(row: listing.Listed, shown: dict[str, Any]) -> dict[str, Any]:
    """A signatory as the JSON shows it, with the version it agreed to and whether that is the
    current text where the letter's text changed after it was signed."""
    if row.signed_version is not None:
        shown.update(version=row.signed_version, current_text=not row.earlier)
    return shown


@bp.get("/letters/<slug>/signers.json")
def signers_json(slug: str) -> ResponseReturnValue:
    """The list as JSON, JSON_PAGE_SIZE signatories a page. "count" is always the whole list's;
    a list longer than a page adds "page", "pages" and "next" (the next page's address under
    CAMPAIGN_BASE_URL, or null on the last), so a list of one page reads exactly as before
    pages existed; "status" is the letter's as of now (Letter.state: "closed" once its deadline
    passed). Kept per process until the list, the letter or its status changes."""
    stamp, listed = listed_stamped(slug)
    pages = _pages(listed.total, JSON_PAGE_SIZE)
    page = min(page_number(request.args.get("page")), pages)
    state = stamp.state()  # "open" or "closed" (its deadline passed, say): part of the key

    def make() -> str:
        letter = listed_letter(slug)
        rows = listing.page(letter, offset=(page - 1) * JSON_PAGE_SIZE, limit=JSON_PAGE_SIZE,
                            counts=listed.counts)
        payload: dict[str, object] = {
            "letter": letter.slug, "title": letter.title, "status": state, "count": listed.total,
            "signatories": [_text_marked(row, spreadsheets.public_row(
                                row, contact=letter.show_contact_names))
                            for row in rows]}
        if pages > 1:
            payload.update(page=page, pages=pages, next=external_url(
                "public.signers_json", slug=letter.slug, page=page + 1) if page < pages else None)
        body = json.dumps(payload, ensure_ascii=False)  # < > & escaped: the same JSON, no tag
        return body.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

    key = ("signers.json", stamp.id, stamp.updated_at, state, listed.revision, page,
           JSON_PAGE_SIZE)
    return Response(pagecache.PAGES.get(key, make), mimetype="application/json")


@bp.get("/letters/<slug>/addendum.pdf", defaults={"part": "addendum"})
@bp.get("/letters/<slug>.pdf", defaults={"part": "letter"})  # registered first: url_for's default
def letter_pdf(slug: str, part: str = "letter") -> ResponseReturnValue:
    """The signed letter as the worker last made it (the delivered copy, byte for byte, once
    delivered), or the addendum of signatories listed after delivery. Never rendered here: while
    the first one is being made, 503 with Retry-After and a page that says so and refreshes."""
    letter = listed_letter(slug)
    language = _pdf_language(letter) if part != "addendum" else ""
    if language:  # one of its translations: the same list, that language's text and headings
        response = pdf_answer(letter, delivery.translated_pdf(letter, language),
                              f"{letter.slug}-{language}.pdf", "inline")
    else:
        pdf = delivery.addendum_pdf(letter) if part == "addendum" else delivery.letter_pdf(letter)
        if pdf is None and part == "addendum" and not delivery.has_addendum(letter):
            abort(404)
        name = f"{letter.slug}-addendum.pdf" if part == "addendum" else f"{letter.slug}.pdf"
        response = pdf_answer(letter, pdf, name, "inline")
    return response


def _pdf_language(letter: Letter) -> str:
    """The translation whose PDF is asked for: `?lang=`, else the visitor's language when the
    letter has a translation in it; "" for the letter's own text."""
    translated = letter.languages()[1:]
    if not translated:
        return ""
    asked = request.args.get("lang", "")
    if asked:
        return asked if asked in translated else ""
    i18n.use_stamp(letter)
    return current_language() if current_language() in translated else ""


def pdf_answer(letter: Letter, pdf: Pdf | None, filename: str,
               disposition: str) -> ResponseReturnValue:
    """A PDF as the worker kept it, tagged and dated, answered conditionally; or, while none is
    made yet, 503 with Retry-After and a page that says so and refreshes."""
    if pdf is None:
        return render_template("pdf_pending.html", letter=letter), 503, {"Retry-After": "10"}
    response = Response(pdf.data, mimetype="application/pdf",
                        headers={"Content-Disposition": f'{disposition}; filename="{filename}"'})
    response.set_etag(pdf.etag)
    response.last_modified = pdf.as_of
    response.cache_control.no_cache = True
    return response.make_conditional(request)


# ------------------------------------------------------------------ the preview image


@bp.get("/letters/<slug>/share.png")
def share_png(slug: str) -> ResponseReturnValue:
    """The letter's preview image as the worker made it (share_image.py); 404 while none is made
    (the page's og:image is the default image until then), and for a draft or collecting letter.
    Kept a day by browsers and the sites that show shared links when asked for by its version
    (`?v=`, as the page links it), which changes with the image; else checked each time."""
    made = share_image.kept(slug)
    if made is None:
        abort(404)
    response = Response(made.png, mimetype="image/png")
    response.set_etag(made.content_hash)
    if request.args.get("v") == made.content_hash[:12]:
        response.cache_control.public = True
        response.cache_control.max_age = 86400
    else:
        response.cache_control.no_cache = True
    return response.make_conditional(request)
