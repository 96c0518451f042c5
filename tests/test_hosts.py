"""Two hosts, one database: the web (gunicorn) and the worker (`campaign worker --once`) run as
separate processes with instance folders of their own on one PostgreSQL database, sharing
nothing on disk. What an organizer uploads through the web, the worker draws into the PDF it
renders; what the worker renders, the web serves."""
from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pypdf
import pytest
from support import BACKENDS, PASSWORD, SECRET, password_hash
from support_apps import build_app, migrate, new_database
from support_pdf import pdf_text, png
from support_servers import VENV_BIN, Browser, campaign_env, gunicorn

from campaign import accounts, letters, signing
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Signature

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS, reason="needs PostgreSQL")

SLUG = "stop-forwarding"
PDF = f"/letters/{SLUG}.pdf"
DELIVER = f"/admin/letters/{SLUG}/deliver"
COALITION = "Coalition for Fair Policing"


def open_letter_with_an_organizer(url: str, instance: Path) -> None:
    """What a deployment starts from: an organizer, an open letter, one listed signatory."""
    app = build_app(url, instance)
    with app.app_context():
        with writing():
            accounts.create_organizer("staff@example.org", password_hash(), "Staff")
            letter = letters.create_or_update(letters.LetterText(
                title="Stop Forwarding Fingerprints", slug=SLUG,
                body="We, the undersigned, ask you to **stop**.\n",
                recipient="The Director\nWashington, DC", status="open"))
            signer = signing.SignerInput(organization="Sunrise Tenants Union",
                                         email="rosa@sunrise.example.org", contact_name="Rosa",
                                         city="Tucson", region="AZ", scope="local", phone="")
            db.session.add(Signature(**signing.signature_values(
                letter, signer, email=signer.email, status="approved", source="web"),
                version_id=letter.current_version.id))
        db.session.remove()
        db.engine.dispose()


def files_in(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def test_a_logo_uploaded_to_the_web_is_drawn_by_a_worker_on_another_host_and_served_by_the_web(
        request, tmp_path):
    logo = png()
    with new_database("postgresql", request, tmp_path) as url:
        migrate(url, tmp_path / "setup")
        open_letter_with_an_organizer(url, tmp_path / "setup")
        web = tmp_path / "web"
        web.mkdir()
        with gunicorn(web, DATABASE_URL=url, RATELIMIT_ENABLED="false") as server:
            organizer = Browser(server.base)
            assert organizer.submit("/login", {"email": "staff@example.org",
                                               "password": PASSWORD}).status_code == 303
            saved = organizer.session.post(
                server.base + DELIVER,
                data={"csrf_token": organizer.token(DELIVER), "coalition_name": COALITION,
                      "closing": "", "delivery_emails": ""},
                files={"logo": ("logo.png", logo, "image/png")}, allow_redirects=False,
                timeout=30)
            assert saved.status_code == 303, saved.text[:500]
            before = organizer.session.get(server.base + PDF, timeout=30)
            assert before.status_code == 503  # no worker has rendered it yet

            worker = subprocess.run(
                [str(VENV_BIN / "campaign"), "worker", "--once"], capture_output=True, text=True,
                timeout=120, env=campaign_env(DATABASE_URL=url, SECRET_KEY=SECRET,
                                              INSTANCE_PATH=tmp_path / "worker" / "instance"))
            assert worker.returncode == 0, worker.stderr
            assert "Traceback" not in worker.stderr

            served = organizer.session.get(server.base + PDF, timeout=30)
            assert served.status_code == 200
            assert served.headers["Content-Type"] == "application/pdf"
            [image] = pypdf.PdfReader(io.BytesIO(served.content)).pages[0].images
            assert image.image.size == (240, 90)
            assert COALITION in pdf_text(served.content)
            assert "Sunrise Tenants Union" in pdf_text(served.content)
            assert "Traceback" not in server.log_text()

    on_the_web = files_in(web / "instance")
    assert not any(path.read_bytes().startswith(b"%PDF") for path in on_the_web), on_the_web
    assert not any(path.read_bytes() == logo for path in on_the_web), on_the_web
    on_the_worker = files_in(tmp_path / "worker" / "instance")
    assert not any(path.read_bytes().startswith(b"%PDF") for path in on_the_worker), on_the_worker
