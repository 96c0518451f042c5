"""Retention of contact details (CAMPAIGN_RETAIN_CONTACTS_DAYS): erased that many days after a
letter is delivered or closed, by `campaign purge-contacts` or the worker once a day; the public
record, the delivered PDF and the counts stay; the audit log and the organizer pages say so."""
from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select, update
from support import do_render_jobs, submit, with_smtp
from support_pdf import one_line, pdf_text

from campaign import create_app, listing, renders, retention, worker
from campaign.config import ConfigError
from campaign.database import writing
from campaign.extensions import db
from campaign.models import AuditEntry, Delivery, Letter, OutboxMessage, Signature, utcnow

SLUG = "stop-forwarding"
LETTER = f"/letters/{SLUG}"
CONTACTS = ("contact_name", "contact_title", "email", "phone", "ip_hash")
PUBLIC = ("organization", "display_name", "city", "region", "country", "scope", "status",
          "website", "affiliation")


@pytest.fixture
def app_config(app_config, smtp):
    return with_smtp(app_config, smtp, RETAIN_CONTACTS_DAYS=30)


@pytest.fixture
def letter(make_letter, make_signature):
    """An open letter with two listed signatories and one awaiting approval, contacts all
    given."""
    letter = make_letter()
    for n, status in enumerate(("approved", "approved", "pending")):
        make_signature(letter, status, organization=f"Harbor Group {n}", contact_title="Director",
                       website=f"https://harbor{n}.example.org")
    with writing():
        db.session.execute(update(Signature).values(ip_hash="f" * 64))
    return letter


def close(letter: Letter, days_ago: float) -> None:
    with writing():
        db.session.execute(update(Letter).where(Letter.id == letter.id).values(
            status="closed", closed_at=utcnow() - timedelta(days=days_ago)))


def rows() -> list[dict[str, object]]:
    db.session.rollback()
    return [{column: getattr(s, column) for column in CONTACTS + PUBLIC}
            for s in db.session.scalars(select(Signature).order_by(Signature.id))]


def erased(row: dict[str, object]) -> bool:
    return all(not row[column] for column in CONTACTS)


def audit(letter: Letter) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(
        AuditEntry.letter_id == letter.id, AuditEntry.action == "contacts.erase")))


def notice(page: str) -> str:
    found = BeautifulSoup(page, "html.parser").find(class_="retention")
    return " ".join(found.get_text(" ").split()) if found else ""


# ------------------------------------------------------------------ when


def test_with_the_setting_off_nothing_is_ever_erased(app, runner, letter):
    app.config["RETAIN_CONTACTS_DAYS"] = None
    close(letter, days_ago=5000)
    before = rows()
    result = runner.invoke(args=["purge-contacts"])
    assert result.exit_code == 0
    assert "not set" in result.output and "nothing was erased" in result.output
    assert rows() == before
    assert retention.due() == []
    worker.PURGED_ON.clear()
    worker.sweep()
    assert rows() == before


def test_thirty_days_erase_a_letter_closed_longer_ago_only(runner, letter, make_letter,
                                                           make_signature):
    recent = make_letter(slug="recent")
    make_signature(recent, email="recent@example.org")
    close(recent, days_ago=29)
    close(letter, days_ago=31)

    result = runner.invoke(args=["purge-contacts"])
    assert result.exit_code == 0
    assert "Erased the contact details of 3 signature(s) of 1 letter(s)." in result.output
    by_letter = {s.email: s for s in db.session.scalars(select(Signature))}
    assert by_letter["recent@example.org"].contact_name  # closed 29 days ago: kept
    assert sum(1 for row in rows() if erased(row)) == 3

    again = runner.invoke(args=["purge-contacts"])
    assert again.exit_code == 0 and "No letter is due" in again.output


def test_zero_days_erase_as_soon_as_it_closes_but_not_an_open_letter(app, runner, letter):
    app.config["RETAIN_CONTACTS_DAYS"] = 0
    assert retention.purge_due().letters == 0  # still open
    close(letter, days_ago=0)
    assert retention.purge_due().signatures == 3


def test_what_is_erased_and_what_is_kept(app, client, runner, letter):
    do_render_jobs()
    close(letter, days_ago=31)
    before_rows, before_json = rows(), client.get(f"{LETTER}/signers.json").get_json()
    counts = listing.scope_counts(letter)
    runner.invoke(args=["purge-contacts"])

    for before, after in zip(before_rows, rows(), strict=True):
        assert erased(after)
        assert {k: after[k] for k in PUBLIC} == {k: before[k] for k in PUBLIC}
    assert client.get(f"{LETTER}/signers.json").get_json() == before_json
    assert listing.scope_counts(letter) == counts
    letter = db.session.get(Letter, letter.id)
    assert letter.contacts_erased_at is not None
    [entry] = audit(letter)
    assert entry.actor == "command line" and '"signatures": 3' in entry.detail
    # the next render lists the same names
    do_render_jobs()
    assert client.get(f"{LETTER}.pdf").status_code == 200


def test_an_individuals_public_title_is_kept_and_still_listed(app, client, runner, make_letter,
                                                             make_signature):
    letter = make_letter(slug="both-kinds", signers="both")
    make_signature(letter, organization="Harbor Group", contact_title="Chief Steward")
    make_signature(letter, scope="individual", organization="Rosa Sample",
                   contact_name="Rosa Sample", contact_title="Professor of Law",
                   affiliation="Sample College")
    do_render_jobs()
    close(letter, days_ago=31)
    before = client.get("/letters/both-kinds/signers.json").get_json()
    assert "Professor of Law" in str(before) and "Chief Steward" not in str(before)

    assert "1 letter(s)" in runner.invoke(args=["purge-contacts"]).output
    assert client.get("/letters/both-kinds/signers.json").get_json() == before
    db.session.rollback()
    titles = dict(db.session.execute(select(Signature.organization,
                                            Signature.contact_title)).all())
    assert titles == {"Harbor Group": "", "Rosa Sample": "Professor of Law"}
    with writing():  # the next render lists the same names and titles
        renders.want(db.session.get(Letter, letter.id))
    do_render_jobs()
    text = one_line(pdf_text(client.get("/letters/both-kinds.pdf").get_data()))
    assert "Rosa Sample" in text and "Professor of Law" in text and "Chief Steward" not in text


def test_the_delivered_contacts_csv_keeps_an_individuals_title_only():
    delivered = ("organization,scope,contact_name,contact_title,email,kind\r\n"
                 "Harbor Group,local,Ann Contact,Director,ann@example.org,organization\r\n"
                 "Rosa Sample,individual,Rosa Sample,Professor of Law,rosa@example.org,"
                 "individual\r\n")
    assert retention.blank_contacts(delivered) == (
        "organization,scope,contact_name,contact_title,email,kind\r\n"
        "Harbor Group,local,,,,organization\r\n"
        "Rosa Sample,individual,,Professor of Law,,individual\r\n")


def test_the_mail_sent_to_the_erased_addresses_goes_too_but_not_mail_still_to_go(
        app, runner, letter, make_letter, make_signature):
    other = make_letter(slug="another-letter", title="Another letter")
    elsewhere = make_signature(other, organization="Elsewhere Group", email="else@example.org")
    addresses = [s.email for s in db.session.scalars(
        select(Signature).where(Signature.letter_id == letter.id).order_by(Signature.id))]
    with writing():
        for n, (address, status) in enumerate(zip(
                [*addresses, elsewhere.email], ["sent", "dead", "queued", "sent"], strict=True)):
            db.session.add(OutboxMessage(kind="confirm", recipient=address, subject=f"m{n}",
                                         body_text=f"Dear contact {n}", status=status))
    close(letter, days_ago=31)
    runner.invoke(args=["purge-contacts"])

    db.session.rollback()
    kept = {m.recipient: m.status for m in db.session.scalars(select(OutboxMessage))}
    assert kept == {addresses[2]: "queued", "else@example.org": "sent"}


def test_a_delivered_letter_keeps_its_pdf_byte_for_byte_and_loses_the_contacts_csv_contacts(
        admin, client, runner, letter):
    submit(admin, f"/admin/letters/{SLUG}/deliver", {"confirm": "y", "notify": None},
           "Close and deliver")
    assert do_render_jobs() >= 1
    delivered = client.get(f"{LETTER}.pdf").get_data()
    assert "Harbor Group 0" in db.session.scalar(select(Delivery.contacts_csv))
    with writing():  # delivered 31 days ago
        db.session.execute(update(Delivery).values(delivered_at=utcnow() - timedelta(days=31)))
        db.session.execute(update(Letter).values(closed_at=None))  # closed before 0007

    assert "1 letter(s)" in runner.invoke(args=["purge-contacts"]).output
    assert client.get(f"{LETTER}.pdf").get_data() == delivered
    csv = db.session.scalar(select(Delivery.contacts_csv))
    assert "Harbor Group 0" in csv and "https://harbor0.example.org" in csv
    assert "@" not in csv and "Director" not in csv and "Contact " not in csv
    package = admin.get(f"/admin/letters/{SLUG}/delivery.zip").get_data()
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        assert archive.read(f"{SLUG}.pdf") == delivered
        assert "@" not in archive.read(f"{SLUG}-contacts.csv").decode()


def test_a_long_list_is_erased_in_batches(runner, letter, make_signature, monkeypatch):
    for n in range(4):
        make_signature(letter, email=f"more{n}@example.org")
    monkeypatch.setattr(retention, "BATCH", 2)
    close(letter, days_ago=31)
    assert retention.purge_due() == retention.Purged(1, 7)
    assert all(erased(row) for row in rows())


def test_a_letter_reopened_and_closed_again_is_due_again_for_its_new_signers(
        runner, letter, make_signature):
    close(letter, days_ago=31)
    assert retention.purge_due().signatures == 3
    with writing():  # erased two months ago, then opened again
        db.session.execute(update(Letter).values(
            status="open", closed_at=None, contacts_erased_at=utcnow() - timedelta(days=60)))
    make_signature(db.session.get(Letter, letter.id), email="late@example.org")
    assert retention.purge_due().letters == 0
    close(letter, days_ago=31)
    assert retention.purge_due() == retention.Purged(1, 1)
    assert len(audit(letter)) == 2


def test_the_worker_erases_once_a_day(letter):
    worker.PURGED_ON.clear()
    close(letter, days_ago=31)
    now = utcnow()
    worker.sweep(now)
    assert all(erased(row) for row in rows())
    assert [entry.actor for entry in audit(letter)] == ["worker"]

    with writing():  # one more due: the worker waits for the next day
        db.session.execute(update(Letter).values(contacts_erased_at=None))
    worker.sweep(now + timedelta(minutes=5))
    assert len(audit(letter)) == 1
    worker.sweep(now + timedelta(days=1))
    assert len(audit(letter)) == 2


# ------------------------------------------------------------------ the organizer pages


def test_the_letters_pages_say_when_the_contacts_are_erased(app, admin, runner, letter):
    pages = [f"/admin/letters/{SLUG}/edit", f"/admin/letters/{SLUG}/signatures",
             f"/admin/letters/{SLUG}/deliver"]
    for page in pages:
        assert "erased 30 days after the letter is delivered or closed" in notice(
            admin.get(page).get_data(as_text=True))
    close(letter, days_ago=10)
    when = (utcnow() + timedelta(days=20))
    for page in pages:
        assert f"will be erased on {when:%B} {when.day}, {when.year}" in notice(
            admin.get(page).get_data(as_text=True))
    close(letter, days_ago=31)
    runner.invoke(args=["purge-contacts"])
    today = utcnow()
    for page in pages:
        assert f"were erased on {today:%B} {today.day}, {today.year}" in notice(
            admin.get(page).get_data(as_text=True))
    app.config["RETAIN_CONTACTS_DAYS"] = None
    assert "were erased on" in notice(admin.get(pages[0]).get_data(as_text=True))


def test_with_the_setting_off_the_pages_say_nothing(app, admin, letter):
    app.config["RETAIN_CONTACTS_DAYS"] = None
    assert notice(admin.get(f"/admin/letters/{SLUG}/edit").get_data(as_text=True)) == ""


# ------------------------------------------------------------------ the setting


@pytest.fixture
def instance(tmp_path, monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("CAMPAIGN_"):
            monkeypatch.delenv(name)
    folder = tmp_path / "instance"
    folder.mkdir()
    monkeypatch.setenv("CAMPAIGN_INSTANCE_PATH", str(folder))
    return folder


@pytest.mark.parametrize(("raw", "days"), [(None, None), ("", None), ("0", 0), (" 30 ", 30),
                                           ("36500", 36500)])
def test_the_setting_from_the_environment(instance, monkeypatch, raw, days):
    if raw is not None:
        monkeypatch.setenv("CAMPAIGN_RETAIN_CONTACTS_DAYS", raw)
    assert create_app().config["RETAIN_CONTACTS_DAYS"] == days


def test_the_setting_from_the_instance_config(instance):
    (instance / "config.py").write_text("RETAIN_CONTACTS_DAYS = 90\n")
    assert create_app().config["RETAIN_CONTACTS_DAYS"] == 90


@pytest.mark.parametrize("raw", ["thirty", "-1", "36501", "1.5", "999999999999"])
def test_a_bad_setting_stops_the_app_with_one_line(instance, monkeypatch, raw):
    monkeypatch.setenv("CAMPAIGN_RETAIN_CONTACTS_DAYS", raw)
    with pytest.raises(ConfigError, match="CAMPAIGN_RETAIN_CONTACTS_DAYS must be a whole number "
                                          "of days from 0 to 36500, or unset"):
        create_app()


@pytest.mark.parametrize("line", ["RETAIN_CONTACTS_DAYS = True", "RETAIN_CONTACTS_DAYS = 2.5",
                                  "RETAIN_CONTACTS_DAYS = [30]"])
def test_a_bad_instance_setting_stops_the_app(instance, line):
    (instance / "config.py").write_text(line + "\n")
    with pytest.raises(ConfigError, match="RETAIN_CONTACTS_DAYS must be a whole number"):
        create_app()
