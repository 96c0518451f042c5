"""The signed letter as PDF: what it shows (text read back with pypdf), the locked URL fetcher,
the cache and the child process, the letterhead upload and the export-pdf command.

What a PDF shows of given rows is rendered once, without a database (the `bare` app, a letter
built in memory); what depends on the rows read, the cache or a request runs on each database."""
from __future__ import annotations

import hashlib
import io
import logging
import re
import threading
from datetime import timedelta

import pypdf
import pytest
from bs4 import BeautifulSoup
from support import assert_one_line_error, submit
from support_pdf import (
    SharedPdfStore,
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

from campaign import listing, moderation, uploads
from campaign.database import writing
from campaign.extensions import db
from campaign.listing import Listed
from campaign.markup import markdown_to_html
from campaign.models import Letter, Signature, utcnow
from campaign.paths import STATIC
from campaign.pdf import cache
from campaign.pdf.child import asset_roots
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


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory):
    return SharedPdfStore(tmp_path_factory.mktemp("pdf-store"))


@pytest.fixture
def reuse_pdfs(app, shared_store):
    """Lets tests that render the same content share one render (see SharedPdfStore)."""
    folder = cache.cache_folder()
    shared_store.seed(folder)
    yield
    shared_store.keep(folder)


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
def served_pdf(client, sample, reuse_pdfs):
    """The sample's PDF as the public address serves it, of the rows the listing reads."""
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


def test_pdf_lists_each_approved_signatory_under_its_group_in_order(served_pdf):
    text = one_line(pdf_text(served_pdf))
    headings = [text.index(heading) for heading in LISTED]
    assert headings == sorted(headings)
    bounds = [*headings, len(text)]
    for i, (heading, rows) in enumerate(LISTED.items()):
        section = text[bounds[i]:bounds[i + 1]]
        positions = [section.index(f"{name} {place}") for name, place in rows]
        assert positions == sorted(positions), heading
    assert "Local organizations" not in text


def test_pdf_leaves_out_pending_rejected_unconfirmed_and_held_signatures(served_pdf):
    text = one_line(pdf_text(served_pdf))
    for name in NOT_LISTED:
        assert name not in text
    assert "7 organizations" in text


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


def test_fetcher_refuses_file_urls_and_paths_out_of_its_folders(tmp_path):
    (tmp_path / "uploads").mkdir()
    fetcher = locked_fetcher({"static": STATIC, "uploads": tmp_path / "uploads"})
    for url in ("file:///etc/passwd", "FILE:///etc/passwd", "data:text/css,body{}",
                "https://campaign.invalid/static/../../../../etc/passwd",
                "https://campaign.invalid/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                "https://campaign.invalid/uploads/../campaign.sqlite3",
                "https://campaign.invalid/etc/passwd", "https://example.org/static/pdf.css",
                "http://campaign.invalid/static/pdf.css"):
        with pytest.raises(RefusedURL):
            fetcher.fetch(url)
    assert fetcher.fetch("https://campaign.invalid/static/pdf.css").read().startswith(b"/*")


def test_a_file_url_in_the_document_is_neither_drawn_nor_embedded(bare):
    pdf = html_to_pdf('<img src="file:///etc/passwd"><link rel="stylesheet" '
                      'href="file:///etc/passwd"><p>Nothing else</p>', asset_roots())
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
                    f'<img src="{canary.url("/img.png")}">', asset_roots())
    assert canary.hits == []
    shown = "".join(pdf_text(pdf).split())
    assert f'<imgsrc="{canary.url("/signer.png")}">' in shown  # the name as text, not an image


def test_a_redirecting_url_is_never_requested_nor_followed(bare):
    with canary_server() as canary:
        pdf = html_to_pdf(f'<img src="{canary.url("/redirect")}">'
                          f'<link rel="stylesheet" href="{canary.url("/redirect?css")}">',
                          asset_roots())
    assert pdf.startswith(b"%PDF")
    assert canary.hits == []


def test_attachments_are_never_embedded(bare):
    pdf = html_to_pdf(
        '<link rel="attachment" href="file:///etc/passwd">'
        '<link rel="attachment" href="static/pdf.css">'
        '<p><a rel="attachment" href="static/style.css">style</a></p>', asset_roots())
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert reader.attachments == {}
    annotations = reader.pages[0].get("/Annots") or []
    assert all(a.get_object()["/Subtype"] != "/FileAttachment" for a in annotations)
    assert b"/EmbeddedFile" not in pdf


# ------------------------------------------------------------------ cache and child process


def renders(caplog) -> int:
    return sum(1 for r in caplog.records if r.name == "campaign.pdf.cache"
               and r.getMessage().startswith("rendered "))


def test_two_requests_at_once_for_a_stale_pdf_render_it_once(new_client, make_letter,
                                                             make_signature, caplog):
    caplog.set_level(logging.INFO, logger="campaign.pdf")
    letter = make_letter()
    make_signature(letter, organization="Sunrise Tenants Union")
    clients = [new_client() for _ in range(2)]
    start = threading.Barrier(2)
    bodies: list[bytes] = []

    def fetch(each):
        start.wait()
        response = each.get(PDF)
        assert response.status_code == 200
        bodies.append(response.data)

    threads = [threading.Thread(target=fetch, args=(each,)) for each in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    assert renders(caplog) == 1


def test_an_unchanged_pdf_is_served_from_the_cache_and_by_etag(client, make_letter,
                                                               make_signature, caplog):
    caplog.set_level(logging.INFO, logger="campaign.pdf")
    make_signature(make_letter(), organization="Sunrise Tenants Union")
    first = client.get(PDF)
    second = client.get(PDF)
    assert second.data == first.data
    assert renders(caplog) == 1
    again = client.get(PDF, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_an_approval_renders_the_pdf_again_with_the_new_signatory(client, make_letter,
                                                                 make_signature, caplog):
    caplog.set_level(logging.INFO, logger="campaign.pdf")
    letter = make_letter()
    make_signature(letter, organization="Sunrise Tenants Union")
    waiting = make_signature(letter, "pending", organization="Late Bloomers Cooperative")
    first = client.get(PDF)
    with writing():
        moderation.decide(letter, [waiting.id], approve=True)
    second = client.get(PDF)
    assert renders(caplog) == 2
    assert second.headers["ETag"] != first.headers["ETag"]
    assert "Late Bloomers Cooperative" not in pdf_text(first.data)
    assert "Late Bloomers Cooperative" in pdf_text(second.data)
    assert len(list(cache.cache_folder().glob("*.pdf"))) == 1  # the stale one is gone


def test_a_render_over_the_time_limit_is_stopped_and_answers_503(app, client, make_letter):
    app.config["PDF_TIMEOUT"] = 0.05
    make_letter()
    response = client.get(PDF)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert "took longer than 0.05 seconds" in response.get_data(as_text=True)
    assert list(cache.cache_folder().glob("*.pdf")) == []


def test_after_a_failed_render_requests_wait_instead_of_starting_another(app, client,
                                                                        make_letter, caplog):
    app.config["PDF_TIMEOUT"] = 0.05
    make_letter()
    assert client.get(PDF).status_code == 503
    again = client.get(PDF)
    assert again.status_code == 503
    assert "could not be made a moment ago" in again.get_data(as_text=True)
    stopped = [r for r in caplog.records if r.getMessage().startswith("PDF rendering stopped")]
    assert len(stopped) == 1


# ------------------------------------------------------------------ letterhead uploads


def deliver_page(slug: str = "stop-forwarding") -> str:
    return f"/admin/letters/{slug}/deliver"


def upload(admin, data: bytes, name: str = "logo.png", **fields):
    return submit(admin, deliver_page(), {"coalition_name": COALITION, **fields,
                                          "logo": (io.BytesIO(data), name)}, "Save",
                  content_type="multipart/form-data")


def test_an_uploaded_logo_is_kept_in_the_instance_folder_and_drawn_on_the_letterhead(
        admin, make_letter, make_signature, app):
    make_signature(make_letter(), organization="Sunrise Tenants Union")
    logo = png()
    assert upload(admin, logo).status_code == 303
    letter = db.session.scalar(db.select(Letter))
    db.session.refresh(letter)
    stored = uploads.upload_folder() / letter.logo_file
    assert stored.read_bytes() == logo
    assert stored.is_relative_to(app.instance_path)
    pdf = admin.get(PDF).data
    [image] = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].images
    assert image.image.size == (240, 90)
    assert COALITION in pdf_text(pdf)


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
    assert not uploads.upload_folder().exists() or not any(uploads.upload_folder().iterdir())


def test_uploads_are_not_served_over_http(admin, client, make_letter):
    make_letter()
    assert upload(admin, png()).status_code == 303
    name = db.session.scalar(db.select(Letter.logo_file))
    for url in (f"/uploads/{name}", f"/static/{name}", f"/static/../instance/uploads/{name}"):
        assert client.get(url).status_code == 404


# ------------------------------------------------------------------ the command line


def test_export_pdf_writes_the_signed_letter(runner, sample, reuse_pdfs, tmp_path):
    target = tmp_path / "out.pdf"
    result = runner.invoke(args=["export-pdf", "stop-forwarding", "-o", str(target)])
    assert result.exit_code == 0, result.output
    data = target.read_bytes()
    assert hashlib.sha256(data).hexdigest() in result.output
    text = one_line(pdf_text(data))
    assert "Red Comunitaria de Ñuñoa" in text and "Pending Partners Collective" not in text


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
