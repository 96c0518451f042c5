"""Security: organizer pages refuse strangers, every POST needs its CSRF token, headers, 404s."""
from __future__ import annotations

from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from support import PASSWORD, form_fields, submit
from werkzeug.routing import Rule

from campaign import partners, tokens
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Signature

EMAIL = "staff@example.org"  # the organizer fixture's account, password support.PASSWORD


@pytest.fixture
def world(make_letter, make_signature, organizer) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A letter with signatures in each state, and the values that fill every URL parameter."""
    letter = make_letter()
    make_letter(slug="quiet-draft", title="Quiet Draft", status="draft")
    pending = make_signature(letter, status="pending", organization="Pending Workers Guild")
    approved = make_signature(letter, status="approved", organization="Approved Tenants Union")
    unconfirmed = make_signature(letter, status="unconfirmed", organization="New Farmworkers")
    with writing():
        partner = partners.add(letter, "casa", "CASA de Maryland")
    return {"slug": letter.slug, "signature_id": pending.id, "verb": "approve",
            "token": tokens.make_token(unconfirmed), "filename": "style.css",
            "import_id": 1, "partner_id": partner.id, "organizer_id": 1, "language": "es",
            "other": approved.id}


def path_of(rule: Rule, values: dict[str, Any]) -> str:
    defaults = dict(rule.defaults or {})
    missing = set(rule.arguments) - set(values) - set(defaults)
    assert not missing, f"no test value for {missing} in {rule.rule}: add one to `world`"
    built = rule.build({**defaults, **{k: values[k] for k in rule.arguments if k not in defaults}},
                       append_unknown=False)
    assert built is not None, rule.rule
    return built[1]


def rules(app: Flask, *, prefix: str = "", method: str | None = None) -> list[Rule]:
    found = [r for r in app.url_map.iter_rules() if r.rule.startswith(prefix)
             and (method is None or method in (r.methods or ()))]
    assert found, (prefix, method)
    return found


def snapshot() -> dict[str, list[str]]:
    """Every row of every table, as committed (read on a connection of its own)."""
    with db.engine.connect().execution_options(readonly=True) as conn:
        return {table.name: sorted(repr(tuple(row)) for row in conn.execute(table.select()))
                for table in db.metadata.sorted_tables}


# Data that would change something if any organizer POST accepted it.
CHANGES = {"title": "Changed By A Stranger", "body": "Changed.", "status": "closed",
           "language": "en", "display_name": "Renamed By A Stranger", "verb": "approve",
           "tab": "pending", "approved": "y", "organization": "Renamed By A Stranger",
           "city": "Changed By A Stranger", "fill_blanks": "y", "confirm": "y",
           "deadline": "2199-01-01T12:00", "addresses": "stranger@example.net"}


def changes_for(world: dict[str, Any]) -> dict[str, Any]:
    return {**CHANGES, "ids": [str(world["signature_id"])], "slug": world["slug"],
            "other": str(world["other"])}  # merged into the signature of the address


# ------------------------------------------------------------------ organizer pages


def test_every_admin_page_sends_an_anonymous_visitor_to_login(app, new_client, world):
    visitor = new_client()
    checked, wrong = [], []
    for rule in rules(app, prefix="/admin", method="GET"):
        path = path_of(rule, world)
        response = visitor.get(path)
        checked.append(rule.endpoint)
        location = response.headers.get("Location", "")
        if response.status_code != 302 or not location.startswith("/login?next="):
            wrong.append((path, response.status_code, location))
    assert wrong == []
    assert {"admin.letters_page", "admin.signatures", "admin.edit_letter",
            "admin.new_letter", "admin.versions", "admin.outbox_page"} <= set(checked)


def test_no_admin_post_changes_anything_for_an_anonymous_visitor(app, new_client, world):
    visitor = new_client()
    _, fields = form_fields(visitor.get("/login").get_data(as_text=True), "Log in")
    token = fields["csrf_token"]  # a valid token: only the missing login should stop these
    before = snapshot()
    wrong = []
    for rule in rules(app, prefix="/admin", method="POST"):
        path = path_of(rule, world)
        response = visitor.post(path, data={**changes_for(world), "csrf_token": token})
        if response.status_code != 302 or not response.headers["Location"].startswith("/login"):
            wrong.append((path, response.status_code))
    assert wrong == []
    assert snapshot() == before


# The one-click unsubscribe of an update (RFC 8058): mail programs POST it with no token and no
# cookie; it can only unsubscribe the one address its signed link names (tests/test_updates.py).
CSRF_EXEMPT = {"unsubscribe.page"}


def test_every_post_without_a_csrf_token_is_refused(app, new_client, world):
    organizer_browser = new_client()
    assert submit(organizer_browser, "/login", {"email": EMAIL, "password": PASSWORD},
                  "Log in").status_code == 303
    before = snapshot()
    checked, wrong = [], []
    for rule in rules(app, method="POST"):
        if rule.endpoint in CSRF_EXEMPT:
            continue
        path = path_of(rule, world)
        response = organizer_browser.post(path, data=changes_for(world))
        checked.append(rule.endpoint)
        if response.status_code != 400:
            wrong.append((path, response.status_code))
    assert wrong == []
    assert snapshot() == before
    assert {"auth.login_page", "auth.logout", "public.letter", "public.confirm",
            "admin.decide_one", "admin.edit_letter"} <= set(checked)


def test_a_csrf_token_from_another_browser_is_refused(new_client, world):
    stranger, organizer_browser = new_client(), new_client()
    _, fields = form_fields(stranger.get("/login").get_data(as_text=True), "Log in")
    submit(organizer_browser, "/login", {"email": EMAIL, "password": PASSWORD}, "Log in")
    before = snapshot()
    response = organizer_browser.post(
        f"/admin/letters/{world['slug']}/signatures/{world['signature_id']}/approve",
        data={"csrf_token": fields["csrf_token"]})
    assert response.status_code == 400
    assert snapshot() == before


def test_a_logged_in_organizer_can_post_with_the_token(new_client, world):
    """The other side of the CSRF tests: the same request with the page's token works."""
    organizer_browser = new_client()
    submit(organizer_browser, "/login", {"email": EMAIL, "password": PASSWORD}, "Log in")
    page = organizer_browser.get(f"/admin/letters/{world['slug']}/signatures")
    _, fields = form_fields(page.get_data(as_text=True), "Approve")
    response = organizer_browser.post(
        f"/admin/letters/{world['slug']}/signatures/{world['signature_id']}/approve",
        data={"csrf_token": fields["csrf_token"]})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Signature, world["signature_id"]).status == "approved"


def test_unknown_letter_in_an_admin_address_is_404(app, admin, world):
    wrong = []
    for rule in rules(app, prefix="/admin/letters/<slug>", method="GET"):
        path = path_of(rule, {**world, "slug": "no-such-letter"})
        status = admin.get(path).status_code
        if status != 404:
            wrong.append((path, status))
    assert wrong == []


# ------------------------------------------------------------------ public 404s


@pytest.mark.parametrize("slug", ["no-such-letter", "quiet-draft"], ids=["unknown", "draft"])
def test_every_public_letter_address_is_404_for_an_unknown_or_draft_letter(app, client, world,
                                                                              slug):
    wrong = []
    for rule in rules(app, prefix="/letters/", method="GET"):
        path = path_of(rule, {**world, "slug": slug})
        response = client.get(path)
        if response.status_code != 404:
            wrong.append((path, response.status_code))
    assert wrong == []


def test_a_draft_cannot_be_signed_by_post(new_client, world):
    client = new_client()
    _, fields = form_fields(client.get("/login").get_data(as_text=True), "Log in")
    before = snapshot()
    response = client.post("/letters/quiet-draft", data={
        "csrf_token": fields["csrf_token"], "organization": "Sneaky Org", "contact_name": "Sam",
        "email": "sam@example.net", "country": "United States", "scope": "local", "consent": "y",
        "authorized": "y"})
    assert response.status_code == 404
    assert snapshot() == before


def test_not_found_page_is_a_page_not_a_traceback(client):
    response = client.get("/letters/no-such-letter")
    text = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "Page not found" in text
    assert "Traceback" not in text


# ------------------------------------------------------------------ headers and markup


def csp_directives(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    policy = response.headers.get("Content-Security-Policy", "")
    directives = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = [w.lower() for w in words[1:]]
    return directives


PAGES = ["/", "/letters/stop-forwarding", "/letters/stop-forwarding/signers", "/login",
         "/letters/no-such-letter"]


@pytest.mark.parametrize("path", PAGES)
def test_public_pages_carry_the_security_headers(client, world, path):
    response = client.get(path)
    directives = csp_directives(response)
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts is not None
    assert "'unsafe-inline'" not in scripts
    assert "'unsafe-eval'" not in scripts
    assert directives.get("frame-ancestors") in (["'none'"], ["'self'"])
    assert directives.get("object-src") == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in ("same-origin", "no-referrer",
                                                   "strict-origin-when-cross-origin")


def test_admin_pages_carry_the_security_headers(admin, world):
    for path in ("/admin/", "/admin/letters/new", "/admin/letters/stop-forwarding/signatures"):
        response = admin.get(path)
        assert response.status_code == 200
        assert "'unsafe-inline'" not in csp_directives(response).get("script-src", [])
        assert csp_directives(response).get("frame-ancestors") == ["'none'"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_https_requests_get_strict_transport_security(client, world):
    response = client.get("/", base_url="https://localhost")
    assert "max-age=" in response.headers["Strict-Transport-Security"]


def test_pages_need_no_inline_script_or_style_that_the_policy_would_block(app, admin, world):
    wrong = []
    paths = ["/", "/letters/stop-forwarding", "/letters/stop-forwarding/signers", "/login",
             f"/confirm/{world['token']}"]
    paths += [path_of(r, world) for r in rules(app, prefix="/admin", method="GET")]
    for path in paths:
        response = admin.get(path)
        if response.mimetype != "text/html" or response.status_code != 200:
            continue
        soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
        for script in soup.find_all("script"):
            if not script.get("src"):
                wrong.append((path, "inline <script>"))
        if soup.find("style") is not None:
            wrong.append((path, "<style> element"))
        for tag in soup.find_all(True):
            if "style" in tag.attrs:
                wrong.append((path, f"style attribute on <{tag.name}>"))
            wrong += [(path, f"{name} on <{tag.name}>") for name in tag.attrs
                      if name.lower().startswith("on")]
    assert wrong == []


def test_public_pages_never_show_a_signers_email_or_phone(client, world):
    db.session.expire_all()
    emails = [s.email for s in db.session.query(Signature)]
    listing = "/letters/stop-forwarding/signers"
    assert "Approved Tenants Union" in client.get(listing).get_data(as_text=True)
    for path in ("/letters/stop-forwarding", listing, listing + ".csv", listing + ".json"):
        text = client.get(path).get_data(as_text=True)
        assert [e for e in emails if e in text] == []
        assert "555 0100" not in text
