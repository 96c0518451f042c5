"""Imports of the spreadsheets people actually have: headers matched whatever their case, spacing
and punctuation, with the usual aliases; other columns ignored and listed; UTF-8 (with or without
a BOM), UTF-16 and Windows-1252 read right; commas, semicolons or tabs. An upload is previewed
(its columns, the first rows as they will be stored, every problem by line) and only the
organizer's confirmation writes it; the command line has --preview and a progress bar."""
from __future__ import annotations

import os
import pty
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import delete, func, select, update
from support import PASSWORD, ROOT, assert_one_line_error, submit
from support_apps import build_app
from support_imports import confirm_form, upload, upload_only

from campaign import accounts, csv_headers, import_previews
from campaign.database import writing
from campaign.errors import ImportProblem
from campaign.extensions import db
from campaign.models import ImportWaiting, Letter, Signature, utcnow

SLUG = "stop-forwarding"
PAGE = f"/admin/letters/{SLUG}/signatures"
# A Google Forms export as Excel on Windows saves it: a Timestamp column, headers as the form's
# questions, semicolons, Windows-1252 bytes.
GOOGLE_FORMS = (
    '"Timestamp";"Organization name";"Contact Name";"E-mail Address";"City";'
    '"State / Province";"Zip";"Country"\r\n'
    '"2026/11/02 10:14:07 a. m. GMT-5";"Asociación de Trabajadores del Valle";"José Peña";'
    '"jose@asociacion.example.org";"San José";"CA";"95112";"United States"\r\n'
    '"2026/11/02 11:20:41 a. m. GMT-5";"Centro Laboral Ñandú";"Ana Müller";'
    '"ana@nandu.example.org";"Tucson";"AZ";"85701";"US"\r\n'
    '"2026/11/03 09:01:12 a. m. GMT-5";"Unión de Jornaleros; Local 3";"";"";"Houston";"TX";'
    '"";"mx"\r\n'
).encode("cp1252")


@pytest.fixture
def letter(make_letter):  # type: ignore[no-untyped-def]
    return make_letter()


def count() -> int:
    db.session.expire_all()
    return int(db.session.scalar(select(func.count()).select_from(Signature)) or 0)


def waiting_files(app) -> list[str]:  # type: ignore[no-untyped-def]
    """The tokens of the uploads waiting for their confirmation (expired ones too)."""
    db.session.expire_all()
    return sorted(db.session.scalars(select(ImportWaiting.token)))


def age(token: str, seconds: float) -> None:
    """Make a waiting upload `seconds` old."""
    with writing():
        db.session.execute(update(ImportWaiting).where(ImportWaiting.token == token)
                           .values(created_at=utcnow() - timedelta(seconds=seconds)))


def soup_of(response) -> BeautifulSoup:  # type: ignore[no-untyped-def]
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def preview_of(admin, blob: bytes, approved: bool = False):  # type: ignore[no-untyped-def]
    """Upload a file and open its preview: (the preview's address, the page)."""
    answer = upload_only(admin, admin_page(), blob, approved=approved)
    assert answer.status_code == 303
    location = answer.headers["Location"]
    assert "/imports/preview/" in location, location
    page = admin.get(location)
    assert page.status_code == 200
    return location, page


def admin_page() -> str:
    return PAGE


def table_rows(soup: BeautifulSoup, css: str) -> list[list[str]]:
    return [[cell.get_text(" ", strip=True) for cell in row.find_all("td")]
            for row in soup.select(f"{css} tbody tr")]


# ------------------------------------------------------------------ the Google Forms walk


def test_a_google_forms_export_goes_through_the_preview_and_is_stored(app, admin, letter):
    location, page = preview_of(admin, GOOGLE_FORMS)
    assert count() == 0  # the upload and its preview write nothing
    soup = soup_of(page)
    assert table_rows(soup, "table.import-columns") == [
        ["Organization name", "Organization"], ["Contact Name", "Contact name"],
        ["E-mail Address", "Email"], ["City", "City"], ["State / Province", "State / Region"],
        ["Country", "Country"], ["Timestamp", "Ignored: not imported"],
        ["Zip", "Ignored: not imported"]]
    assert "Ignored columns: Timestamp, Zip." in soup.select_one(".ignored-columns").get_text()
    text = " ".join(soup.get_text(" ").split())
    assert "3 rows under the header, read as Windows-1252 text" in text
    assert "separated by semicolons" in text
    assert "moderation queue" in text
    first = table_rows(soup, "table.import-rows")
    assert first[0] == ["Asociación de Trabajadores del Valle", "José Peña",
                        "jose@asociacion.example.org", "", "San José", "CA", "United States",
                        "local"]
    assert first[1][0] == "Centro Laboral Ñandú" and first[1][6] == "United States"
    assert first[2][0] == "Unión de Jornaleros; Local 3" and first[2][6] == "Mexico"
    assert not soup.select("ul.import-problems")

    found = confirm_form(page.get_data(as_text=True))
    assert found is not None
    action, fields = found
    assert action == location
    done = admin.post(action, data=fields)
    assert done.status_code == 303 and "status=pending" in done.headers["Location"]
    assert "Imported 3 signatories" in admin.get(done.headers["Location"]).get_data(as_text=True)
    stored = db.session.execute(select(
        Signature.organization, Signature.contact_name, Signature.email, Signature.city,
        Signature.region, Signature.country, Signature.status, Signature.source)
        .order_by(Signature.id)).all()
    assert [tuple(row) for row in stored] == [
        ("Asociación de Trabajadores del Valle", "José Peña", "jose@asociacion.example.org",
         "San José", "CA", "United States", "pending", "import"),
        ("Centro Laboral Ñandú", "Ana Müller", "ana@nandu.example.org", "Tucson", "AZ",
         "United States", "pending", "import"),
        ("Unión de Jornaleros; Local 3", "", None, "Houston", "TX", "Mexico", "pending",
         "import")]
    assert waiting_files(app) == []  # the kept file is gone once imported
    again = admin.post(action, data=fields)  # a second click imports nothing twice
    assert again.status_code == 303
    assert "this import is no longer waiting" in admin.get(again.headers["Location"]).get_data(
        as_text=True)
    assert count() == 3


def test_the_preview_says_approved_rows_are_listed_at_once(admin, letter):
    __, page = preview_of(admin, GOOGLE_FORMS, approved=True)
    assert "They will be listed at once (approved)." in page.get_data(as_text=True)
    action, fields = confirm_form(page.get_data(as_text=True)) or ("", {})
    admin.post(action, data=fields)
    assert set(db.session.scalars(select(Signature.status))) == {"approved"}


def test_a_preview_with_problems_names_each_by_line_and_offers_no_confirmation(admin, letter):
    blob = (b"Org Name,Email,Scope\nSunrise,rosa@sunrise.example.org,local\n"
            b",ana@example.org,local\nMoonrise,not an address,galactic\n")
    location, page = preview_of(admin, blob)
    problems = [li.get_text(" ", strip=True)
                for li in soup_of(page).select("ul.import-problems li")]
    assert problems == ["line 3: no organization",
                        "line 4: scope 'galactic' is not one of national, state, local, "
                        "international, individual"]
    assert confirm_form(page.get_data(as_text=True)) is None
    assert "Nothing was imported" in page.get_data(as_text=True)
    token = soup_of(page).find("input", attrs={"name": "csrf_token"})["value"]
    answer = admin.post(location, data={"csrf_token": token})  # confirmed by hand all the same
    assert answer.status_code == 303
    assert "Nothing was imported" in admin.get(answer.headers["Location"]).get_data(as_text=True)
    assert count() == 0


def test_a_file_whose_header_names_no_organization_is_refused_at_upload(app, admin, letter):
    answer = upload(admin, PAGE, "Timestamp,Name,Email\n2026,Rosa,rosa@example.org\n")
    text = " ".join(soup_of(answer).get_text(" ").split())
    assert "Nothing was imported: line 1: no column names the organization" in text
    assert "Timestamp, Name, Email" in text
    assert waiting_files(app) == [] and count() == 0


def test_two_columns_for_one_field_are_refused_naming_both(admin, letter):
    answer = upload(admin, PAGE, "Organization,Name,Contact name\nSunrise,Rosa,Rosa\n")
    text = " ".join(soup_of(answer).get_text(" ").split())
    assert "the columns 'Name' and 'Contact name' both give the contact name" in text
    assert count() == 0


def test_cancel_sets_the_file_aside_and_its_preview_is_gone(app, admin, letter):
    location, page = preview_of(admin, GOOGLE_FORMS)
    assert len(waiting_files(app)) == 1
    token = soup_of(page).find("input", attrs={"name": "csrf_token"})["value"]
    answer = admin.post(location + "/cancel", data={"csrf_token": token})
    assert answer.status_code == 303
    assert "the file was set aside" in admin.get(answer.headers["Location"]).get_data(as_text=True)
    assert waiting_files(app) == []
    assert admin.get(location).status_code == 404
    assert count() == 0


def test_a_preview_is_only_its_organizers_and_its_letters(app, admin, letter, make_letter,
                                                          new_client):
    location, page = preview_of(admin, GOOGLE_FORMS)
    make_letter(slug="other-letter", title="Another Letter")
    assert admin.get(location.replace(SLUG, "other-letter")).status_code == 404
    with writing():
        accounts.create_organizer("second@example.org", accounts.hash_password(PASSWORD),
                                  "Second")
    other = new_client()
    submit(other, "/login", {"email": "second@example.org", "password": PASSWORD}, "Log in")
    assert other.get(location).status_code == 404  # another organizer's upload: no such page
    token = soup_of(other.get(PAGE)).find("input", attrs={"name": "csrf_token"})["value"]
    assert other.post(location, data={"csrf_token": token}).status_code == 303
    assert other.post(location + "/cancel", data={"csrf_token": token}).status_code == 303
    assert count() == 0 and len(waiting_files(app)) == 1  # neither imported nor set aside


def test_a_preview_expires_after_an_hour_and_is_swept_away(app, admin, letter):
    location, page = preview_of(admin, GOOGLE_FORMS)
    (older,) = waiting_files(app)
    age(older, import_previews.KEEP_SECONDS - 60)
    assert admin.get(location).status_code == 200  # not quite an hour: still there
    age(older, import_previews.KEEP_SECONDS + 1)
    assert admin.get(location).status_code == 404
    found = confirm_form(page.get_data(as_text=True))
    assert found is not None
    answer = admin.post(found[0], data=found[1])  # nor can it be confirmed any more
    assert "this import is no longer waiting" in admin.get(answer.headers["Location"]).get_data(
        as_text=True)
    assert count() == 0
    preview_of(admin, GOOGLE_FORMS)  # a new upload sweeps the expired one away
    assert older not in waiting_files(app) and len(waiting_files(app)) == 1


def test_the_kept_file_is_in_the_database_so_another_host_confirms_it(app, admin, letter,
                                                                      tmp_path):
    location, __ = preview_of(admin, GOOGLE_FORMS)
    assert not (Path(app.instance_path) / "imports-waiting").exists()
    db.session.commit()  # the other host's requests must find the database free
    other_host = build_app(app.config["DATABASE_URL"], tmp_path / "other-host")
    try:
        other = other_host.test_client()
        submit(other, "/login", {"email": "staff@example.org", "password": PASSWORD}, "Log in")
        page = other.get(location)  # the preview a first host made, served by a second
        assert page.status_code == 200
        action, fields = confirm_form(page.get_data(as_text=True)) or ("", {})
        done = other.post(action, data=fields)
        assert done.status_code == 303 and "status=pending" in done.headers["Location"]
    finally:
        with other_host.app_context():
            db.session.remove()
            db.engine.dispose()
    assert count() == 3 and waiting_files(app) == []


def test_a_letter_deleted_takes_its_waiting_uploads_with_it(app, admin, letter):
    preview_of(admin, GOOGLE_FORMS)
    assert len(waiting_files(app)) == 1
    with writing():
        db.session.execute(delete(Letter).where(Letter.id == letter.id))
    assert waiting_files(app) == []


def test_a_made_up_token_is_404_not_a_path(admin, letter):
    for token in ["../../config", "a" * 10, "x" * 200]:
        assert admin.get(f"/admin/letters/{SLUG}/imports/preview/{token}").status_code == 404


def test_a_large_file_is_previewed_on_its_first_rows_and_written_by_the_worker(app, admin,
                                                                               letter, runner):
    app.config.update(IMPORT_BACKGROUND_ROWS=3, IMPORT_CHUNK_ROWS=2)
    rows = "".join(f"Group {n}\tgroup{n}@example.org\n" for n in range(1, 8))
    location, page = preview_of(admin, ("Organisation\tEmail address\n" + rows).encode())
    text = " ".join(soup_of(page).get_text(" ").split())
    assert "7 rows under the header" in text and "separated by tabs" in text
    assert "The first 3 rows were checked here" in text
    action, fields = confirm_form(page.get_data(as_text=True)) or ("", {})
    answer = admin.post(action, data=fields)
    assert "/imports/" in answer.headers["Location"] and count() == 0
    assert runner.invoke(args=["worker", "--once"]).exit_code == 0
    assert count() == 7


# ------------------------------------------------------------------ headers, encodings, delimiters


@pytest.mark.parametrize(("cell", "field"), [
    ("organization", "organization"), ("ORGANISATION", "organization"),
    (" Org name ", "organization"), ("Organization Name", "organization"),
    ("contact_name", "contact_name"), ("Contact Name", "contact_name"), ("Name", "contact_name"),
    ("Contact", "contact_name"), ("E-mail", "email"), ("Email address", "email"),
    ("EMAIL", "email"), ("State", "region"), ("Province", "region"),
    ("State / Province", "region"), ("Region", "region"), ("Phone number", "phone"),
    ("Web site", "website"), ("Job title", "contact_title"), ("Town", "city"),
    ("Country", "country"), ("Scope", "scope"), ("Affiliation", "affiliation"),
])
def test_a_header_cell_is_matched_whatever_its_case_spacing_and_punctuation(cell, field):
    header = csv_headers.match(["Organization" if field != "organization" else cell, cell]
                               if field != "organization" else [cell])
    assert header.fields[-1] == field


@pytest.mark.parametrize("cell", ["Timestamp", "Zip", "Postal code", "Favourite colour", ""])
def test_other_columns_are_ignored_and_listed_by_name(cell):
    header = csv_headers.match(["Organization", cell])
    assert header.fields == ["organization", None]
    assert header.ignored == ([cell] if cell else [])


@pytest.mark.parametrize(("text", "mark"), [
    ("organization,email\nA,a@example.org\n", ","),
    ("organization;email\nA;a@example.org\n", ";"),
    ("organization\temail\nA\ta@example.org\n", "\t"),
    ('"Name, full";organization;email\n', ";"),  # a comma inside quotes is no delimiter
    ("organization\nA, Inc.\n", ","),  # one column: a comma by default
])
def test_the_delimiter_is_sniffed_from_the_header_row(text, mark):
    assert csv_headers.delimiter(text) == mark


@pytest.mark.parametrize(("encoding", "expected"), [
    ("utf-8", "UTF-8"), ("utf-8-sig", "UTF-8"), ("utf-16", "UTF-16"), ("cp1252", "Windows-1252"),
])
def test_each_encoding_spreadsheets_save_in_is_read(encoding, expected):
    text = "organization\nAsociación “Unidos” – Peña\n"
    decoded = csv_headers.decode(text.encode(encoding))
    assert (decoded.text, decoded.encoding) == (text, expected)


def test_bytes_of_no_known_encoding_are_refused_naming_the_line():
    with pytest.raises(ImportProblem) as caught:
        csv_headers.decode(b"organization\nA\n\x81\x8d\n")
    assert caught.value.problems == ["line 3: neither UTF-8 nor Windows-1252 text (save the "
                                     "file as CSV UTF-8)"]


# ------------------------------------------------------------------ the command line


def test_the_command_imports_a_google_forms_export(runner, letter, tmp_path):
    path = tmp_path / "responses.csv"
    path.write_bytes(GOOGLE_FORMS)
    result = runner.invoke(args=["import-signatures", SLUG, str(path)])
    assert result.exit_code == 0, result.output
    assert "Imported 3 signatories" in result.output
    assert "Asociación de Trabajadores del Valle" in db.session.scalars(
        select(Signature.organization)).all()


def test_the_command_previews_a_file_and_writes_nothing(runner, letter, tmp_path):
    path = tmp_path / "responses.csv"
    path.write_bytes(GOOGLE_FORMS)
    result = runner.invoke(args=["import-signatures", SLUG, str(path), "--preview"])
    assert result.exit_code == 0, result.output
    assert "Read as Windows-1252 text, columns separated by semicolons." in result.output
    assert "  Contact Name -> Contact name" in result.output
    assert "Ignored columns: Timestamp, Zip." in result.output
    assert "3 rows would be imported (nothing was written)." in result.output
    assert count() == 0


def test_the_command_preview_names_every_problem_and_fails(runner, letter, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("Organization;Scope\n;local\nMoonrise;galactic\n", encoding="utf-8")
    result = runner.invoke(args=["import-signatures", SLUG, str(path), "--preview"])
    assert "line 2: no organization" in result.stdout
    assert "line 3: scope 'galactic'" in result.stdout
    assert_one_line_error(result, "2 rows have a problem: nothing would be imported")
    assert count() == 0


def command_on_a_terminal(app, *args: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    """Run `campaign ...` in a child whose standard error is a terminal (a pseudo-terminal):
    (its exit code, standard output, what the terminal showed)."""
    env = {**os.environ, "CAMPAIGN_DATABASE_URL": app.config["DATABASE_URL"],
           "CAMPAIGN_SECRET_KEY": app.config["SECRET_KEY"],
           "CAMPAIGN_INSTANCE_PATH": app.instance_path, "CAMPAIGN_IMPORT_BACKGROUND_ROWS": "3",
           "CAMPAIGN_IMPORT_CHUNK_ROWS": "2", "COLUMNS": "100"}
    leader, follower = pty.openpty()
    child = subprocess.Popen([sys.executable, "-m", "campaign", *args], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=follower, stdin=subprocess.DEVNULL)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    out, __ = child.communicate(timeout=60)
    os.close(leader)
    return child.returncode, out.decode(), shown.decode(errors="replace")


def test_a_long_import_on_a_terminal_shows_a_progress_bar_on_standard_error(app, letter,
                                                                            tmp_path):
    path = tmp_path / "many.csv"
    path.write_text("organization\n" + "".join(f"Group {n}\n" for n in range(1, 10)),
                    encoding="utf-8")
    db.session.remove()  # the child writes: no transaction of this test may hold the database
    code, out, terminal = command_on_a_terminal(app, "import-signatures", SLUG, str(path))
    assert code == 0, terminal
    assert "Importing" in terminal and "9/9" in terminal and "100%" in terminal
    assert "Written" not in terminal  # the bar, not the lines a log gets
    assert out.strip() == "Imported 9 signatories into stop-forwarding"
    assert count() == 9


def test_a_long_import_off_a_terminal_writes_lines_on_standard_error(runner, app, letter,
                                                                      tmp_path):
    app.config.update(IMPORT_BACKGROUND_ROWS=3, IMPORT_CHUNK_ROWS=2)
    path = tmp_path / "many.csv"
    path.write_text("organization\n" + "".join(f"Group {n}\n" for n in range(1, 10)),
                    encoding="utf-8")
    result = runner.invoke(args=["import-signatures", SLUG, str(path)])
    assert result.exit_code == 0, result.output
    assert "Written 9 of 9 rows" in result.stderr and "Written" not in result.stdout


def test_an_export_on_a_terminal_shows_a_progress_bar_and_off_it_nothing(app, runner, letter,
                                                                         make_signature,
                                                                         tmp_path):
    for __ in range(5):
        make_signature(letter)
    db.session.remove()
    out_file = tmp_path / "list.csv"
    code, out, terminal = command_on_a_terminal(app, "export-csv", SLUG, "-o", str(out_file))
    assert code == 0, terminal
    assert "Exporting" in terminal and "5/5" in terminal and "100%" in terminal
    assert out.strip() == f"Wrote {out_file}"
    assert len(out_file.read_text(encoding="utf-8").splitlines()) == 6
    result = runner.invoke(args=["export-csv", SLUG, "-o", str(out_file)])
    assert result.exit_code == 0 and result.stderr == ""
