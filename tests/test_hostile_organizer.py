"""Hostile input at every organizer form and address: an answer below 500 always; a refused form
changes nothing; what is accepted is stored clean and shown escaped; no signer's email or phone in
a log or on a public page. Each backend gets one app for the whole module, with letters,
signatures in every state and an organizer logged in once through the login form."""
from __future__ import annotations

import io
import logging
import re
import struct
import unicodedata
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import support_figures as figures
from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import delete, func, select, update
from support import BACKENDS, PASSWORD, do_render_jobs, form_fields, password_hash
from support_apps import Site, Stranger, module_site, quote_raw
from test_hostile import GENERATED, HOSTILE, VALID, hostile_text
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from campaign import accounts, import_previews, letters, signing, text
from campaign.database import writing
from campaign.extensions import db
from campaign.models import (
    ImportWaiting,
    Letter,
    LetterUpdate,
    OrganizerSession,
    OutboxMessage,
    RateEvent,
    Signature,
    utcnow,
)
from campaign.uploads import UPLOAD_NAME

ORGANIZER = "staff@example.org"
SLUG = "estuary"  # signatures in every state; the letterhead form
EDIT = "edit-me"  # the edit form; put back after each accepted change
DELIVER = "deliver-me"  # the close-and-deliver form
TEXT = letters.LetterText(
    title="Protect the Estuary", slug=SLUG, status="open", recipient="The County Council",
    body="We, the undersigned, ask the council to **protect** the estuary.\n")
EDIT_TEXT = letters.LetterText(
    title="Fund the Libraries", slug=EDIT, status="open", recipient="The Mayor\nCity Hall",
    body="We ask you to keep the libraries open.\n", deadline=None, language="en")
SIGNER_PHONE = "+1 555 0199"
FORBIDDEN = {"Cc", "Cs"}  # control characters (NUL among them) and lone surrogates
ALLOWED_CONTROLS = "\n\t"
RAW_MARKUP = ("<script>alert(", "<img src=x")
# Tables that change on their own while an organizer browses: the session's last use, limits;
# and the uploads kept for their preview (an upload keeps one until it is confirmed or expires).
VOLATILE = {OrganizerSession.__tablename__, RateEvent.__tablename__,
            ImportWaiting.__tablename__}


# ------------------------------------------------------------------ the site


def add_signature(letter: Letter, n: int, status: str, held: bool = False) -> Signature:
    values = signing.signature_values(
        letter, signing.SignerInput(organization=f"Harbor Cooperative {n}",
                                    contact_name=f"Ana Ferreira {n}", phone=SIGNER_PHONE,
                                    city="Eureka", region="CA"),
        email=f"signer{n}@harbor.example.org", status=status, source="web")
    signature = Signature(**values, held=held,
                          version_id=letter.current_version.id if letter.current_version else None)
    db.session.add(signature)
    db.session.flush()
    return signature


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Three letters (one with two signatures in each state and one held), an organizer, a dead
    email; the first letter's PDF made, so that its download answers 200 rather than 503."""
    folder = tmp_path_factory.mktemp(f"hostile-organizer-{request.param}")
    hashed = password_hash()
    with module_site(request, folder, RATELIMIT_ENABLED=False) as made:
        with made.context(), writing():
            letter = letters.create(TEXT)
            letters.create(EDIT_TEXT)
            delivered = letters.create(letters.LetterText(
                title="Close the Landfill", slug=DELIVER, status="open",
                body="We ask you to close the landfill.\n"))
            n = 0
            for status in ("unconfirmed", "pending", "approved", "rejected"):
                for _ in range(2):
                    n += 1
                    add_signature(letter, n, status)
            add_signature(letter, n + 1, "unconfirmed", held=True)
            add_signature(delivered, n + 2, "approved")
            accounts.create_organizer(ORGANIZER, hashed, "Staff")
            db.session.add(OutboxMessage(kind="confirm", recipient="signer1@harbor.example.org",
                                         subject="Confirm", body_text="x", status="dead",
                                         attempts=9))
        with made.context():
            do_render_jobs()
        yield made


class Organizer(Stranger):
    """A browser logged in as the organizer through the login form; every answer is counted."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        response = self.post("/login", {"email": ORGANIZER, "password": PASSWORD}, hostile=False)
        assert response.status_code == 303, response.status_code
        page = self.client.get("/admin/letters/new")
        assert page.status_code == 200, page.status_code
        self.token = form_fields(page.get_data(as_text=True))[1]["csrf_token"]

    def upload(self, path: str, fields: dict[str, str], files: dict[str, tuple[bytes, str]],
               **kwargs: Any) -> TestResponse:
        data: dict[str, Any] = {"csrf_token": self.token, **fields}
        data.update({name: FileStorage(io.BytesIO(content), filename)
                     for name, (content, filename) in files.items()})
        boundary, body = encode_multipart(data)  # in memory: the test client leaves a temp file
        response = self.client.post(path, data=body,
                                    content_type=f"multipart/form-data; boundary={boundary}",
                                    **kwargs)
        figures.response(response.status_code)
        return response

    def get(self, path: str, *, hostile: bool = True, **kwargs: Any) -> TestResponse:
        """A GET whose streamed body (a CSV download) is read while its request lasts."""
        return super().get(path, hostile=hostile, buffered=True, **kwargs)

    def post_pairs(self, path: str, pairs: list[tuple[str, str]]) -> TestResponse:
        """A POST whose fields repeat (checkboxes), as a browser sends them."""
        body = "&".join(quote_raw(name) + "=" + quote_raw(value)
                        for name, value in [("csrf_token", self.token), *pairs])
        response = self.client.post(path, data=body.encode("ascii"),
                                    content_type="application/x-www-form-urlencoded")
        figures.response(response.status_code)
        return response

    def follow(self, response: TestResponse) -> tuple[list[str], str]:
        """The page a redirect leads to (not counted as an input): its flash categories, HTML."""
        location = response.headers["Location"]
        parts = urlsplit(location)
        assert parts.netloc in ("", "localhost"), location
        assert parts.path.startswith("/") and not parts.path.startswith("//"), location
        page = self.get(parts.path + (f"?{parts.query}" if parts.query else ""), hostile=False)
        assert page.status_code < 500, (location, page.status_code)
        html = page.get_data(as_text=True)
        soup = BeautifulSoup(html, "html.parser")
        kinds = [c for p in soup.select("p.flash") for c in p["class"] if c != "flash"]
        return kinds, html


@pytest.fixture(scope="module")
def organizer(site: Site) -> Organizer:
    return Organizer(site.app)


@pytest.fixture(autouse=True)
def no_personal_data_in_logs(site: Site, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test here runs with logging at DEBUG (the app's logger too); no record may carry a
    signer's email address or phone number."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger=site.app.logger.name)
    caplog.set_level(logging.INFO, logger="markdown_it")  # its parser's every step, no data
    yield
    secrets = personal_data(site)
    for record in caplog.get_records("setup") + caplog.get_records("call"):
        text = record.getMessage() + (logging.Formatter().formatException(record.exc_info)
                                      if record.exc_info else "")
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{record.name} logged {leaked[:3]}: {text[:200]!r}"


def personal_data(site: Site) -> set[str]:
    """Every signer's email address, and every phone number (one with seven digits or more)."""
    with site.context():
        rows = db.session.execute(select(Signature.email, Signature.phone)).all()
    return {email for email, _ in rows if email} | \
        {phone for _, phone in rows if phone and len(re.findall(r"[0-9]", phone)) >= 7}


# ------------------------------------------------------------------ what the database holds


def snapshot(site: Site) -> dict[str, Any]:
    """Every table's row count, and every row of the tables organizers' forms change."""
    with site.context():
        tables = [t for t in db.metadata.sorted_tables if t.name not in VOLATILE]
        counts = db.session.execute(select(*[
            select(func.count()).select_from(t).scalar_subquery().label(t.name)
            for t in tables])).one()._asdict()
        rows = {model.__tablename__: {r[0]: tuple(r) for r in db.session.execute(
            select(model.__table__)).all()} for model in (Letter, Signature, OutboxMessage)}
    return {"counts": counts, **rows}


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    found = [f"{t}: {n} rows, then {after['counts'][t]}"
             for t, n in before["counts"].items() if after["counts"][t] != n]
    for table in ("letter", "signature", "outbox_message"):
        found += [f"{table} {key} changed" for key, row in before[table].items()
                  if after[table].get(key) != row]
    return found


def letter_row(site: Site, slug: str) -> dict[str, Any] | None:
    with site.context():
        row = db.session.execute(select(Letter.__table__).where(Letter.slug == slug)).first()
        return None if row is None else dict(row._mapping)


def dirty(row: dict[str, Any], table: Any) -> list[str]:
    """What is wrong with a stored row: control characters, lone surrogates, overlong text."""
    problems = []
    for column in table.columns:
        value = row[column.name]
        if not isinstance(value, str):
            continue
        bad = {unicodedata.category(c) for c in value if c not in ALLOWED_CONTROLS} & FORBIDDEN
        if bad:
            problems.append(f"{column.name} holds {sorted(bad)}: {value[:60]!r}")
        limit = getattr(column.type, "length", None)
        if limit is not None and len(value) > limit:
            problems.append(f"{column.name} is {len(value)} long, over {limit}")
    return problems


def letter_problems(row: dict[str, Any]) -> list[str]:
    problems = dirty(row, Letter.__table__)
    for name in ("title", "body"):
        if not text.clean_text(row[name]):
            problems.append(f"the {name} has no visible character")
    if any(marker in row["body_html"] for marker in RAW_MARKUP):
        problems.append("the body's HTML holds raw markup")
    return problems


def assert_escaped(html: str, where: str) -> None:
    for marker in RAW_MARKUP:
        assert marker not in html, f"raw {marker!r} on {where}"


def restore(site: Site, slug: str, text: letters.LetterText) -> None:
    with site.context(), writing():
        letter = letters.get_letter(slug)
        assert letter is not None
        letters.update(letter, text)
        letter.require_approval, letter.show_contact_names = True, False


def drop_letter(site: Site, slug: str) -> None:
    """Remove a letter a test made (its rows go with it), so that the letters page stays short."""
    with site.context(), writing():
        db.session.execute(delete(Letter).where(Letter.slug == slug))


def signature_ids(site: Site, status: str, slug: str = SLUG, held: bool = False) -> list[int]:
    with site.context():
        return list(db.session.scalars(
            select(Signature.id).join(Letter).where(Letter.slug == slug, Signature.held == held,
                                                    Signature.status == status)
            .order_by(Signature.id)))


# ------------------------------------------------------------------ judging an answer


def judge(site: Site, organizer: Organizer, response: TestResponse, before: dict[str, Any],
          what: str) -> tuple[str, str]:
    """'refused' (a 4xx, or a redirect to an error message: then nothing changed), 'shown'
    (the form again or a preview: nothing changed either) or 'accepted'; with the page seen."""
    status = response.status_code
    assert status < 500, f"{what}: {status}"
    if status in (302, 303):
        kinds, html = organizer.follow(response)
        verdict = "refused" if "error" in kinds else "accepted"
    else:
        html = response.get_data(as_text=True)
        verdict = "refused" if status >= 400 else "shown"
    assert_escaped(html, what)
    if verdict != "accepted":
        changed = changes(before, snapshot(site))
        if changed:
            figures.half_written(1)
        assert not changed, f"{what}: {verdict} ({status}) but {changed[:3]}"
    return verdict, html


def errors_shown(html: str) -> list[str]:
    soup = BeautifulSoup(html, "html.parser")
    return [" ".join(p.get_text(" ").split()) for p in soup.select(".error")]


# ------------------------------------------------------------------ every organizer address


# Each organizer or login address, and the test that sends it hostile input.
COVERED = {
    "admin.letters_page": "get", "admin.new_letter": "letter form",
    "admin.edit_letter": "letter form", "admin.versions": "get", "admin.signatures": "get",
    "admin.remind_reconsent": "paths", "admin.open_letter": "paths", "admin.withdraw": "paths",
    "admin.history": "get", "admin.history_csv": "get", "admin.letter_file": "get",
    "admin.decide_one": "paths", "admin.decide_many": "bulk", "admin.rename": "rename",
    "admin.import_signatures": "import", "admin.import_progress": "get",
    "admin.import_preview": "get", "admin.import_confirm": "import",
    "admin.import_cancel": "import",
    "admin.export_csv": "get", "admin.outbox_page": "get", "admin.outbox_retry": "retry",
    "admin.export_pdf": "get", "admin.refresh_pdf": "referrer",
    "admin.deliver_page": "letterhead", "admin.close_and_deliver": "deliver",
    "admin.retry_delivery": "deliver", "admin.delivery_package": "get",
    # test_letter_life.py: test_reopen_and_addendum_forms_take_hostile_values_without_a_5xx
    "admin.reopen_letter": "letter life", "admin.email_addendum": "letter life",
    "auth.login_page": "login", "auth.logout": "logout",
    "updates.updates_page": "update form",
    "admin.partners_page": "get", "admin.add_partner": "partner form",
    "admin.rename_partner": "partner form", "admin.remove_partner": "partner form",
    "organizers.page": "organizers forms", "organizers.change": "organizers forms",
    "admin.translations_page": "translation form", "admin.delete_translation": "translation form",
    "admin.choose_language": "language form",
    "admin.edit_signature": "signature form", "admin.merge_signature": "signature form",
    "invitation.accept": "invitation form",
}
BAD_SLUGS = ["", "UPPER", "a--b", "-a", "a" * 81, "a" * 10_240, "\x00", f"{SLUG}\x00", "\ud800",
             "é", "<script>", "' OR 1=1 --", "..", "%2e%2e", f"{SLUG} ", "🐝",
             f"\u202e{SLUG}", "edit_me", "nope"]
BAD_IDS = ["0", "-1", "2147483648", "99999999999999999999", "1" * 300, "١", "²", "1e3", "0x1",
           " 1", "1.0", "1%00", "\ud800", "９"]
QUERY_NAMES = ["status", "page", "ids", "q", "tab", "next", "verb", "action", "actor", "from", "to",
               "language", "lang"]


def test_every_organizer_address_is_covered_here(site):
    endpoints = {rule.endpoint for rule in site.app.url_map.iter_rules()
                 if rule.endpoint.startswith(("admin.", "auth.", "updates.", "organizers.",
                                              "invitation."))}
    assert endpoints == set(COVERED), "a new organizer address needs its hostile-input test"


def example_paths(site: Site) -> dict[str, str]:
    """A working address of each GET rule of the organizer pages."""
    from campaign.models import Organizer as Account

    with site.context():
        signature = signature_ids(site, "pending")[0]
        staff = db.session.scalar(select(Account.id).where(Account.email == ORGANIZER))
    with site.context(), writing():
        file = import_previews.readable("signers.csv", b"organization\nHarbor Union\n")
        waiting = import_previews.keep(letters.get_letter(SLUG), staff, file, False)
    return {
        "admin.letters_page": "/admin/", "admin.new_letter": "/admin/letters/new",
        "admin.edit_letter": f"/admin/letters/{SLUG}/edit",
        "admin.versions": f"/admin/letters/{SLUG}/versions",
        "admin.history": f"/admin/letters/{SLUG}/history",
        "admin.history_csv": f"/admin/letters/{SLUG}/history.csv",
        "admin.letter_file": f"/admin/letters/{SLUG}/letter.md",
        "admin.signatures": f"/admin/letters/{SLUG}/signatures",
        "admin.import_progress": f"/admin/letters/{SLUG}/imports/{signature}",
        "admin.import_preview": f"/admin/letters/{SLUG}/imports/preview/{waiting.token}",
        "admin.export_csv": f"/admin/letters/{SLUG}/signatures.csv",
        "admin.outbox_page": "/admin/outbox",
        "admin.export_pdf": f"/admin/letters/{SLUG}/letter.pdf",
        "admin.deliver_page": f"/admin/letters/{SLUG}/deliver",
        "admin.delivery_package": f"/admin/letters/{SLUG}/delivery.zip",
        "auth.login_page": "/login",
        "updates.updates_page": f"/admin/letters/{SLUG}/updates",
        "admin.partners_page": f"/admin/letters/{SLUG}/partners",
        "admin.translations_page": f"/admin/letters/{SLUG}/translations",
        "admin.edit_signature": f"/admin/letters/{SLUG}/signatures/{signature}/edit",
        "organizers.page": f"/admin/letters/{SLUG}/organizers",
        "invitation.accept": "/invitation/no-such-invitation",
    }


def test_every_get_address_answers_hostile_query_values(site, organizer):
    paths = example_paths(site)
    gets = {r.endpoint for r in site.app.url_map.iter_rules()
            if "GET" in (r.methods or ()) and r.endpoint in COVERED}
    assert gets == set(paths)
    values = [*HOSTILE.values(), *BAD_IDS[::3], "%", "[]"]
    for endpoint, path in paths.items():
        for value in values:
            query = "&".join(f"{name}={quote_raw(value)}" for name in QUERY_NAMES)
            response = organizer.get(f"{path}?{query}&ids=1&status=approved&{query}")
            assert response.status_code in (200, 302, 303, 404), \
                (endpoint, value[:30], response.status_code)
            if response.status_code == 302:  # only the login page, to the letters
                assert response.headers["Location"].endswith("/admin/"), response.headers
        assert organizer.get(path + "?status=held&status=approved").status_code in (200, 302, 404)
        assert organizer.get(path + "?q=" + "a" * 100_000).status_code in (200, 302, 404)


def test_every_organizer_address_answers_hostile_path_parts_with_404(site, organizer):
    post_rules = []
    for rule in site.app.url_map.iter_rules():
        if rule.endpoint not in COVERED or not rule.arguments:
            continue
        for argument in sorted(rule.arguments):
            bad = BAD_IDS if argument.endswith("_id") else BAD_SLUGS
            for value in bad:
                values = {a: ("1" if a.endswith("_id") else "approve" if a == "verb" else SLUG)
                          for a in rule.arguments}
                values[argument] = value
                path = re.sub(r"<(?:[^:>]+:)?([^>(]+)(?:\([^)]*\))?>",
                              lambda m, v=values: quote_raw(v[m.group(1)]), rule.rule)
                methods = rule.methods or set()
                before = snapshot(site) if "POST" in methods else None
                response = (organizer.post(path, {"ids": "1", "verb": "approve"})
                            if "POST" in methods else organizer.get(path))
                assert response.status_code in (404, 405, 308), \
                    (rule.endpoint, argument, value[:30], response.status_code)
                if before is not None:
                    post_rules.append(rule.endpoint)
                    assert changes(before, snapshot(site)) == []
    assert post_rules


def test_every_post_without_a_csrf_token_is_refused_and_changes_nothing(site, organizer):
    paths = {r.endpoint: r for r in site.app.url_map.iter_rules()
             if r.endpoint in COVERED and "POST" in (r.methods or ())}
    signature = signature_ids(site, "pending")[0]
    for endpoint, rule in paths.items():
        path = rule.rule.replace("<slug>", SLUG).replace("<id:signature_id>", str(signature)) \
            .replace("<any(approve, reject):verb>", "approve").replace("<id:partner_id>", "1") \
            .replace("<id:organizer_id>", "1").replace("<token>", "no-such-invitation")
        for token in (None, "", "x" * 10_000, "\x00", "\ud800", organizer.token[:-3] + "abc"):
            before = snapshot(site)
            response = organizer.post(path, {"ids": str(signature), "verb": "approve",
                                             "confirm": "y", "title": "x", "body": "x"},
                                      token=token)
            assert response.status_code == 400, (endpoint, response.status_code)
            assert changes(before, snapshot(site)) == []
    assert organizer.get("/admin/").status_code == 200  # still logged in


# ------------------------------------------------------------------ the letter form


LETTER_FIELDS = ["title", "slug", "recipient", "body", "deadline", "status", "language",
                 "require_approval", "show_contact_names", "preview", "embed_origins"]
_numbers = iter(range(1, 10_000_000))


def new_letter_values() -> dict[str, str]:
    n = next(_numbers)
    return {"title": f"Plant {n} Trees", "slug": f"trees-{n}", "recipient": "The Parks Board",
            "body": "We ask you to plant trees.\n", "deadline": "2030-06-30", "status": "draft",
            "language": "en", "require_approval": "y"}


EDIT_VALUES = {"title": EDIT_TEXT.title, "slug": EDIT, "recipient": EDIT_TEXT.recipient,
               "body": EDIT_TEXT.body, "deadline": "", "status": "open", "language": "en",
               "require_approval": "y"}


def judge_letter_form(site: Site, organizer: Organizer, response: TestResponse,
                      before: dict[str, Any], what: str) -> str | None:
    """The slug of the letter saved, after checking it is stored clean; None if nothing was."""
    verdict, html = judge(site, organizer, response, before, what)
    assert response.status_code in (200, 303, 422), (what, response.status_code)
    if response.status_code == 422:
        assert errors_shown(html), f"{what}: refused without a message at a field"
    if verdict != "accepted":
        return None
    location = urlsplit(response.headers["Location"]).path
    match = re.fullmatch(r"/admin/letters/([^/]+)/edit", location)
    assert match, response.headers["Location"]
    row = letter_row(site, match.group(1))
    if row is None:
        figures.half_written(1)
    assert row is not None, f"{what}: 'saved' but no letter {match.group(1)!r}"
    assert letter_problems(row) == [], what
    return match.group(1)


@pytest.mark.parametrize("field", LETTER_FIELDS)
def test_a_new_letter_refuses_or_stores_clean_every_hostile_value(site, organizer, field):
    for kind, value in HOSTILE.items():
        fields = {**new_letter_values(), field: value}
        before = snapshot(site)
        response = organizer.post("/admin/letters/new", fields)
        saved = judge_letter_form(site, organizer, response, before, f"new {field}={kind}")
        if saved is not None:
            if field in SHOWN_FIELDS:
                check_letter_pages(organizer, saved, f"new {field}={kind}")
            drop_letter(site, saved)


@pytest.mark.parametrize("field", LETTER_FIELDS)
def test_an_edited_letter_refuses_or_stores_clean_every_hostile_value(site, organizer, field):
    for kind, value in HOSTILE.items():
        before = snapshot(site)
        response = organizer.post(f"/admin/letters/{EDIT}/edit", {**EDIT_VALUES, field: value})
        saved = judge_letter_form(site, organizer, response, before, f"edit {field}={kind}")
        if saved is not None:
            assert saved == EDIT
            if field in SHOWN_FIELDS:
                check_letter_pages(organizer, saved, f"edit {field}={kind}")
            restore(site, EDIT, EDIT_TEXT)


SHOWN_FIELDS = {"title", "recipient", "body"}  # what the pages show of a letter


def check_letter_pages(organizer: Organizer, slug: str, what: str) -> None:
    """A saved letter's versions and public page show it escaped (its edit page, where the
    form's answer leads, was checked already)."""
    for path in (f"/admin/letters/{slug}/versions", f"/letters/{slug}"):
        page = organizer.get(path, hostile=False)
        assert page.status_code in (200, 404), (what, path, page.status_code)
        assert_escaped(page.get_data(as_text=True), f"{path} after {what}")


DEADLINES = ["2026-02-30", "2026-06-31 25:00", "0001-01-01", "9999-12-31T23:59:59-14:00",
             "1999-12-31", "2200-01-01", "2030-06-30T17:00+99:00", "2030-06-30T17:00Z",
             "20300630", "2030-W26-1", "2030-06-30 17:00:00.999999+14:00", "now", "-1",
             "+002030-06-30", "２０３０-０６-３０", "2030-06-30\x00", "2030-06-30T24:00"]


def test_a_hostile_deadline_is_refused_at_its_field_or_kept_in_range(site, organizer):
    for value in DEADLINES:
        fields = {**new_letter_values(), "deadline": value}
        before = snapshot(site)
        response = organizer.post("/admin/letters/new", fields)
        saved = judge_letter_form(site, organizer, response, before, f"deadline={value!r}")
        if saved is not None:
            row = letter_row(site, saved)
            assert row is not None and row["deadline"] is not None
            assert 2000 <= row["deadline"].year <= 2199
            drop_letter(site, saved)


def test_a_preview_of_hostile_markdown_saves_nothing_and_shows_it_sanitized(site, organizer):
    bodies = [HOSTILE["script"], "<iframe src=javascript:alert(1)>", "[x](javascript:alert(1))",
              "![x](file:///etc/passwd)", "> " * 5_000 + "deep", "[" * 20_000, "*" * 50_000,
              "- " * 10_000 + "x", "<img src=x onerror=alert(1)>" * 100, "`" * 30_000]
    for body in bodies:
        before = snapshot(site)
        response = organizer.post("/admin/letters/new",
                                  {**new_letter_values(), "body": body, "preview": "Preview"})
        assert response.status_code in (200, 422), response.status_code
        html = response.get_data(as_text=True)
        assert_escaped(html, "the preview")
        preview = BeautifulSoup(html, "html.parser").select_one("section.preview")
        if preview is not None:
            assert_escaped(str(preview), "the preview")
            for tag in preview.find_all(True):
                for value in tag.attrs.values():
                    assert "javascript:" not in str(value).lower(), (body[:40], tag)
        assert changes(before, snapshot(site)) == []


def test_a_slug_taken_by_another_letter_is_refused_at_the_slug_field(site, organizer):
    before = snapshot(site)
    response = organizer.post("/admin/letters/new", {**new_letter_values(), "slug": SLUG})
    assert response.status_code == 422
    assert any("taken" in e for e in errors_shown(response.get_data(as_text=True)))
    assert changes(before, snapshot(site)) == []
    response = organizer.post(f"/admin/letters/{EDIT}/edit", {**EDIT_VALUES, "slug": DELIVER})
    assert response.status_code == 422
    assert changes(before, snapshot(site)) == []


# ------------------------------------------------------------------ moderation forms


def test_renaming_refuses_or_stores_clean_every_hostile_name(site, organizer):
    target = signature_ids(site, "approved")[0]
    for field in ("display_name", "tab"):
        for kind, value in HOSTILE.items():
            before = snapshot(site)
            response = organizer.post(
                f"/admin/letters/{SLUG}/signatures/{target}/rename?status={quote_raw(value)}",
                {"display_name": "Harbor Co-op", field: value})
            verdict, _ = judge(site, organizer, response, before, f"rename {field}={kind}")
            assert response.status_code == 303
            if verdict == "accepted":
                with site.context():
                    row = db.session.execute(select(Signature.__table__)
                                             .where(Signature.id == target)).one()._asdict()
                assert dirty(row, Signature.__table__) == [], kind
                assert row["sort_key"] == row["sort_key"].strip()
    public = organizer.get(f"/letters/{SLUG}/signers", hostile=False)
    assert_escaped(public.get_data(as_text=True), "the public list")


def test_the_bulk_form_refuses_hostile_selections_and_changes_nothing(site, organizer):
    target = signature_ids(site, "pending")[-1]
    other_letters = signature_ids(site, "approved", slug=DELIVER)
    for field in ("ids", "verb", "tab"):
        for kind, value in HOSTILE.items():
            fields = {"ids": str(target), "verb": "approve", "tab": "pending", field: value}
            before = snapshot(site)
            response = organizer.post(f"/admin/letters/{SLUG}/signatures/bulk", fields)
            verdict, _ = judge(site, organizer, response, before, f"bulk {field}={kind}")
            assert response.status_code == 303
            if field != "tab":
                assert verdict == "refused", f"bulk {field}={kind} was accepted"
            elif verdict == "accepted":
                with site.context(), writing():
                    db.session.execute(update(Signature).where(Signature.id == target)
                                       .values(status="pending", decided_at=None))
    with site.context():
        kept = db.session.execute(select(Signature.id, Signature.status,
                                         Signature.decided_at)).all()
    for ids in ([str(target), "x"], [str(target), ""], [str(target)] * 5_000,
                [str(i) for i in range(1, 3_000)], [str(other_letters[0])]):
        before = snapshot(site)
        response = organizer.post_pairs(f"/admin/letters/{SLUG}/signatures/bulk?ids=1",
                                        [*(("ids", i) for i in ids), ("verb", "reject")])
        judge(site, organizer, response, before, f"bulk ids={ids[:2]}")
    with site.context(), writing():
        assert db.session.get(Signature, other_letters[0]).status == "approved"
        for id_, status, decided_at in kept:  # the other tests' signatures as they were
            db.session.execute(update(Signature).where(Signature.id == id_)
                               .values(status=status, decided_at=decided_at))


def test_deciding_one_signature_answers_hostile_queries_and_leaves_other_letters(site,
                                                                                organizer):
    [foreign] = signature_ids(site, "approved", slug=DELIVER)
    for verb in ("approve", "reject"):
        before = snapshot(site)
        response = organizer.post(f"/admin/letters/{SLUG}/signatures/{foreign}/{verb}", {})
        judge(site, organizer, response, before, f"{verb} another letter's signature")
        assert changes(before, snapshot(site)) == []
    target = signature_ids(site, "rejected")[0]
    for kind, value in HOSTILE.items():
        response = organizer.post(
            f"/admin/letters/{SLUG}/signatures/{target}/approve?status={quote_raw(value)}",
            {"tab": value})
        assert response.status_code == 303, kind
        organizer.follow(response)
        with site.context(), writing():
            db.session.execute(update(Signature).where(Signature.id == target)
                               .values(status="rejected"))


@pytest.mark.parametrize("field", ["audience", "subject", "body"])
def test_the_update_form_refuses_or_sends_clean_every_hostile_value(site, organizer, field):
    """Previewed, nothing is written; sent, the update is stored clean and shown escaped."""
    page = f"/admin/letters/{SLUG}/updates"
    for button in ("preview", "send"):
        for kind, value in HOSTILE.items():
            before = snapshot(site)
            values = {"audience": "signers", "subject": f"News {kind}",
                      "body": f"The letter ({kind}) goes out **today**.", field: value,
                      button: button.capitalize()}
            response = organizer.post(page, values)
            verdict, html = judge(site, organizer, response, before, f"update {field}={kind}")
            if button == "preview":
                assert verdict != "accepted" and response.status_code in (200, 422), kind
            elif verdict == "accepted":
                with site.context():
                    row = db.session.execute(select(LetterUpdate.__table__)
                                             .order_by(LetterUpdate.id.desc())).first()
                assert row is not None
                stored = row._asdict()
                assert dirty(stored, LetterUpdate.__table__) == [], kind
                assert text.clean_text(stored["subject"]) and text.clean_text(stored["body"])
    assert_escaped(organizer.get(page, hostile=False).get_data(as_text=True), "the updates page")


def test_the_outbox_retry_refuses_hostile_ids_and_changes_nothing(site, organizer):
    with site.context():
        dead = db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.status == "dead"))
    for kind, value in {**HOSTILE, **{f"id{v}": v for v in BAD_IDS}}.items():
        before = snapshot(site)
        for ids in ([value], [str(dead), value]):
            response = organizer.post_pairs("/admin/outbox/retry", [("ids", i) for i in ids])
            verdict, _ = judge(site, organizer, response, before, f"retry ids={kind}")
            assert response.status_code == 303
            assert verdict == "refused" or changes(before, snapshot(site)) == [], kind
    response = organizer.post("/admin/outbox/retry", {"ids": str(dead)})
    assert organizer.follow(response)[0] == ["success"]
    with site.context(), writing():
        assert db.session.get(OutboxMessage, dead).status == "queued"
        db.session.execute(update(OutboxMessage).where(OutboxMessage.id == dead)
                           .values(status="dead"))


# ------------------------------------------------------------------ letterhead and delivery


LETTERHEAD = {"coalition_name": "Estuary Coalition", "closing": "Respectfully,",
              "delivery_emails": "council@example.org", "deliver_by_email": "y"}
LETTERHEAD_FIELDS = [*LETTERHEAD, "remove_logo", "save"]


@pytest.mark.parametrize("field", LETTERHEAD_FIELDS)
def test_the_letterhead_form_refuses_or_stores_clean_every_hostile_value(site, organizer, field):
    for kind, value in HOSTILE.items():
        before = snapshot(site)
        response = organizer.post(f"/admin/letters/{SLUG}/deliver", {**LETTERHEAD, field: value})
        verdict, html = judge(site, organizer, response, before, f"letterhead {field}={kind}")
        assert response.status_code in (303, 422), response.status_code
        if response.status_code == 422:
            assert errors_shown(html), f"letterhead {field}={kind}: no message at a field"
        if verdict == "accepted":
            row = letter_row(site, SLUG)
            assert row is not None and letter_problems(row) == [], kind


def png(width: int = 4, height: int = 4) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(out, "PNG")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header that claims a huge image, with almost no data after it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)) + b"\x00" * 64)


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, "GIF")
    return out.getvalue()


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
LOGOS: dict[str, tuple[bytes, str]] = {
    "not-an-image": (b"hello, this is not an image\n" * 10, "logo.png"),
    "png-header-garbage": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "logo.png"),
    "svg-with-script": (SVG, "logo.svg"),
    "svg-named-png": (SVG, "logo.png"),
    "empty": (b"", "logo.png"),
    "three-megabytes": (png() + b"\x00" * 3 * 1024 * 1024, "logo.png"),
    "decompression-bomb": (png_claiming(100_000, 100_000), "logo.png"),
    "too-wide": (png(7000, 1), "logo.png"),
    "gif-named-png": (gif(), "logo.png"),
    "truncated-jpeg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 40, "logo.jpg"),
    "exe": (b"MZ\x90\x00" + b"\x00" * 100, "logo.exe"),
    "no-name": (png(), ""),
    "traversal-name": (png(), "../../../etc/logo.png"),
    "nul-name": (png(), "logo.png\x00.svg"),
    "long-name": (png(), "a" * 5_000 + ".png"),
    "unicode-name": (png(), "lögo🐝.PNG"),
    "valid": (png(), "logo.png"),
}

KEPT_LOGOS = {"valid", "no-name", "traversal-name", "long-name", "unicode-name"}


def test_every_hostile_logo_is_refused_at_its_field_or_kept_as_an_image(site, organizer):
    for kind, (content, filename) in LOGOS.items():
        before = snapshot(site)
        response = organizer.upload(f"/admin/letters/{SLUG}/deliver", LETTERHEAD,
                                    {"logo": (content, filename)})
        verdict, html = judge(site, organizer, response, before, f"logo {kind}")
        assert response.status_code in (303, 413, 422), (kind, response.status_code)
        if response.status_code == 422:
            assert errors_shown(html), f"logo {kind}: refused without a message"
        if verdict == "accepted" and kind != "no-name":  # no name: no file chosen
            row = letter_row(site, SLUG)
            assert row is not None and UPLOAD_NAME.match(row["logo_file"] or ""), kind
        assert (verdict == "accepted") == (kind in KEPT_LOGOS), f"logo {kind}: {verdict}"


def test_close_and_deliver_with_hostile_values_refuses_or_closes_once(site, organizer):
    queued = 0
    for field in ("confirm", "notify"):
        for kind, value in HOSTILE.items():
            before = snapshot(site)
            response = organizer.post(f"/admin/letters/{DELIVER}/deliver/close",
                                      {"confirm": "y", "notify": "y", field: value})
            verdict, _ = judge(site, organizer, response, before, f"deliver {field}={kind}")
            assert response.status_code == 303
            queued += verdict == "accepted"
        before = snapshot(site)
        response = organizer.post(f"/admin/letters/{DELIVER}/deliver/retry", {field: "\x00"})
        judge(site, organizer, response, before, "retry delivery")
    assert queued == 1, "a letter was queued for delivery more than once"
    row = letter_row(site, DELIVER)
    assert row is not None and row["status"] == "closed"
    for kind, value in HOSTILE.items():
        before = snapshot(site)
        response = organizer.post(f"/admin/letters/{DELIVER}/deliver", {**LETTERHEAD,
                                                                        "closing": value})
        verdict, _ = judge(site, organizer, response, before, f"letterhead, delivering, {kind}")
        assert verdict == "refused", f"the letterhead changed while delivering ({kind})"


REFERRERS = [*HOSTILE.values(), "http://evil.example/admin/", "//evil.example/admin/",
             "/admin/\\evil.example", "/\\evil.example", "javascript:alert(1)//admin/",
             "/admin/../../etc", "https://localhost/admin/letters?x=1#y", "/admin/%0d%0aX: y",
             "/admin/letters/\r\nSet-Cookie: x=y", "/admin/" + "a" * 10_000]


def test_refreshing_a_pdf_goes_back_only_to_an_organizer_page(site, organizer):
    for referrer in REFERRERS:
        try:
            response = organizer.post(f"/admin/letters/{SLUG}/pdf/refresh", {},
                                      headers={"Referer": referrer})
        except (ValueError, UnicodeEncodeError):
            continue  # no browser can send this header
        assert response.status_code == 303, (referrer[:40], response.status_code)
        location = response.headers["Location"]
        parts = urlsplit(location)
        assert parts.netloc in ("", "localhost") and parts.path.startswith("/admin/"), location
        assert "\\" not in location and "\r" not in location and "\n" not in location
        organizer.follow(response)


# ------------------------------------------------------------------ importing a spreadsheet


COLUMNS = ["organization", "contact_name", "contact_title", "email", "phone", "website", "city",
           "region", "country", "scope"]
_rows = iter(range(1, 10_000_000))


def csv_row(**values: str) -> str:
    n = next(_rows)
    row = {"organization": f"Imported Union {n}", "email": f"import{n}@union.example.org",
           "scope": "local", "country": "United States", **values}
    return ",".join('"' + row.get(c, "").replace('"', '""') + '"' for c in COLUMNS) + "\r\n"


HEADER = ",".join(COLUMNS) + "\r\n"


def hostile_csvs() -> dict[str, bytes]:
    files = {
        "binary-junk": bytes((i * 37 + 11) % 256 for i in range(4096)),
        "utf-16": (HEADER + csv_row()).encode("utf-16"),
        "utf-8-bom": b"\xef\xbb\xbf" + (HEADER + csv_row()).encode(),
        "header-only": HEADER.encode(),
        "empty": b"",
        "no-header": csv_row().encode(),
        "unknown-columns": b"name,mail\r\nHarbor,a@example.org\r\n",
        "duplicate-columns": b"organization,organization\r\nA,B\r\n",
        "ragged": (HEADER + csv_row() + '"x","y"\r\n' + "a," * 40 + "\r\n").encode(),
        "unbalanced-quote": (HEADER + '"Harbor,' + csv_row()).encode(),
        "nul-bytes": (HEADER + csv_row(organization="Har\x00bor")).encode(),
        "latin-1": (HEADER + csv_row(organization="Café Coopérative")).encode("latin-1"),
        "lone-surrogate-bytes": (HEADER + csv_row()).encode() + b'"\xed\xa0\x80",,,,,,,,,\r\n',
        "formulas": (HEADER + "".join(csv_row(organization=f, city=f, contact_name=f)
                                      for f in (HOSTILE["formula"], HOSTILE["formula-dde"],
                                                HOSTILE["formula-at"], "-2+3"))).encode(),
        "same-email-twice": (HEADER + csv_row(email="twice@union.example.org")
                             + csv_row(email="TWICE@union.example.org")).encode(),
        "existing-signer": (HEADER + csv_row(email="signer1@harbor.example.org")).encode(),
        "bad-scope": (HEADER + csv_row(scope="galactic")).encode(),
        "huge-field": (HEADER + csv_row(organization="A" * 200_000)).encode(),
        "many-blank-lines": (HEADER + "\r\n" * 5_000 + csv_row()).encode(),
        "semicolons": HEADER.replace(",", ";").encode() + b"Harbor;;;;;;;;;local\r\n",
        "crlf-in-field": (HEADER + csv_row(organization="Harbor\r\nBcc: x@example.org")).encode(),
    }
    for kind, value in HOSTILE.items():
        cells = {c: value for c in COLUMNS if c not in ("email", "scope", "website")}
        files[f"every-column-{kind}"] = (HEADER + csv_row(**cells)).encode("utf-8",
                                                                          "surrogatepass")
    return files


HOSTILE_CSVS = hostile_csvs()


def through_preview(site: Site, organizer: Organizer, response: TestResponse,
                    before: dict[str, Any], what: str) -> TestResponse:
    """An upload's answer, or, when it leads to a preview (which must have changed nothing),
    the answer to a confirmation of it (sent even when the preview, naming problems, offers no
    Confirm button: the confirmation checks every row again)."""
    location = response.headers.get("Location", "")
    if response.status_code != 303 or "/imports/preview/" not in location:
        return response
    preview = organizer.get(urlsplit(location).path, hostile=False)
    assert preview.status_code == 200, (what, preview.status_code)
    assert_escaped(preview.get_data(as_text=True), what)
    assert changes(before, snapshot(site)) == [], f"{what}: the preview wrote"
    return organizer.post(urlsplit(location).path, {})


@pytest.mark.parametrize("kind", list(HOSTILE_CSVS))
def test_an_import_refuses_a_hostile_spreadsheet_whole_or_stores_it_clean(site, organizer, kind):
    before = snapshot(site)
    response = organizer.upload(f"/admin/letters/{SLUG}/signatures/import", {},
                                {"file": (HOSTILE_CSVS[kind], "signers.csv")})
    response = through_preview(site, organizer, response, before, f"import {kind}")
    verdict, html = judge(site, organizer, response, before, f"import {kind}")
    assert response.status_code == 303, response.status_code
    if verdict == "accepted":
        added = snapshot(site)["counts"]["signature"] - before["counts"]["signature"]
        shown = re.search(r"Imported (\d+) signatories", html)
        assert shown is not None and int(shown.group(1)) == added, f"import {kind}: {added} rows"
        with site.context():
            rows = db.session.execute(select(Signature.__table__).where(
                Signature.source == "import", Signature.id > max(before["signature"]))).all()
        for row in rows:
            assert dirty(row._asdict(), Signature.__table__) == [], kind
            assert row.organization.strip(), f"import {kind}: an empty name was stored"


def test_an_import_refuses_hostile_upload_names_and_oversized_files(site, organizer):
    good = (HEADER + csv_row()).encode()
    for filename, content in [("signers.exe", good), ("", good), ("signers.csv.exe", good),
                              ("../../etc/passwd", good), ("a" * 5_000 + ".csv", b"x"),
                              ("big.csv", HEADER.encode() + b"x" * (5 * 1024 * 1024))]:
        before = snapshot(site)
        response = organizer.upload(f"/admin/letters/{SLUG}/signatures/import", {},
                                    {"file": (content, filename)})
        response = through_preview(site, organizer, response, before, f"import {filename[:20]}")
        verdict, _ = judge(site, organizer, response, before, f"import name {filename[:20]!r}")
        assert response.status_code == 303
        if verdict == "accepted":  # an ordinary spreadsheet, whatever its name: undo it
            with site.context(), writing():
                db.session.execute(delete(Signature).where(
                    Signature.id > max(before["signature"])))


# ------------------------------------------------------------------ login and logout


NEXT_VALUES = [*(HOSTILE[k] for k in ("script", "crlf", "nul", "lone-surrogate")),
               "//evil.example/", "/\\evil.example", "https://evil.example/admin/",
               " //evil.example", "\t/\\evil"]


def test_logging_in_with_a_hostile_next_address_stays_on_this_site(site):
    for value in NEXT_VALUES:
        browser = Stranger(site.app)
        response = browser.post(f"/login?next={quote_raw(value)}",
                                {"email": ORGANIZER, "password": PASSWORD})
        assert response.status_code == 303, response.status_code
        parts = urlsplit(response.headers["Location"])
        assert parts.netloc in ("", "localhost") and parts.path.startswith("/"), parts
        assert not parts.path.startswith("//") and "\\" not in response.headers["Location"]


def test_logging_out_with_hostile_values_ends_only_that_session(site, organizer):
    browser = Organizer(site.app)
    response = browser.post("/logout", {name: HOSTILE["script"] for name in ("next", "sid")})
    assert response.status_code == 303
    assert browser.get("/admin/", hostile=False).status_code == 302
    assert organizer.get("/admin/", hostile=False).status_code == 200


# ------------------------------------------------------------------ generated letter forms


def letter_forms() -> st.SearchStrategy[dict[str, str]]:
    optional = {name: st.one_of(st.none(), hostile_text()) for name in LETTER_FIELDS}
    optional["body"] = st.one_of(st.none(), hostile_text(400))
    optional["slug"] = st.one_of(st.none(), hostile_text(20),
                                 st.from_regex(r"[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,3}",
                                               fullmatch=True))
    optional["status"] = st.one_of(st.none(), st.sampled_from(["draft", "open", "closed"]),
                                   hostile_text(10))
    optional["deadline"] = st.one_of(st.none(), st.sampled_from(DEADLINES), hostile_text(20),
                                     st.datetimes().map(str))
    optional["language"] = st.one_of(st.none(), st.sampled_from(["en", "es", "pt-BR"]),
                                     hostile_text(16))
    optional["preview"] = st.one_of(st.none(), st.just(""))
    return st.fixed_dictionaries({}, optional=optional)


@settings(GENERATED, max_examples=100)
@given(changes_=letter_forms(), drop=st.sets(st.sampled_from(LETTER_FIELDS), max_size=3))
def test_generated_letter_forms_are_refused_with_a_message_or_stored_clean(site, changes_,
                                                                         drop):
    organizer = _shared_organizer(site)
    fields = {**new_letter_values(), **{k: v for k, v in changes_.items() if v is not None}}
    for name in drop:
        fields.pop(name, None)
    if fields.get("slug") in (SLUG, EDIT, DELIVER):
        fields["slug"] += "-x"
    before = snapshot(site)
    response = organizer.post("/admin/letters/new", fields)
    saved = judge_letter_form(site, organizer, response, before, f"generated {fields!r:.200}")
    if saved is not None:
        assert saved not in (SLUG, EDIT, DELIVER)
        drop_letter(site, saved)


_organizers: dict[int, Organizer] = {}


def _shared_organizer(site: Site) -> Organizer:
    if id(site.app) not in _organizers:
        _organizers[id(site.app)] = Organizer(site.app)
    return _organizers[id(site.app)]


# ------------------------------------------------------------------ personal data


def test_a_hostile_public_run_logs_and_shows_no_signer_email_or_phone(site):
    """Hostile sign-form submissions while logging is at DEBUG (checked by the autouse fixture);
    then no public page carries any signer's email or phone."""
    stranger = Stranger(site.app)
    for field in ("organization", "email", "phone", "city", "website", "scope"):
        for kind, value in HOSTILE.items():
            email = f"public-{field}-{next(_numbers)}@harbor.example.org"
            response = stranger.post(f"/letters/{SLUG}",
                                     {**VALID, "email": email, "phone": SIGNER_PHONE,
                                      field: value})
            assert response.status_code in (303, 422), (field, kind, response.status_code)
    with site.context(), writing():
        db.session.execute(update(Signature).where(Signature.email.like("public-%"),
                                                   Signature.held.is_(False))
                           .values(status="approved", decided_at=utcnow()))
    secrets = personal_data(site)
    for path in ("/", f"/letters/{SLUG}", f"/letters/{SLUG}/signers",
                 f"/letters/{SLUG}/signers.csv", f"/letters/{SLUG}/signers.json",
                 f"/letters/{SLUG}/signers?q=harbor.example.org", f"/letters/{SLUG}/signers?q=555"):
        text = stranger.get(path, hostile=False).get_data(as_text=True)
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{path} shows {leaked[:3]}"


def test_organizer_markup_is_shown_escaped_on_every_page(site, organizer):
    script, image = HOSTILE["script"], HOSTILE["attribute"]
    response = organizer.post(f"/admin/letters/{EDIT}/edit", {
        **EDIT_VALUES, "title": script, "recipient": image, "body": f"{script}\n\n{image}\n"})
    assert response.status_code == 303
    response = organizer.post(f"/admin/letters/{EDIT}/deliver", {
        **LETTERHEAD, "coalition_name": script, "closing": image})
    assert response.status_code == 303
    try:
        for path in ("/admin/", f"/admin/letters/{EDIT}/edit", f"/admin/letters/{EDIT}/versions",
                     f"/admin/letters/{EDIT}/signatures", f"/admin/letters/{EDIT}/deliver",
                     "/admin/outbox", "/", f"/letters/{EDIT}", f"/letters/{EDIT}/signers",
                     f"/letters/{EDIT}/signers.json"):
            page = organizer.get(path, hostile=False)
            assert page.status_code == 200, (path, page.status_code)
            html = page.get_data(as_text=True)
            assert_escaped(html, path)
            if path.startswith("/admin/letters/") or path == f"/letters/{EDIT}":
                assert "&lt;script&gt;" in html, path
    finally:
        restore(site, EDIT, EDIT_TEXT)


# ------------------------------------------------------------------ partners (issue #12)


def test_the_translation_form_refuses_or_stores_clean_every_hostile_value(site, organizer):
    from campaign.models import LetterTranslation

    page = f"/admin/letters/{SLUG}/translations"
    fields = {"language": "es", "title": "Dejen de reenviar las huellas", "recipient": "",
              "body": "Les pedimos que paren.\n", "text_change": "correction"}
    for field in ("language", "title", "recipient", "body", "text_change"):
        for kind, value in HOSTILE.items():
            before = snapshot(site)
            response = organizer.post(page, {**fields, field: value})
            verdict, html = judge(site, organizer, response, before, f"translation {field}={kind}")
            assert response.status_code in (303, 422), (field, kind, response.status_code)
            if verdict != "accepted":
                assert errors_shown(html), f"translation {field}={kind}: refused without a message"
    with site.context():
        rows = [r._asdict() for r in db.session.execute(select(LetterTranslation.__table__))]
    assert rows, "no hostile value was accepted: the test proves nothing"
    for row in rows:
        assert dirty(row, LetterTranslation.__table__) == [], row
        assert re.fullmatch(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*", row["language"]), row
    for path in (f"{page}/zz/delete", f"/admin/letters/{DELIVER}/translations/es/delete"):
        before = snapshot(site)
        assert organizer.post(path, {}).status_code == 404, path
        assert changes(before, snapshot(site)) == []


SIGNATURE_FIELDS = ["organization", "display_name", "contact_name", "contact_title", "email",
                    "phone", "website", "city", "region", "country", "scope", "affiliation"]


def test_the_signature_form_refuses_or_stores_clean_every_hostile_value(site, organizer):
    target = signature_ids(site, "approved")[-1]
    path = f"/admin/letters/{SLUG}/signatures/{target}/edit"
    with site.context():
        kept = db.session.execute(select(Signature.__table__)
                                  .where(Signature.id == target)).one()._asdict()
    page = organizer.get(path, hostile=False).get_data(as_text=True)
    values = form_fields(page, "Save changes")[1]
    assert set(SIGNATURE_FIELDS) <= set(values)
    for field in SIGNATURE_FIELDS:
        for kind, value in HOSTILE.items():
            before = snapshot(site)
            response = organizer.post(path, {**values, field: value})
            verdict, html = judge(site, organizer, response, before, f"edit {field}={kind}")
            assert response.status_code in (303, 422), (field, kind, response.status_code)
            if response.status_code == 422:
                assert errors_shown(html), f"{field}={kind}: refused without a message"
            if verdict == "accepted":
                with site.context():
                    row = db.session.execute(select(Signature.__table__)
                                             .where(Signature.id == target)).one()._asdict()
                assert dirty(row, Signature.__table__) == [], (field, kind)
                assert row["organization"].strip() and row["scope"] == "local"
    with site.context(), writing():  # as it was, for the other tests
        db.session.execute(update(Signature).where(Signature.id == target).values(
            **{k: v for k, v in kept.items() if k != "id"}))
    assert_escaped(organizer.get(f"/letters/{SLUG}/signers", hostile=False)
                   .get_data(as_text=True), "the public list")


def test_merging_refuses_hostile_choices_and_changes_nothing(site, organizer):
    target = signature_ids(site, "pending")[0]
    [foreign] = signature_ids(site, "approved", slug=DELIVER)
    path = f"/admin/letters/{SLUG}/signatures/{target}/merge"
    for value in [*HOSTILE.values(), *BAD_IDS, str(target), str(foreign)]:
        for extra in ({}, {"fill_blanks": value}):
            before = snapshot(site)
            response = organizer.post(path, {"other": value, **extra})
            verdict, _ = judge(site, organizer, response, before, f"merge other={value[:20]!r}")
            assert response.status_code == 303 and verdict == "refused", value[:20]


def test_the_language_form_keeps_only_a_known_language(site, organizer):
    from campaign.models import Organizer as Account

    for kind, value in HOSTILE.items():
        response = organizer.post("/admin/language", {"language": value, "next": value})
        assert response.status_code == 303, (kind, response.status_code)
        assert response.headers["Location"].startswith(("/admin", "http://localhost/admin")), \
            (kind, response.headers["Location"])
    with site.context():
        kept = db.session.scalars(select(Account.language)).all()
    assert set(kept) <= {None, "en", "es"}, kept


def test_the_partner_forms_refuse_or_store_clean_every_hostile_value(site, organizer):
    from campaign.models import Partner

    page = f"/admin/letters/{SLUG}/partners"
    for field in ("code", "name"):
        for kind, value in HOSTILE.items():
            n = next(_numbers)
            before = snapshot(site)
            response = organizer.post(page, {"code": f"ally-{n}", "name": "Harbor Allies",
                                              field: value})
            verdict, html = judge(site, organizer, response, before, f"partner {field}={kind}")
            assert response.status_code in (303, 422), (kind, response.status_code)
            if verdict != "accepted":
                assert errors_shown(html), f"partner {field}={kind}: refused without a message"
    with site.context():
        rows = [r._asdict() for r in db.session.execute(select(Partner.__table__)).all()]
    assert rows, "no hostile value was accepted: the test proves nothing"
    for row in rows:
        assert dirty(row, Partner.__table__) == [], row
        assert text.SLUG_RE.fullmatch(row["code"]), row["code"]
    target = rows[0]["id"]
    for kind, value in HOSTILE.items():
        before = snapshot(site)
        response = organizer.post(f"{page}/{target}/rename", {"name": value})
        judge(site, organizer, response, before, f"partner rename={kind}")
        assert response.status_code == 303
    with site.context():
        row = db.session.execute(select(Partner.__table__)
                                 .where(Partner.id == target)).one()._asdict()
    assert dirty(row, Partner.__table__) == [] and text.clean_text(row["name"])
    with site.context():
        other = letters.get_letter(DELIVER)
        assert other is not None
        other_id = other.id
    for path in (f"/admin/letters/{DELIVER}/partners/{target}/remove",  # another letter's
                 f"/admin/letters/{DELIVER}/partners/{target}/rename"):
        before = snapshot(site)
        assert organizer.post(path, {"name": "Taken Over"}).status_code == 404, path
        assert changes(before, snapshot(site)) == []
    with site.context():
        assert db.session.get(Partner, target).letter_id != other_id
    for row in rows:  # removed again: the other tests see the site as it was
        response = organizer.post(f"{page}/{row['id']}/remove", {})
        assert response.status_code == 303
    with site.context():
        assert db.session.scalar(select(func.count()).select_from(Partner)) == 0


def test_the_organizers_forms_refuse_or_store_clean_every_hostile_value(site, organizer):
    """The invitation form, the role of an organizer, and the page an invitation opens: each
    hostile value refused with nothing changed, or stored clean."""
    from datetime import timedelta

    from campaign import roles
    from campaign.models import Invitation, LetterRole
    from campaign.models import Organizer as Account

    page = f"/admin/letters/{SLUG}/organizers"
    assert organizer.post(page, {"email": "invitee@example.net", "role": "viewer"}) \
        .status_code == 303
    for field in ("email", "role"):
        for kind, value in HOSTILE.items():
            before = snapshot(site)
            response = organizer.post(page, {"email": f"invitee-{next(_numbers)}@example.net",
                                              "role": "viewer", field: value})
            verdict, html = judge(site, organizer, response, before, f"invite {field}={kind}")
            assert response.status_code in (303, 422), (kind, response.status_code)
            if verdict != "accepted":
                assert errors_shown(html), f"invite {field}={kind}: refused without a message"
    with site.context():
        rows = [r._asdict() for r in db.session.execute(select(Invitation.__table__)).all()]
        with writing():
            helper = accounts.create_organizer("helper@example.net", password_hash(), "Helper",
                                               admin=False)
            letter = letters.get_letter(SLUG)
            assert letter is not None
            roles.grant(letter, helper, roles.Role("viewer"))
            helper_id, letter_id = helper.id, letter.id
    assert rows, "no hostile value was accepted: the test proves nothing"
    for row in rows:
        assert dirty(row, Invitation.__table__) == [], row
    for kind, value in HOSTILE.items():
        before = snapshot(site)
        response = organizer.post(f"{page}/{helper_id}", {"role": value})
        judge(site, organizer, response, before, f"role={kind}")
        assert response.status_code == 303
    stranger = Stranger(site.app)
    # every hostile name; the passwords whose kinds could trip the form or the hash (a good
    # password is hashed, slowly, before it is stored)
    tried = [("name", kind) for kind in HOSTILE] + [
        ("password", kind) for kind in ("blank", "whitespace", "overlong", "nul", "only-nul",
                                        "lone-surrogate", "controls", "html")]
    for field, kind in tried:
        value = HOSTILE[kind]
        token = f"hostile-invitation-{next(_numbers)}"
        with site.context(), writing():
            db.session.add(Invitation(
                email=f"joiner-{next(_numbers)}@example.net", letter_id=letter_id,
                role="moderator", token_hash=roles.digest(token),
                expires_at=utcnow() + timedelta(days=1)))
        before = snapshot(site)
        values = {"name": "Joiner", "password": PASSWORD, field: value}
        response = stranger.post(f"/invitation/{token}", {**values,
                                                         "again": values["password"]})
        assert response.status_code in (303, 422), (field, kind, response.status_code)
        if response.status_code == 422:
            assert changes(before, snapshot(site)) == [], (field, kind)
        assert_escaped(response.get_data(as_text=True), f"invitation {field}={kind}")
    with site.context():
        joined = [r._asdict() for r in db.session.execute(
            select(Account.__table__).where(Account.email.like("joiner-%")))]
        assert joined and not any(row["is_admin"] for row in joined)
        for row in joined:
            assert dirty(row, Account.__table__) == [], row
        with writing():  # taken away again: the other tests see the site as it was
            db.session.execute(delete(LetterRole))
            db.session.execute(delete(Invitation))
            db.session.execute(delete(Account).where(Account.email.like("joiner-%")))
            db.session.execute(delete(Account).where(Account.email == "helper@example.net"))
