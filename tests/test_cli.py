"""The `campaign` commands: organizers from stdin, and one-line errors for every bad input."""
from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from flask import current_app
from support import PASSWORD, ROOT, assert_one_line_error, free_port, password_hash, submit

from campaign import accounts, letter_files
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Organizer, Signature
from campaign.paths import LETTERS

CAMPAIGN = Path(sys.executable).parent / "campaign"


def organizers() -> list[str]:
    db.session.rollback()
    return [o.email for o in db.session.query(Organizer).order_by(Organizer.id)]


# ------------------------------------------------------------------ create-organizer


def test_create_organizer_reads_the_password_from_stdin(runner):
    result = runner.invoke(args=["create-organizer", "Lead@Example.org", "--name", "Ana  Lead"],
                           input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "lead@example.org" in result.stdout
    person = accounts.find("lead@example.org")
    assert person is not None
    assert person.name == "Ana Lead"
    assert accounts.hasher.verify(person.password_hash, PASSWORD)


def test_created_organizer_can_log_in(runner, client):
    runner.invoke(args=["create-organizer", "lead@example.org"], input=PASSWORD + "\n")
    response = submit(client, "/login", {"email": "lead@example.org", "password": PASSWORD},
                      "Log in")
    assert response.status_code == 303


def test_create_organizer_keeps_spaces_inside_the_password(runner):
    runner.invoke(args=["create-organizer", "lead@example.org"], input=" spaced  pass phrase \r\n")
    person = accounts.find("lead@example.org")
    assert accounts.hasher.verify(person.password_hash, " spaced  pass phrase ")


def test_create_organizer_with_a_taken_email_gives_one_line(runner, organizer):
    result = runner.invoke(args=["create-organizer", "STAFF@example.org"], input=PASSWORD + "\n")
    assert_one_line_error(result, "already exists")
    assert organizers() == ["staff@example.org"]


def test_create_organizer_with_an_invalid_email_gives_one_line(runner):
    result = runner.invoke(args=["create-organizer", "not-an-email"], input=PASSWORD + "\n")
    assert_one_line_error(result, "'not-an-email' is not an email address")
    assert organizers() == []


def test_create_organizer_with_a_short_password_gives_one_line(runner):
    result = runner.invoke(args=["create-organizer", "lead@example.org"], input="short\n")
    assert_one_line_error(result, f"at least {accounts.MIN_PASSWORD} characters")
    assert organizers() == []


def test_create_organizer_with_no_password_on_stdin_gives_one_line(runner):
    result = runner.invoke(args=["create-organizer", "lead@example.org"], input="")
    assert_one_line_error(result, "password")
    assert organizers() == []


# ------------------------------------------------------------------ unknown slugs


@pytest.mark.parametrize("args", [
    ["export-csv", "no-such-letter", "-o", "{tmp}/out.csv"],
    ["export-csv", "no-such-letter", "-o", "{tmp}/out.csv", "--private"],
    ["export-pdf", "no-such-letter", "-o", "{tmp}/out.pdf"],
    ["import-signatures", "no-such-letter", "{tmp}/rows.csv"],
], ids=["export-csv", "export-csv-private", "export-pdf", "import-signatures"])
def test_unknown_slug_gives_one_line_and_writes_no_file(runner, tmp_path, args):
    (tmp_path / "rows.csv").write_text("organization\nAcme Workers Union\n", encoding="utf-8")
    result = runner.invoke(args=[a.format(tmp=tmp_path) for a in args])
    assert_one_line_error(result, "no letter with the slug 'no-such-letter'")
    assert not (tmp_path / "out.csv").exists()
    assert not (tmp_path / "out.pdf").exists()


# ------------------------------------------------------------------ files


def test_import_signatures_from_a_missing_file_gives_one_line(runner, make_letter, tmp_path):
    make_letter()
    result = runner.invoke(args=["import-signatures", "stop-forwarding", str(tmp_path / "no.csv")])
    assert_one_line_error(result, "no.csv")
    assert db.session.query(Signature).count() == 0


def test_import_signatures_from_a_file_in_no_known_encoding_gives_one_line(runner, make_letter,
                                                                           tmp_path):
    make_letter()  # Windows-1252 is read (test_import_export.py); \x81 is none of its bytes
    path = tmp_path / "latin1.csv"
    path.write_bytes("organization\nAsociación Obrera\n".encode("latin-1") + b"\x81\n")
    result = runner.invoke(args=["import-signatures", "stop-forwarding", str(path)])
    assert_one_line_error(result, "neither UTF-8 nor Windows-1252")
    assert db.session.query(Signature).count() == 0


def test_export_csv_into_a_missing_folder_gives_one_line(runner, make_letter, tmp_path):
    make_letter()
    result = runner.invoke(args=["export-csv", "stop-forwarding", "-o",
                                 str(tmp_path / "nowhere" / "out.csv")])
    assert_one_line_error(result, "out.csv")


def test_export_csv_writes_the_approved_signatories(runner, make_letter, make_signature, tmp_path):
    letter = make_letter()
    make_signature(letter, organization="Listed Workers Center")
    make_signature(letter, status="pending", organization="Waiting Tenants Union")
    out = tmp_path / "out.csv"
    result = runner.invoke(args=["export-csv", "stop-forwarding", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "Listed Workers Center" in text
    assert "Waiting Tenants Union" not in text
    assert "@example.org" not in text


# ------------------------------------------------------------------ the real console script


def run_campaign(database_url: str, tmp_path: Path, *args: str,
                 stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_")}
    env.update(CAMPAIGN_INSTANCE_PATH=str(tmp_path / "instance"),
               CAMPAIGN_DATABASE_URL=database_url, CAMPAIGN_SECRET_KEY="cli-test-key")
    return subprocess.run([str(CAMPAIGN), *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=120)


def test_console_create_organizer_reads_stdin_and_refuses_a_taken_email(database_url, tmp_path):
    first = run_campaign(database_url, tmp_path, "create-organizer", "lead@example.org",
                         stdin=PASSWORD + "\n")
    assert first.returncode == 0, first.stderr
    again = run_campaign(database_url, tmp_path, "create-organizer", "lead@example.org",
                         stdin=PASSWORD + "\n")
    assert_one_line_error(again, "an organizer with the email lead@example.org already exists")


def test_console_import_letter_with_an_impossible_date_gives_one_line(database_url, tmp_path):
    path = tmp_path / "bad.md"
    path.write_text("---\ntitle: A Letter\nslug: a-letter\ndeadline: 2026-02-30\n---\nText.\n",
                    encoding="utf-8")
    result = run_campaign(database_url, tmp_path, "import-letter", str(path))
    assert_one_line_error(result, "deadline '2026-02-30'")


def test_console_command_before_init_db_says_to_run_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'never-initialized.sqlite3'}"
    result = run_campaign(url, tmp_path, "export-csv", "a-letter", "-o", str(tmp_path / "x.csv"))
    assert_one_line_error(result, "campaign init-db")


# ------------------------------------------------------------------ campaign demo


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(p) for p in task.read_text().split()]
    return found


def gone(pid: int, timeout: float = 10) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":  # ended, waiting only to be reaped by its new parent
            return True
        time.sleep(0.1)
    return False


@contextmanager
def running_demo(database_url: str, instance: Path) -> Iterator[SimpleNamespace]:
    """`campaign demo` as a real process on a free port; SQLite as the embedded default (in the
    instance folder), PostgreSQL through CAMPAIGN_DATABASE_URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_")}
    env.update(CAMPAIGN_INSTANCE_PATH=str(instance), PYTHONUNBUFFERED="1")
    if not database_url.startswith("sqlite"):
        env["CAMPAIGN_DATABASE_URL"] = database_url
    process = subprocess.Popen([str(CAMPAIGN), "demo", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 90
        while True:
            assert process.poll() is None, "".join(output)
            assert time.monotonic() < end, "".join(output)
            try:
                if requests.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        yield SimpleNamespace(process=process, base=base, output=output)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(5)
        process.stdout.close()


@pytest.fixture
def demo(database_url, tmp_path):  # type: ignore[no-untyped-def]
    with running_demo(database_url, tmp_path / "instance") as running:
        yield running


def printed_password(output: list[str]) -> str:
    match = re.search(r"email demo@example\.org\s+password (\S+)", "".join(output))
    assert match, "".join(output)
    return match.group(1)


def demo_login(browser: requests.Session, base: str, password: str) -> int:
    """Log in to a running demo as its organizer; the answer's status."""
    page = browser.get(base + "/login", timeout=10)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    response = browser.post(base + "/login", timeout=30, allow_redirects=False,
                            data={"csrf_token": token, "email": "demo@example.org",
                                  "password": password})
    return response.status_code


def test_demo_prints_the_address_and_a_working_organizer_login(demo):
    text = "".join(demo.output)
    assert f"{demo.base}/" in text
    assert "demo@example.org" in text
    password = printed_password(demo.output)
    with requests.Session() as browser:
        assert demo_login(browser, demo.base, password) == 303
        admin = browser.get(demo.base + "/admin/", timeout=10, allow_redirects=False)
        assert admin.status_code == 200


def test_each_demo_run_gives_the_organizer_a_fresh_password(database_url, tmp_path):
    with running_demo(database_url, tmp_path / "instance") as first:
        old = printed_password(first.output)
    with running_demo(database_url, tmp_path / "instance") as second:
        new = printed_password(second.output)
        assert new != old
        with requests.Session() as browser:
            assert demo_login(browser, second.base, old) == 401
            assert demo_login(browser, second.base, new) == 303


def test_demo_serves_the_example_letter_and_its_sample_signatories(demo):
    letter = requests.get(demo.base + "/letters/stop-fingerprint-forwarding", timeout=10)
    assert letter.status_code == 200
    assert "Fingerprints" in letter.text
    signers = requests.get(demo.base + "/letters/stop-fingerprint-forwarding/signers", timeout=10)
    sample = (ROOT / "letters" / "stop-fingerprint-forwarding.csv").read_text(encoding="utf-8")
    organizations = [line.split(",")[0] for line in sample.splitlines()[1:] if line]
    assert organizations
    for name in organizations:
        assert html.escape(name, quote=False) in signers.text or name in signers.text
    assert "/letters/stop-fingerprint-forwarding" in requests.get(demo.base + "/", timeout=10).text


def test_demo_stops_with_its_mail_worker(demo):
    workers = children_of(demo.process.pid)
    assert workers, "the demo started no mail worker"
    demo.process.terminate()
    assert demo.process.wait(15) is not None
    for pid in workers:
        assert gone(pid), f"the worker {pid} outlived the demo"


def test_loading_the_example_letters_twice_adds_no_duplicate_signatories(app):
    from campaign.cli import load_example_letters

    examples = [(path, letter_files.parse_file(path, current_app.config["TZ"]))
                for path in letter_files.letter_files(LETTERS)]
    with writing():
        slugs = load_example_letters(examples)
    count = db.session.query(Signature).count()
    with writing():
        assert load_example_letters(examples) == slugs
    assert count > 0
    assert db.session.query(Signature).count() == count


def test_demo_organizer_gets_the_new_password_and_a_clean_slate_each_time(app):
    from campaign import sessions
    from campaign.cli import DEMO_EMAIL, demo_organizer
    from campaign.models import OrganizerSession

    first, second = PASSWORD, "another demo passphrase"
    with writing():
        demo_organizer(password_hash(first))
    with writing():
        sessions.start(accounts.find(DEMO_EMAIL).id)
    with writing():
        demo_organizer(password_hash(second))
    person = accounts.find(DEMO_EMAIL)
    assert db.session.query(OrganizerSession).count() == 0  # its sessions ended
    assert accounts.check_login(DEMO_EMAIL, first).organizer_id is None
    assert accounts.check_login(DEMO_EMAIL, second).organizer_id == person.id
    assert organizers() == [DEMO_EMAIL]
