"""The embed for partner sites (`/letters/<slug>/embed`) and the count badge
(`/letters/<slug>/count.svg`): who may frame what, signing in a frame that keeps no cookie (with
the real SMTP server), the embed's own form token, and `embed_origins` in letter files and on
the letter's edit page."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from xml.etree import ElementTree

import pytest
from bs4 import BeautifulSoup
from flask.testing import FlaskClient
from sqlalchemy import func, select
from support import SIGNER, form_fields, submit, text_of, with_smtp

from campaign import audit, embeds, letter_files, letters, outbox, partners
from campaign.database import writing
from campaign.errors import LetterError, StaleEmbedForm
from campaign.extensions import db
from campaign.models import OutboxMessage, Signature

SLUG = "stop-forwarding"  # make_letter's default
EMBED = f"/letters/{SLUG}/embed"
BADGE = f"/letters/{SLUG}/count.svg"
PARTNER_SITE = "https://partner.example.org"


@pytest.fixture
def app_config(app_config, smtp):
    return with_smtp(app_config, smtp)


@pytest.fixture
def framed(app):
    """A browser in a partner site's frame with third-party cookies blocked: it keeps none."""
    return FlaskClient(app, app.response_class, use_cookies=False)


def directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {words[0]: words[1:] for words in (part.split() for part in policy.split(";"))
            if words}


def embedded_form(client, path: str = EMBED) -> tuple[str, dict[str, str]]:
    page = client.get(path)
    assert page.status_code == 200
    action, values = form_fields(page.get_data(as_text=True), "Sign")
    assert action is not None
    return action, values


def sign_in_frame(client, path: str = EMBED, **changes: str):
    action, values = embedded_form(client, path)
    return client.post(action, data={**values, **SIGNER, **changes})


def signatures() -> int:
    db.session.expire_all()
    return int(db.session.scalar(select(func.count()).select_from(Signature)) or 0)


def visible(response) -> str:
    return " ".join(BeautifulSoup(response.get_data(as_text=True), "html.parser")
                    .get_text(" ").split())


# ------------------------------------------------------------------ framing


@pytest.mark.parametrize(("origins", "sources"), [
    (f"{PARTNER_SITE}\nhttp://localhost:8001", [PARTNER_SITE, "http://localhost:8001"]),
    ("*", ["*"]),
    ("", ["'none'"]),
])
def test_the_embed_may_be_framed_by_the_letters_origins_only(framed, make_letter, origins,
                                                             sources):
    letter = make_letter()
    with writing():
        letter.embed_origins = origins
    response = framed.get(EMBED)
    assert response.status_code == 200  # with no origins it can still be looked at
    assert directives(response)["frame-ancestors"] == sources
    assert "X-Frame-Options" not in response.headers
    assert directives(response)["form-action"] == ["'self'"]  # the rest of the site's policy
    assert directives(response)["script-src"] == ["'self'"]


def test_every_other_page_still_refuses_framing(app, client, make_letter, make_signature):
    letter = make_letter()
    make_signature(letter)
    with writing():
        letter.embed_origins = "*"
    checked = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or set(rule.arguments) - {"slug"} \
                or rule.endpoint in ("embed.form", "static"):
            continue
        response = client.get(rule.build({"slug": SLUG})[1] if rule.arguments else rule.rule)
        assert response.headers["X-Frame-Options"] == "DENY", rule.rule
        assert directives(response)["frame-ancestors"] == ["'none'"], rule.rule
        checked += 1
    assert checked > 10
    refused = client.get("/letters/no-such-letter/embed")  # no letter: an error page, unframable
    assert refused.status_code == 404
    assert refused.headers["X-Frame-Options"] == "DENY"


def test_the_embed_answers_404_for_a_draft_and_shows_no_form_on_a_closed_letter(
        framed, make_letter):
    letter = make_letter(status="draft", embed_origins="*")
    assert framed.get(EMBED).status_code == 404
    with writing():
        letter.status = "closed"
    page = framed.get(EMBED)
    assert page.status_code == 200
    assert "no longer takes signatures" in visible(page)
    assert b"<form" not in page.get_data()


def test_a_collecting_letters_embed_signs_but_shows_no_count(framed, make_letter,
                                                             make_signature):
    letter = make_letter(status="collecting")
    make_signature(letter)
    page = framed.get(EMBED)
    assert page.status_code == 200
    assert "signed" not in visible(page).replace("Sign on", "")
    assert page.headers["X-Robots-Tag"] == "noindex"
    assert framed.get(BADGE).status_code == 404
    assert "Check your email" in visible(sign_in_frame(framed))


def test_the_embed_shows_the_title_the_kept_count_and_a_link_out_of_the_frame(
        framed, make_letter, make_signature):
    letter = make_letter()
    make_signature(letter)
    make_signature(letter, status="pending")
    page = framed.get(EMBED)
    soup = BeautifulSoup(page.get_data(as_text=True), "html.parser")
    assert soup.h1.get_text() == "Stop Forwarding Fingerprints"
    assert " ".join(soup.select_one(".count").get_text().split()) == \
        "1 organization has signed"
    full = soup.find("a", string="Read the full letter")
    assert full["href"] == f"/letters/{SLUG}"
    assert full["target"] == "_blank" and "noopener" in full["rel"]
    assert soup.find(class_="site") is None  # no site header or footer in the frame
    assert soup.find(attrs={"name": "csrf_token"}) is None


# ------------------------------------------------------------------ signing without cookies


def test_signing_through_the_embed_without_cookies_works_end_to_end(
        framed, new_client, make_letter, smtp):
    letter = make_letter(embed_origins=PARTNER_SITE, require_approval=False)
    with writing():
        partner = partners.add(letter, "casa", "CASA de Maryland", actor="test")

    answer = sign_in_frame(framed, f"{EMBED}?ref=casa")
    assert answer.status_code == 200
    assert "Check your email" in visible(answer)
    assert SIGNER["email"] in visible(answer)
    assert directives(answer)["frame-ancestors"] == [PARTNER_SITE]  # still in the frame
    assert answer.headers["Cache-Control"] == "no-store"
    signature = db.session.scalar(select(Signature))
    assert signature is not None and signature.status == "unconfirmed"
    assert signature.partner_id == partner.id  # the partner rode in the form, not a cookie

    assert outbox.send_due() == 1
    smtp.wait(1)
    [link] = re.findall(r"https?://\S+", text_of(smtp.to(SIGNER["email"])[0]))
    confirmer = new_client()  # the link opens at the top level, in the signer's own browser
    confirmed = submit(confirmer, link.removeprefix("http://localhost"), {}, "Confirm")
    assert "confirmed" in visible(confirmed).lower()
    db.session.expire_all()
    assert db.session.get(Signature, signature.id).status == "approved"
    assert "1 organization" in framed.get(BADGE).get_data(as_text=True)
    assert "1 organization has signed" in visible(framed.get(EMBED))


def test_the_individuals_form_in_the_embed_signs_a_person(framed, make_letter):
    make_letter(signers="both", embed_origins="*")
    page = framed.get(EMBED).get_data(as_text=True)
    assert f"{EMBED}?as=individual" in page.replace("&amp;", "&")
    answer = sign_in_frame(framed, f"{EMBED}?as=individual", name="Ada Ruiz",
                           affiliation="Sample College", email="ada@example.org")
    assert "Check your email" in visible(answer)
    signature = db.session.scalar(select(Signature))
    assert (signature.scope, signature.organization) == ("individual", "Ada Ruiz")


@pytest.mark.parametrize("token", ["missing", "forged", "another-letter", "expired"])
def test_a_missing_forged_or_expired_form_token_is_refused_and_keeps_what_was_typed(
        framed, make_letter, monkeypatch, token):
    make_letter(embed_origins="*")
    action, values = embedded_form(framed)
    if token == "missing":
        del values["form_token"]
    elif token == "forged":
        values["form_token"] = values["form_token"][:-4] + "AAAA"
    elif token == "another-letter":
        values["form_token"] = embeds.form_token("another-letter")
    else:
        monkeypatch.setattr(embeds, "FORM_MAX_AGE", -1)
    answer = framed.post(action, data={**values, **SIGNER})
    assert answer.status_code == 400
    assert ("open too long" if token == "expired" else "could not be checked") in visible(answer)
    assert signatures() == 0
    again, fresh = form_fields(answer.get_data(as_text=True), "Sign")
    assert fresh["organization"] == SIGNER["organization"]  # nothing typed is lost
    monkeypatch.undo()
    assert framed.post(again, data={**fresh, **SIGNER, "consent": "y", "authorized": "y"}) \
        .status_code == 200  # its fresh token signs
    assert signatures() == 1


def test_the_spam_trap_holds_an_embedded_signature_without_email(framed, make_letter):
    make_letter(embed_origins="*")
    answer = sign_in_frame(framed, leave_empty="http://spam.example.net")
    assert "Check your email" in visible(answer)  # the same answer
    assert db.session.scalar(select(Signature.held)) is True
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_the_hourly_limit_per_network_applies_in_the_embed(app, framed, make_letter):
    app.config["SIGN_LIMIT_PER_HOUR"] = 1
    make_letter(embed_origins="*")
    for n in range(2):
        assert sign_in_frame(framed, email=f"person{n}@example.org").status_code == 200
    held = db.session.scalars(select(Signature.held).order_by(Signature.id)).all()
    assert held == [False, True]


def test_bad_input_in_the_embed_is_shown_at_its_field(framed, make_letter):
    make_letter(embed_origins="*")
    answer = sign_in_frame(framed, email="not-an-address")
    assert answer.status_code == 422
    assert "Please correct the fields marked below" in visible(answer)
    assert "X-Frame-Options" not in answer.headers
    assert signatures() == 0


# ------------------------------------------------------------------ the count badge


def test_the_count_badge_is_an_svg_of_the_kept_count(framed, make_letter, make_signature):
    letter = make_letter(title="Fair <Pay> & Housing")
    badge = framed.get(BADGE)
    assert badge.status_code == 200
    assert badge.mimetype == "image/svg+xml"
    assert badge.headers["Cache-Control"] == "public, max-age=60"
    assert "0 organizations" in badge.get_data(as_text=True)
    svg = ElementTree.fromstring(badge.get_data())  # well-formed: the title is escaped
    title = svg.find("{http://www.w3.org/2000/svg}title")
    assert title is not None and title.text == "Fair <Pay> & Housing: signed by 0 organizations"

    make_signature(letter)
    make_signature(letter, status="pending")
    again = framed.get(BADGE, headers={"If-None-Match": badge.headers["ETag"]})
    assert again.status_code == 200  # the list changed: a new badge
    assert "1 organization" in again.get_data(as_text=True)
    assert framed.get(BADGE, headers={"If-None-Match": again.headers["ETag"]}) \
        .status_code == 304


def test_the_count_badge_answers_404_for_a_draft_or_unknown_letter(framed, make_letter):
    make_letter(status="draft")
    assert framed.get(BADGE).status_code == 404
    assert framed.get("/letters/no-such-letter/count.svg").status_code == 404


# ------------------------------------------------------------------ embed_origins


def letter_file(origins: str) -> str:
    return f"---\ntitle: A letter\nslug: a-letter\nstatus: open\n{origins}---\nText.\n"


def test_a_letter_file_gives_a_list_of_origins_or_any_and_exports_them_back(app):
    zone = app.config["TZ"]
    text = letter_files.parse_text(letter_file(
        "embed_origins:\n  - https://Partner.Example.org/\n  - http://127.0.0.1:8080\n"), zone)
    assert text.embed_origins == "https://partner.example.org\nhttp://127.0.0.1:8080"
    assert letter_files.parse_text(letter_file('embed_origins: "*"\n'), zone).embed_origins == "*"
    assert letter_files.parse_text(letter_file(""), zone).embed_origins is None  # kept as it is
    assert letter_files.parse_text(letter_file("embed_origins: []\n"), zone).embed_origins == ""
    for origins in ("https://partner.example.org\nhttp://127.0.0.1:8080", "*"):
        with writing():
            letter = letters.create_or_update(letter_files.parse_text(letter_file(""), zone))
            letter.embed_origins = origins
        again = letter_files.parse_text(letter_files.file_text(letter), zone)
        assert again.embed_origins == origins


@pytest.mark.parametrize(("origins", "problem"), [
    ("  - ftp://partner.example.org\n", "must start with https:// or http://"),
    ("  - partner.example.org\n", "must start with https:// or http://"),
    ("  - https://partner.example.org/join\n", "no path, query or fragment"),
    ("  - https://partner.example.org?x=1\n", "no path, query or fragment"),
    ("  - \"https://partner.example.org; script-src *\"\n", "scheme, a host name"),
    ("  - https://partner.example.org:99999\n", "port outside"),
    ("  - \"*\"\n  - https://partner.example.org\n", "give it alone"),
    ("  key: value\n", "must be a list of origins"),
])
def test_a_letter_file_with_a_bad_origin_is_refused_in_one_line(app, origins, problem):
    with pytest.raises(LetterError) as refused:
        letter_files.parse_text(letter_file("embed_origins:\n" + origins), app.config["TZ"])
    message = str(refused.value)
    assert problem in message and "\n" not in message


def test_the_letter_form_sets_the_origins_audits_them_and_shows_the_snippets(
        admin, make_letter):
    letter = make_letter()
    page = admin.get(f"/admin/letters/{SLUG}/edit").get_data(as_text=True)
    assert "Sites that may embed the sign form" in page
    assert "http://localhost/letters/stop-forwarding/embed" in page
    assert "http://localhost/letters/stop-forwarding/count.svg" in page

    refused = submit(admin, f"/admin/letters/{SLUG}/edit",
                     {"embed_origins": "https://partner.example.org/path"}, "Save letter")
    assert refused.status_code == 422
    assert "no path, query or fragment" in refused.get_data(as_text=True)

    saved = submit(admin, f"/admin/letters/{SLUG}/edit",
                   {"embed_origins": "https://Partner.example.org\r\n\r\nhttp://localhost:8001"},
                   "Save letter")
    assert saved.status_code == 303
    db.session.expire_all()
    assert letter.embed_origins == "https://partner.example.org\nhttp://localhost:8001"
    [entry] = audit.entries(letter, "letter.embed_origins", limit=10)
    assert json.loads(entry.detail) == {
        "before": "", "after": "https://partner.example.org\nhttp://localhost:8001"}
    assert entry.actor == "staff@example.org"
    shown = admin.get(f"/admin/letters/{SLUG}/edit").get_data(as_text=True)
    assert "https://partner.example.org\nhttp://localhost:8001" in shown


def test_the_form_token_is_tied_to_its_letter_and_lasts_hours(app):
    token = embeds.form_token(SLUG)
    embeds.check_form_token(token, SLUG)
    assert timedelta(hours=1).total_seconds() <= embeds.FORM_MAX_AGE
    with pytest.raises(StaleEmbedForm, match="could not be checked"):
        embeds.check_form_token(token, "another")
    with pytest.raises(StaleEmbedForm, match="could not be checked"):
        embeds.check_form_token("x" * 501, SLUG)
