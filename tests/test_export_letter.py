"""`campaign export-letter` and the organizers' "Download letter file": a letter file that
`import-letter` reads back to the same letter."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from support import assert_one_line_error

from campaign import letter_files
from campaign.extensions import db
from campaign.models import Letter, LetterVersion

SLUG = "stop-forwarding"


def versions() -> int:
    return int(db.session.scalar(select(func.count()).select_from(LetterVersion)) or 0)


def same_letter(before: dict[str, object]) -> None:
    db.session.rollback()
    letter = db.session.scalar(select(Letter).where(Letter.slug == before["slug"]))
    assert letter is not None
    after = {key: getattr(letter, key) for key in before if key != "content_hash"}
    assert after | {"content_hash": letter.content_hash()} == before


def snapshot(letter: Letter) -> dict[str, object]:
    return {key: getattr(letter, key) for key in (
        "slug", "title", "recipient", "body", "deadline", "status", "language", "publish_at",
        "signers")} | {"content_hash": letter.content_hash()}


@pytest.mark.parametrize("overrides", [
    {},
    {"status": "collecting", "publish_at": datetime(2026, 9, 1, 13, 30, tzinfo=UTC),
     "deadline": datetime(2026, 12, 31, 22, 0, 0, 500, tzinfo=UTC)},
    {"title": "yes: a “quoted” # title", "recipient": "no\n- first line\nÉdouard: 3",
     "body": "---\nA body that starts with a rule.\n\n- and a list\n", "language": "es",
     "status": "closed"},
])
def test_export_then_import_gives_back_the_same_letter(runner, make_letter, tmp_path, overrides):
    letter = make_letter(**overrides)
    before, counted = snapshot(letter), versions()
    path = tmp_path / "back.md"
    result = runner.invoke(args=["export-letter", SLUG, "-o", str(path)])
    assert result.exit_code == 0, result.output
    assert f"Wrote {path}" in result.output
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\ntitle: ")
    assert "recipient: |" in text  # the addressee block keeps its lines

    result = runner.invoke(args=["import-letter", str(path)])
    assert result.exit_code == 0, result.output
    same_letter(before)
    assert versions() == counted  # the same text: no new version


def test_the_letter_file_goes_to_standard_output_without_o(runner, make_letter, app):
    make_letter(deadline=datetime(2027, 6, 30, 21, 0, tzinfo=UTC))
    result = runner.invoke(args=["export-letter", SLUG])
    assert result.exit_code == 0
    parsed = letter_files.parse_text(result.stdout, app.config["TZ"])
    assert parsed.title == "Stop Forwarding Fingerprints"
    assert parsed.recipient == "The Director\nWashington, DC"
    assert parsed.deadline == datetime(2027, 6, 30, 21, 0, tzinfo=UTC)
    assert "deadline: '2027-06-30T21:00:00+00:00'" in result.stdout
    assert "publish_at" not in result.stdout  # only a collecting letter has one


def test_an_unknown_slug_is_one_line_on_standard_error(runner, app, tmp_path):
    result = runner.invoke(args=["export-letter", "no-such-letter", "-o", str(tmp_path / "x.md")])
    assert_one_line_error(result, "no letter with the slug 'no-such-letter'")
    assert not (tmp_path / "x.md").exists()


def test_an_unwritable_output_is_one_line_on_standard_error(runner, make_letter, tmp_path):
    make_letter()
    result = runner.invoke(args=["export-letter", SLUG, "-o", str(tmp_path / "none" / "x.md")])
    assert_one_line_error(result, "No such file or directory")


def test_organizers_download_the_letter_file(admin, client, make_letter, app):
    make_letter(status="collecting")
    edit = admin.get(f"/admin/letters/{SLUG}/edit").get_data(as_text=True)
    assert f'href="/admin/letters/{SLUG}/letter.md">Download letter file' in edit
    answer = admin.get(f"/admin/letters/{SLUG}/letter.md")
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"] == f'attachment; filename="{SLUG}.md"'
    parsed = letter_files.parse_text(answer.get_data(as_text=True), app.config["TZ"])
    assert (parsed.slug, parsed.status) == (SLUG, "collecting")


def test_the_letter_file_needs_a_logged_in_organizer(new_client, make_letter):
    make_letter()
    answer = new_client().get(f"/admin/letters/{SLUG}/letter.md")
    assert answer.status_code in (302, 303)
    assert "/login" in answer.headers["Location"]
