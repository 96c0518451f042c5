"""Fixtures: the app on SQLite and PostgreSQL, client, runner, a real SMTP server, factories."""
from __future__ import annotations

import contextvars
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from bs4 import BeautifulSoup

from campaign import create_app
from campaign.extensions import db

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-key-not-for-production"


# ------------------------------------------------------------------ a throwaway PostgreSQL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresCluster:
    """initdb + pg_ctl in a temp folder, on loopback; as the postgres user when run as root."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="campaign-pg-"))
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                  "start")
        self.admin_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bindir / tool), *args], check=True,
                       capture_output=True, cwd="/")

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"),
                        "-m", "immediate", "stop"], capture_output=True, cwd="/")
        shutil.rmtree(self.dir, ignore_errors=True)


_BACKENDS = ["sqlite"]
if _pg_bin() is not None:
    _BACKENDS.append("postgresql")
elif os.environ.get("CAMPAIGN_TEST_REQUIRE_POSTGRES") == "1":
    raise RuntimeError("PostgreSQL's server binaries (initdb) are not installed")


def pytest_report_header(config: pytest.Config) -> str:
    return "databases: " + ", ".join(_BACKENDS)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    bindir = _pg_bin()
    assert bindir is not None
    cluster = PostgresCluster(bindir)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def template_db() -> dict[str, Any]:
    """One migrated database per backend and session; each test gets a copy of it."""
    return {}


def _migrated(url: str, instance: Path) -> None:
    os.environ["CAMPAIGN_INSTANCE_PATH"] = str(instance)
    try:
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET})
        with app.app_context():
            from campaign.cli import upgrade_schema

            upgrade_schema()
            db.engine.dispose()
    finally:
        del os.environ["CAMPAIGN_INSTANCE_PATH"]


@pytest.fixture(params=_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, migrated, empty database for one test."""
    cache = request.getfixturevalue("template_db")
    backend = request.param
    if backend == "sqlite":
        if "sqlite" not in cache:
            folder = tmp_path_factory.mktemp("sqlite-template")
            _migrated(f"sqlite:///{folder / 'template.sqlite3'}", folder)
            cache["sqlite"] = folder / "template.sqlite3"
        target = tmp_path / "campaign.sqlite3"
        shutil.copy(cache["sqlite"], target)
        yield f"sqlite:///{target}"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    admin = sa.create_engine(cluster.admin_url, isolation_level="AUTOCOMMIT")
    if "postgresql" not in cache:
        with admin.connect() as conn:
            conn.exec_driver_sql("CREATE DATABASE campaign_template")
        _migrated(cluster.url("campaign_template"), tmp_path_factory.mktemp("pg-template"))
        cache["postgresql"] = "campaign_template"
    name = "t_" + uuid.uuid4().hex[:12]
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE campaign_template")
    yield cluster.url(name)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


# ------------------------------------------------------------------ a real SMTP server


@dataclass
class Mailbox:
    """Messages received by the test SMTP server."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    port: int = 0
    refuse: bool = False

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m, (_, rcpts) in zip(self.messages, self.envelopes, strict=True)
                if address.lower() in [r.lower() for r in rcpts]]

    def wait(self, count: int, timeout: float = 10) -> None:
        end = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < end:
            time.sleep(0.05)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if box.refuse:
                return "451 try again later"
            box.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            box.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


# ------------------------------------------------------------------ the app


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    """The app's settings. A module that needs the real SMTP server overrides it:

        @pytest.fixture
        def app_config(app_config, smtp):
            return {**app_config, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp.port}
    """
    return {"DATABASE_URL": database_url, "SECRET_KEY": SECRET, "BASE_URL": "http://localhost",
            "MAIL_SERVER": None, "MAIL_TIMEOUT": 5.0}


@pytest.fixture
def app(app_config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for name in list(os.environ):
        if name.startswith("CAMPAIGN_"):
            monkeypatch.delenv(name)
    instance = tmp_path / "instance"
    monkeypatch.setenv("CAMPAIGN_INSTANCE_PATH", str(instance))
    application = create_app(app_config)
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def new_client(app):  # type: ignore[no-untyped-def]
    """A factory of clients that act as separate browsers. `client` shares the test's app context,
    so its requests share `g` (the logged-in user, the CSRF token) and the database session with
    the test and with each other; these run each request in an app context of its own, as a real
    server does. The test's session (if any) is committed first so that SQLite's write lock is
    free; they may be used from other threads."""
    from flask import has_app_context
    from flask.testing import FlaskClient

    class SeparateClient(FlaskClient):
        def open(self, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
            if has_app_context():
                db.session.commit()
            kwargs["buffered"] = True  # a streamed body is read in the request's own context
            return contextvars.Context().run(super().open, *args, **kwargs)

    return lambda: SeparateClient(app, app.response_class, use_cookies=True)


@pytest.fixture
def runner(app):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


# ------------------------------------------------------------------ forms


def form_fields(html: str, button: str | None = None) -> tuple[str | None, dict[str, str]]:
    """The action and hidden/default values of the form holding `button` (or the first form)."""
    soup = BeautifulSoup(html, "html.parser")
    for form in soup.find_all("form"):
        texts = [b.get_text(" ") or b.get("value", "") for b in form.find_all(["button", "input"])
                 if b.name == "button" or b.get("type") == "submit"]
        if button is None or any(button.lower() in t.lower() for t in texts):
            values = {}
            for inp in form.find_all(["input", "select", "textarea"]):
                name = inp.get("name")
                if not name or inp.get("type") in ("submit", "checkbox", "file"):
                    continue
                if inp.name == "select":
                    chosen = inp.find("option", selected=True) or inp.find("option")
                    values[name] = chosen.get("value", "") if chosen else ""
                elif inp.name == "textarea":
                    values[name] = inp.get_text()
                else:
                    values[name] = inp.get("value", "")
            return form.get("action"), values
    raise AssertionError(f"no form with a {button!r} button")


def submit(client, url: str, data: dict[str, Any], button: str | None = None, **kw):  # type: ignore[no-untyped-def]
    """GET the page, then POST its form (with its CSRF token) overlaid with `data`."""
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    action, values = form_fields(page.get_data(as_text=True), button)
    values.update({k: v for k, v in data.items() if v is not None})
    return client.post(action or url, data=values, **kw)


# ------------------------------------------------------------------ factories


@pytest.fixture
def make_letter(app):  # type: ignore[no-untyped-def]
    from campaign import letters

    def factory(**overrides: Any):  # type: ignore[no-untyped-def]
        fields: dict[str, Any] = {"title": "Stop Forwarding Fingerprints",
                                  "slug": "stop-forwarding",
                                  "body": "We, the undersigned, ask you to **stop**.\n",
                                  "recipient": "The Director\nWashington, DC", "status": "open"}
        extra = {k: overrides.pop(k) for k in ("require_approval", "show_contact_names")
                 if k in overrides}
        fields.update(overrides)
        letter = letters.save(letters.LetterText(**fields))
        for key, value in extra.items():
            setattr(letter, key, value)
        db.session.commit()
        return letter

    return factory


@pytest.fixture
def make_signature(app):  # type: ignore[no-untyped-def]
    from campaign import signing

    counter = iter(range(1, 1_000_000))

    def factory(letter, status: str = "approved", **overrides: Any):  # type: ignore[no-untyped-def]
        n = next(counter)
        values: dict[str, Any] = {"organization": f"Workers Alliance {n}",
                                  "email": f"org{n}@example.org",
                                  "contact_name": f"Contact {n}", "city": "Tucson", "region": "AZ",
                                  "scope": "local", "phone": "+1 555 0100"}
        values.update(overrides)
        signature = signing._new_signature(letter, signing.SignerInput(**values),
                                           email=values["email"], status=status, source="web")
        db.session.add(signature)
        db.session.commit()
        return signature

    return factory


@pytest.fixture
def organizer(app):  # type: ignore[no-untyped-def]
    from campaign import accounts

    person = accounts.create_organizer("staff@example.org", "correct horse battery 9", "Staff")
    db.session.commit()
    return person


@pytest.fixture
def admin(client, organizer):  # type: ignore[no-untyped-def]
    """A client logged in as an organizer."""
    response = submit(client, "/login", {"email": "staff@example.org",
                                         "password": "correct horse battery 9"}, "Log in")
    assert response.status_code == 303, response.status_code
    return client


# ------------------------------------------------------------------ the durability figures


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The figures counted by the hostile-input, fault and concurrency tests, when any ran."""
    import sys

    figures = sys.modules.get("support_figures")
    if figures is not None:
        terminalreporter.section("durability figures")
        for line in figures.summary_lines():
            terminalreporter.write_line(line)
