"""Strangers' input at every public form and address: a message or a 4xx, never a 5xx; nothing
stored that should not be; nothing a signer typed shown unescaped. Each backend gets one app
for the whole module, so that Hypothesis can run many examples against it."""
from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import support_figures as figures
from bs4 import BeautifulSoup
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select, update
from support import BACKENDS, PASSWORD, password_hash, submit
from support_apps import Site, Stranger, build_app, encode_form, module_site, quote_raw

from campaign import accounts, emails, letters, listing, ratelimit, signing, text, tokens
from campaign.database import writing
from campaign.errors import SigningError
from campaign.extensions import db
from campaign.models import Letter, OutboxMessage, RateEvent, Signature, utcnow
from campaign.pdf.html import letter_html

SLUG = "hostile-letter"
LETTER = f"/letters/{SLUG}"

VALID = {
    "organization": "Harbor Cooperative", "contact_name": "Ana Ferreira",
    "contact_title": "Coordinator", "email": "placeholder@example.org", "phone": "+1 555 0142",
    "website": "https://harbor.example.org", "city": "Eureka", "region": "CA",
    "country": "United States", "scope": "local", "consent": "y", "authorized": "y",
    "leave_empty": "",
}
SIGN_FIELDS = [*VALID, "keep_updated", "comment"]

# One of each kind of hostile text; every form field gets every one of them.
HOSTILE: dict[str, str] = {
    "blank": "",
    "whitespace": " \t \u3000 ",
    "overlong": "A" * 10_240,
    "overlong-multibyte": "ü\u0301" * 6_000,
    "nul": "Harbor\x00Cooperative",
    "only-nul": "\x00\x00",
    "controls": "Harbor\x01\x07\x08\x1b[31m\x7fCo-op",
    "c1-controls": "Harbor\x85\x9b Co-op",
    "lone-surrogate": "Harbor \ud800 Co-op",
    "lone-low-surrogate": "\udfff",
    "right-to-left": "\u202eHarbor Co-op\u202c \u200f\u2067x\u2069",
    "zero-width": "Ha\u200brbor\u200d Co\ufeff-op\u2060",
    "only-invisible": "\u200b\u200c\u200d\ufeff",
    "emoji": "Harbor 🐝✊🏽 Co-op 👩\u200d👩\u200d👧",
    "html": "<b>Harbor</b> <i>Co-op</i>",
    "script": "<script>alert('xss')</script>",
    "attribute": "\"><img src=x onerror=alert(1)>",
    "formula": "=HYPERLINK(\"http://example.net\",\"click\")",
    "formula-dde": "+cmd|' /C calc'!A0",
    "formula-at": "@SUM(1+1)",
    "crlf": "Harbor\r\nBcc: victim@example.net\r\n\r\nhello",
    "sql": "'; DROP TABLE signature; --",
    "sql-or": "x' OR '1'='1",
    "like": "%_\\%",
    "private-use": "\ue000\U000f0000",
    "noncharacters": "\ufffe\uffff",
    "combining": "e" + "\u0301" * 300,
    "replacement": "\ufffd",
}
FORBIDDEN_CATEGORIES = {"Cc", "Cs", "Cf"}  # control characters, surrogates, invisible formatting

UNUSUAL_EMAILS = {  # address: accepted?
    "ana@bücher.example": True,
    "ana@xn--bcher-kva.example": True,
    "用户@例子.example": False,
    "ANA.Ferreira+letters@Example.ORG": True,
    "\"ana ferreira\"@example.org": False,
    "\"very.(),:;<>[]\\\".VERY.\\\"very@\\\\ \\\"very\\\".unusual\"@example.org": False,
    "a" * 64 + "@example.org": True,
    "ana@" + ".".join(["d" * 63] * 4) + ".example": False,
    "x" * 10_000 + "@example.org": False,
    "ana@example": False,
    "ana@@example.org": False,
    "ana@example.org\r\nBcc: victim@example.net": False,
    "ana@example.org, victim@example.net": False,
    "ana@localhost": False,
    "ana@[127.0.0.1]": False,
    "@example.org": False,
    "ana@": False,
    "ana@exa mple.org": False,
    "ana\x00@example.org": False,
    "ana@example.org\x00": False,
}


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One app and database per backend for the module, with an open letter and an organizer.
    The limits are off (as for a load test) so that thousands of submissions from one address
    are judged on their content alone; the limits have their own tests."""
    folder = tmp_path_factory.mktemp(f"hostile-{request.param}")
    hashed = password_hash()  # before the writing unit, not under its lock
    with module_site(request, folder, RATELIMIT_ENABLED=False) as made:
        with made.context(), writing():
            letters.create(letters.LetterText(
                title="Protect the Estuary", slug=SLUG, status="open",
                body="We, the undersigned, ask the council to **protect** the estuary.\n",
                recipient="The County Council"))
            accounts.create_organizer("staff@example.org", hashed, "Staff")
        yield made


@pytest.fixture
def stranger(site: Site) -> Stranger:
    return Stranger(site.app)


_emails = iter(range(1, 10_000_000))


def fresh_email() -> str:
    return f"signer{next(_emails)}@harbor.example.org"


def signature_count(site: Site) -> int:
    with site.context():
        return int(db.session.scalar(select(func.count()).select_from(Signature)) or 0)


def outbox_count(site: Site) -> int:
    with site.context():
        return int(db.session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


WERKZEUG_FORM_ERRORS = "werkzeug.url_quote"  # registered by werkzeug.urls, imported by Flask


def stored(site: Site, email: str) -> dict[str, Any] | None:
    """The stored row of a signature, as plain values, or None."""
    # as werkzeug reads a form: bytes that are not UTF-8 stay percent-escaped (its own error
    # handler), so a lone surrogate arrives as "%ED%A0%80", an address the app may keep
    as_received = email.encode("utf-8", "surrogatepass").decode("utf-8", WERKZEUG_FORM_ERRORS)
    with site.context():
        try:
            address = text.normalize_email(as_received)
        except SigningError:
            return None
        row = db.session.scalar(select(Signature).where(Signature.email == address))
        if row is None:
            return None
        return {c.name: getattr(row, c.key) for c in Signature.__table__.columns}


def dirty(row: dict[str, Any]) -> list[str]:
    """What is wrong with a stored row: forbidden characters, text longer than its column."""
    problems = []
    for column in Signature.__table__.columns:
        value = row[column.name]
        if not isinstance(value, str):
            continue
        bad = {unicodedata.category(c) for c in value} & FORBIDDEN_CATEGORIES
        if bad:
            problems.append(f"{column.name} holds {sorted(bad)}: {value[:60]!r}")
        limit = getattr(column.type, "length", None)
        if limit is not None and len(value) > limit:
            problems.append(f"{column.name} is {len(value)} long, over {limit}")
    for name in ("organization", "sort_key"):
        if not row[name].strip():
            problems.append(f"{name} is empty")
    return problems


def errors_shown(html: str) -> list[str]:
    soup = BeautifulSoup(html, "html.parser")
    return [" ".join(p.get_text(" ").split()) for p in soup.select(".error")]


def approve_all(site: Site) -> None:
    with site.context(), writing():
        db.session.execute(update(Signature).values(status="approved", held=False))


def sign_post(stranger: Stranger, changes: dict[str, str]) -> tuple[Any, str]:
    """POST the sign form with valid values overlaid by `changes` (a fresh email unless given)."""
    fields = {**VALID, "email": fresh_email(), **changes}
    return stranger.post(LETTER, fields), fields["email"]


def judge_sign(site: Site, response: Any, email: str, before: int) -> None:
    """A submission is refused with a message at a field and stores nothing, or is stored clean."""
    assert response.status_code in (303, 422), response.status_code
    if response.status_code == 422:
        assert errors_shown(response.get_data(as_text=True)), "a refusal without a message"
        assert signature_count(site) == before, "a refused submission stored something"
        return
    row = stored(site, email)
    if row is None:
        figures.lost(1)
    assert row is not None, f"answered 'check your email' but stored nothing for {email!r}"
    assert dirty(row) == []


# ------------------------------------------------------------------ the sign form


@pytest.mark.parametrize("field", SIGN_FIELDS)
def test_each_sign_field_refuses_or_stores_clean_every_hostile_value(site, stranger, field):
    for kind, value in HOSTILE.items():
        before = signature_count(site)
        response, email = sign_post(stranger, {field: value})
        try:
            judge_sign(site, response, email, before)
        except AssertionError as exc:
            raise AssertionError(f"{field}={kind}: {exc}") from None


def test_a_name_made_only_of_invisible_characters_is_refused_with_a_message(site, stranger):
    before = signature_count(site)
    response, _ = sign_post(stranger, {"organization": "\u200b\x00\u202e"})
    assert response.status_code == 422
    assert any("organization" in e.lower() or "required" in e.lower()
               for e in errors_shown(response.get_data(as_text=True)))
    assert signature_count(site) == before


def test_lone_surrogate_bytes_are_stored_as_replacement_characters_not_surrogates(site, stranger):
    email = fresh_email()
    body = encode_form({"csrf_token": stranger.token, **VALID, "email": email,
                        "organization": b"Harbor \xed\xa0\x80 Co-op", "city": b"\xed\xbf\xbf"})
    response = stranger.client.post(LETTER, data=body,
                                    content_type="application/x-www-form-urlencoded")
    figures.response(response.status_code)
    assert response.status_code == 303
    row = stored(site, email)
    assert row is not None
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in row["organization"] + row["city"])


def test_invalid_utf8_in_every_field_gets_an_answer_not_a_server_error(site, stranger):
    for field in SIGN_FIELDS:
        body = encode_form({"csrf_token": stranger.token, **VALID, "email": fresh_email(),
                            field: b"\xff\xfe\xc0\xaf\x80 bytes"})
        response = stranger.client.post(LETTER, data=body,
                                        content_type="application/x-www-form-urlencoded")
        figures.response(response.status_code)
        assert response.status_code in (303, 422), (field, response.status_code)


@pytest.mark.parametrize(("address", "accepted"), list(UNUSUAL_EMAILS.items()),
                         ids=[f"email{i}" for i in range(len(UNUSUAL_EMAILS))])
def test_unusual_email_is_accepted_or_refused_at_the_email_field(site, stranger, address,
                                                                   accepted):
    before = signature_count(site)
    response = stranger.post(LETTER, {**VALID, "email": address})
    if accepted:
        assert response.status_code == 303
        row = stored(site, address)
        assert row is not None and dirty(row) == []
        assert row["email"] == row["email"].lower()
    else:
        assert response.status_code == 422
        soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
        box = soup.find(id="email").find_parent(class_="field")
        assert box.find(class_="error") is not None, "no message at the email field"
        assert signature_count(site) == before


def test_a_second_signature_with_the_same_email_in_other_case_stores_nothing(site, stranger):
    email = fresh_email()
    assert stranger.post(LETTER, {**VALID, "email": email}).status_code == 303
    before = signature_count(site)
    again = stranger.post(LETTER, {**VALID, "email": email.upper(), "organization": "Other"})
    assert again.status_code == 303
    assert signature_count(site) == before


# ------------------------------------------------------------------ CSRF and body size


PUBLIC_POSTS = {
    "sign": (LETTER, lambda: {**VALID, "email": fresh_email()}),
    "resend": (f"{LETTER}/resend", lambda: {"email": fresh_email()}),
    "login": ("/login", lambda: {"email": "staff@example.org", "password": PASSWORD}),
}


@pytest.mark.parametrize("form", list(PUBLIC_POSTS))
def test_a_post_without_a_csrf_token_is_refused_with_a_page_and_stores_nothing(site, stranger,
                                                                              form):
    path, data = PUBLIC_POSTS[form]
    before = (signature_count(site), outbox_count(site))
    response = stranger.post(path, data(), token=None)
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    assert (signature_count(site), outbox_count(site)) == before
    assert "session" not in response.headers.get("Location", "")


@pytest.mark.parametrize("form", list(PUBLIC_POSTS))
def test_a_post_with_another_sessions_csrf_token_is_refused(site, stranger, form):
    path, data = PUBLIC_POSTS[form]
    other = Stranger(site.app)
    before = (signature_count(site), outbox_count(site))
    for token in (other.token, other.token[:-3] + "abc", "x" * 10_000, "\x00", "\ud800"):
        response = stranger.post(path, data(), token=token)
        assert response.status_code == 400, (token[:20], response.status_code)
    assert (signature_count(site), outbox_count(site)) == before


def test_a_confirm_post_without_a_csrf_token_confirms_nothing(site, stranger):
    email = fresh_email()
    assert stranger.post(LETTER, {**VALID, "email": email}).status_code == 303
    with site.context():
        signature = db.session.scalar(select(Signature).where(Signature.email == email))
        path = f"/confirm/{tokens.make_token(signature)}"
    response = Stranger(site.app).post(path, {}, token=None)
    assert response.status_code == 400
    assert stored(site, email)["status"] == "unconfirmed"


@pytest.mark.parametrize("path", [LETTER, f"{LETTER}/resend", "/login"])
def test_a_five_megabyte_body_gets_413_with_a_page(site, stranger, path):
    before = signature_count(site)
    body = encode_form({"csrf_token": stranger.token, **VALID, "organization": "A" * 5_000_000})
    response = stranger.client.post(path, data=body,
                                    content_type="application/x-www-form-urlencoded")
    figures.response(response.status_code)
    assert response.status_code == 413
    assert "Too much data" in response.get_data(as_text=True)
    assert signature_count(site) == before


def test_a_form_with_thousands_of_fields_gets_an_answer_not_a_server_error(site, stranger):
    fields = {"csrf_token": stranger.token, **VALID, "email": fresh_email()}
    fields.update({f"extra{i}": "x" for i in range(5_000)})
    response = stranger.client.post(LETTER, data=encode_form(fields),
                                    content_type="application/x-www-form-urlencoded")
    figures.response(response.status_code)
    assert 400 <= response.status_code < 500 or response.status_code == 303


# ------------------------------------------------------------------ resend, confirm, login


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_resend_answers_a_hostile_email_without_mailing_anyone(site, stranger, kind):
    before = outbox_count(site)
    response = stranger.post(f"{LETTER}/resend", {"email": HOSTILE[kind]})
    assert response.status_code in (200, 303, 422)
    assert outbox_count(site) == before


def _token_for_a_signature(site: Site, stranger: Stranger) -> str:
    email = fresh_email()
    assert stranger.post(LETTER, {**VALID, "email": email}).status_code == 303
    with site.context():
        signature = db.session.scalar(select(Signature).where(Signature.email == email))
        return str(tokens.make_token(signature))


def _flip_middle_of_signature(token: str) -> str:
    """The token with one character of its signature changed. Not the last one: in base64 the
    last character may carry only padding bits, and changing those leaves the signature valid."""
    i = token.rindex(".") + 1 + (len(token) - token.rindex(".") - 1) // 2
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]


def malformed_tokens(good: str) -> dict[str, str]:
    foreign = URLSafeTimedSerializer("another-key", salt="confirm-signature")
    return {
        "truncated": good[:-5], "one-char-changed": _flip_middle_of_signature(good),
        "payload-only": good.split(".")[0], "dots": "...", "x": "x",
        "overlong": "a" * 10_240, "nul": good + "\x00", "surrogate": "\ud800",
        "rtl": "\u202e" + good, "html": "<script>alert(1)</script>",
        "traversal": "../../etc/passwd", "sql": "1' OR '1'='1",
        "foreign-key": str(foreign.dumps({"s": 1, "e": "x"})),
        "foreign-key-huge-id": str(foreign.dumps({"s": 10**40, "e": "x"})),
        "emoji": "🐝" * 50, "percent": "%", "spaces": "   ",
    }


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_malformed_confirm_link_gets_a_400_page_and_confirms_nothing(site, stranger, method):
    good = _token_for_a_signature(site, stranger)
    with site.context():
        before = db.session.scalar(select(func.count()).select_from(Signature)
                                   .where(Signature.status != "unconfirmed"))
    for kind, token in malformed_tokens(good).items():
        path = f"/confirm/{quote_raw(token)}"
        response = stranger.get(path) if method == "get" else stranger.post(path, {})
        assert response.status_code in (400, 404), (kind, response.status_code)
        if response.status_code == 400:
            assert "cannot be used" in response.get_data(as_text=True), kind
    with site.context():
        after = db.session.scalar(select(func.count()).select_from(Signature)
                                  .where(Signature.status != "unconfirmed"))
    assert after == before


# Each try costs an Argon2 hash (a quarter second): the kinds that could upset a lookup or a hash.
LOGIN_KINDS = ["blank", "overlong", "nul", "controls", "lone-surrogate", "right-to-left",
               "emoji", "script", "crlf", "sql", "like", "noncharacters"]
LOGIN_PASSWORD_KINDS = ["overlong", "nul", "lone-surrogate", "emoji"]


@pytest.mark.parametrize("kind", LOGIN_KINDS)
def test_login_answers_hostile_credentials_without_a_server_error(site, stranger, kind):
    value = HOSTILE[kind]
    tries = [{"email": value, "password": "wrong password 1"}]
    if kind in LOGIN_PASSWORD_KINDS:
        tries.append({"email": "staff@example.org", "password": value})
    for fields in tries:
        response = stranger.post("/login", fields)
        assert response.status_code in (200, 401, 422, 429), (fields, response.status_code)
        assert response.status_code != 303, "logged in with a hostile password"


# ------------------------------------------------------------------ query strings and slugs


QUERY_VALUES = [*HOSTILE.values(), "%", "_", "\\", "'", "\"", "*", "[a-z]", "a" * 100_000]
PAGE_VALUES = ["-1", "0", "1e9", "99999999999999999999999999", "abc", "", "1.5", "0x10",
               "\x00", "\ud800", "1 OR 1=1", "2" * 5000, "NaN", "∞", "٣"]


def test_signers_search_answers_every_hostile_query(site, stranger):
    for value in QUERY_VALUES:
        response = stranger.get(f"{LETTER}/signers?q={quote_raw(value)}")
        assert response.status_code == 200, (value[:30], response.status_code)


def test_signers_page_number_answers_every_hostile_value(site, stranger):
    for value in PAGE_VALUES:
        response = stranger.get(f"{LETTER}/signers?page={quote_raw(value)}&q=a")
        assert response.status_code == 200, (value[:30], response.status_code)


def test_a_hostile_language_choice_is_ignored_on_every_public_page(site, stranger):
    """`?lang=` and the `lang` cookie choose among the interface's languages; anything else
    is no choice (English here), never an error or a cookie that keeps it."""
    for value in [*HOSTILE.values(), "es-ES;q=1", "../es", "es\r\nSet-Cookie: x=1"]:
        for path in (LETTER, f"{LETTER}/signers", "/", f"{LETTER}/signers.json"):
            response = stranger.get(f"{path}?lang={quote_raw(value)}")
            assert response.status_code == 200, (path, value[:20], response.status_code)
            assert "lang=" not in response.headers.get("Set-Cookie", "") or \
                response.headers["Set-Cookie"].startswith(("lang=es;", "lang=en;")), value[:20]
            if response.mimetype == "text/html":
                assert re.search(r'<html lang="(en|es)">', response.get_data(as_text=True))
        cookie = value.encode("utf-8", "replace").decode("latin-1")[:500]  # as a browser sends
        stranger.client.set_cookie("lang", cookie)
        assert stranger.get(LETTER).status_code == 200
        stranger.client.delete_cookie("lang")


def test_repeated_and_unknown_query_parameters_change_nothing(site, stranger):
    response = stranger.get(f"{LETTER}/signers?q=a&q=b&page=1&page=x&page[]=2&q[]=%00&zzz=1")
    assert response.status_code == 200


MALFORMED_SLUGS = [
    "", "UPPER", "a--b", "-a", "a-", "a" * 81, "a" * 10_240, "\x00", "a\x00b", "\ud800", "é",
    "<script>", "' OR 1=1 --", "..", "%2e%2e", "hostile-letter\x00", "HOSTILE-LETTER",
    "hostile letter", "hostile-letter ", "🐝", "\u202ehostile-letter", "hostile_letter",
]
SLUG_ADDRESSES = ["/letters/{}", "/letters/{}/signers", "/letters/{}/signers.csv",
                  "/letters/{}/signers.json", "/letters/{}.pdf", "/letters/{}/addendum.pdf",
                  "/letters/{}/resend",
                  "/letters/{}/check-email"]


def test_malformed_and_unknown_slugs_get_404_on_every_letter_address(site, stranger):
    for slug in MALFORMED_SLUGS:
        for pattern in SLUG_ADDRESSES:
            path = pattern.format(quote_raw(slug))
            response = stranger.get(path)
            assert response.status_code in (404, 405, 308), (path[:60], response.status_code)


def test_posting_to_a_malformed_slug_gets_a_4xx_and_stores_nothing(site, stranger):
    before = signature_count(site)
    for slug in MALFORMED_SLUGS:
        response = stranger.post(f"/letters/{quote_raw(slug)}", {**VALID, "email": fresh_email()})
        assert 400 <= response.status_code < 500, (slug[:30], response.status_code)
    assert signature_count(site) == before


# ------------------------------------------------------------------ shown escaped everywhere


SCRIPT = "<script>alert('signer')</script>"
IMG = "\"><img src=x onerror=alert(2)>"


@pytest.fixture(scope="module")
def scripted(site: Site) -> dict[str, str]:
    """An approved signature whose every shown field holds markup, and a formula-named one."""
    stranger = Stranger(site.app)
    email = fresh_email()
    response = stranger.post(LETTER, {**VALID, "email": email, "organization": SCRIPT,
                                      "contact_name": IMG, "city": SCRIPT, "region": IMG,
                                      "contact_title": SCRIPT})
    assert response.status_code == 303
    formula = stranger.post(LETTER, {**VALID, "email": fresh_email(),
                                     "organization": "=HYPERLINK(\"http://example.net\")"})
    assert formula.status_code == 303
    approve_all(site)
    with site.context(), writing():
        db.session.execute(update(Letter).values(show_contact_names=True))
    return {"email": email}


def assert_escaped(html: str) -> None:
    assert "<script>alert('signer')" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(" in html


def test_markup_typed_by_a_signer_is_escaped_on_the_public_list(site, scripted):
    response = Stranger(site.app).get(f"{LETTER}/signers", hostile=False)
    assert_escaped(response.get_data(as_text=True))


def test_markup_typed_by_a_signer_is_escaped_on_the_moderation_page(site, scripted):
    stranger = Stranger(site.app)
    login = stranger.post("/login", {"email": "staff@example.org", "password": PASSWORD},
                          hostile=False)
    assert login.status_code == 303
    response = stranger.get(f"/admin/letters/{SLUG}/signatures?status=approved", hostile=False)
    assert response.status_code == 200
    assert_escaped(response.get_data(as_text=True))


def test_markup_typed_by_a_signer_is_escaped_in_the_pdf_html(site, scripted):
    with site.context(), site.app.test_request_context():
        letter = letters.get_letter(SLUG)
        assert_escaped(letter_html(letter, listing.rows(letter)))


def test_markup_typed_by_a_signer_is_not_in_the_verification_email(site, scripted):
    with site.context():
        address = text.normalize_email(scripted["email"])
        message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient == address))
        written = emails.write(message.kind, json.loads(message.params))  # as the worker does
    assert message.kind == "confirm"
    assert "alert" not in written.html and "alert" not in written.text  # nothing typed at all
    assert "\r" not in written.subject and "\n" not in written.subject


def test_markup_typed_by_a_signer_is_escaped_in_the_html_email_to_the_confirmed_signer(
        site, scripted):
    """Once the address confirmed, its own signature's names are told back to it, escaped."""
    with site.context():
        address = text.normalize_email(scripted["email"])
        signature = db.session.scalar(select(Signature).where(Signature.email == address))
        written = emails.write("already-signed", {"signature": signature.id})
    assert_escaped(written.html)


def test_the_json_list_round_trips_markup_and_never_carries_a_raw_tag(site, scripted):
    response = Stranger(site.app).get(f"{LETTER}/signers.json", hostile=False)
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script" not in response.get_data(as_text=True)
    names = [s["organization"] for s in json.loads(response.get_data(as_text=True))["signatories"]]
    assert SCRIPT in names


def test_the_csv_list_is_a_download_with_formulas_neutralized(site, scripted):
    response = Stranger(site.app).get(f"{LETTER}/signers.csv", hostile=False)
    assert response.mimetype == "text/csv"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    names = [r["organization"] for r in rows]
    assert SCRIPT in names
    assert "'=HYPERLINK(\"http://example.net\")" in names
    assert not any(n[:1] in ("=", "+", "-", "@") for row in rows for n in row.values())


def test_every_public_page_forbids_inline_script(site, scripted):
    for path in ("/", LETTER, f"{LETTER}/signers", f"{LETTER}/resend", "/login"):
        csp = Stranger(site.app).get(path, hostile=False).headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp


# ------------------------------------------------------------------ generated submissions


def hostile_text(max_size: int = 60) -> st.SearchStrategy[str]:
    every_kind = st.characters(categories=["L", "M", "N", "P", "S", "Z", "Cc", "Cf", "Cs", "Co"])
    return st.one_of(
        st.text(every_kind, max_size=max_size),
        st.sampled_from(list(HOSTILE.values())),
        st.text(max_size=max_size),
        st.text(every_kind, min_size=100, max_size=140),
    )


def email_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.emails(), st.sampled_from(list(UNUSUAL_EMAILS)), hostile_text(40),
        st.builds(lambda local, junk: f"{local}{junk}@harbor.example.org",
                  st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True), hostile_text(8)),
    )


def submissions() -> st.SearchStrategy[dict[str, str]]:
    optional = {name: st.one_of(st.none(), hostile_text()) for name in SIGN_FIELDS}
    optional["email"] = st.one_of(st.none(), email_text())
    optional["country"] = st.one_of(st.none(), st.sampled_from(["Canada", "Mexico", "Kenya"]),
                                    hostile_text())
    optional["scope"] = st.one_of(st.none(), st.sampled_from(["state", "national"]),
                                  hostile_text())
    return st.fixed_dictionaries({}, optional=optional)


GENERATED = settings(max_examples=300, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@GENERATED
@given(changes=submissions(), drop=st.sets(st.sampled_from(SIGN_FIELDS), max_size=3))
def test_generated_sign_submissions_are_refused_with_a_message_or_stored_clean(site, changes,
                                                                             drop):
    stranger = _shared_stranger(site)
    given_fields = {k: v for k, v in changes.items() if v is not None}
    fields = {**VALID, "email": fresh_email(), **given_fields}
    for name in drop:
        fields.pop(name, None)
    before = signature_count(site)
    response = stranger.post(LETTER, fields)
    if "email" not in fields:
        assert response.status_code == 422
        assert signature_count(site) == before
        return
    judge_sign(site, response, fields["email"], before)


@settings(GENERATED, max_examples=200)
@given(email=email_text())
def test_generated_resend_requests_get_an_answer_and_mail_only_signers(site, email):
    stranger = _shared_stranger(site)
    before = outbox_count(site)
    response = stranger.post(f"{LETTER}/resend", {"email": email})
    assert response.status_code in (200, 303, 422)
    assert outbox_count(site) - before <= (1 if stored(site, email) else 0)


@settings(GENERATED, max_examples=200)
@given(token=hostile_text(200))
def test_generated_confirm_links_get_a_400_page(site, token):
    response = _shared_stranger(site).get(f"/confirm/{quote_raw(token)}")
    assert response.status_code in (400, 404, 308)


@settings(GENERATED, max_examples=200)
@given(query=hostile_text(200), page=hostile_text(12))
def test_generated_signer_searches_get_the_list(site, query, page):
    response = _shared_stranger(site).get(
        f"{LETTER}/signers?q={quote_raw(query)}&page={quote_raw(page)}")
    assert response.status_code == 200


@settings(GENERATED, max_examples=200)
@given(slug=hostile_text(100), tail=st.sampled_from(SLUG_ADDRESSES))
def test_generated_slugs_get_404_or_the_letter(site, slug, tail):
    response = _shared_stranger(site).get(tail.format(quote_raw(slug)))
    assert response.status_code in (200, 404, 308, 405)


@settings(GENERATED, max_examples=15)
@given(email=email_text(), password=hostile_text(80))
def test_generated_logins_never_let_anyone_in_or_fail(site, email, password):
    response = _shared_stranger(site).post("/login", {"email": email, "password": password})
    assert response.status_code in (200, 401, 422, 429)


_strangers: dict[int, Stranger] = {}


def _shared_stranger(site: Site) -> Stranger:
    """One browser per site for the generated examples (its CSRF token stays valid)."""
    if id(site.app) not in _strangers:
        _strangers[id(site.app)] = Stranger(site.app)
    return _strangers[id(site.app)]



# ------------------------------------------------------------------ limits shared by all workers
# These use the per-test app of conftest (limits on, as in production).


def log_in(client, email: str = "staff@example.org", password: str = PASSWORD,  # type: ignore[no-untyped-def]
           address: str = "127.0.0.1"):
    response = submit(client, "/login", {"email": email, "password": password}, "Log in",
                      environ_base={"REMOTE_ADDR": address})
    figures.response(response.status_code, hostile=False)
    return response


def failed_logins_from(address: str, count: int) -> None:
    """Record `count` failed logins from `address`, as that many wrong passwords would."""
    with writing():
        for _ in range(count):
            ratelimit.hit(ratelimit.key("login-ip", address), always=True)


def test_a_failed_login_is_counted_for_its_address_and_a_success_is_not(client, organizer):
    assert log_in(client, password="wrong password 1").status_code == 401
    assert log_in(client).status_code == 303
    assert ratelimit.count(ratelimit.key("login-ip", "127.0.0.1"), timedelta(minutes=15)) == 1


def test_twenty_failed_logins_from_one_address_refuse_even_the_right_password(client, organizer):
    failed_logins_from("127.0.0.1", accounts.IP_TRIES - 1)
    assert log_in(client, "nobody@example.org", "wrong password 1").status_code == 401
    response = log_in(client)
    assert response.status_code == 401
    assert "Too many failed logins. Try again in about" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302  # still not logged in


def test_a_throttled_address_does_not_throttle_another_one(new_client, organizer):
    failed_logins_from("192.0.2.10", accounts.IP_TRIES)
    assert log_in(new_client(), address="192.0.2.10").status_code == 401
    assert log_in(new_client(), address="192.0.2.11").status_code == 303


def test_the_login_throttle_of_one_worker_holds_in_another(app, organizer, tmp_path):
    other = build_app(app.config["DATABASE_URL"], tmp_path / "other-instance")
    worker_a, worker_b = app.test_client(), other.test_client()
    failed_logins_from("127.0.0.1", accounts.IP_TRIES - 1)
    assert log_in(worker_a, "nobody@example.org", "wrong password 1").status_code == 401
    response = log_in(worker_b)
    assert response.status_code == 401
    assert "Too many failed logins" in response.get_data(as_text=True)
    with other.app_context():
        db.engine.dispose()


def test_failed_logins_older_than_fifteen_minutes_no_longer_count(client, organizer):
    old = utcnow() - accounts.IP_WINDOW - timedelta(seconds=5)
    with writing():
        db.session.add_all([RateEvent(key=ratelimit.key("login-ip", "127.0.0.1"), created_at=old)
                            for _ in range(accounts.IP_TRIES)])
    assert log_in(client).status_code == 303


def test_the_login_throttle_holds_even_when_the_public_limits_are_disabled(app, client,
                                                                          organizer):
    """The switch is for load tests of the public forms; nobody needs guessing unlimited."""
    app.config["RATELIMIT_ENABLED"] = False
    failed_logins_from("127.0.0.1", accounts.IP_TRIES)
    assert log_in(client).status_code == 401
    assert log_in(client, address="192.0.2.20").status_code == 303


def confirm_mails(address: str) -> int:
    return int(db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.recipient == address, OutboxMessage.kind == "confirm")) or 0)


def test_the_resend_form_mails_a_signer_at_most_three_times_an_hour(client, make_letter,
                                                                     make_signature):
    letter = make_letter()
    signature = make_signature(letter, status="unconfirmed", email="ana@harbor.example.org")
    for _ in range(6):
        response = submit(client, f"/letters/{letter.slug}/resend",
                          {"email": "ana@harbor.example.org"}, "Send")
        assert response.status_code == 200  # the same answer every time
    assert confirm_mails("ana@harbor.example.org") == signing.MAILBOX_LIMITS[0][0]
    assert signature.status == "unconfirmed"


def test_signing_again_and_again_mails_the_address_at_most_three_times_an_hour(client,
                                                                              make_letter):
    letter = make_letter()
    data = {**VALID, "email": "ana@harbor.example.org"}
    for _ in range(6):
        assert submit(client, f"/letters/{letter.slug}", data, "Sign").status_code == 303
    assert confirm_mails("ana@harbor.example.org") == signing.MAILBOX_LIMITS[0][0]
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 1


def test_the_resend_limit_is_off_when_limits_are_disabled(app, client, make_letter,
                                                          make_signature):
    app.config["RATELIMIT_ENABLED"] = False
    letter = make_letter()
    make_signature(letter, status="unconfirmed", email="ana@harbor.example.org")
    for _ in range(5):
        submit(client, f"/letters/{letter.slug}/resend", {"email": "ana@harbor.example.org"},
               "Send")
    assert confirm_mails("ana@harbor.example.org") == 5
    assert db.session.scalar(select(func.count()).select_from(RateEvent)) == 0


def test_rate_events_older_than_a_day_are_deleted_by_the_workers_sweep(app):
    from campaign import worker

    with app.test_request_context():
        with writing():
            db.session.add(RateEvent(key="login-ip:old", created_at=utcnow() - timedelta(days=2)))
            ratelimit.hit("login-ip:new")
        worker.sweep()
        assert db.session.scalars(select(RateEvent.key)).all() == ["login-ip:new"]


def test_a_rate_limit_key_keeps_no_address_in_clear(bare):
    assert "203.0.113.9" not in ratelimit.key("login-ip", "203.0.113.9")
    assert ratelimit.key("login-ip", "203.0.113.9") != ratelimit.key("login-ip", "203.0.113.8")


# ------------------------------------------------------------------ cookies and HTTPS
# The login page reads no database: these run once, on an app whose database nobody opens.


def site_at(folder: Path, base_url: str, **settings: Any):  # type: ignore[no-untyped-def]
    return build_app(f"sqlite:///{folder / 'unused.sqlite3'}", folder, BASE_URL=base_url,
                     **settings)


def session_cookie(response: Any, name: str = "session") -> str:
    [cookie] = [v for v in response.headers.getlist("Set-Cookie") if v.startswith(f"{name}=")]
    return cookie


def test_the_session_cookie_is_secure_when_the_base_url_is_https(tmp_path):
    served = site_at(tmp_path, "https://letters.example.org")
    client = served.test_client()
    cookie = session_cookie(client.get("/login", base_url="https://letters.example.org"),
                            "__Host-session")
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "; Path=/" in cookie and "Domain=" not in cookie  # what the __Host- prefix asks
    assert "Expires=" not in cookie  # gone when the browser closes


def test_the_session_cookie_keeps_the_host_prefix_whatever_the_cookie_settings_say(tmp_path):
    served = site_at(tmp_path, "https://letters.example.org",
                     SESSION_COOKIE_DOMAIN="letters.example.org", SESSION_COOKIE_PATH="/admin")
    cookie = session_cookie(served.test_client().get("/login"), "__Host-session")
    assert "; Path=/;" in cookie and "Domain=" not in cookie


def test_the_session_cookie_is_not_marked_secure_for_a_plain_http_base_url(tmp_path):
    served = site_at(tmp_path, "http://127.0.0.1:5000")
    cookie = session_cookie(served.test_client().get("/login"))
    assert "Secure" not in cookie  # else a local browser would never send it back
    assert "; HttpOnly" in cookie
    assert "__Host-" not in cookie  # a browser refuses a __Host- cookie without Secure


def test_hsts_is_sent_over_https_and_never_over_plain_http(tmp_path):
    served = site_at(tmp_path, "https://letters.example.org")
    client = served.test_client()
    secure = client.get("/login", base_url="https://letters.example.org")
    plain = client.get("/login", base_url="http://letters.example.org")
    hsts = secure.headers["Strict-Transport-Security"]
    assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 31_536_000
    assert "Strict-Transport-Security" not in plain.headers


def test_hsts_follows_a_trusted_proxys_https_and_ignores_a_strangers_claim(tmp_path):
    header = {"X-Forwarded-Proto": "https"}
    behind_proxy = site_at(tmp_path / "proxied", "https://letters.example.org",
                           PROXIES=1).test_client()
    direct = site_at(tmp_path / "direct", "https://letters.example.org").test_client()
    assert "Strict-Transport-Security" in behind_proxy.get("/login", headers=header).headers
    assert "Strict-Transport-Security" not in direct.get("/login", headers=header).headers
