"""Letters in the browser: write, preview, publish, versions, deadlines, sanitized Markdown."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from bs4 import BeautifulSoup
from support import assert_one_line_error, submit

from campaign import letter_files, letters
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Letter, text_hash, utcnow

ZONE = "America/Chicago"  # not UTC, so that a deadline read in the wrong zone shows
NEW = "/admin/letters/new"
FORM = {"title": "Protect Worker Privacy", "slug": "protect-worker-privacy",
        "recipient": "The Secretary\nDepartment of Labor", "body": "We ask you to **act**.\n",
        "deadline": "", "status": "draft", "language": "en", "require_approval": "y"}


@pytest.fixture
def app_config(app_config):  # type: ignore[no-untyped-def]
    return {**app_config, "TIMEZONE": ZONE}


def save_form(client, url: str = NEW, **changes: str):  # type: ignore[no-untyped-def]
    """Fill the letter form like a browser and press "Save letter"."""
    return submit(client, url, {**FORM, **changes}, "Save letter")


def edit(client, current: str, **changes: str):  # type: ignore[no-untyped-def]
    """Change some fields of an existing letter's form and save; the rest stays as shown."""
    return submit(client, f"/admin/letters/{current}/edit", {"require_approval": "y", **changes},
                  "Save letter")


def letter(slug: str = "protect-worker-privacy") -> Letter:
    db.session.expire_all()
    found = letters.get_letter(slug)
    assert found is not None
    return found


def soup_of(response) -> BeautifulSoup:  # type: ignore[no-untyped-def]
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def field_error(response, name: str) -> str:  # type: ignore[no-untyped-def]
    error = soup_of(response).find(id=f"{name}-error")
    assert error is not None, f"no error shown at {name}"
    return error.get_text(" ", strip=True)


def has_sign_form(response) -> bool:  # type: ignore[no-untyped-def]
    return any("Sign" in (b.get("value") or b.get_text())
               for b in soup_of(response).select("form input[type=submit], form button"))


# ------------------------------------------------------------------ writing and publishing


def test_organizer_creates_a_draft_letter_in_the_form(admin):
    response = save_form(admin)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/letters/protect-worker-privacy/edit"
    saved = letter()
    assert saved.title == "Protect Worker Privacy"
    assert saved.status == "draft"
    assert saved.recipient == "The Secretary\nDepartment of Labor"
    assert saved.require_approval is True


def test_a_draft_is_not_public(admin, client):
    save_form(admin)
    assert client.get("/letters/protect-worker-privacy").status_code == 404
    assert "Protect Worker Privacy" not in client.get("/").get_data(as_text=True)


def test_blank_slug_is_made_from_the_title(admin):
    save_form(admin, slug="", title="Ñandú Workers’ Letter: 2026!")
    assert letters.get_letter("nandu-workers-letter-2026") is not None


def test_preview_shows_rendered_markdown_without_saving(admin):
    response = submit(admin, NEW, {**FORM, "body": "We ask you to **act now**.",
                                   "preview": "Preview"}, "Preview")
    assert response.status_code == 200
    preview = soup_of(response).find("section", class_="preview")
    assert preview is not None
    assert preview.find("strong").get_text() == "act now"
    assert db.session.query(Letter).count() == 0


def test_preview_of_an_open_letter_changes_nothing(admin, make_letter):
    make_letter(slug="protect-worker-privacy", body="The first text.\n")
    response = edit(admin, "protect-worker-privacy", body="A *new* text.", preview="Preview")
    assert response.status_code == 200
    assert soup_of(response).find("section", class_="preview").find("em").get_text() == "new"
    assert letter().body == "The first text.\n"
    assert len(letter().versions) == 1


def test_publishing_shows_the_letter_at_its_address_and_on_the_front_page(admin, client):
    save_form(admin)
    edit(admin, "protect-worker-privacy", status="open")
    page = client.get("/letters/protect-worker-privacy")
    assert page.status_code == 200
    body = soup_of(page).find("article", class_="letter")
    assert body.find("h1").get_text() == "Protect Worker Privacy"
    assert body.find("strong").get_text() == "act"
    assert "Department of Labor" in body.get_text()
    front = soup_of(client.get("/"))
    assert front.find("a", href="/letters/protect-worker-privacy") is not None


def test_publishing_a_draft_records_version_one(admin):
    save_form(admin)
    assert letter().versions == []
    edit(admin, "protect-worker-privacy", status="open")
    versions = letter().versions
    assert [v.number for v in versions] == [1]
    assert versions[0].body == FORM["body"]


def test_saving_a_letter_stores_its_body_as_sanitized_html(admin):
    save_form(admin, body="We ask you to **act**.\n\n<script>alert(1)</script>\n")
    saved = letter()
    assert "<strong>act</strong>" in saved.body_html
    assert "<script>" not in saved.body_html


def test_the_public_page_shows_the_stored_html_without_rendering_the_markdown(client,
                                                                             make_letter):
    made = make_letter(body="We ask you to **stop**.\n")
    with writing():
        made.body_html = "<p>Stored <em>once</em>.</p>"
    body = soup_of(client.get("/letters/stop-forwarding")).find("article", class_="letter")
    assert body.find("em").get_text() == "once"
    assert body.find("strong") is None


def test_closed_letter_is_public_without_a_sign_form(client, make_letter):
    make_letter(status="closed")
    page = client.get("/letters/stop-forwarding")
    assert page.status_code == 200
    assert not has_sign_form(page)
    assert "closed" in page.get_data(as_text=True)


def test_open_letter_shows_the_sign_form(client, make_letter):
    make_letter()
    assert has_sign_form(client.get("/letters/stop-forwarding"))


# ------------------------------------------------------------------ versions


def test_editing_an_open_letters_text_creates_version_two(admin, make_letter):
    make_letter(slug="protect-worker-privacy", body="The first text.\n")
    response = edit(admin, "protect-worker-privacy", body="The second text.\n")
    assert response.status_code == 303
    first, second = letter().versions
    assert (first.number, second.number) == (1, 2)
    assert first.body == "The first text.\n"
    assert second.body == "The second text.\n"
    assert first.content_hash != second.content_hash
    assert len(second.content_hash) == 64
    assert second.content_hash == text_hash(second.title, second.recipient, second.body)


def test_editing_an_open_letters_title_creates_a_version(admin, make_letter):
    make_letter(slug="protect-worker-privacy")
    edit(admin, "protect-worker-privacy", title="A Better Title")
    titles = [v.title for v in letter().versions]
    assert titles == ["Stop Forwarding Fingerprints", "A Better Title"]


def test_saving_an_open_letter_unchanged_creates_no_version(admin, make_letter):
    noon = datetime(2030, 1, 31, 12, tzinfo=ZoneInfo(ZONE))
    make_letter(slug="protect-worker-privacy", deadline=noon)
    assert edit(admin, "protect-worker-privacy").status_code == 303
    assert len(letter().versions) == 1


def test_changing_only_the_deadline_creates_no_version(admin, make_letter):
    make_letter(slug="protect-worker-privacy")
    edit(admin, "protect-worker-privacy", deadline="2030-05-01")
    assert len(letter().versions) == 1


def test_editing_a_draft_creates_no_versions(admin):
    save_form(admin)
    edit(admin, "protect-worker-privacy", body="Changed while still a draft.\n")
    assert letter().body == "Changed while still a draft.\n"
    assert letter().versions == []


def test_versions_page_lists_each_version_with_its_hash(admin, make_letter):
    make_letter(slug="protect-worker-privacy", body="The first text.\n")
    edit(admin, "protect-worker-privacy", body="The second text.\n")
    page = admin.get("/admin/letters/protect-worker-privacy/versions")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    for version in letter().versions:
        assert version.content_hash in text
    assert "The first text." in text
    assert "The second text." in text


# ------------------------------------------------------------------ deadlines


def test_a_date_deadline_is_the_end_of_that_day_in_the_campaign_timezone(admin):
    save_form(admin, deadline="2030-06-30")
    expected = datetime.combine(datetime(2030, 6, 30).date(), time.max, tzinfo=ZoneInfo(ZONE))
    assert letter().deadline == expected
    assert letter().deadline.astimezone(ZoneInfo("UTC")).date().isoformat() == "2030-07-01"


def test_a_date_and_time_deadline_is_read_in_the_campaign_timezone(admin):
    save_form(admin, deadline="2030-06-30 17:00")
    assert letter().deadline == datetime(2030, 6, 30, 17, tzinfo=ZoneInfo(ZONE))


def test_a_deadline_with_an_offset_keeps_its_offset(admin):
    save_form(admin, deadline="2030-06-30T17:00:00+00:00")
    assert letter().deadline == datetime(2030, 6, 30, 17, tzinfo=ZoneInfo("UTC"))


def test_resaving_the_form_keeps_an_end_of_day_deadline(admin):
    save_form(admin, deadline="2030-06-30")
    before = letter().deadline
    form = soup_of(admin.get("/admin/letters/protect-worker-privacy/edit"))
    deadline = form.find("input", attrs={"name": "deadline"})
    assert (deadline["type"], deadline["value"]) == ("datetime-local", "2030-06-30T23:59")
    edit(admin, "protect-worker-privacy")
    assert letter().deadline == before


def test_a_bad_deadline_is_a_field_error(admin):
    response = save_form(admin, deadline="next Tuesday")
    assert response.status_code == 422
    assert "Give a date and time, such as 2026-06-30 17:00" in field_error(response, "deadline")
    assert db.session.query(Letter).count() == 0


def open_letter(deadline: datetime) -> Letter:
    return Letter(slug="stop-forwarding", title="Stop Forwarding", status="open", deadline=deadline)


def test_past_deadline_letter_accepts_no_signatures():
    past = open_letter(utcnow() - timedelta(minutes=1))
    assert past.accepts_signatures() is False


def test_future_deadline_letter_accepts_signatures():
    assert open_letter(utcnow() + timedelta(minutes=1)).accepts_signatures() is True


def test_deadline_is_exclusive_of_the_moment_after():
    moment = datetime(2030, 6, 30, 17, tzinfo=ZoneInfo(ZONE))
    letter_ = open_letter(moment)
    assert letter_.accepts_signatures(now=moment) is True
    assert letter_.accepts_signatures(now=moment + timedelta(microseconds=1)) is False


def test_past_deadline_public_page_shows_no_sign_form(client, make_letter):
    make_letter(deadline=utcnow() - timedelta(minutes=1))
    page = client.get("/letters/stop-forwarding")
    assert page.status_code == 200
    assert not has_sign_form(page)
    assert "deadline for this letter has passed" in page.get_data(as_text=True)


def test_deadline_survives_the_database_as_the_same_moment(make_letter):
    moment = datetime(2030, 6, 30, 23, 59, 59, 999999, tzinfo=ZoneInfo(ZONE))
    make_letter(deadline=moment)
    assert letter("stop-forwarding").deadline == moment


# ------------------------------------------------------------------ sanitizing


HOSTILE = ("Dear Director,\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n"
           "[x](javascript:alert(1)) and ![y](javascript:alert(2))\n\n"
           '<a href="javascript:alert(3)">raw link</a>\n')


def assert_no_live_html(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 200
    soup = soup_of(response)
    for script in soup.find_all("script"):
        assert "alert" not in script.get_text()
    for tag in soup.find_all(True):
        for name, value in tag.attrs.items():
            assert not name.lower().startswith("on"), tag
            text = " ".join(value) if isinstance(value, list) else str(value)
            assert not text.strip().lower().startswith("javascript:"), tag
    assert "<script>alert(1)" not in response.get_data(as_text=True)


def test_hostile_markdown_never_reaches_the_public_page_as_html(client, make_letter):
    make_letter(body=HOSTILE)
    page = client.get("/letters/stop-forwarding")
    assert_no_live_html(page)
    assert "Dear Director" in page.get_data(as_text=True)


def test_hostile_markdown_never_reaches_the_admin_preview_as_html(admin):
    response = submit(admin, NEW, {**FORM, "body": HOSTILE, "preview": "Preview"}, "Preview")
    assert soup_of(response).find("section", class_="preview") is not None
    assert_no_live_html(response)


def test_hostile_markdown_never_reaches_the_edit_form_as_html(admin, make_letter):
    make_letter(body=HOSTILE)
    assert_no_live_html(admin.get("/admin/letters/stop-forwarding/edit"))


def test_hostile_markdown_never_reaches_the_versions_page_as_html(admin, make_letter):
    make_letter(body=HOSTILE)
    edit(admin, "stop-forwarding", body=HOSTILE + "\nOne more line.\n")
    assert len(letter("stop-forwarding").versions) == 2
    assert_no_live_html(admin.get("/admin/letters/stop-forwarding/versions"))


def test_hostile_title_and_recipient_are_escaped(client, make_letter):
    make_letter(title="<script>alert(1)</script> Title", recipient="<img src=x onerror=alert(1)>")
    assert_no_live_html(client.get("/letters/stop-forwarding"))
    assert_no_live_html(client.get("/"))


def test_safe_links_survive_sanitizing(client, make_letter):
    make_letter(body="Read [the report](https://example.org/report).\n")
    link = soup_of(client.get("/letters/stop-forwarding")).find("a", string="the report")
    assert link["href"] == "https://example.org/report"
    assert "noopener" in link["rel"]


# ------------------------------------------------------------------ bad input in the form


def test_a_taken_slug_is_a_field_error_not_a_server_error(admin, make_letter):
    make_letter(slug="protect-worker-privacy", title="The First One")
    response = save_form(admin, title="Another Letter")
    assert response.status_code == 422
    assert "taken" in field_error(response, "slug")
    assert letter().title == "The First One"


def test_renaming_to_a_taken_slug_is_a_field_error(admin, make_letter):
    make_letter(slug="protect-worker-privacy")
    make_letter(slug="second-letter", title="Second")
    response = edit(admin, "second-letter", slug="protect-worker-privacy")
    assert response.status_code == 422
    assert "taken" in field_error(response, "slug")
    assert letter("second-letter").title == "Second"


def test_a_bad_slug_is_a_field_error(admin):
    response = save_form(admin, slug="Not A Slug!")
    assert response.status_code == 422
    assert "lowercase" in field_error(response, "slug")
    assert db.session.query(Letter).count() == 0


def test_a_missing_title_is_a_field_error(admin):
    response = save_form(admin, title="   ")
    assert response.status_code == 422
    assert field_error(response, "title")


def test_an_unknown_status_is_a_field_error(admin):
    response = save_form(admin, status="published")
    assert response.status_code == 422
    assert field_error(response, "status")
    assert db.session.query(Letter).count() == 0


def test_a_bad_language_code_is_a_field_error(admin):
    response = save_form(admin, language='en"><b>')
    assert response.status_code == 422
    assert "Not a valid choice" in field_error(response, "language")  # a select since #15
    assert db.session.query(Letter).count() == 0


def test_changing_the_slug_moves_the_public_address(admin, client, make_letter):
    make_letter(slug="protect-worker-privacy")
    response = edit(admin, "protect-worker-privacy", slug="worker-privacy")
    assert response.headers["Location"] == "/admin/letters/worker-privacy/edit"
    assert client.get("/letters/worker-privacy").status_code == 200
    assert client.get("/letters/protect-worker-privacy").status_code == 404


# ------------------------------------------------------------------ campaign import-letter


GOOD_FILE = """---
title: Protect Worker Privacy
slug: protect-worker-privacy
recipient: |
  The Secretary
  Department of Labor
deadline: 2030-06-30
status: open
language: en
---
We, the undersigned organizations, ask you to **protect** worker privacy.
"""


def import_letter(runner, path):  # type: ignore[no-untyped-def]
    return runner.invoke(args=["import-letter", str(path)])


def letter_count() -> int:
    db.session.rollback()
    return db.session.query(Letter).count()


def test_import_letter_creates_the_letter_and_prints_its_slug(runner, tmp_path):
    path = tmp_path / "privacy.md"
    path.write_text(GOOD_FILE, encoding="utf-8")
    result = import_letter(runner, path)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "protect-worker-privacy"
    saved = letter()
    assert saved.status == "open"
    assert saved.recipient == "The Secretary\nDepartment of Labor"
    assert saved.body.startswith("We, the undersigned organizations, ask you to **protect**")
    assert saved.deadline == datetime.combine(datetime(2030, 6, 30).date(), time.max,
                                              tzinfo=ZoneInfo(ZONE))
    assert [v.number for v in saved.versions] == [1]


def test_import_letter_again_updates_the_same_letter(runner, tmp_path):
    path = tmp_path / "privacy.md"
    path.write_text(GOOD_FILE, encoding="utf-8")
    import_letter(runner, path)
    path.write_text(GOOD_FILE.replace("**protect**", "**defend**"), encoding="utf-8")
    result = import_letter(runner, path)
    assert result.exit_code == 0, result.output
    assert letter_count() == 1
    saved = letter()
    assert "**defend**" in saved.body
    assert [v.number for v in saved.versions] == [1, 2]


def test_import_letter_accepts_windows_line_endings_and_a_bom(runner, tmp_path):
    path = tmp_path / "privacy.md"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD_FILE.replace("\n", "\r\n").encode())
    result = import_letter(runner, path)
    assert result.exit_code == 0, result.output
    assert letter().recipient == "The Secretary\nDepartment of Labor"
    assert "\r" not in letter().body


def test_every_letter_file_in_the_repository_imports_cleanly(runner):
    from campaign.paths import LETTERS

    files = letter_files.letter_files(LETTERS)
    assert files, "letters/ has no letter file"
    for path in files:
        result = import_letter(runner, path)
        assert result.exit_code == 0, (path, result.output)
        slug = result.stdout.strip()
        assert letters.get_letter(slug) is not None
        assert slug == path.stem.split(".")[0]  # police.es.md: a translation of police.md


def test_the_example_letter_is_open_and_public(runner, client):
    from campaign.paths import LETTERS

    import_letter(runner, LETTERS / "stop-fingerprint-forwarding.md")
    page = client.get("/letters/stop-fingerprint-forwarding")
    assert page.status_code == 200
    assert "Fingerprints" in page.get_data(as_text=True)


def front(*lines: str, body: str = "Body text.\n") -> str:
    return "---\n" + "\n".join(lines) + "\n---\n" + body


BAD_FILES = {
    "no front matter": ("Just a letter with no front matter.\n", "no front matter"),
    "unclosed front matter": ("---\ntitle: T\nslug: t\n\nBody\n", "no closing '---'"),
    "invalid YAML": (front("title: [unclosed", "slug: x"), "not valid YAML"),
    "front matter is a list": (front("- title", "- slug"), "'key: value' lines"),
    "missing title": (front("slug: a-letter"), "no 'title'"),
    "missing slug": (front("title: A Letter"), "no 'slug'"),
    "bad slug": (front("title: A Letter", "slug: Not_A_Slug"), "slug 'Not_A_Slug'"),
    "unknown key": (front("title: A Letter", "slug: a-letter", "author: Someone"),
                    "unknown key 'author'"),
    "bad deadline text": (front("title: A Letter", "slug: a-letter", "deadline: next week"),
                          "deadline 'next week'"),
    "impossible date": (front("title: A Letter", "slug: a-letter", "deadline: 2026-13-45"),
                        "deadline '2026-13-45'"),
    "february 30": (front("title: A Letter", "slug: a-letter", "deadline: 2026-02-30"),
                    "deadline '2026-02-30'"),
    "bad status": (front("title: A Letter", "slug: a-letter", "status: published"),
                   "status must be one of"),
    "bad language": (front("title: A Letter", "slug: a-letter", "language: English!"),
                     "language 'English!'"),
    "list as title": (front("title: [a, b]", "slug: a-letter"), "'title' must be text"),
    "no body": (front("title: A Letter", "slug: a-letter", body=""), "no letter text"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_malformed_letter_file_gives_one_line_and_writes_nothing(runner, tmp_path, case):
    text, fragment = BAD_FILES[case]
    path = tmp_path / "bad.md"
    path.write_text(text, encoding="utf-8")
    result = import_letter(runner, path)
    assert_one_line_error(result, fragment)
    assert str(path) in result.stderr
    assert letter_count() == 0


def test_missing_letter_file_gives_one_line(runner, tmp_path):
    assert_one_line_error(import_letter(runner, tmp_path / "nowhere.md"), "no such file")
    assert letter_count() == 0


def test_a_folder_instead_of_a_letter_file_gives_one_line(runner, tmp_path):
    assert_one_line_error(import_letter(runner, tmp_path), "is a folder")
    assert letter_count() == 0


def test_non_utf8_letter_file_gives_one_line(runner, tmp_path):
    path = tmp_path / "latin1.md"
    path.write_bytes(front("title: Café Workers", "slug: cafe").encode("latin-1"))
    assert_one_line_error(import_letter(runner, path), "not UTF-8")
    assert letter_count() == 0


def test_a_bad_import_leaves_an_existing_letter_unchanged(runner, tmp_path):
    path = tmp_path / "privacy.md"
    path.write_text(GOOD_FILE, encoding="utf-8")
    import_letter(runner, path)
    path.write_text(GOOD_FILE.replace("status: open", "status: maybe"), encoding="utf-8")
    assert import_letter(runner, path).exit_code != 0
    assert letter().status == "open"
    assert len(letter().versions) == 1


def test_control_characters_typed_into_the_letter_form_are_dropped_not_a_server_error(admin):
    response = submit(admin, "/admin/letters/new", {
        "title": "Nul\x00 and bell\x07 title", "slug": "nul-letter",
        "body": "First\x00 line\nsecond\tline\x1b", "recipient": "To\x00 you", "status": "open",
    }, "Save letter")
    assert response.status_code == 303
    letter = letters.get_letter("nul-letter")
    assert letter.title == "Nul and bell title"
    assert letter.body.startswith("First line\nsecond\tline")
    assert "\x00" not in letter.recipient
