"""The audit log covers every change an organizer makes: a walk of every POST address under
/admin (and of the commands that change data) finds a new entry after each, with who, the
action and the values before and after, written in the change's own transaction; the history
page filters, pages and downloads them; nothing in the app changes or deletes an entry."""
from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select, update
from support import form_fields, submit
from support_life import delivered_with_addendum
from werkzeug.datastructures import FileStorage

from campaign import (
    accounts,
    audit,
    delivery,
    imports,
    listing,
    moderation,
    reconsent,
    roles,
    signing,
)
from campaign.database import writing
from campaign.extensions import db
from campaign.models import (
    AuditEntry,
    Letter,
    ListedCount,
    OutboxMessage,
    Partner,
    RenderJob,
    Signature,
    utcnow,
)

STAFF = "staff@example.org"
SLUG = "stop-forwarding"
ADMIN = f"/admin/letters/{SLUG}"
SIGNER_EMAIL = "org{}@example.org"  # make_signature's addresses
SIGNER_PHONE = "+1 555 0100"


# ------------------------------------------------------------------ helpers


def token(admin: Any) -> str:
    return form_fields(admin.get("/admin/letters/new").get_data(as_text=True))[1]["csrf_token"]


def post(admin: Any, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    response = admin.post(path, data={"csrf_token": token(admin), **(data or {})}, **kwargs)
    assert response.status_code in (200, 303), (path, response.status_code)
    return response


def last_id() -> int:
    return int(db.session.scalar(select(func.max(AuditEntry.id))) or 0)


def entries_since(first: int) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.id > first)
                                   .order_by(AuditEntry.id)))


def all_entries() -> dict[int, tuple[Any, ...]]:
    db.session.expire_all()
    return {row.id: tuple(row) for row in db.session.execute(select(AuditEntry.__table__))}


def values(entry: AuditEntry) -> dict[str, Any]:
    return json.loads(entry.detail) if entry.detail else {}


def signature_of(letter: Letter, make_signature: Callable[..., Signature], status: str,
                 name: str, **more: Any) -> int:
    return make_signature(letter, status=status, organization=name, **more).id


# ------------------------------------------------------------------ the walk


@pytest.fixture
def world(make_letter, make_signature):  # type: ignore[no-untyped-def]
    """A letter with signatures in each state the organizer pages act on, a collecting letter,
    a letter whose delivery failed, and a dead email."""
    letter = make_letter()
    ids = {name: signature_of(letter, make_signature, "pending", name)
           for name in ("Pending One", "Pending Two", "Bulk A", "Bulk B", "Bulk C")}
    ids["Listed Group"] = signature_of(letter, make_signature, "approved", "Listed Group")
    ids["Held Group"] = signature_of(letter, make_signature, "unconfirmed", "Held Group")
    ids["Leaving Group"] = signature_of(letter, make_signature, "approved", "Leaving Group")
    with writing():
        db.session.get(Signature, ids["Held Group"]).held = True
        db.session.get(Signature, ids["Leaving Group"]).withdraw_requested_at = utcnow()
        changed = reconsent.save(letter, reconsent_text(letter), reconsent.CHANGE)
        assert changed.asked  # earlier signers asked: a reminder can follow
    collecting = make_letter(slug="collecting-one", status="collecting")
    failed = make_letter(slug="failed-one")
    make_signature(failed, status="approved", organization="Failed Group")
    with writing():
        now = utcnow()
        db.session.execute(insert(RenderJob).values(
            letter_id=failed.id, kind="deliver", status="failed", attempts=3, due=now,
            last_error="render failed", params=json.dumps({"organizer": None, "notify": False}),
            created_at=now))
        db.session.add(OutboxMessage(kind="confirm", recipient="org1@example.org",
                                     subject="Confirm", body_text="x", status="dead",
                                     attempts=9))
        colleague = accounts.create_organizer("colleague@coalition.example.net", "x",
                                              admin=False)
        roles.grant(letter, colleague, roles.parse_role(letter, "viewer"))
        colleague_id = colleague.id
    db.session.expire_all()
    delivered_with_addendum(make_letter, make_signature, "delivered-one")  # reopen, addendum
    return {"letter": letter, "ids": ids, "collecting": collecting, "failed": failed,
            "colleague": colleague_id}


def reconsent_text(letter: Letter) -> Any:
    from campaign.letters import LetterText

    return LetterText(title=letter.title, slug=letter.slug, status=letter.status,
                      recipient=letter.recipient, body=letter.body + "\nAnd now, more.\n")


def new_letter(admin: Any, w: dict[str, Any]) -> None:
    post(admin, "/admin/letters/new", {
        "title": "Save the Wetlands", "slug": "save-wetlands", "body": "We ask.\n",
        "status": "draft", "language": "en", "signers": "organizations"})


def edit_letter(admin: Any, w: dict[str, Any]) -> None:
    response = submit(admin, f"{ADMIN}/edit", {"deadline": "2030-06-30", "title": "Stop It"},
                      "Save")  # require_approval's box left unticked: it goes off
    assert response.status_code == 303, response.status_code


def remind(admin: Any, w: dict[str, Any]) -> None:
    post(admin, f"{ADMIN}/versions/remind")


def approve_one(admin: Any, w: dict[str, Any]) -> None:
    post(admin, f"{ADMIN}/signatures/{w['ids']['Pending One']}/approve")


def reject_one(admin: Any, w: dict[str, Any]) -> None:
    post(admin, f"{ADMIN}/signatures/{w['ids']['Pending Two']}/reject")


def bulk(admin: Any, w: dict[str, Any]) -> None:
    ids = [str(w["ids"][name]) for name in ("Bulk A", "Bulk B", "Bulk C")]
    post(admin, f"{ADMIN}/signatures/bulk", {"verb": "approve", "ids": ids})
    post(admin, f"{ADMIN}/signatures/bulk", {"verb": "release",
                                             "ids": [str(w["ids"]["Held Group"])]})


def rename(admin: Any, w: dict[str, Any]) -> None:
    post(admin, f"{ADMIN}/signatures/{w['ids']['Listed Group']}/rename",
         {"display_name": "The Listed Group"})


def edit_signature(admin: Any, w: dict[str, Any]) -> None:
    response = submit(admin, f"{ADMIN}/signatures/{w['ids']['Pending One']}/edit",
                      {"city": "Flagstaff", "email": "changed@example.org",
                       "phone": "+1 555 0111"}, "Save changes")
    assert response.status_code == 303, response.status_code


def merge_signature(admin: Any, w: dict[str, Any]) -> None:
    post(admin, f"{ADMIN}/signatures/{w['ids']['Bulk A']}/merge",
         {"other": str(w["ids"]["Bulk B"]), "fill_blanks": "y"})


def withdraw(admin: Any, w: dict[str, Any]) -> None:
    post(admin, f"{ADMIN}/signatures/{w['ids']['Leaving Group']}/withdraw")


def upload_file(admin: Any, data: bytes, name: str) -> str:
    """Upload a spreadsheet: the address of its preview (nothing is imported yet)."""
    response = post(admin, f"{ADMIN}/signatures/import",
                    {"file": FileStorage(io.BytesIO(data), name)},
                    content_type="multipart/form-data")
    assert "/imports/preview/" in response.headers["Location"]
    return str(response.headers["Location"])


def import_file(admin: Any, w: dict[str, Any]) -> None:
    data = b"organization,email,phone\nImported Union,union@imported.example.org,+1 555 0111\n"
    post(admin, upload_file(admin, data, "partners.csv"))  # the preview's Confirm


def import_another(admin: Any, w: dict[str, Any]) -> None:
    data = b"Org name;E-mail\nAnother Union;another@imported.example.org\n"
    post(admin, upload_file(admin, data, "more.csv"))


def set_import_aside(admin: Any, w: dict[str, Any]) -> None:
    data = b"organization\nSet Aside Union\n"
    post(admin, upload_file(admin, data, "aside.csv") + "/cancel")


def retry_mail(admin: Any, w: dict[str, Any]) -> None:
    dead = db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.status == "dead"))
    post(admin, "/admin/outbox/retry", {"ids": [str(dead)]})


def refresh(admin: Any, w: dict[str, Any]) -> None:
    post(admin, f"{ADMIN}/pdf/refresh")


def letterhead(admin: Any, w: dict[str, Any]) -> None:
    response = submit(admin, f"{ADMIN}/deliver", {
        "coalition_name": "River Coalition", "closing": "In solidarity",
        "delivery_emails": "director@agency.example.gov", "deliver_by_email": "y"}, "Save")
    assert response.status_code == 303, response.status_code


def open_collecting(admin: Any, w: dict[str, Any]) -> None:
    post(admin, "/admin/letters/collecting-one/open")


def send_update(admin: Any, w: dict[str, Any]) -> None:
    response = submit(admin, f"{ADMIN}/updates", {
        "subject": "We delivered", "body": "Thank you.", "audience": "signers", "send": "Send"},
        "Send")
    assert response.status_code == 303, response.status_code


def retry_delivery(admin: Any, w: dict[str, Any]) -> None:
    post(admin, "/admin/letters/failed-one/deliver/retry")


def close(admin: Any, w: dict[str, Any]) -> None:
    post(admin, f"{ADMIN}/deliver/close", {"confirm": "y", "notify": ""})


def email_addendum(admin: Any, w: dict[str, Any]) -> None:
    post(admin, "/admin/letters/delivered-one/deliver/addendum",
         {"addresses": "director@agency.example.gov", "confirm": "y"})


def reopen(admin: Any, w: dict[str, Any]) -> None:
    post(admin, "/admin/letters/delivered-one/deliver/reopen",
         {"deadline": "2199-01-01T12:00", "confirm": "y"})


def partner_id() -> int:
    return int(db.session.scalar(select(Partner.id).where(Partner.code == "casa")) or 0)


def add_partner(admin: Any, w: dict[str, Any]) -> None:
    post(admin, f"{ADMIN}/partners", {"code": "casa", "name": "CASA"})


def rename_partner(admin: Any, w: dict[str, Any]) -> None:
    post(admin, f"{ADMIN}/partners/{partner_id()}/rename", {"name": "CASA de Maryland"})


def remove_partner(admin: Any, w: dict[str, Any]) -> None:
    post(admin, f"{ADMIN}/partners/{partner_id()}/remove")


def save_translation(admin: Any, w: dict[str, Any]) -> None:
    post(admin, f"{ADMIN}/translations", {"language": "es", "title": "Dejen de reenviar",
                                          "recipient": "", "body": "Les pedimos que paren.\n",
                                          "text_change": "change"})


def delete_translation(admin: Any, w: dict[str, Any]) -> None:
    post(admin, f"{ADMIN}/translations/es/delete")


def choose_language(admin: Any, w: dict[str, Any]) -> None:
    post(admin, "/admin/language", {"language": "en", "next": "/admin/"})


def invite(admin: Any, w: dict[str, Any]) -> None:
    post(admin, f"{ADMIN}/organizers", {"email": "new@coalition.example.net", "role": "viewer"})


def change_role(admin: Any, w: dict[str, Any]) -> None:
    post(admin, f"{ADMIN}/organizers/{w['colleague']}", {"role": "editor"})


# Every POST address under /admin, what the walk does there, and the actions it must record.
WALK: dict[str, tuple[Callable[[Any, dict[str, Any]], None], tuple[str, ...]]] = {
    "admin.new_letter": (new_letter, ("letter.create",)),
    "admin.edit_letter": (edit_letter, ("letter.settings",)),
    "admin.remind_reconsent": (remind, ("reconsent.remind",)),
    "admin.decide_one": (approve_one, ("signature.approve",)),
    "admin.decide_one#reject": (reject_one, ("signature.reject",)),
    "admin.decide_many": (bulk, ("signature.approve", "signature.release")),
    "admin.rename": (rename, ("signature.rename",)),
    "admin.withdraw": (withdraw, ("signature.withdraw",)),
    "admin.edit_signature": (edit_signature, ("signature.edit",)),
    "admin.merge_signature": (merge_signature, ("signature.merge",)),
    "admin.import_signatures": (import_file, ("signatures.import",)),
    "admin.import_confirm": (import_another, ("signatures.import",)),
    "admin.import_cancel": (set_import_aside, ()),  # nothing changes: nothing to record
    "admin.outbox_retry": (retry_mail, ("outbox.retry",)),
    "admin.refresh_pdf": (refresh, ("letter.pdf_refresh",)),
    "admin.deliver_page": (letterhead, ("letter.letterhead", "letter.recipients")),
    "admin.open_letter": (open_collecting, ("letter.open",)),
    "updates.updates_page": (send_update, ("update.send",)),
    "admin.retry_delivery": (retry_delivery, ("delivery.retry",)),
    "admin.add_partner": (add_partner, ("partner.add",)),
    "admin.rename_partner": (rename_partner, ("partner.rename",)),
    "admin.remove_partner": (remove_partner, ("partner.remove",)),
    "organizers.page": (invite, ("invitation.send",)),
    "organizers.change": (change_role, ("role.grant",)),
    "admin.translations_page": (save_translation, ("letter.translation",)),
    "admin.delete_translation": (delete_translation, ("letter.translation.delete",)),
    "admin.choose_language": (choose_language, ("organizer.language",)),
    "admin.close_and_deliver": (close, ("letter.status", "delivery.request")),
    "admin.email_addendum": (email_addendum, ("delivery.addendum",)),
    "admin.reopen_letter": (reopen, ("letter.reopen",)),
}


def post_endpoints(app: Any) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules()
            if rule.rule.startswith("/admin") and "POST" in (rule.methods or ())}


def test_every_post_address_under_admin_is_in_the_walk(app):
    walked = {endpoint.split("#")[0] for endpoint in WALK}
    assert post_endpoints(app) == walked, \
        "a new POST address under /admin needs its step in this walk (and its audit entry)"


def test_every_organizer_change_leaves_an_entry_and_no_entry_ever_changes(admin, world):
    for endpoint, (step, actions) in WALK.items():
        before = all_entries()
        first = max(before, default=0)
        step(admin, world)
        made = entries_since(first)
        assert {e.action for e in made} >= set(actions), (endpoint, [e.action for e in made])
        for entry in made:
            if entry.action in actions:
                assert entry.actor == STAFF and entry.organizer_id is not None, endpoint
                assert entry.action in audit.ACTIONS, entry.action
        after = all_entries()
        assert {k: after[k] for k in before} == before, f"{endpoint} changed an entry"
        for entry in made:  # no signer's email or phone is copied into an entry
            assert "@example.org" not in entry.detail + entry.subject, (endpoint, entry.detail)
            assert SIGNER_PHONE not in entry.detail and "0111" not in entry.detail


def test_the_entries_keep_the_values_before_and_after(admin, world):
    ids = world["ids"]
    for step in (edit_letter, approve_one, reject_one, bulk, rename, letterhead, import_file):
        step(admin, world)
    kept = {}
    for entry in entries_since(0):
        kept.setdefault(entry.action, []).append(entry)
    settings = kept["letter.settings"][-1]
    assert values(settings)["before"] == {"title": "Stop Forwarding Fingerprints",
                                          "deadline": "", "approval needed": True}
    assert values(settings)["after"] == {"title": "Stop It", "deadline": "2030-06-30",
                                         "approval needed": False}
    one, many = kept["signature.approve"]
    assert one.subject == "Pending One" and audit.changes(one) == ("pending", "approved")
    assert many.subject == "3 signatures"
    assert values(many)["before"] == {"pending": 3}
    assert values(many)["after"] == {"approved": 3, "names": ["Bulk A", "Bulk B", "Bulk C"]}
    assert kept["signature.reject"][0].subject == "Pending Two"
    renamed = kept["signature.rename"][0]
    assert renamed.subject == "Listed Group"
    assert audit.changes(renamed) == ("Listed Group", "The Listed Group")
    released = kept["signature.release"][0]
    assert released.subject == "Held Group" and values(released)["after"]["released"] == 1
    head = kept["letter.letterhead"][0]
    assert values(head)["after"] == {"coalition name": "River Coalition",
                                     "closing": "In solidarity"}
    recipients = kept["letter.recipients"][0]
    assert values(recipients)["after"] == {"emailed to": "director@agency.example.gov",
                                           "by email": True}
    imported = kept["signatures.import"][0]
    assert imported.subject == "partners.csv" and values(imported)["after"]["rows"] == 1
    assert db.session.get(Signature, ids["Listed Group"]).display_name == "The Listed Group"


def test_a_bulk_decision_of_thousands_is_one_entry_in_one_short_unit(admin, make_letter):
    letter = make_letter()
    rows = 5000
    with writing():
        base = signing.signature_values(letter, signing.SignerInput(organization="x"),
                                        email=None, status="pending", source="import")
        db.session.execute(insert(Signature), [
            {**base, "organization": f"Group {n:05}", "sort_key": f"group {n:05}",
             "org_key": f"group {n:05}", "email": None} for n in range(rows)])
    ids = [str(i) for i in db.session.scalars(select(Signature.id)
                                              .where(Signature.letter_id == letter.id))]
    csrf = token(admin)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    first = last_id()
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        started = time.monotonic()
        response = admin.post(f"{ADMIN}/signatures/bulk",
                              data={"csrf_token": csrf, "verb": "approve", "ids": ids})
        took = time.monotonic() - started
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert response.status_code == 303
    made = entries_since(first)
    assert [e.action for e in made] == ["signature.approve"]
    assert made[0].subject == "5,000 signatures"
    after = values(made[0])["after"]
    assert after["approved"] == rows and len(after["names"]) == audit.NAMES_SHOWN + 1
    assert after["names"][0] == "Group 00000" and after["names"][-1] == "and 4,990 more"
    assert len(statements) < 30, len(statements)  # not a statement per signature
    assert took < 10, took
    assert db.session.scalar(select(func.count()).select_from(Signature).where(
        Signature.letter_id == letter.id, Signature.status == "approved")) == rows


def test_a_change_that_fails_leaves_no_entry(admin, make_letter, make_signature):
    letter = make_letter()
    make_signature(letter)
    with writing():  # a delivery already waits: closing again fails after the status changed
        now = utcnow()
        db.session.execute(insert(RenderJob).values(
            letter_id=letter.id, kind="deliver", status="queued", attempts=0, due=now,
            last_error="", params="{}", created_at=now))
    first = last_id()
    response = post(admin, f"{ADMIN}/deliver/close", {"confirm": "y"})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Letter, letter.id).status == "open"
    assert entries_since(first) == []

    signature = make_signature(letter, status="pending")
    with pytest.raises(RuntimeError), writing():
        moderation.decide(letter, [signature.id], approve=True)
        raise RuntimeError("the unit fails after the decision")
    db.session.expire_all()
    assert db.session.get(Signature, signature.id).status == "pending"
    assert entries_since(first) == []


def test_downloads_of_private_contacts_are_recorded(admin, make_letter, make_signature):
    letter = make_letter()
    make_signature(letter)
    first = last_id()
    response = admin.get(f"{ADMIN}/signatures.csv")
    assert response.status_code == 200 and "org1@example.org" in response.get_data(as_text=True)
    made = entries_since(first)
    assert [(e.action, e.actor, e.subject) for e in made] == \
        [("contacts.export", STAFF, f"{SLUG}-contacts.csv")]

    listed = listing.rows(letter, private=True)
    with writing():  # as the worker records it, with the PDF it made
        delivery.close_and_deliver(letter, delivery.Prepared(listed, b"%PDF-1.7 made"),
                                   notify_signatories=False)
    made = entries_since(first)[1:]
    assert [(e.action, e.actor) for e in made] == [("delivery.made", "worker")]
    assert values(made[0])["after"]["signatories"] == 1
    response = admin.get(f"{ADMIN}/delivery.zip")
    assert response.status_code == 200
    made = entries_since(first)[2:]
    assert [(e.action, e.actor, e.subject) for e in made] == \
        [("contacts.export", STAFF, f"{SLUG}-delivered.zip")]


def test_a_background_import_is_recorded_when_it_ends_under_its_organizer(admin, app,
                                                                          make_letter):
    app.config["IMPORT_BACKGROUND_ROWS"] = 2
    make_letter()
    data = "organization\n" + "".join(f"Group {n}\n" for n in range(5))
    first = last_id()
    response = post(admin, upload_file(admin, data.encode(), "big.csv"))  # and confirm it
    assert "/imports/" in response.headers["Location"]
    assert entries_since(first) == []  # queued: nothing is imported yet
    while imports.run_due():
        pass
    made = entries_since(first)
    assert [(e.action, e.actor, e.subject) for e in made] == \
        [("signatures.import", STAFF, "big.csv")]
    assert made[0].organizer_id is not None and values(made[0])["after"]["rows"] == 5


# ------------------------------------------------------------------ the command line


def test_the_commands_that_change_data_are_recorded_as_the_command_line(
        app, runner, make_letter, make_signature, tmp_path):
    letter = make_letter()
    make_signature(letter)
    first = last_id()
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("organization,email\nCLI Union,cli@union.example.org\n")
    letter_file = tmp_path / "letter.md"
    letter_file.write_text("---\ntitle: Stop Forwarding Fingerprints\nslug: stop-forwarding\n"
                           "recipient: |\n  The Director\n  Washington, DC\n"
                           "status: open\ndeadline: 2031-01-01\n---\nWe, the undersigned, ask "
                           "you to **stop**.\n")
    out = tmp_path / "contacts.csv"
    steps = [
        (["create-organizer", "second@example.org"], "pass one two three 4\n",
         ["account.create"]),
        (["set-password", "second@example.org"], "pass one two three 5\n",
         ["account.password"]),
        (["import-signatures", SLUG, str(csv_file)], None, ["signatures.import"]),
        (["import-letter", str(letter_file)], None, ["letter.settings"]),
        (["export-csv", SLUG, "-o", str(out), "--private"], None, ["contacts.export"]),
        (["export-csv", SLUG, "-o", str(out)], None, []),  # public columns: not recorded
        (["check-counts", "--repair"], None, ["counts.repair"]),
    ]
    for args, given, actions in steps:
        if args[0] == "check-counts":
            with writing():  # a kept count gone wrong (as after a manual edit of the table)
                db.session.execute(update(ListedCount).where(ListedCount.letter_id == letter.id)
                                   .values(listed=ListedCount.listed + 7))
        mark = last_id()
        result = runner.invoke(args=args, input=given)
        assert result.exit_code == 0, (args, result.output)
        made = entries_since(mark)
        assert [e.action for e in made] == actions, (args, [e.action for e in made])
        assert all(e.actor == "command line" and e.organizer_id is None for e in made)
    kept = {e.action: e for e in entries_since(first)}
    assert kept["account.create"].letter_id is None
    assert kept["account.create"].subject == "second@example.org"
    assert kept["signatures.import"].subject == "people.csv"
    assert kept["signatures.import"].letter_id == letter.id
    assert values(kept["letter.settings"])["after"] == {"deadline": "2031-01-01"}
    assert kept["contacts.export"].subject.endswith("contacts.csv")
    repaired = values(kept["counts.repair"])
    assert [kept - fresh for kept, fresh in zip(repaired["before"].values(),
                                                repaired["after"].values(), strict=True)] == [7]


# ------------------------------------------------------------------ the history page


def make_entries(letter: Letter, count: int, **overrides: Any) -> None:
    with writing():
        db.session.execute(insert(AuditEntry), [
            {"letter_id": letter.id, "actor": "worker", "action": "letter.status",
             "subject": f"entry {n}", "detail": json.dumps({"before": "open", "after": "=1+2"}),
             "at": utcnow() - timedelta(minutes=count - n), **overrides}
            for n in range(count)])


def test_the_history_pages_beyond_one_page(admin, make_letter):
    letter = make_letter()
    make_entries(letter, audit.HISTORY_ROWS + 5)
    first = admin.get(f"{ADMIN}/history").get_data(as_text=True)
    assert f"entry {audit.HISTORY_ROWS + 4}<" in first and "entry 4<" not in first
    assert "Page 1 of 2" in first and "page=2" in first
    second = admin.get(f"{ADMIN}/history?page=2").get_data(as_text=True)
    assert "entry 4<" in second and "entry 0<" in second and "Page 2 of 2" in second
    beyond = admin.get(f"{ADMIN}/history?page=999999999999")
    assert beyond.status_code == 200 and "Page 2 of 2" in beyond.get_data(as_text=True)
    for bad in ("-1", "x", "%00", "1e9"):
        assert admin.get(f"{ADMIN}/history?page={bad}").status_code == 200


def test_the_history_filters_by_who_and_by_date(admin, make_letter):
    letter = make_letter()
    make_entries(letter, 1)
    make_entries(letter, 1, actor=STAFF, subject="Marker Quince",
                 at=utcnow() - timedelta(days=400))
    page = admin.get(f"{ADMIN}/history?actor={STAFF}").get_data(as_text=True)
    assert "Marker Quince" in page and "entry 0" not in page
    assert f'<option value="{STAFF}" selected' in page
    today = utcnow().date()
    page = admin.get(f"{ADMIN}/history?from={today - timedelta(days=2)}&to={today}").text
    assert "entry 0" in page and "Marker Quince" not in page
    old = today - timedelta(days=400)
    page = admin.get(f"{ADMIN}/history?to={old}").text
    assert "Marker Quince" in page and "entry 0" not in page
    for bad in ("yesterday", "2026-13-45", "99999-01-01", "\x00", "1" * 5000, "1800-01-01"):
        response = admin.get(f"{ADMIN}/history", query_string={"from": bad, "to": bad})
        text = response.get_data(as_text=True)
        assert response.status_code == 200 and "entry 0" in text and "Marker Quince" in text
        assert "it was left out" in text
    for bad in ("\x00", f"{STAFF}\x00", "\u202e", "x" * 10_000):  # no such actor: no entry
        response = admin.get(f"{ADMIN}/history", query_string={"actor": bad})
        assert response.status_code == 200
    assert "Marker Quince" in admin.get(f"{ADMIN}/history?actor={STAFF}%00").text
    swapped = admin.get(f"{ADMIN}/history?from={today}&to={old}").text
    assert "were swapped" in swapped and "Marker Quince" in swapped and "entry 0" in swapped


def test_the_history_downloads_as_csv_with_formulas_neutralized(admin, make_letter, app):
    letter = make_letter()
    make_entries(letter, 2500)
    make_entries(letter, 1, actor=STAFF, action="signature.rename", subject="=HYPERLINK(1)")
    response = admin.get(f"{ADMIN}/history.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Cache-Control"] == "no-store"
    assert f"{SLUG}-history.csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == list(audit.CSV_COLUMNS)
    assert len(rows) == 1 + 2501
    renamed = next(row for row in rows if row[2] == "signature.rename")
    assert renamed[1] == STAFF and renamed[3] == audit.ACTIONS["signature.rename"]
    assert renamed[4] == "'=HYPERLINK(1)"
    assert rows[-1][5:] == ["open", "'=1+2"]
    only = admin.get(f"{ADMIN}/history.csv?actor={STAFF}").get_data(as_text=True)
    assert len(list(csv.reader(io.StringIO(only)))) == 2
    page = admin.get(f"{ADMIN}/history?actor={STAFF}").get_data(as_text=True)
    assert f"history.csv?actor={STAFF}" in page


def test_nothing_in_the_app_changes_or_deletes_an_entry(app):
    """No address under /admin but the history's two reads names the history; and what the
    walk above posts only ever adds entries (it checks every one after each step)."""
    history = [rule for rule in app.url_map.iter_rules() if "history" in rule.rule]
    assert {rule.endpoint for rule in history} == {"admin.history", "admin.history_csv"}
    assert all((rule.methods or set()) <= {"GET", "HEAD", "OPTIONS"} for rule in history)


def test_a_drafts_new_text_is_recorded_by_its_fingerprint(admin, make_letter):
    make_letter(status="draft")  # a draft keeps no versions: its settings entry shows the edit
    first = last_id()
    response = submit(admin, f"{ADMIN}/edit", {"body": "A new text.\n", "require_approval": "y"},
                      "Save")
    assert response.status_code == 303, response.status_code
    made = entries_since(first)
    assert [e.action for e in made] == ["letter.settings"]
    before, after = values(made[0])["before"], values(made[0])["after"]
    assert list(after) == ["text"] and before["text"] != after["text"]
    assert len(after["text"]) == 12
    again = submit(admin, f"{ADMIN}/edit", {"require_approval": "y"}, "Save")  # as it is
    assert again.status_code == 303 and len(entries_since(first)) == 1
