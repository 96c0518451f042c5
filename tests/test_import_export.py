"""Importing signatories from a spreadsheet (the command and the organizer's upload) and exporting
them as CSV (public and private), with spreadsheet formulas neutralized."""
from __future__ import annotations

import csv
import io

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select
from support import assert_one_line_error, form_fields
from support_imports import upload as through_preview

from campaign import listing, moderation, spreadsheets
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Signature

SLUG = "stop-forwarding"
PAGE = f"/admin/letters/{SLUG}/signatures"
HEADER = "organization,contact_name,contact_title,email,phone,website,city,region,country,scope\n"
GOOD = HEADER + (
    "Sunrise Tenants Union,Rosa Diaz,Director,rosa@sunrise.example.org,+1 555 0199,"
    "https://sunrise.example.org,Tucson,AZ,United States,local\n"
    "The Beta Group,,,,,,Denver,CO,USA,state or regional\n"
    "\"Workers' Alliance, Local 9\",Ana Ruiz,,ana@workers.example.net,,,,,,National\n"
)


def count() -> int:
    db.session.expire_all()
    return int(db.session.scalar(select(func.count()).select_from(Signature)) or 0)


@pytest.fixture
def letter(make_letter):
    return make_letter()


@pytest.fixture
def csv_file(tmp_path):
    def write(text: str | bytes, name: str = "signers.csv"):
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return write


def run_import(runner, path, *options: str):
    return runner.invoke(args=["import-signatures", SLUG, str(path), *options])


# ------------------------------------------------------------------ the command, good files


def test_import_without_approved_puts_rows_in_the_moderation_queue(runner, letter, csv_file):
    result = run_import(runner, csv_file(GOOD))
    assert result.exit_code == 0, result.output
    assert "Imported 3" in result.output
    rows = db.session.scalars(select(Signature).order_by(Signature.id)).all()
    assert [(s.status, s.source) for s in rows] == [("pending", "import")] * 3
    assert all(s.confirmed_at is not None for s in rows)
    assert listing.count(letter) == 0


def test_import_with_approved_lists_the_rows_at_once(runner, client, letter, csv_file):
    assert run_import(runner, csv_file(GOOD), "--approved").exit_code == 0
    data = client.get(f"/letters/{SLUG}/signers.json").get_json()
    assert data["count"] == 3
    assert {s["organization"]: (s["scope"], s["country"]) for s in data["signatories"]} == {
        "Sunrise Tenants Union": ("local", "United States"),
        "The Beta Group": ("state", "United States"),
        "Workers' Alliance, Local 9": ("national", ""),
    }


def test_import_keeps_every_column(runner, letter, csv_file):
    run_import(runner, csv_file(GOOD))
    rosa = db.session.scalar(select(Signature).filter_by(email="rosa@sunrise.example.org"))
    assert (rosa.organization, rosa.contact_name, rosa.contact_title, rosa.phone, rosa.website,
            rosa.city, rosa.region, rosa.country, rosa.scope) == (
        "Sunrise Tenants Union", "Rosa Diaz", "Director", "+1 555 0199",
        "https://sunrise.example.org", "Tucson", "AZ", "United States", "local")


def test_import_with_only_an_organization_column(runner, letter, csv_file):
    result = run_import(runner, csv_file("Organization\nSunrise Tenants Union\n\nMoonrise Co-op\n"))
    assert result.exit_code == 0, result.output
    assert count() == 2


def test_import_of_a_spreadsheet_export_with_a_bom_and_crlf(runner, letter, csv_file):
    path = csv_file(("\ufeff" + GOOD.replace("\n", "\r\n")).encode("utf-8"))
    assert run_import(runner, path).exit_code == 0
    assert count() == 3


def test_import_sends_no_email(runner, letter, csv_file):
    from campaign.models import OutboxMessage

    run_import(runner, csv_file(GOOD))
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


# ------------------------------------------------------------------ the command, bad files


BAD_FILES = {
    "no-organization-column": ("name,email\nSunrise,rosa@sunrise.example.org\n", ["line 1"]),
    "row-without-organization": (GOOD + ",Rosa Diaz,,,,,,,,\n", ["line 5"]),
    "bad-scope": (GOOD + "Moonrise,,,,,,,,,galactic\n", ["line 5", "galactic"]),
    "bad-email": (GOOD + "Moonrise,,,rosa at moonrise,,,,,,\n", ["line 5", "rosa at moonrise"]),
    "duplicate-email": (GOOD + "Moonrise,,,ROSA@sunrise.example.org,,,,,,\n", ["line 5"]),
    "no-known-column": ("favourite_color,shoe_size\nblue,9\n",
                        ["line 1", "favourite_color", "Organization"]),
    "duplicate-column": ("organization,email,email\nSunrise,a@example.org,b@example.org\n",
                         ["line 1", "email"]),
    "extra-cells": (GOOD + "Moonrise,,,,,,,,,local,surprise\n", ["line 5"]),
    "two-bad-rows": (GOOD + ",x,,,,,,,,\nMoonrise,,,,,,,,,galactic\n", ["line 5", "line 6"]),
    "empty-file": ("", ["empty"]),
    "header-only": (HEADER, ["no rows"]),
    "overlong-value": (GOOD + "Moonrise,,,,," + "x" * 301 + ",,,,\n", ["line 5", "website"]),
    "huge-cell": ("organization\n" + "x" * 200_000 + "\n", ["line 2"]),
    "unclosed-quote": ('organization,city\nSunrise,"Tucson\n', ["line"]),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_file_is_refused_with_the_line_and_nothing_is_imported(runner, letter, csv_file,
                                                                     case):
    text, expected = BAD_FILES[case]
    result = run_import(runner, csv_file(text))
    for part in expected:
        assert_one_line_error(result, part)
    assert count() == 0


def test_an_email_that_already_signed_the_letter_is_refused(runner, letter, csv_file,
                                                            make_signature):
    make_signature(letter, email="rosa@sunrise.example.org")
    result = run_import(runner, csv_file(GOOD))
    assert_one_line_error(result, "line 2")
    assert_one_line_error(result, "already signed")
    assert count() == 1


def test_a_windows_1252_file_is_read_as_such(runner, letter, csv_file):
    path = csv_file((HEADER + "Sunrise,,,,,,Tucson,,,\nCaf\xe9 Solidaridad \u2013 Sur,,,,,,,,,\n")
                    .encode("cp1252"))
    result = run_import(runner, path)
    assert result.exit_code == 0, result.output
    assert "Café Solidaridad – Sur" in db.session.scalars(select(Signature.organization)).all()


def test_a_file_in_no_known_encoding_is_refused_with_its_line(runner, letter, csv_file):
    path = csv_file((HEADER + "Sunrise,,,,,,Tucson,,,\n").encode() + b"Caf\xe9 \x81,,,,,,,,,\n")
    result = run_import(runner, path)
    assert_one_line_error(result, "line 3")
    assert_one_line_error(result, "UTF-8")
    assert count() == 0


def test_importing_into_an_unknown_letter_is_refused(runner, letter, csv_file):
    result = runner.invoke(args=["import-signatures", "no-such-letter", str(csv_file(GOOD))])
    assert_one_line_error(result, "no-such-letter")


def test_a_missing_file_is_refused_in_one_line(runner, letter, tmp_path):
    assert_one_line_error(run_import(runner, tmp_path / "nowhere.csv"), "nowhere.csv")


# ------------------------------------------------------------------ the organizer's upload


def upload(admin, text: str | bytes, approved: bool = False, name: str = "signers.csv"):
    """Upload and confirm its preview, as an organizer does."""
    return through_preview(admin, PAGE, text, approved=approved, name=name)


def flash_text(response) -> str:
    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    return " ".join(p.get_text(" ", strip=True) for p in soup.find_all(class_="flash"))


def test_the_upload_puts_rows_in_the_moderation_queue(admin, letter):
    answer = upload(admin, GOOD)
    assert answer.status_code == 200
    assert "Imported 3" in flash_text(answer)
    assert "Sunrise Tenants Union" in answer.get_data(as_text=True)
    assert db.session.scalars(select(Signature.status)).all() == ["pending"] * 3


def test_the_upload_with_approved_lists_the_rows(admin, client, letter):
    upload(admin, GOOD, approved=True)
    assert listing.count(letter) == 3


@pytest.mark.parametrize("case", ["row-without-organization", "bad-scope", "duplicate-email",
                                  "no-known-column", "empty-file", "huge-cell"])
def test_a_bad_upload_names_the_problem_and_imports_nothing(admin, letter, case):
    text, expected = BAD_FILES[case]
    answer = upload(admin, text)
    assert answer.status_code == 200
    message = flash_text(answer)
    assert "Nothing was imported" in message
    for part in expected:
        assert part in message
    assert count() == 0


def test_an_upload_in_no_known_encoding_names_its_line(admin, letter):
    answer = upload(admin, HEADER.encode() + b"Caf\xe9 \x81,,,,,,,,,\n")
    assert "line 2" in flash_text(answer) and "UTF-8" in flash_text(answer)
    assert count() == 0


def test_an_upload_that_is_not_a_csv_file_is_refused(admin, letter):
    answer = upload(admin, GOOD, name="signers.exe")
    assert answer.status_code == 200
    assert ".csv" in flash_text(answer)
    assert count() == 0


def test_the_upload_needs_a_login(client, letter):
    _, fields = form_fields(client.get("/login").get_data(as_text=True), "Log in")
    answer = client.post(f"{PAGE}/import", content_type="multipart/form-data", data={
        "csrf_token": fields["csrf_token"], "file": (io.BytesIO(GOOD.encode()), "s.csv")})
    assert answer.status_code in (302, 303)
    assert count() == 0


# ------------------------------------------------------------------ export


HOSTILE = {"organization": "=HYPERLINK(\"http://evil.example.net\",\"click\")",
           "city": "+cmd|' /C calc'!A0", "region": "-2+3", "contact_name": "@SUM(A1:A9)",
           "email": "rosa@sunrise.example.org", "phone": "=1+1"}


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def export(runner, tmp_path, *options: str) -> list[dict[str, str]]:
    out = tmp_path / "out.csv"
    result = runner.invoke(args=["export-csv", SLUG, "-o", str(out), *options])
    assert result.exit_code == 0, result.output
    return read_csv(out.read_text(encoding="utf-8"))


@pytest.fixture
def listed_and_not(letter, make_signature):
    make_signature(letter, organization="Sunrise Tenants Union", contact_name="Rosa Diaz",
                   contact_title="Director", email="rosa@sunrise.example.org", phone="555 0199",
                   website="https://sunrise.example.org", city="Tucson", region="AZ")
    make_signature(letter, status="pending", organization="Pending Group")
    return letter


def test_export_csv_has_only_public_columns(runner, tmp_path, listed_and_not):
    rows = export(runner, tmp_path)
    assert rows == [{"organization": "Sunrise Tenants Union", "city": "Tucson", "region": "AZ",
                     "country": "United States", "scope": "local", "kind": "organization",
                     "title": "", "affiliation": ""}]


def test_export_csv_private_adds_contact_name_email_and_phone(runner, tmp_path, listed_and_not):
    [row] = export(runner, tmp_path, "--private")
    assert (row["contact_name"], row["contact_title"], row["email"], row["phone"],
            row["website"]) == ("Rosa Diaz", "Director", "rosa@sunrise.example.org", "555 0199",
                                "https://sunrise.example.org")


def test_export_csv_of_an_unknown_letter_is_refused(runner, tmp_path, letter):
    result = runner.invoke(args=["export-csv", "nope", "-o", str(tmp_path / "x.csv")])
    assert_one_line_error(result, "nope")


@pytest.mark.parametrize("options", [(), ("--private",)])
def test_export_csv_neutralizes_formulas(runner, tmp_path, letter, make_signature, options):
    make_signature(letter, **HOSTILE)
    [row] = export(runner, tmp_path, *options)
    for value in row.values():
        assert value[:1] not in ("=", "+", "-", "@")
    assert row["organization"] == "'" + HOSTILE["organization"]


def test_csv_lines_write_listed_rows_in_the_columns_asked_for():
    rows = [listing.Listed(1, "Sunrise Tenants Union", "Tucson", "AZ", "United States", "local",
                           "Rosa Diaz", "Director", "rosa@sunrise.example.org", "555 0199",
                           "https://sunrise.example.org"),
            listing.Listed(2, HOSTILE["organization"], HOSTILE["city"], HOSTILE["region"], "",
                           "state", HOSTILE["contact_name"], phone=HOSTILE["phone"])]
    public = read_csv("".join(spreadsheets.csv_lines(rows, spreadsheets.PUBLIC_FIELDS)))
    assert public == [
        {"organization": "Sunrise Tenants Union", "city": "Tucson", "region": "AZ",
         "country": "United States", "scope": "local"},
        {"organization": "'" + HOSTILE["organization"], "city": "'" + HOSTILE["city"],
         "region": "'-2+3", "country": "", "scope": "state"}]
    private = read_csv("".join(spreadsheets.csv_lines(rows, spreadsheets.PRIVATE_FIELDS)))
    assert list(private[0]) == list(spreadsheets.PRIVATE_FIELDS)
    assert (private[0]["contact_title"], private[0]["email"], private[0]["website"]) == (
        "Director", "rosa@sunrise.example.org", "https://sunrise.example.org")
    assert (private[1]["contact_name"], private[1]["phone"]) == ("'@SUM(A1:A9)", "'=1+1")


def test_csv_lines_stream_a_long_list_in_chunks():
    rows = (listing.Listed(n, f"Group {n}", "Tucson", "AZ", "", "local", "") for n in range(2000))
    chunks = list(spreadsheets.csv_lines(rows, spreadsheets.PUBLIC_FIELDS))
    assert len(chunks) > 1
    assert len(read_csv("".join(chunks))) == 2000


def test_the_public_csv_neutralizes_formulas(client, letter, make_signature):
    make_signature(letter, **HOSTILE)
    [row] = read_csv(client.get(f"/letters/{SLUG}/signers.csv").get_data(as_text=True))
    assert row["organization"] == "'" + HOSTILE["organization"]
    assert row["city"] == "'" + HOSTILE["city"]
    assert row["region"] == "'-2+3"


def test_a_renamed_formula_is_neutralized_too(client, letter, make_signature):
    signature = make_signature(letter, organization="Sunrise")
    with writing():
        moderation.rename(signature, "@evil")
    [row] = read_csv(client.get(f"/letters/{SLUG}/signers.csv").get_data(as_text=True))
    assert row["organization"] == "'@evil"


def test_the_download_button_gives_organizers_the_private_csv(admin, listed_and_not):
    page = BeautifulSoup(admin.get(PAGE).get_data(as_text=True), "html.parser")
    link = page.find("a", string=lambda t: t and "Download contacts" in t)["href"]
    answer = admin.get(link)
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    [row] = read_csv(answer.get_data(as_text=True))
    assert (row["email"], row["phone"], row["contact_name"]) == (
        "rosa@sunrise.example.org", "555 0199", "Rosa Diaz")


def test_the_private_download_neutralizes_formulas(admin, letter, make_signature):
    make_signature(letter, **HOSTILE)
    [row] = read_csv(admin.get(f"{PAGE}.csv").get_data(as_text=True))
    assert row["contact_name"] == "'@SUM(A1:A9)"
    assert row["phone"] == "'=1+1"


def test_the_private_download_needs_a_login(client, listed_and_not):
    answer = client.get(f"{PAGE}.csv")
    assert answer.status_code in (302, 303)
    assert "/login" in answer.headers["Location"]
    assert "rosa@sunrise.example.org" not in answer.get_data(as_text=True)


def test_a_logged_out_browser_gets_no_private_csv_while_an_organizer_is_logged_in(
        admin, new_client, listed_and_not):
    assert admin.get(f"{PAGE}.csv").status_code == 200
    stranger = new_client()
    answer = stranger.get(f"{PAGE}.csv")
    assert answer.status_code in (302, 303)
    assert "rosa@sunrise.example.org" not in answer.get_data(as_text=True)
