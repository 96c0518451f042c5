"""Fixtures: the app on SQLite and PostgreSQL, client, runner, a real SMTP server, factories.
Helpers that are not fixtures are in support.py."""
from __future__ import annotations

import contextvars
import os
import shutil
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from support import (
    BACKENDS,
    SECRET,
    Mailbox,
    PostgresCluster,
    free_port,
    password_hash,
    pg_bin,
    submit,
)

from campaign import create_app
from campaign.database import writing
from campaign.extensions import db

# The modules that take minutes (`.ci/run --durations=40` names them), collected first: a
# module's tests stay on one worker (--dist loadscope), and one handed out last would run alone
# while the other workers wait.
SLOW_FIRST = ("test_under_render.py", "test_faults.py", "test_hostile_organizer.py",
              "test_coalition_browser.py", "test_languages_browser.py", "test_concurrency.py",
              "test_delivery.py", "test_hardening.py", "test_hostile.py", "test_roles.py",
              "test_letter_life.py", "test_letter_life_browser.py", "test_moderation_browser.py",
              "test_accessibility_browser.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: (SLOW_FIRST.index(item.path.name)
                                 if item.path.name in SLOW_FIRST else len(SLOW_FIRST)))


def pytest_report_header(config: pytest.Config) -> str:
    return "databases: " + ", ".join(BACKENDS)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    bindir = pg_bin()
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


@pytest.fixture(params=BACKENDS)
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
            return with_smtp(app_config, smtp)
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


@pytest.fixture(scope="session")
def bare_app(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The app for tests that render templates or PDFs but read no database: built once, and
    run once rather than once per database. Its database URL names a file nobody opens."""
    folder = tmp_path_factory.mktemp("bare")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("CAMPAIGN_"):
                mp.delenv(name)
        mp.setenv("CAMPAIGN_INSTANCE_PATH", str(folder / "instance"))
        return create_app({"DATABASE_URL": f"sqlite:///{folder / 'unused.sqlite3'}",
                           "SECRET_KEY": SECRET, "BASE_URL": "http://localhost",
                           "MAIL_SERVER": None})


@pytest.fixture
def bare(bare_app):  # type: ignore[no-untyped-def]
    """bare_app with an app context for the test."""
    with bare_app.app_context():
        yield bare_app


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
        with writing():
            letter = letters.create_or_update(letters.LetterText(**fields))
            for key, value in extra.items():
                setattr(letter, key, value)
        return letter

    return factory


@pytest.fixture
def make_signature(app):  # type: ignore[no-untyped-def]
    from campaign import signing
    from campaign.models import Signature

    counter = iter(range(1, 1_000_000))

    def factory(letter, status: str = "approved", **overrides: Any):  # type: ignore[no-untyped-def]
        n = next(counter)
        values: dict[str, Any] = {"organization": f"Workers Alliance {n}",
                                  "email": f"org{n}@example.org",
                                  "contact_name": f"Contact {n}", "city": "Tucson", "region": "AZ",
                                  "scope": "local", "phone": "+1 555 0100"}
        values.update(overrides)
        with writing():
            version = letter.current_version
            signature = Signature(**signing.signature_values(
                letter, signing.SignerInput(**values), email=values["email"], status=status,
                source="web"), version_id=version.id if version else None)
            db.session.add(signature)
        return signature

    return factory


@pytest.fixture
def organizer(app):  # type: ignore[no-untyped-def]
    """The staff account staff@example.org, password support.PASSWORD."""
    from campaign import accounts

    with writing():
        person = accounts.create_organizer("staff@example.org", password_hash(), "Staff")
    return person


@pytest.fixture
def admin(client, organizer):  # type: ignore[no-untyped-def]
    """A client logged in as an organizer."""
    from support import PASSWORD

    response = submit(client, "/login", {"email": "staff@example.org", "password": PASSWORD},
                      "Log in")
    assert response.status_code == 303, response.status_code
    return client


# ------------------------------------------------------------------ the durability figures


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On a pytest-xdist worker: hand this worker's figures to the controller."""
    import sys

    workeroutput = getattr(session.config, "workeroutput", None)
    figures = sys.modules.get("support_figures")
    if workeroutput is not None and figures is not None:
        workeroutput["figures"] = dict(figures.FIGURES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the pytest-xdist controller: add up what each worker counted."""
    import support_figures

    support_figures.FIGURES.update(getattr(node, "workeroutput", {}).get("figures", {}))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The figures counted by the hostile-input, fault and concurrency tests, when any ran."""
    import sys

    figures = sys.modules.get("support_figures")
    if figures is not None and any(figures.FIGURES.values()):
        terminalreporter.section("durability figures")
        for line in figures.summary_lines():
            terminalreporter.write_line(line)
