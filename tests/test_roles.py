"""Co-organizers and roles: each role tried on every organizer address it must and must not
reach (a url_map walk, as the CSRF tests do), contact details hidden from a viewer, a partner's
own signatories only, invitations by email, and `campaign grant` / `campaign revoke`."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from support import (
    PASSWORD,
    assert_one_line_error,
    form_fields,
    password_hash,
    submit,
    text_of,
    with_smtp,
)
from werkzeug.routing import Rule

from campaign import accounts, outbox, roles, translations
from campaign.database import writing
from campaign.extensions import db
from campaign.models import (
    AuditEntry,
    Invitation,
    LetterRole,
    Organizer,
    OutboxMessage,
    Partner,
    Signature,
    utcnow,
)

SLUG = "stop-forwarding"  # make_letter's
HIDDEN = "quiet-letter"  # a letter the non-administrators have no role on
ADMIN = "staff@example.org"  # the organizer fixture: a site administrator
ROLE_NAMES = ("owner", "editor", "moderator", "viewer", "partner")
READERS = {"owner", "editor", "moderator", "viewer"}
WRITERS = {"owner", "editor"}
MODERATORS = {"owner", "moderator"}
OWNER = {"owner"}
NOBODY: set[str] = set()

# Who reaches each organizer address besides the site administrators (who reach all): the roles
# that may read it (GET) and those that may send it a form (POST). Written out here, apart from
# roles.py, so that a change there that opens or closes an address shows up as a failure.
EXPECTED: dict[str, tuple[set[str], set[str]]] = {
    "admin.letters_page": ({*READERS, "partner"}, NOBODY),
    "admin.new_letter": (NOBODY, NOBODY),
    "admin.outbox_page": (NOBODY, NOBODY),
    "admin.outbox_retry": (NOBODY, NOBODY),
    "admin.edit_letter": (READERS, WRITERS),
    "admin.versions": (READERS, NOBODY),
    "admin.history": (READERS, NOBODY),
    "admin.translations_page": (READERS, WRITERS),
    "admin.delete_translation": (NOBODY, WRITERS),
    "admin.choose_language": (NOBODY, {*READERS, "partner"}),
    "admin.history_csv": (READERS, NOBODY),
    "admin.letter_file": (READERS, NOBODY),
    "admin.export_pdf": (READERS, NOBODY),
    "admin.import_progress": (READERS, NOBODY),
    "admin.signatures": ({*READERS, "partner"}, NOBODY),
    "admin.export_csv": (MODERATORS, NOBODY),
    "admin.delivery_package": (MODERATORS, NOBODY),
    "admin.decide_one": (NOBODY, MODERATORS),
    "admin.decide_many": (NOBODY, MODERATORS),
    "admin.rename": (NOBODY, MODERATORS),
    "admin.withdraw": (NOBODY, MODERATORS),
    "admin.edit_signature": (MODERATORS, MODERATORS),
    "admin.merge_signature": (NOBODY, MODERATORS),
    "admin.import_signatures": (NOBODY, MODERATORS),
    "admin.import_preview": (MODERATORS, NOBODY),
    "admin.import_confirm": (NOBODY, MODERATORS),
    "admin.import_cancel": (NOBODY, MODERATORS),
    "admin.remind_reconsent": (NOBODY, WRITERS),
    "admin.open_letter": (NOBODY, WRITERS),
    "admin.refresh_pdf": (NOBODY, WRITERS),
    "admin.deliver_page": (READERS, WRITERS),
    "admin.close_and_deliver": (NOBODY, OWNER),
    "admin.retry_delivery": (NOBODY, OWNER),
    "admin.reopen_letter": (NOBODY, OWNER),
    "admin.email_addendum": (NOBODY, OWNER),
    "updates.updates_page": (READERS, WRITERS),
    "admin.partners_page": (READERS, OWNER),
    "admin.add_partner": (NOBODY, OWNER),
    "admin.rename_partner": (NOBODY, OWNER),
    "admin.remove_partner": (NOBODY, OWNER),
    "organizers.page": (OWNER, OWNER),
    "organizers.change": (NOBODY, OWNER),
}


def email_of(role: str) -> str:
    return f"{role}@example.net"


@pytest.fixture
def world(make_letter, make_signature, organizer) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A letter with a partner, signatures (one brought by the partner), an organizer with each
    role on it (none a site administrator), and a second letter nobody but the admin reaches."""
    letter = make_letter()
    make_letter(slug=HIDDEN, title="Quiet Letter")
    ours = make_signature(letter, status="pending", organization="Partner Brought Union",
                          email="brought@union.example.org", phone="+1 555 0142")
    theirs = make_signature(letter, status="pending", organization="Walked In Guild",
                            email="walked@guild.example.org", phone="+1 555 0143")
    make_signature(letter, status="approved", organization="Approved Tenants",
                   email="approved@tenants.example.org")
    with writing():
        partner = Partner(letter_id=letter.id, code="fiel", name="FIEL Houston")
        db.session.add(partner)
        db.session.flush()
        db.session.execute(update(Signature).where(Signature.id == ours.id)
                           .values(partner_id=partner.id))
        translations.save(letter, "es", "Dejen de reenviar", "", "Les pedimos que paren.\n")
        for name in ROLE_NAMES:
            person = accounts.create_organizer(email_of(name), password_hash(), name.title(),
                                               admin=False)
            db.session.add(LetterRole(letter_id=letter.id, organizer_id=person.id, role=name,
                                      partner_id=partner.id if name == "partner" else None))
    return {"slug": SLUG, "signature_id": theirs.id, "brought_id": ours.id, "verb": "approve",
            "partner_id": partner.id, "language": "es", "token": "t" * 43,
            "import_id": 1, "organizer_id": db.session.scalar(
                select(Organizer.id).where(Organizer.email == email_of("viewer")))}


def logged_in(new_client: Any, email: str) -> tuple[Any, str]:
    """A browser logged in as `email`, and its CSRF token."""
    browser = new_client()
    response = submit(browser, "/login", {"email": email, "password": PASSWORD}, "Log in")
    assert response.status_code == 303, response.status_code
    _, fields = form_fields(browser.get("/admin/").get_data(as_text=True), "Log out")
    return browser, fields["csrf_token"]


def organizer_rules(app: Any) -> list[Rule]:
    return [r for r in app.url_map.iter_rules() if roles.organizer_rule(r.rule)]


def path_of(rule: Rule, values: dict[str, Any], slug: str = SLUG) -> str:
    filled = {k: (slug if k == "slug" else values[k]) for k in rule.arguments}
    built = rule.build(filled, append_unknown=False)
    assert built is not None, rule.rule
    return built[1]


# ------------------------------------------------------------------ the table


def test_every_organizer_endpoint_has_a_capability_and_an_expectation(app):
    endpoints = {rule.endpoint for rule in organizer_rules(app)}
    assert endpoints - set(roles.ENDPOINTS) == set(), "give the new address its capability"
    assert endpoints == set(EXPECTED), "say here who may reach the new address"
    for role, allowed in roles.ROLE_CAPABILITIES.items():
        assert role in ROLE_NAMES and allowed <= set(roles.CAPABILITIES)


def test_an_address_missing_from_the_table_is_refused(app, new_client, world, monkeypatch):
    viewer, _ = logged_in(new_client, email_of("viewer"))
    assert viewer.get(f"/admin/letters/{SLUG}/versions").status_code == 200
    monkeypatch.delitem(roles.ENDPOINTS, "admin.versions")
    assert viewer.get(f"/admin/letters/{SLUG}/versions").status_code == 403
    admin, _ = logged_in(new_client, ADMIN)  # a site administrator may do everything anyway
    assert admin.get(f"/admin/letters/{SLUG}/versions").status_code == 200


# ------------------------------------------------------------------ the walk


def answer(browser: Any, method: str, path: str, token: str) -> int:
    """The status of a GET, or of a POST with the browser's CSRF token and nothing else."""
    if method == "GET":
        return int(browser.get(path).status_code)
    return int(browser.post(path, data={"csrf_token": token}).status_code)


@pytest.mark.parametrize("role", ["admin", *ROLE_NAMES])
def test_each_role_reaches_what_it_must_and_nothing_else(app, new_client, world, role):
    browser, token = logged_in(new_client, ADMIN if role == "admin" else email_of(role))
    baseline, _ = logged_in(new_client, ADMIN)
    wrong = []
    for rule in organizer_rules(app):
        gets, posts = EXPECTED[rule.endpoint]
        path = path_of(rule, world)
        for method, allowed in (("GET", gets), ("POST", posts)):
            if method not in (rule.methods or ()):
                continue
            may = role == "admin" or role in allowed
            status = answer(browser, method, path, token)
            if may and status == 404 and method == "GET" \
                    and answer(baseline, method, path, token) == 404:
                continue  # the address's own 404 (no such import or delivery), not a refusal
            if may and status in (403, 404) or not may and status != 403 \
                    or status >= 500 and status != 503:  # 503: the PDF is not made yet
                wrong.append((method, path, status))
    assert wrong == []


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_a_letter_without_a_role_on_it_is_not_found(app, new_client, world, role):
    browser, token = logged_in(new_client, email_of(role))
    wrong = []
    for rule in organizer_rules(app):
        if "slug" not in rule.arguments:
            continue
        path = path_of(rule, world, slug=HIDDEN)
        if "GET" in (rule.methods or ()) and browser.get(path).status_code != 404:
            wrong.append(("GET", path))
        if "POST" in (rule.methods or ()) and \
                browser.post(path, data={"csrf_token": token}).status_code != 404:
            wrong.append(("POST", path))
    assert wrong == []
    letters_page = browser.get("/admin/").get_data(as_text=True)
    assert "Stop Forwarding Fingerprints" in letters_page and "Quiet Letter" not in letters_page
    assert "Write a new letter" not in letters_page and ">Mail<" not in letters_page


def test_the_admin_sees_every_letter_and_may_write_one(new_client, world):
    admin, _ = logged_in(new_client, ADMIN)
    page = admin.get("/admin/").get_data(as_text=True)
    assert "Quiet Letter" in page and "Write a new letter" in page


def test_a_refusal_is_a_page_that_says_why(new_client, world):
    viewer, token = logged_in(new_client, email_of("viewer"))
    response = viewer.post(f"/admin/letters/{SLUG}/signatures/{world['signature_id']}/approve",
                           data={"csrf_token": token})
    assert response.status_code == 403
    assert "does not allow this" in response.get_data(as_text=True)
    assert db.session.get(Signature, world["signature_id"]).status == "pending"


# ------------------------------------------------------------------ what each role sees


def test_a_viewer_sees_no_contact_details(new_client, world):
    viewer, _ = logged_in(new_client, email_of("viewer"))
    page = viewer.get(f"/admin/letters/{SLUG}/signatures").get_data(as_text=True)
    assert "Walked In Guild" in page and "Partner Brought Union" in page
    for secret in ("walked@guild.example.org", "brought@union.example.org", "555 0143", "@"):
        assert secret not in page.replace("@example.net", "")
    assert "Download contacts" not in page and ">Approve<" not in page
    assert viewer.get(f"/admin/letters/{SLUG}/signatures.csv").status_code == 403
    moderator, _ = logged_in(new_client, email_of("moderator"))
    page = moderator.get(f"/admin/letters/{SLUG}/signatures").get_data(as_text=True)
    assert "walked@guild.example.org" in page and "555 0143" in page and ">Approve<" in page
    assert answer(moderator, "GET", f"/admin/letters/{SLUG}/signatures.csv", "") == 200


def test_a_partner_sees_its_own_signatories_and_counts_only(new_client, world):
    partner, _ = logged_in(new_client, email_of("partner"))
    page = partner.get(f"/admin/letters/{SLUG}/signatures").get_data(as_text=True)
    assert "Partner Brought Union" in page
    assert "Walked In Guild" not in page
    assert "Awaiting approval (1)" in page and "Approved (0)" in page
    assert "brought@union.example.org" not in page
    approved = partner.get(f"/admin/letters/{SLUG}/signatures?status=approved")
    assert "Approved Tenants" not in approved.get_data(as_text=True)
    letters_page = partner.get("/admin/").get_data(as_text=True)
    assert re.search(r"<td[^>]*>1</td>\s*<td[^>]*>0</td>", letters_page), letters_page
    assert partner.get(f"/admin/letters/{SLUG}/edit").status_code == 403


# ------------------------------------------------------------------ the Organizers page


def test_an_owner_changes_and_removes_roles_with_audit_entries(new_client, world):
    owner, _ = logged_in(new_client, email_of("owner"))
    page = owner.get(f"/admin/letters/{SLUG}/organizers").get_data(as_text=True)
    assert email_of("viewer") in page and "partner:fiel" in page
    path = f"/admin/letters/{SLUG}/organizers/{world['organizer_id']}"
    action, fields = form_fields(page, "Change")
    assert owner.post(path, data={**fields, "role": "partner:fiel"}).status_code == 303
    held = db.session.scalar(select(LetterRole).where(
        LetterRole.organizer_id == world["organizer_id"]))
    assert held is not None and held.role == "partner" and held.partner_id is not None
    assert owner.post(path, data={**fields, "role": "owner:x"}).status_code == 303
    db.session.expire_all()
    assert db.session.get(LetterRole, held.id).role == "partner"
    assert owner.post(path, data={**fields, "role": "remove"}).status_code == 303
    assert db.session.scalar(select(LetterRole).where(
        LetterRole.organizer_id == world["organizer_id"])) is None
    entries = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action.in_(("role.grant", "role.revoke")))).all()
    assert [(e.action, e.subject, e.actor) for e in entries] == [
        ("role.grant", email_of("viewer"), email_of("owner")),
        ("role.revoke", email_of("viewer"), email_of("owner"))]
    assert "partner:fiel" in entries[0].detail and "viewer" in entries[0].detail
    history = owner.get(f"/admin/letters/{SLUG}/history").get_data(as_text=True)
    assert "Organizer&#39;s role given" in history or "Organizer's role given" in history


# ------------------------------------------------------------------ invitations


@pytest.fixture
def app_config(app_config, smtp):  # type: ignore[no-untyped-def]
    return with_smtp(app_config, smtp)


def invite(browser: Any, email: str, role: str) -> Any:
    return submit(browser, f"/admin/letters/{SLUG}/organizers", {"email": email, "role": role},
                  "Send the invitation")


def invitation_link(smtp: Any, email: str) -> str:
    assert outbox.send_due() >= 1
    smtp.wait(1)
    [message] = smtp.to(email)
    found = re.search(r"http://localhost(/invitation/[A-Za-z0-9_-]+)", text_of(message))
    assert found is not None, text_of(message)
    return found.group(1)


def test_an_invitation_by_email_makes_an_account_that_reaches_the_letter(new_client, world,
                                                                          smtp):
    owner, _ = logged_in(new_client, email_of("owner"))
    assert invite(owner, "Newcomer@Example.net", "moderator").status_code == 303
    link = invitation_link(smtp, "newcomer@example.net")
    kept = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "invitation"))
    token = link.rsplit("/", 1)[1]
    assert token not in kept.params + kept.body_text + kept.body_html  # taken out once sent
    stranger = new_client()
    page = stranger.get(link)
    assert page.status_code == 200 and "newcomer@example.net" in page.get_data(as_text=True)
    mismatch = submit(stranger, link, {"name": "New Comer", "password": PASSWORD,
                                       "again": PASSWORD + "x"}, "Create my account")
    assert mismatch.status_code == 422 and accounts.find("newcomer@example.net") is None
    done = submit(stranger, link, {"name": "New Comer", "password": PASSWORD,
                                   "again": PASSWORD}, "Create my account")
    assert done.status_code == 303
    assert done.headers["Location"].endswith(f"/admin/letters/{SLUG}/signatures")
    page = stranger.get(f"/admin/letters/{SLUG}/signatures").get_data(as_text=True)
    assert "walked@guild.example.org" in page  # a moderator sees contact details
    db.session.expire_all()
    person = accounts.find("newcomer@example.net")
    assert person is not None and not person.is_admin and person.name == "New Comer"
    assert stranger.get(f"/admin/letters/{HIDDEN}/signatures").status_code == 404
    again = new_client().get(link)
    assert again.status_code == 404 and "accepted already" in again.get_data(as_text=True)
    actions = db.session.scalars(select(AuditEntry.action).where(
        AuditEntry.subject == "newcomer@example.net").order_by(AuditEntry.id)).all()
    assert actions == ["invitation.send", "role.grant", "invitation.accept"]
    # and the newcomer can log in with the password chosen
    assert logged_in(new_client, "newcomer@example.net")[0] is not None


def test_an_expired_or_unknown_invitation_is_refused(new_client, world, smtp):
    owner, _ = logged_in(new_client, email_of("owner"))
    invite(owner, "late@example.net", "viewer")
    link = invitation_link(smtp, "late@example.net")
    with writing():
        db.session.execute(update(Invitation).values(expires_at=utcnow() - timedelta(minutes=1)))
    stranger = new_client()
    page = stranger.get(link)
    assert page.status_code == 404 and "expired" in page.get_data(as_text=True)
    assert stranger.get("/invitation/not-a-real-token").status_code == 404
    assert stranger.get("/invitation/" + "x" * 5000).status_code == 404
    assert accounts.find("late@example.net") is None


def test_an_existing_account_accepts_without_a_new_password(new_client, world, smtp):
    owner, _ = logged_in(new_client, email_of("owner"))
    invite(owner, email_of("viewer"), "editor")
    link = invitation_link(smtp, email_of("viewer"))
    stranger = new_client()
    page = stranger.get(link).get_data(as_text=True)
    assert "password" not in page.lower().replace("its password", "")
    response = submit(stranger, link, {}, "Accept the invitation")
    assert response.status_code == 303 and "/login" in response.headers["Location"]
    assert stranger.get(f"/admin/letters/{SLUG}/signatures").status_code == 302  # not logged in
    db.session.expire_all()
    held = db.session.scalar(select(LetterRole).where(
        LetterRole.organizer_id == world["organizer_id"]))
    assert held is not None and held.role == "editor"


def test_only_an_owner_invites(new_client, world):
    editor, token = logged_in(new_client, email_of("editor"))
    response = editor.post(f"/admin/letters/{SLUG}/organizers",
                           data={"csrf_token": token, "email": "x@example.net", "role": "owner"})
    assert response.status_code == 403
    assert db.session.scalar(select(Invitation.id)) is None


def test_an_invitation_to_a_bad_address_or_role_is_refused(new_client, world):
    owner, _ = logged_in(new_client, email_of("owner"))
    assert invite(owner, "not an address", "viewer").status_code == 422
    assert invite(owner, "ok@example.net", "partner:nope").status_code == 422
    assert db.session.scalar(select(Invitation.id)) is None


# ------------------------------------------------------------------ the command line


def test_grant_and_revoke_from_the_command_line(runner, world):
    result = runner.invoke(args=["grant", "Viewer@Example.net", SLUG, "moderator"])
    assert result.exit_code == 0, result.output
    assert "viewer@example.net is now moderator" in result.stdout
    result = runner.invoke(args=["grant", email_of("viewer"), SLUG, "partner:FIEL"])
    assert result.exit_code == 0, result.output
    held = db.session.scalar(select(LetterRole).where(
        LetterRole.organizer_id == world["organizer_id"]))
    assert held.role == "partner" and held.partner is not None and held.partner.code == "fiel"
    result = runner.invoke(args=["revoke", email_of("viewer"), SLUG])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(LetterRole).where(
        LetterRole.organizer_id == world["organizer_id"])) is None
    entries = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action.in_(("role.grant", "role.revoke"))).order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor) for e in entries] == [
        ("role.grant", "command line"), ("role.grant", "command line"),
        ("role.revoke", "command line")]


@pytest.mark.parametrize(("args", "fragment"), [
    (["grant", "nobody@example.net", SLUG, "viewer"], "no organizer has the email"),
    (["grant", email_of("viewer"), "no-such-letter", "viewer"], "no letter with the slug"),
    (["grant", email_of("viewer"), SLUG, "boss"], "is not a role"),
    (["grant", email_of("viewer"), SLUG, "partner"], "names the partner"),
    (["grant", email_of("viewer"), SLUG, "partner:nope"], "has no partner with the code"),
    (["grant", email_of("viewer"), SLUG, "viewer:x"], "is not a role"),
    (["grant", email_of("viewer"), "BAD SLUG", "viewer"], "no letter with the slug"),
    (["grant", "\x00", SLUG, "viewer"], "no organizer has the email"),
    (["revoke", "nobody@example.net", SLUG], "no organizer has the email"),
    (["revoke", email_of("viewer"), HIDDEN], "has no role on"),
    (["revoke", email_of("viewer"), "no-such-letter"], "no letter with the slug"),
])
def test_grant_and_revoke_refuse_bad_input_in_one_line(runner, world, args, fragment):
    before = db.session.scalar(select(LetterRole).where(
        LetterRole.organizer_id == world["organizer_id"])).role
    result = runner.invoke(args=args)
    assert_one_line_error(result, fragment)
    db.session.expire_all()
    assert db.session.scalar(select(LetterRole).where(
        LetterRole.organizer_id == world["organizer_id"])).role == before


def test_create_organizer_no_admin_reaches_only_its_letters(runner, new_client, world):
    result = runner.invoke(args=["create-organizer", "ally@example.net", "--no-admin"],
                           input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert not accounts.find("ally@example.net").is_admin
    ally, _ = logged_in(new_client, "ally@example.net")
    assert ally.get(f"/admin/letters/{SLUG}/signatures").status_code == 404
    assert runner.invoke(args=["grant", "ally@example.net", SLUG, "viewer"]).exit_code == 0
    assert ally.get(f"/admin/letters/{SLUG}/signatures").status_code == 200
    result = runner.invoke(args=["create-organizer", "boss@example.net"], input=PASSWORD + "\n")
    assert result.exit_code == 0 and accounts.find("boss@example.net").is_admin
