"""The signed letter as PDF: what it shows (text read back with pypdf), the locked URL fetcher,
the PDF address served from what the worker rendered (never rendered in a request), renders over
the time limit, the letterhead upload kept in the database, and the export-pdf command.

What a PDF shows of given rows is rendered once, without a database (the `bare` app, a letter
built in memory); what depends on the rows read, the render jobs or a request runs on each
database, its PDFs rendered by the worker's own step (worker.run_due)."""
from __future__ import annotations

import hashlib
import io
import re
from datetime import timedelta

import pypdf
import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup
from support import assert_one_line_error, do_render_jobs, submit
from support_pdf import (
    canary_server,
    entry,
    in_listing_order,
    letter_in_memory,
    one_line,
    pdf_pages,
    pdf_text,
    png,
    rendered,
)

import campaign.pdf
import campaign.pdf.assemble
from campaign import letters, listing, moderation
from campaign.database import writing
from campaign.extensions import db
from campaign.listing import Listed
from campaign.markup import markdown_to_html
from campaign.models import Letter, PdfFile, RenderJob, Signature, Upload, utcnow
from campaign.paths import STATIC
from campaign.pdf.html import letter_html, pdf_body
from campaign.pdf.writer import RefusedURL, html_to_pdf, locked_fetcher

PDF = "/letters/stop-forwarding.pdf"
TITLE = "Alto al reenvío de huellas: carta de la coalición"
COALITION = "Coalición por la Justicia Laboral"
LISTED = {
    "National organizations": [
        ("Alliance for Worker Justice", "Chicago, IL"),
        ("The Coalition for Fair Policing", "Washington, DC"),
        ("National Day Laborer Network", "Los Angeles, CA"),
    ],
    "State and regional organizations": [
        ("Asociación de Trabajadores del Valle", "Fresno, CA"),
        ("Heartland Immigrant Rights Alliance", "Omaha, NE"),
    ],
    "International organizations": [
        ("Centre des travailleurs immigrants de Montréal", "Montréal, QC"),
        ("Red Comunitaria de Ñuñoa", "Ñuñoa, Santiago"),
    ],
}
SCOPE_OF = {"National organizations": "national", "State and regional organizations": "state",
            "International organizations": "international"}
NOT_LISTED = ["Pending Partners Collective", "Rejected Roofers Union", "Unconfirmed Union",
              "Held Hopefuls Group"]
FILLER = ("Cuando una cárcel del condado toma las huellas, las envía para revisar "
          "antecedentes penales; hoy esas mismas huellas se reenvían sin que nadie lo decida. ")
# A Spanish letter with a letterhead, long enough for two pages.
SAMPLE = {"title": TITLE, "language": "es",
          "body": "Estimado Director:\n\nLas organizaciones firmantes le piden **detener** el "
                  "reenvío automático de huellas.\n\n"
                  + "\n\n".join(FILLER * 4 for _ in range(9)) + "\n"}
PRINT = {"coalition_name": COALITION, "closing": "Respetuosamente,"}


def sample_rows() -> list[Listed]:
    """The sample's listed signatories as listing.rows(private=True) reads them, contacts and
    all."""
    rows: list[Listed] = []
    for heading, signatories in LISTED.items():
        for name, place in signatories:
            n = len(rows) + 1
            rows.append(entry(n, name, place, SCOPE_OF[heading], contact_name=f"Contact {n}",
                              contact_title="Coordinator", email=f"org{n}@example.org",
                              phone="+1 555 0100", website=f"https://org{n}.example.org"))
    return rows


SAMPLE_ROWS = sample_rows()


@pytest.fixture
def sample(make_letter, make_signature):
    """The sample letter stored, with its listed signatories in three groups (none local), and
    signatures that must not be listed. The order of creation is the opposite of the listing
    order, so that a PDF in creation order fails."""
    letter = make_letter(**SAMPLE)
    with writing():
        for name, value in PRINT.items():
            setattr(letter, name, value)
    for heading in reversed(LISTED):
        for name, place in reversed(LISTED[heading]):
            city, region = place.split(", ")
            make_signature(letter, organization=name, city=city, region=region,
                           scope=SCOPE_OF[heading])
    make_signature(letter, "pending", organization=NOT_LISTED[0], scope="national")
    make_signature(letter, "rejected", organization=NOT_LISTED[1], scope="national")
    make_signature(letter, "unconfirmed", organization=NOT_LISTED[2], scope="local")
    held = make_signature(letter, organization=NOT_LISTED[3], scope="local")
    with writing():
        held.held = True
    return letter


@pytest.fixture
def served_pdf(client, sample):
    """The sample's PDF as the public address serves it once the worker rendered it, of the rows
    the listing reads."""
    assert do_render_jobs() == 1
    response = client.get(PDF)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    return response.data


@pytest.fixture(scope="module")
def sample_pdf(bare_app):
    """The sample letter's PDF of its listed rows (contacts given too), rendered once."""
    with bare_app.app_context():
        return rendered(letter_in_memory(**SAMPLE, **PRINT), SAMPLE_ROWS)


# ------------------------------------------------------------------ the HTML, without WeasyPrint


def test_letter_html_escapes_what_signers_typed(bare):
    html = letter_html(letter_in_memory(), [entry(
        1, '<img src="http://127.0.0.1:9/x"> & <b>Bold</b> Co', "<script>alert(1)</script>, AZ")])
    assert "<img src=\"http://127.0.0.1:9/x\">" not in html
    assert "&lt;img src=&#34;http://127.0.0.1:9/x&#34;&gt; &amp; &lt;b&gt;Bold&lt;/b&gt; Co" in html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_letter_html_groups_signatories_in_listing_order_without_empty_groups(bare):
    html = letter_html(letter_in_memory(**SAMPLE, **PRINT), SAMPLE_ROWS)
    soup = BeautifulSoup(html, "html.parser")
    groups = {g.h3.get_text(): [e.select_one(".org").get_text() for e in g.select(".entry")]
              for g in soup.select("section.group")}
    assert list(groups) == list(LISTED)
    assert groups == {heading: [name for name, _ in rows] for heading, rows in LISTED.items()}


def test_letter_body_images_are_kept_only_from_uploads():
    upload = "uploads/" + "a" * 32 + ".png"
    stored = markdown_to_html(  # the body's HTML, as the letter keeps it
        f"![ok]({upload}) ![net](http://127.0.0.1:9/x.png) ![file](file:///etc/passwd) "
        "![up](uploads/../campaign.sqlite3) ![static](static/pdf.css)")
    body = str(pdf_body(str(stored)))
    sources = re.findall(r'src="([^"]*)"', body)
    assert sources == [upload]


def test_letter_html_carries_title_author_date_and_language(bare):
    html = letter_html(letter_in_memory(**SAMPLE, **PRINT), [], utcnow())
    soup = BeautifulSoup(html, "html.parser")
    assert soup.html["lang"] == "es"
    assert soup.title.get_text() == TITLE
    assert soup.find("meta", attrs={"name": "author"})["content"] == COALITION
    assert soup.find("meta", attrs={"name": "dcterms.created"})["content"].endswith("Z")


# ------------------------------------------------------------------ what the PDF shows


def test_pdf_shows_the_title_addressee_body_and_closing(sample_pdf):
    text = one_line(pdf_text(sample_pdf))
    assert TITLE in text
    assert "The Director Washington, DC" in text
    assert "Las organizaciones firmantes le piden detener el reenvío automático de huellas." in text
    assert "Respetuosamente," in text
    assert COALITION in text


# The sample letter is Spanish: the worker prints it with the Spanish headings (the catalog's).
SPANISH_HEADINGS = {"National organizations": "Organizaciones nacionales",
                    "State and regional organizations": "Organizaciones estatales y regionales",
                    "International organizations": "Organizaciones internacionales"}


def test_pdf_lists_each_approved_signatory_under_its_group_in_order(served_pdf):
    text = one_line(pdf_text(served_pdf))
    headings = [text.index(SPANISH_HEADINGS[heading]) for heading in LISTED]
    assert headings == sorted(headings)
    bounds = [*headings, len(text)]
    for i, (heading, rows) in enumerate(LISTED.items()):
        section = text[bounds[i]:bounds[i + 1]]
        positions = [section.index(f"{name} {place}") for name, place in rows]
        assert positions == sorted(positions), heading
    assert "Organizaciones locales" not in text
    assert not any(heading in text for heading in LISTED)  # no English heading


def test_pdf_leaves_out_pending_rejected_unconfirmed_and_held_signatures(served_pdf):
    text = one_line(pdf_text(served_pdf))
    for name in NOT_LISTED:
        assert name not in text
    assert "Firmada por 7 organizaciones al" in text  # the sample is Spanish


def test_pdf_shows_no_email_or_phone(sample_pdf):
    text = pdf_text(sample_pdf)  # though its rows carry them
    assert "@" not in text
    assert "example.org" not in text
    assert "555" not in text
    assert "Coordinator" not in text
    assert "Contact " not in text  # contact names are shown only when the letter says so


def test_every_page_has_the_title_and_page_n_of_m_in_its_footer(sample_pdf):
    pages = [one_line(p) for p in pdf_pages(sample_pdf)]
    assert len(pages) >= 2
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
        assert page.count(TITLE) >= 1


def test_pdf_metadata_has_title_author_creation_date_and_language(sample_pdf):
    reader = pypdf.PdfReader(io.BytesIO(sample_pdf))
    assert reader.metadata.title == TITLE
    assert reader.metadata.author == COALITION
    created = reader.metadata.creation_date
    assert abs(created.astimezone() - utcnow()) < timedelta(days=1)
    assert reader.trailer["/Root"]["/Lang"] == "es"


def test_accented_names_come_out_as_typed_in_embedded_dejavu_fonts(sample_pdf):
    text = one_line(pdf_text(sample_pdf))
    for word in ("Asociación", "Ñuñoa", "Montréal", "reenvío", "Coalición"):
        assert word in text
    reader = pypdf.PdfReader(io.BytesIO(sample_pdf))
    fonts = {str(font["/BaseFont"]) for page in reader.pages
             for font in page["/Resources"]["/Font"].values()}
    assert fonts and all("DejaVu" in name for name in fonts), fonts


def test_contact_names_are_listed_when_the_letter_shows_them(bare):
    letter = letter_in_memory(show_contact_names=True)
    text = one_line(pdf_text(rendered(letter, [entry(
        1, "Sunrise Tenants Union", contact_name="Rosa Díaz", email="rosa@example.org",
        phone="+1 555 0100")])))
    assert "Sunrise Tenants Union Tucson, AZ Rosa Díaz" in text
    assert "555" not in text and "@" not in text


# ------------------------------------------------------------------ the locked fetcher


def test_fetcher_refuses_file_urls_and_paths_out_of_its_folders():
    logo = "a" * 32 + ".png"
    fetcher = locked_fetcher(STATIC, {logo: png()})
    for url in ("file:///etc/passwd", "FILE:///etc/passwd", "data:text/css,body{}",
                "https://campaign.invalid/static/../../../../etc/passwd",
                "https://campaign.invalid/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                "https://campaign.invalid/uploads/../campaign.sqlite3",
                "https://campaign.invalid/etc/passwd", "https://example.org/static/pdf.css",
                "http://campaign.invalid/static/pdf.css"):
        with pytest.raises(RefusedURL):
            fetcher.fetch(url)
    assert fetcher.fetch("https://campaign.invalid/static/pdf.css").read().startswith(b"/*")
    assert fetcher.fetch(f"https://campaign.invalid/uploads/{logo}").read() == png()


def test_a_file_url_in_the_document_is_neither_drawn_nor_embedded(bare):
    pdf = html_to_pdf('<img src="file:///etc/passwd"><link rel="stylesheet" '
                      'href="file:///etc/passwd"><p>Nothing else</p>', STATIC)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert list(reader.pages[0].images) == []
    assert reader.attachments == {}
    assert "Nothing else" in pdf_text(pdf)


def test_rendering_never_reaches_a_local_http_server(bare):
    with canary_server() as canary:
        letter = letter_in_memory(body=f"![tracker]({canary.url('/body.png')})\n\n"
                                       f"[a link]({canary.url('/link')})\n")
        pdf = rendered(letter, [entry(1, f'<img src="{canary.url("/signer.png")}">')])
        html_to_pdf(f'<link rel="stylesheet" href="{canary.url("/style.css")}">'
                    f'<style>@import url("{canary.url("/import.css")}");</style>'
                    f'<img src="{canary.url("/img.png")}">', STATIC)
    assert canary.hits == []
    shown = "".join(pdf_text(pdf).split())
    assert f'<imgsrc="{canary.url("/signer.png")}">' in shown  # the name as text, not an image


def test_a_redirecting_url_is_never_requested_nor_followed(bare):
    with canary_server() as canary:
        pdf = html_to_pdf(f'<img src="{canary.url("/redirect")}">'
                          f'<link rel="stylesheet" href="{canary.url("/redirect?css")}">',
                          STATIC)
    assert pdf.startswith(b"%PDF")
    assert canary.hits == []


def test_attachments_are_never_embedded(bare):
    pdf = html_to_pdf(
        '<link rel="attachment" href="file:///etc/passwd">'
        '<link rel="attachment" href="static/pdf.css">'
        '<p><a rel="attachment" href="static/style.css">style</a></p>', STATIC)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert reader.attachments == {}
    annotations = reader.pages[0].get("/Annots") or []
    assert all(a.get_object()["/Subtype"] != "/FileAttachment" for a in annotations)
    assert b"/EmbeddedFile" not in pdf


# ------------------------------------------------------------------ served as the worker made it


TOO_LONG = re.compile(r"the PDF took longer than 0\.05 seconds to make")  # the limit set


def the_jobs() -> list[RenderJob]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(RenderJob).order_by(RenderJob.id)))


def stored_pdfs() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(PdfFile))


def visible(response) -> str:
    return " ".join(BeautifulSoup(response.get_data(as_text=True), "html.parser")
                    .get_text(" ").split())


def deliver_page(slug: str = "stop-forwarding") -> str:
    return f"/admin/letters/{slug}/deliver"


def test_before_the_first_render_the_pdf_address_answers_503_with_a_page_that_refreshes(
        client, make_letter):
    make_letter()
    response = client.get(PDF)
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert soup.find("meta", attrs={"http-equiv": "refresh"}) is not None
    assert "The PDF is being prepared" in soup.get_text()
    assert [job.kind for job in the_jobs()] == ["refresh"]  # publishing the letter asked for it


def test_once_the_worker_made_it_the_pdf_is_served_with_etag_and_last_modified(
        client, make_letter, make_signature):
    make_signature(make_letter(), organization="Sunrise Tenants Union")
    assert do_render_jobs() == 1
    response = client.get(PDF)
    assert response.status_code == 200
    assert "Sunrise Tenants Union" in pdf_text(response.data)
    assert response.headers["ETag"] and response.headers["Last-Modified"]
    for asked in ({"If-None-Match": response.headers["ETag"]},
                  {"If-Modified-Since": response.headers["Last-Modified"]}):
        again = client.get(PDF, headers=asked)
        assert again.status_code == 304, asked
        assert again.data == b""


def test_while_a_newer_pdf_is_being_made_the_newest_kept_is_served_at_once(
        admin, make_letter, make_signature):
    letter = make_letter()
    make_signature(letter, organization="Sunrise Tenants Union")
    waiting = make_signature(letter, "pending", organization="Late Bloomers Cooperative")
    do_render_jobs()
    first = admin.get(PDF)
    with writing():
        moderation.decide(letter, [waiting.id], approve=True)
    meanwhile = admin.get(PDF)  # the worker has not run yet
    assert meanwhile.status_code == 200
    assert meanwhile.data == first.data
    assert "Late Bloomers Cooperative" not in pdf_text(meanwhile.data)
    assert "PDF being updated; the last one is as of" in visible(admin.get(deliver_page()))
    assert do_render_jobs() == 1
    fresh = admin.get(PDF)
    assert fresh.headers["ETag"] != first.headers["ETag"]
    assert "Late Bloomers Cooperative" in pdf_text(fresh.data)
    assert stored_pdfs() == 1  # the newer replaced the older
    assert "PDF up to date as of" in visible(admin.get(deliver_page()))


def test_a_render_over_the_time_limit_is_stopped_retried_with_backoff_then_failed(
        app, client, make_letter):
    app.config["PDF_TIMEOUT"] = 0.05
    make_letter()
    assert do_render_jobs() == 1
    [job] = the_jobs()
    assert (job.status, job.attempts) == ("queued", 1)
    assert TOO_LONG.fullmatch(job.last_error), job.last_error
    assert job.due > utcnow() + timedelta(seconds=10)  # tried again after a pause
    assert do_render_jobs() == 0  # not yet
    assert do_render_jobs(utcnow() + timedelta(hours=1)) == 2
    [job] = the_jobs()
    assert (job.status, job.attempts) == ("failed", 3)
    assert TOO_LONG.fullmatch(job.last_error), job.last_error
    assert stored_pdfs() == 0
    assert client.get(PDF).status_code == 503


def test_a_failed_render_is_shown_with_its_reason_and_can_be_made_again(app, admin,
                                                                        make_letter):
    app.config["PDF_TIMEOUT"] = 0.05
    make_letter()
    do_render_jobs(utcnow() + timedelta(hours=1))
    app.config["PDF_TIMEOUT"] = 60
    for page in ("/admin/", deliver_page()):
        response = admin.get(page)
        assert re.search(f"The last render failed: {TOO_LONG.pattern}", visible(response)), page
        assert "Make the PDF again" in response.get_data(as_text=True), page
    assert submit(admin, deliver_page(), {}, "Make the PDF again").status_code == 303
    assert [job.status for job in the_jobs()] == ["failed", "queued"]
    page = admin.get(deliver_page())
    assert "PDF being made for the first time" in visible(page)
    assert "Make the PDF again" not in page.get_data(as_text=True)  # asked for already
    assert do_render_jobs() == 1
    assert admin.get(PDF).status_code == 200
    assert "The last render failed" not in visible(admin.get(deliver_page()))


def test_no_web_address_renders(admin, make_letter, make_signature, monkeypatch):
    letter = make_letter()
    make_signature(letter, organization="Sunrise Tenants Union")
    do_render_jobs()
    make_signature(letter, organization="Late Bloomers Cooperative")  # the PDF is stale now
    make_letter(slug="not-rendered-yet", title="Not Rendered Yet")

    def refuse(*args, **kwargs):
        raise AssertionError("a PDF was rendered in a web request")

    monkeypatch.setattr(campaign.pdf, "render", refuse)
    monkeypatch.setattr(campaign.pdf.assemble, "render", refuse)
    expected = {PDF: 200, "/letters/stop-forwarding/addendum.pdf": 404,
                "/admin/letters/stop-forwarding/letter.pdf": 200,
                "/letters/not-rendered-yet.pdf": 503,
                "/admin/letters/not-rendered-yet/letter.pdf": 503,
                deliver_page(): 200, "/admin/": 200, "/letters/stop-forwarding": 200}
    for url, status in expected.items():
        assert admin.get(url).status_code == status, url
    response = submit(admin, deliver_page(), {"confirm": "y", "notify": "y"},
                      "Close and deliver")
    assert response.status_code == 303
    assert "Delivering" in visible(admin.get(deliver_page()))
    for url, status in expected.items():
        assert admin.get(url).status_code == status, url


# ------------------------------------------------------------------ letterhead uploads


def upload(admin, data: bytes, name: str = "logo.png", **fields):
    return submit(admin, deliver_page(), {"coalition_name": COALITION, **fields,
                                          "logo": (io.BytesIO(data), name)}, "Save",
                  content_type="multipart/form-data")


def test_an_uploaded_logo_is_kept_in_the_database_and_drawn_on_the_letterhead(
        admin, make_letter, make_signature):
    make_signature(make_letter(), organization="Sunrise Tenants Union")
    logo = png()
    assert upload(admin, logo).status_code == 303
    letter = db.session.scalar(db.select(Letter))
    db.session.refresh(letter)
    stored = db.session.get(Upload, letter.logo_file)
    assert (stored.data, stored.content_type) == (logo, "image/png")
    assert do_render_jobs() == 1
    pdf = admin.get(PDF).data
    [image] = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].images
    assert image.image.size == (240, 90)
    assert COALITION in pdf_text(pdf)


def test_an_uploaded_image_shown_in_the_body_is_drawn_too(admin, make_letter, make_signature):
    letter = make_letter()
    make_signature(letter, organization="Sunrise Tenants Union")
    assert upload(admin, png(120, 40)).status_code == 303  # uploaded as a logo once
    db.session.refresh(letter)
    with writing():
        letters.update(letter, letters.LetterText(
            title=letter.title, slug=letter.slug, status=letter.status, recipient=letter.recipient,
            body=f"![map](uploads/{letter.logo_file})\n\nWe ask the Bureau to stop.\n"))
    assert upload(admin, png()).status_code == 303  # the logo now
    do_render_jobs()
    images = pypdf.PdfReader(io.BytesIO(admin.get(PDF).data)).pages[0].images
    assert sorted(image.image.size for image in images) == [(120, 40), (240, 90)]


@pytest.mark.parametrize("data, name, message", [
    (b"GIF89a" + b"\0" * 64, "logo.png", "not a PNG or JPEG image"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "logo.svg", "A PNG or JPEG image"),
    (png(7000, 10), "wide.png", "larger than 6000 pixels"),
    (b"", "empty.png", "The file is empty."),
])
def test_an_upload_that_is_not_a_usable_image_is_refused_with_a_message(admin, make_letter,
                                                                        data, name, message):
    make_letter()
    response = upload(admin, data, name)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    letter = db.session.scalar(db.select(Letter))
    db.session.refresh(letter)
    assert letter.logo_file is None and letter.coalition_name == ""
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Upload)) == 0


def test_uploads_are_not_served_over_http(admin, client, make_letter):
    make_letter()
    assert upload(admin, png()).status_code == 303
    name = db.session.scalar(db.select(Letter.logo_file))
    for url in (f"/uploads/{name}", f"/static/{name}", f"/static/../instance/uploads/{name}",
                f"/static/uploads/{name}", f"/instance/uploads/{name}"):
        assert client.get(url).status_code == 404


# ------------------------------------------------------------------ the command line


def test_export_pdf_renders_the_signed_letter_at_once(runner, sample, tmp_path):
    target = tmp_path / "out.pdf"
    result = runner.invoke(args=["export-pdf", "stop-forwarding", "-o", str(target)])
    assert result.exit_code == 0, result.output
    data = target.read_bytes()
    assert hashlib.sha256(data).hexdigest() in result.output
    text = one_line(pdf_text(data))
    assert "Red Comunitaria de Ñuñoa" in text and "Pending Partners Collective" not in text
    assert stored_pdfs() == 0  # rendered by the command, not taken from the worker's


def test_export_pdf_of_an_unknown_letter_is_a_one_line_error(runner, tmp_path):
    result = runner.invoke(args=["export-pdf", "nope", "-o", str(tmp_path / "x.pdf")])
    assert_one_line_error(result, "no letter with the slug 'nope'")
    assert result.output.strip() == "Error: no letter with the slug 'nope'"
    assert not (tmp_path / "x.pdf").exists()


def test_the_public_page_links_the_signed_pdf(client, make_letter):
    make_letter()
    soup = BeautifulSoup(client.get("/letters/stop-forwarding").get_data(as_text=True),
                         "html.parser")
    assert soup.find("a", string="Signed letter (PDF)")["href"] == PDF


def test_a_signature_row_is_what_the_listing_reads_for_the_pdf(app, make_letter,
                                                                make_signature):
    letter = make_letter()
    signature = make_signature(letter, organization="Sunrise Tenants Union", region="")
    with writing():
        moderation.rename(signature, "Sunrise Tenants")
    [row] = listing.rows(letter)
    assert (row.shown_name, row.place, row.scope) == ("Sunrise Tenants", "Tucson", "local")
    assert db.session.get(Signature, row.id) is signature


def test_eighty_signatories_are_set_in_two_columns_and_no_entry_is_split(bare):
    pdf = rendered(letter_in_memory(), in_listing_order(
        entry(n + 1, f"Neighborhood Defense Committee of District {n:02d}",
              scope=("national", "state", "local", "international")[n % 4]) for n in range(80)))
    pages = ["".join(page.split()) for page in pdf_pages(pdf)]
    for n in range(80):
        shown = f"NeighborhoodDefenseCommitteeofDistrict{n:02d}Tucson,AZ"
        assert sum(shown in page for page in pages) == 1, n
    starts: set[int] = set()
    for page in pypdf.PdfReader(io.BytesIO(pdf)).pages:
        page.extract_text(visitor_text=lambda text, cm, tm, *_: starts.add(round(cm[4] + tm[4]))
                          if text.startswith("Neighborhood") else None)
    assert len(starts) == 2, starts
