"""Imports bounded and in the background: files over the size or row limit refused in one plain
message, every field checked as the sign form checks it, large files written by the worker in
short units with their progress shown, resumed after a crash without a row twice, taken back when
they fail, and signing still working while one runs."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select
from support import assert_one_line_error
from support_imports import upload as through_preview

from campaign import imports
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Signature, SignatureImport, utcnow

SLUG = "stop-forwarding"
PAGE = f"/admin/letters/{SLUG}/signatures"
HEADER = "organization,contact_name,email,website,city,region,country,scope\n"


class Crash(BaseException):
    """A worker that dies mid-way (not an error it would catch and record)."""


@pytest.fixture
def app_config(app_config):  # type: ignore[no-untyped-def]
    # Files of more than 3 rows go to the background, written 2 rows per unit.
    return {**app_config, "IMPORT_BACKGROUND_ROWS": 3, "IMPORT_CHUNK_ROWS": 2}


@pytest.fixture
def letter(make_letter):  # type: ignore[no-untyped-def]
    return make_letter()


def rows_file(n: int, emails: bool = True) -> str:
    return HEADER + "".join(
        f"Group {i},Person {i},{f'p{i}@group{i}.example.org' if emails else ''},"
        f"group{i}.example.org,Tucson,AZ,US,local\n" for i in range(1, n + 1))


def count(import_id: int | None = None) -> int:
    db.session.expire_all()
    query = select(func.count()).select_from(Signature)
    if import_id is not None:
        query = query.where(Signature.import_id == import_id)
    return int(db.session.scalar(query) or 0)


def the_import() -> SignatureImport:
    db.session.expire_all()
    job = db.session.scalar(select(SignatureImport).order_by(SignatureImport.id.desc()))
    assert job is not None
    return job


def upload(admin, text: str | bytes, approved: bool = False, follow: bool = True):  # type: ignore[no-untyped-def]
    """Upload and confirm its preview, as an organizer does."""
    return through_preview(admin, PAGE, text, approved=approved, follow=follow)


def flash_text(response) -> str:  # type: ignore[no-untyped-def]
    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    return " ".join(p.get_text(" ", strip=True) for p in soup.find_all(class_="flash"))


def run_import(runner, tmp_path, text: str, *options: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "signers.csv"
    path.write_text(text, encoding="utf-8")
    return runner.invoke(args=["import-signatures", SLUG, str(path), *options])


def claim_queued() -> imports.Claim:
    with writing():
        claims = imports.QUEUE.claim(1)
    assert len(claims) == 1
    return claims[0]


def crash_after(chunks: int):  # type: ignore[no-untyped-def]
    """A progress callback that makes the worker die once `chunks` chunks are written."""
    seen = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if len(seen) == chunks:
            raise Crash()

    return progress


# ------------------------------------------------------------------ limits


def test_a_file_over_the_size_limit_is_refused_by_the_command_in_one_line(app, runner, letter,
                                                                        tmp_path):
    app.config["IMPORT_MAX_BYTES"] = 1000
    result = run_import(runner, tmp_path, rows_file(20))
    assert_one_line_error(result, "larger than 1 kB")
    assert_one_line_error(result, "split it into smaller files")
    assert count() == 0


def test_a_file_over_the_row_limit_is_refused_by_the_command_in_one_line(app, runner, letter,
                                                                       tmp_path):
    app.config["IMPORT_MAX_ROWS"] = 5
    result = run_import(runner, tmp_path, rows_file(6))
    assert_one_line_error(result, "more than 5 rows")
    assert count() == 0
    assert run_import(runner, tmp_path, rows_file(5)).exit_code == 0


def test_an_upload_over_the_size_limit_says_so_plainly_and_imports_nothing(app, admin, letter):
    app.config["IMPORT_MAX_BYTES"] = 1000
    answer = upload(admin, rows_file(20))
    assert answer.status_code == 200
    message = flash_text(answer)
    assert "Nothing was imported" in message and "split it into smaller files" in message
    assert count() == 0


def test_a_request_over_the_body_limit_gets_the_moderation_page_not_a_bare_413(app, admin,
                                                                               letter):
    app.config["MAX_CONTENT_LENGTH"] = 20_000
    answer = upload(admin, rows_file(400), follow=False)
    assert answer.status_code == 303
    page = admin.get(answer.headers["Location"])
    assert page.status_code == 200
    assert "Nothing was imported: the file is larger than" in flash_text(page)
    assert count() == 0


def test_an_upload_over_the_row_limit_says_so_and_imports_nothing(app, admin, letter):
    app.config["IMPORT_MAX_ROWS"] = 5
    message = flash_text(upload(admin, rows_file(6)))
    assert "Nothing was imported" in message and "more than 5 rows" in message
    assert count() == 0
    assert db.session.scalar(select(func.count()).select_from(SignatureImport)) == 0


# ------------------------------------------------------------------ every field checked


BAD_ROWS = {
    "javascript-website": ("Moonrise,,,javascript:alert(1),,,,", "website"),
    "javascript-url-website": ("Moonrise,,,javascript://example.org/%0aalert(1),,,,", "website"),
    "data-website": ('Moonrise,,,"data:text/html,<script>alert(1)</script>",,,,', "website"),
    "ftp-website": ("Moonrise,,,ftp://example.org/,,,,", "website"),
    "no-host-website": ("Moonrise,,,https://localhost,,,,", "website"),
    "unknown-country": ("Moonrise,,,,,,Atlantis,", "Atlantis"),
    "overlong-email": (f"Moonrise,,{'a' * 250}@example.org,,,,,", "email is longer than 254"),
    "overlong-contact": (f"Moonrise,{'x' * 201},,,,,,", "contact_name is longer than 200"),
}


@pytest.mark.parametrize("case", BAD_ROWS)
def test_a_row_the_sign_form_would_refuse_is_refused_naming_its_line(runner, letter, tmp_path,
                                                                     case):
    row, expected = BAD_ROWS[case]
    result = run_import(runner, tmp_path, rows_file(2) + row + "\n")
    assert_one_line_error(result, "line 4")
    assert_one_line_error(result, expected)
    assert count() == 0


@pytest.mark.parametrize("case", ["javascript-website", "data-website", "unknown-country"])
def test_an_upload_with_such_a_row_names_it_and_imports_nothing(admin, letter, case):
    row, expected = BAD_ROWS[case]
    message = flash_text(upload(admin, rows_file(2) + row + "\n"))
    assert "Nothing was imported" in message and "line 4" in message and expected in message
    assert count() == 0


def test_websites_and_countries_are_kept_as_the_sign_form_keeps_them(runner, letter, tmp_path):
    result = run_import(runner, tmp_path, HEADER + "Moonrise,,,moonrise.example.org,,,mx,\n"
                        "Sunrise,,,HTTP://sunrise.example.org/about,,,,\n")
    assert result.exit_code == 0, result.output
    kept = db.session.execute(select(Signature.website, Signature.country)
                              .order_by(Signature.id)).all()
    assert [tuple(k) for k in kept] == [("https://moonrise.example.org", "Mexico"),
                                        ("HTTP://sunrise.example.org/about", "")]


# ------------------------------------------------------------------ in the background


def test_a_large_upload_goes_to_the_background_and_the_worker_writes_it(admin, letter, runner):
    answer = upload(admin, rows_file(7), follow=False)
    assert answer.status_code == 303
    progress_page = answer.headers["Location"]
    assert "/imports/" in progress_page
    assert count() == 0  # nothing written in the request

    page = admin.get(progress_page).get_data(as_text=True)
    assert "Waiting to start: 7 rows, none written yet" in page
    assert '<meta http-equiv="refresh"' in page
    assert "An import of 7 rows is waiting to start" in flash_text(admin.get(PAGE))

    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert count() == 7
    assert db.session.scalars(select(Signature.status)).all() == ["pending"] * 7
    page = admin.get(progress_page).get_data(as_text=True)
    assert "Done: imported 7 signatories" in page
    assert 'http-equiv="refresh"' not in page
    job = the_import()
    assert (job.status, job.rows_done, job.total_rows, job.csv_text) == ("done", 7, 7, "")


def test_a_large_upload_is_checked_by_the_worker_and_a_bad_row_fails_it_whole(admin, letter,
                                                                            runner):
    """The request only counts a large file's rows (a check of 50,000 takes seconds): the worker
    checks every row before it writes any, and the page names the bad one."""
    answer = upload(admin, rows_file(6) + BAD_ROWS["javascript-website"][0] + "\n", follow=False)
    assert answer.status_code == 303 and count() == 0
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    page = admin.get(answer.headers["Location"]).get_data(as_text=True)
    assert "The import failed" in page and "line 8" in page and "website" in page
    assert count() == 0
    assert the_import().status == "failed"


def test_the_progress_page_shows_how_far_an_import_got(admin, letter):
    upload(admin, rows_file(7))
    with pytest.raises(Crash):
        imports.run(claim_queued(), progress=crash_after(2))
    page = admin.get(f"/admin/letters/{SLUG}/imports/{the_import().id}").get_data(as_text=True)
    assert "Importing: 4 of 7 rows" in page
    assert '<meta http-equiv="refresh" content="3">' in page
    assert count() == 4


def test_the_progress_page_of_another_letters_import_is_404(admin, letter, make_letter):
    upload(admin, rows_file(7))
    make_letter(slug="other-letter", title="Other")
    job_id = the_import().id
    assert admin.get(f"/admin/letters/other-letter/imports/{job_id}").status_code == 404
    assert admin.get(f"/admin/letters/{SLUG}/imports/{job_id}").status_code == 200


def test_a_worker_that_dies_is_taken_over_where_it_stopped_and_no_row_is_written_twice(
        admin, letter):
    upload(admin, rows_file(9, emails=False), approved=True)  # no email: nothing unique per row
    first = claim_queued()
    with pytest.raises(Crash):
        imports.run(first, progress=crash_after(2))
    assert count() == 4
    assert not imports.run_due()  # its lease holds: nobody takes it yet

    later = utcnow() + timedelta(seconds=imports.LEASE_SECONDS + 1)
    with writing():
        second = imports.QUEUE.claim(1, later)[0]
    assert second.attempt == 2
    assert not imports._write_chunk(first, letter, [], 4)  # the dead worker can write no more
    assert imports.run(second) == "done"
    assert count() == 9
    names = db.session.scalars(select(Signature.organization)).all()
    assert sorted(names) == sorted(f"Group {i}" for i in range(1, 10))
    assert the_import().rows_done == 9


def test_an_import_that_fails_midway_takes_back_every_row_it_wrote(admin, letter, make_signature):
    upload(admin, rows_file(9), approved=True)
    with pytest.raises(Crash):
        imports.run(claim_queued(), progress=crash_after(2))
    job_id = the_import().id
    assert count(job_id) == 4
    make_signature(letter, email="p7@group7.example.org")  # row 7 signed meanwhile

    later = utcnow() + timedelta(seconds=imports.LEASE_SECONDS + 1)
    while imports.run_due(later):
        pass
    assert count(job_id) == 0
    assert count() == 1  # the signer's own signature stays
    job = the_import()
    assert (job.status, job.rows_done, job.csv_text) == ("failed", 0, "")
    assert "line 8" in job.last_error and "p7@group7.example.org" in job.last_error


def test_a_row_signed_between_the_check_and_its_chunk_fails_the_import_and_it_is_taken_back(
        admin, letter, make_signature):
    upload(admin, rows_file(9))
    job_id = the_import().id

    def progress(done: int, total: int) -> None:
        if done == 2:
            make_signature(letter, email="p5@group5.example.org")

    assert imports.run(claim_queued(), progress=progress) == "failed"
    while imports.run_due():
        pass
    assert count(job_id) == 0 and count() == 1
    page = admin.get(f"/admin/letters/{SLUG}/imports/{job_id}").get_data(as_text=True)
    assert "The import failed" in page and "line 6" in page
    assert "No row of this file is among the signatures" in page


def test_signing_works_while_a_background_import_is_midway(app, admin, letter, new_client):
    from support import SIGNER, submit

    upload(admin, rows_file(9))
    claim = claim_queued()
    midway, signed = threading.Event(), threading.Event()
    outcome: list[object] = []

    def progress(done: int, total: int) -> None:
        if done == 4:
            midway.set()
            signed.wait(30)

    def work() -> None:
        with app.app_context():
            try:
                outcome.append(imports.run(claim, progress=progress))
            finally:
                db.session.remove()

    worker = threading.Thread(target=work)
    db.session.commit()
    worker.start()
    try:
        assert midway.wait(30)
        signer = new_client()
        answer = submit(signer, f"/letters/{SLUG}",
                        {**SIGNER, "email": "signer@elsewhere.example.org"}, "Sign")
        assert answer.status_code == 303
    finally:
        signed.set()
        worker.join(30)
    assert outcome == ["done"]
    assert count() == 10
    assert db.session.scalar(select(Signature.status).where(
        Signature.email == "signer@elsewhere.example.org")) == "unconfirmed"


def test_the_command_writes_a_large_file_in_chunks_and_prints_its_count(runner, letter, tmp_path):
    result = run_import(runner, tmp_path, rows_file(7), "--approved")
    assert result.exit_code == 0, result.output
    assert "Written 7 of 7 rows" in result.output
    assert "Imported 7 signatories into stop-forwarding" in result.output
    job = the_import()
    assert (job.status, job.rows_done, job.csv_text) == ("done", 7, "")
    assert count(job.id) == 7


def test_a_small_file_is_still_written_at_once_in_the_request(admin, letter):
    message = flash_text(upload(admin, rows_file(3)))
    assert "Imported 3 signatories" in message
    assert count() == 3
    assert db.session.scalar(select(func.count()).select_from(SignatureImport)) == 0
