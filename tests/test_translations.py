"""A letter in more than one language (issue #14): a translation imported from a letter file or
saved by an organizer, shown to whoever chose its language (`?lang=`, the `lang` cookie, the
browser's Accept-Language), written back out beside the letter's file, with versions of its own
whose changes ask only the signers of that text again; an organizer's own language; dates in
Spanish.

The pages are asked for by separate clients (`new_client`), each with its own cookies, as
different visitors are. What the Spanish catalog says is checked by test_catalogs.py and the
browser test; here, the pages' declared language (html lang, article lang) and the letter's own
Spanish text are."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import flask_babel
import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select
from support import PASSWORD, SIGNER, form_by_action, submit
from support_pdf import one_line, pdf_text

from campaign import letter_files, letters, tokens, translations
from campaign.database import reading, writing
from campaign.dates import local_date, local_time
from campaign.extensions import db
from campaign.models import (
    AuditEntry,
    Letter,
    LetterTranslation,
    LetterVersion,
    Organizer,
    OutboxMessage,
    Signature,
)

SLUG = "stop-forwarding"
LETTER = f"/letters/{SLUG}"
TRANSLATIONS = f"/admin/letters/{SLUG}/translations"
ES_TITLE = "Dejen de reenviar las huellas dactilares"
ES_RECIPIENT = "El Director\nWashington, DC"
ES_BODY = "Nosotras, las organizaciones firmantes, les pedimos que **paren**.\n"
ENGLISH = {"Accept-Language": "en"}
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# ------------------------------------------------------------------ helpers


def page_of(response) -> BeautifulSoup:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.status_code
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def declared(soup: Any) -> str:
    """The interface's language the page declares (<html lang>)."""
    return str(soup.find("html")["lang"])


def letter_shown(soup: Any) -> tuple[str, str, str]:
    """The letter's text on its page: (article lang, title, body text)."""
    article = soup.find("article", class_="letter")
    return (str(article["lang"]), article.find("h1").get_text(strip=True),
            " ".join(article.find(class_="body").get_text(" ").split()))


def write_file(path: Path, language: str, title: str, body: str,
               recipient: str = ES_RECIPIENT) -> Path:
    lines = "\n".join(f"  {line}" for line in recipient.splitlines())
    path.write_text(f"---\ntitle: {title}\nslug: {SLUG}\nrecipient: |\n{lines}\n"
                    f"language: {language}\n---\n{body}", encoding="utf-8")
    return path


def the_letter() -> Letter:
    db.session.rollback()  # what the commands and requests committed since
    found = letters.get_letter(SLUG)
    assert found is not None
    return found


def translation_rows() -> list[tuple[str, str, str, str]]:
    return [(t.language, t.title, t.recipient, t.body)
            for t in db.session.scalars(select(LetterTranslation))]


def versions() -> list[tuple[int, str, str]]:
    return [(v.number, v.language, v.kind) for v in
            db.session.scalars(select(LetterVersion).order_by(LetterVersion.number))]


def english_text(letter: Letter) -> tuple[str, str, str, str, str]:
    return letter.title, letter.recipient, letter.body, letter.language, letter.content_hash()


def audited(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id)))


def save_spanish(body: str = ES_BODY, kind: str = "change", title: str = ES_TITLE):
    with writing():
        letter = letters.get_letter(SLUG)
        assert letter is not None
        return translations.save(letter, "es", title, ES_RECIPIENT, body, kind)


@pytest.fixture
def staff(new_client, organizer):  # type: ignore[no-untyped-def]
    """An organizer's browser of its own (see the module's notes), logged in."""
    browser = new_client()
    answer = submit(browser, "/login", {"email": "staff@example.org", "password": PASSWORD},
                    "Log in")
    assert answer.status_code == 303
    return browser


# ------------------------------------------------------------------ (1) import, and the page


@SQLITE_ONLY
def test_an_imported_translation_is_shown_to_whoever_chose_spanish(
        runner, make_letter, new_client, tmp_path):
    letter = make_letter()
    before = english_text(letter)
    result = runner.invoke(args=["import-letter",
                                 str(write_file(tmp_path / "es.md", "es", ES_TITLE, ES_BODY))])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{SLUG}\n"

    letter = the_letter()
    assert letter.translated_to == "es"
    assert letter.languages() == ["en", "es"]
    assert translation_rows() == [("es", ES_TITLE, ES_RECIPIENT, ES_BODY)]
    assert english_text(letter) == before  # the letter's own text is not the translation's
    # an open letter keeps the first Spanish text as that language's original
    assert versions() == [(1, "en", "original"), (2, "es", "original")]

    visitor = new_client()
    chosen = visitor.get(f"{LETTER}?lang=es")
    assert "lang=es" in chosen.headers.get("Set-Cookie", "")
    assert "Max-Age=31536000" in chosen.headers["Set-Cookie"]
    soup = page_of(chosen)
    assert declared(soup) == "es"
    assert letter_shown(soup) == (
        "es", ES_TITLE, "Nosotras, las organizaciones firmantes, les pedimos que paren .")
    assert ES_TITLE in soup.title.get_text()
    assert "Stop Forwarding Fingerprints" not in soup.find("article").get_text()
    # the nav of the letter's texts: Spanish is this one, English a link
    nav = soup.find("nav", class_="translations")
    assert nav.find("strong", attrs={"aria-current": "page"})["lang"] == "es"
    assert [(a["href"], a["hreflang"]) for a in nav.find_all("a")] == \
        [(f"{LETTER}?lang=en", "en")]

    # the same browser, the cookie alone: still Spanish
    again = page_of(visitor.get(LETTER))
    assert declared(again) == "es"
    assert letter_shown(again)[:2] == ("es", ES_TITLE)

    english = page_of(new_client().get(LETTER, headers=ENGLISH))
    assert declared(english) == "en"
    assert letter_shown(english) == ("en", "Stop Forwarding Fingerprints",
                                     "We, the undersigned, ask you to stop .")
    nav = english.find("nav", class_="translations")
    assert "This letter in:" in nav.get_text(" ")
    assert nav.find("strong", attrs={"aria-current": "page"})["lang"] == "en"
    assert [(a["href"], a["hreflang"]) for a in nav.find_all("a")] == \
        [(f"{LETTER}?lang=es", "es")]

    # a browser that prefers Spanish gets the letter's Spanish text without choosing it
    browser = page_of(new_client().get(LETTER, headers={"Accept-Language": "es-MX,es;q=0.9"}))
    assert (declared(browser), letter_shown(browser)[:2]) == ("es", ("es", ES_TITLE))


# ------------------------------------------------------------------ (2) export, import back


@SQLITE_ONLY
def test_export_writes_the_translation_beside_and_import_reads_both_back(
        runner, make_letter, tmp_path, app):
    make_letter()
    save_spanish()
    letter = the_letter()
    before = english_text(letter), translation_rows(), versions()

    path = tmp_path / "out" / "police.md"
    path.parent.mkdir()
    result = runner.invoke(args=["export-letter", SLUG, "-o", str(path)])
    assert result.exit_code == 0, result.output
    beside = tmp_path / "out" / "police.es.md"
    assert result.stdout.splitlines() == [f"Wrote {path}", f"Wrote {beside}"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["police.es.md", "police.md"]
    own = letter_files.parse_file(path, app.config["TZ"])
    spanish = letter_files.parse_file(beside, app.config["TZ"])
    assert (own.slug, own.language, own.title) == (SLUG, "en", "Stop Forwarding Fingerprints")
    assert (spanish.slug, spanish.language, spanish.title, spanish.recipient, spanish.body) == \
        (SLUG, "es", ES_TITLE, ES_RECIPIENT, ES_BODY)

    for each in (path, beside):
        result = runner.invoke(args=["import-letter", str(each)])
        assert result.exit_code == 0, result.output
        assert result.stdout == f"{SLUG}\n"
    letter = the_letter()
    assert (english_text(letter), translation_rows(), versions()) == before  # no new version
    assert letter.translated_to == "es"

    result = runner.invoke(args=["export-letter", SLUG])
    assert result.exit_code == 0
    assert letter_files.parse_text(result.stdout, app.config["TZ"]).language == "en"
    assert ES_TITLE not in result.stdout  # the letter's own file only
    assert "1 translation(s) not written" in result.stderr
    assert "-o" in result.stderr


# ------------------------------------------------------------------ (3) each text's signers


def sign(visitor, url: str, organization: str, email: str) -> None:  # type: ignore[no-untyped-def]
    """Sign the letter on the page at `url` (the form posted to that same address, and so in
    the same language), then confirm it from a browser without cookies, as from the email."""
    values = form_by_action(visitor.get(url).get_data(as_text=True), LETTER)
    values.update({**SIGNER, "organization": organization, "email": email})
    answer = visitor.post(url, data=values)
    assert answer.status_code == 303, answer.status_code


def confirm(new_client, email: str) -> str:  # type: ignore[no-untyped-def]
    """Confirm the signature of `email` by its link; the confirm page's declared language."""
    with reading():
        signature = db.session.scalars(select(Signature).where(Signature.email == email)).one()
        path = f"/confirm/{tokens.make_token(signature)}"
    browser = new_client()
    shown = page_of(browser.get(path))
    done = browser.post(path, data=form_by_action(str(shown), path))
    assert done.status_code == 200, done.status_code
    return declared(shown)


def reconsent_recipients() -> list[str]:
    return sorted(db.session.scalars(select(OutboxMessage.recipient).where(
        OutboxMessage.kind == "reconsent")))


def test_a_change_of_the_spanish_text_asks_only_its_own_signers(make_letter, new_client):
    make_letter(require_approval=False)
    save_spanish()
    sign(new_client(), f"{LETTER}?lang=es", "Centro de Trabajadores Unidos",
         "centro@example.org")
    sign(new_client(), LETTER, "Alpha Tenants Union", "alpha@example.org")
    # each confirm page is in the language its signer signed in, the browser's notwithstanding
    assert confirm(new_client, "centro@example.org") == "es"
    assert confirm(new_client, "alpha@example.org") == "en"

    with reading():
        signed = {s.email: (s.status, s.language, s.version.language, s.version.number)
                  for s in db.session.scalars(select(Signature))}
    assert signed == {"centro@example.org": ("approved", "es", "es", 2),
                      "alpha@example.org": ("approved", "en", "en", 1)}
    assert reconsent_recipients() == []

    saved = save_spanish("Les pedimos que **paren** el reenvío de huellas hoy mismo.\n")
    assert (saved.version.number, saved.version.language, saved.version.kind) == (3, "es",
                                                                                  "change")
    assert saved.asked == 1
    with reading():
        assert reconsent_recipients() == ["centro@example.org"]
        assert versions()[-1] == (3, "es", "change")
        assert the_letter().latest_version("en").number == 1  # the English text is as it was

    listed = new_client().get(f"{LETTER}/signers.json").get_json()
    assert listed["count"] == 2
    rows = {row["organization"]: row for row in listed["signatories"]}
    assert sorted(rows) == ["Alpha Tenants Union", "Centro de Trabajadores Unidos"]
    assert rows["Centro de Trabajadores Unidos"]["current_text"] is False  # asked, not yet
    assert rows["Alpha Tenants Union"].get("current_text", True) is True

    corrected = save_spanish("Les pedimos que **paren** el reenvío de huellas hoy mismo.\n",
                             "correction", title="Dejen de reenviar huellas dactilares")
    assert (corrected.version.number, corrected.version.language, corrected.version.kind,
            corrected.asked) == (4, "es", "correction", 0)
    with reading():
        assert reconsent_recipients() == ["centro@example.org"]  # nobody asked again
    assert new_client().get(f"{LETTER}/signers.json").get_json()["count"] == 2


# ------------------------------------------------------------------ (4) organizer pages


def translation_form(staff, url: str = TRANSLATIONS) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return form_by_action(staff.get(url).get_data(as_text=True), TRANSLATIONS)


@SQLITE_ONLY
def test_organizers_add_edit_and_delete_a_translation(staff, make_letter):
    make_letter()
    values = translation_form(staff)
    values.update(language="es", title=ES_TITLE, recipient=ES_RECIPIENT, body=ES_BODY,
                  text_change="change")
    saved = staff.post(TRANSLATIONS, data=values)
    assert saved.status_code == 303
    assert saved.headers["Location"].endswith(f"{TRANSLATIONS}?language=es")
    with reading():
        assert translation_rows() == [("es", ES_TITLE, ES_RECIPIENT, ES_BODY)]
        assert the_letter().translated_to == "es"

    editing = page_of(staff.get(f"{TRANSLATIONS}?language=es"))
    assert editing.find("input", attrs={"name": "title"})["value"] == ES_TITLE
    assert editing.find("input", attrs={"name": "language"})["value"] == "es"
    assert editing.find("textarea", attrs={"name": "body"}).get_text().strip() == ES_BODY.strip()
    listed = editing.find("td", string=ES_TITLE)
    assert listed is not None and listed["lang"] == "es"

    values = form_by_action(str(editing), TRANSLATIONS)
    values.update(title="Paren el reenvío de huellas", text_change="correction")
    assert staff.post(TRANSLATIONS, data=values).status_code == 303
    with reading():
        assert translation_rows() == [("es", "Paren el reenvío de huellas", ES_RECIPIENT,
                                       ES_BODY)]
        assert versions() == [(1, "en", "original"), (2, "es", "original"),
                              (3, "es", "correction")]

    gone_at = f"{TRANSLATIONS}/es/delete"
    deleted = staff.post(gone_at, data=form_by_action(
        staff.get(TRANSLATIONS).get_data(as_text=True), gone_at))
    assert deleted.status_code == 303
    with reading():
        assert translation_rows() == []
        letter = the_letter()
        assert (letter.translated_to, letter.languages()) == ("", ["en"])
        assert [e.subject for e in audited("letter.translation")] == [
            f"es: {ES_TITLE}", "es: Paren el reenvío de huellas"]
        [entry] = audited("letter.translation.delete")
        assert (entry.subject, entry.letter_id, entry.actor) == (
            "es: Paren el reenvío de huellas", letter.id, "staff@example.org")
    # the public page has no other text to offer now
    assert page_of(staff.get(f"{LETTER}?lang=es")).find("nav", class_="translations") is None


@SQLITE_ONLY
@pytest.mark.parametrize("code", ["not a code!", "en"])
def test_a_bad_language_code_is_shown_back_and_nothing_is_written(staff, make_letter, code):
    make_letter()
    values = translation_form(staff)
    values.update(language=code, title=ES_TITLE, recipient=ES_RECIPIENT, body=ES_BODY)
    answer = staff.post(TRANSLATIONS, data=values)
    assert answer.status_code == 422
    soup = BeautifulSoup(answer.get_data(as_text=True), "html.parser")
    message = soup.find(id="language-error")
    assert message is not None and message.get_text(strip=True)
    if code == "en":
        assert message.get_text().startswith("en ")  # names the letter's own language
    else:
        assert "not a code!" in message.get_text()
    # nothing typed is lost
    assert soup.find("input", attrs={"name": "title"})["value"] == ES_TITLE
    assert soup.find("textarea", attrs={"name": "body"}).get_text().strip() == ES_BODY.strip()
    with reading():
        assert translation_rows() == []
        assert the_letter().translated_to == ""
        assert audited("letter.translation") == []
        assert versions() == [(1, "en", "original")]


@SQLITE_ONLY
def test_an_organizers_own_language_declares_the_organizer_pages(staff, organizer):
    def language_is(value: str):  # type: ignore[no-untyped-def]
        html = staff.get("/admin/", headers=ENGLISH).get_data(as_text=True)
        values = form_by_action(html, "/admin/language")
        assert values["next"] == "/admin/"
        values["language"] = value
        return staff.post("/admin/language", data=values)

    assert declared(page_of(staff.get("/admin/", headers=ENGLISH))) == "en"
    answer = language_is("es")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/admin/")
    assert declared(page_of(staff.get("/admin/", headers=ENGLISH))) == "es"
    chosen = page_of(staff.get("/admin/", headers=ENGLISH)).find("select", id="own-language")
    assert chosen.find("option", selected=True)["value"] == "es"
    # the organizer's choice is for the organizer pages; a public page follows the browser
    assert declared(page_of(staff.get("/", headers=ENGLISH))) == "en"
    with reading():
        assert db.session.scalars(select(Organizer.language)).one() == "es"

    assert language_is("").status_code == 303
    assert declared(page_of(staff.get("/admin/", headers=ENGLISH))) == "en"
    with reading():
        assert db.session.scalars(select(Organizer.language)).one() is None
        entries = audited("organizer.language")
        assert [(e.subject, e.actor, e.detail) for e in entries] == [
            ("es", "staff@example.org", '{"before": null, "after": "es"}'),
            ("browser", "staff@example.org", '{"before": "es", "after": null}')]
        assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "organizer.language", AuditEntry.letter_id.is_(None))) == 2


# ------------------------------------------------------------------ (5) dates


def test_dates_are_written_in_the_language_of_the_page(bare):
    moment = datetime(2026, 6, 30, 17, 0, tzinfo=UTC)
    assert local_date(moment) == "June 30, 2026"
    assert local_time(moment) == "June 30, 2026, 5:00 PM UTC"
    with flask_babel.force_locale("es"):
        assert local_date(moment) == "30 de junio de 2026"
        assert local_time(moment) == "30 de junio de 2026, 17:00 UTC"
        assert local_date(datetime(2027, 1, 2, tzinfo=UTC)) == "2 de enero de 2027"
    assert local_date(moment) == "June 30, 2026"  # English again once the block ends
    assert local_time(None) == local_date(None) == ""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_export_pdf_writes_the_letter_in_one_of_its_translations(runner, make_letter,
                                                                 make_signature, tmp_path):
    letter = make_letter()
    make_signature(letter, organization="Voces del Valle", city="Tucson", region="AZ")
    save_spanish()
    out = tmp_path / "es.pdf"
    result = runner.invoke(args=["export-pdf", SLUG, "-o", str(out), "--language", "es"])
    assert result.exit_code == 0, result.output
    text = one_line(pdf_text(out.read_bytes()))
    assert ES_TITLE in text and "Voces del Valle" in text  # its text, the letter's one list
    assert "Página 1 de" in text and "Firmantes" in text  # its headings and footers
    assert english_text(the_letter())[0] not in text
    result = runner.invoke(args=["export-pdf", SLUG, "-o", str(out), "--language", "fr"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [f"Error: {SLUG} has no translation in fr"]
