"""An app that lives for a whole test module (so Hypothesis can run many examples against one
database), on SQLite or on the session's PostgreSQL cluster; and a stranger's browser for it."""
from __future__ import annotations

import os
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import support_figures as figures
from flask import Flask
from support import BACKENDS as _BACKENDS
from support import SECRET, form_fields
from werkzeug.test import TestResponse

from campaign import create_app
from campaign.extensions import db

BACKENDS = list(_BACKENDS)


@contextmanager
def clean_environment(instance: Path) -> Iterator[None]:
    """No CAMPAIGN_* setting from the outside while an app is built; its own instance folder."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("CAMPAIGN_"):
                mp.delenv(name)
        mp.setenv("CAMPAIGN_INSTANCE_PATH", str(instance))
        yield


def build_app(url: str, instance: Path, **settings: Any) -> Flask:
    config = {"DATABASE_URL": url, "SECRET_KEY": SECRET, "BASE_URL": "http://localhost",
              "MAIL_SERVER": None, "MAIL_TIMEOUT": 5.0, **settings}
    with clean_environment(instance):
        return create_app(config)


def migrate(url: str, instance: Path) -> None:
    from campaign.cli import upgrade_schema

    app = build_app(url, instance)
    with app.app_context():
        upgrade_schema()
        db.session.remove()
        db.engine.dispose()


@contextmanager
def new_database(backend: str, request: pytest.FixtureRequest, folder: Path) -> Iterator[str]:
    """An empty database on `backend` (not migrated); dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'campaign.sqlite3'}"
        return
    cluster = request.getfixturevalue("postgres")
    name = "m_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(cluster.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield cluster.url(name)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@dataclass
class Site:
    """A migrated app of its own for a test module."""

    app: Flask
    backend: str
    url: str

    @contextmanager
    def context(self) -> Iterator[None]:
        with self.app.app_context():
            try:
                yield
            finally:
                db.session.remove()


@contextmanager
def module_site(request: pytest.FixtureRequest, folder: Path, **settings: Any) -> Iterator[Site]:
    backend = request.param
    with new_database(backend, request, folder) as url:
        migrate(url, folder / "instance")
        app = build_app(url, folder / "instance", **settings)
        try:
            yield Site(app, backend, url)
        finally:
            with app.app_context():
                db.engine.dispose()


# ------------------------------------------------------------------ a stranger's browser


def encode_form(fields: Mapping[str, str | bytes]) -> bytes:
    """A urlencoded body; text may hold lone surrogates, which go out as their raw UTF-8 bytes
    (e.g. %ED%A0%80), as a hostile client would send them."""
    return "&".join(
        urllib.parse.quote_plus(name) + "=" + urllib.parse.quote_plus(
            value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass"))
        for name, value in fields.items()
    ).encode("ascii")


def quote_raw(text: str) -> str:
    """Text for a URL path or query, surrogates included as raw bytes."""
    return urllib.parse.quote(text.encode("utf-8", "surrogatepass"), safe="")


class Stranger:
    """A browser with its own cookies and the CSRF token of its own session; every answer it
    gets is counted in the suite's figures."""

    def __init__(self, app: Flask, token_page: str = "/login") -> None:
        self.client = app.test_client()
        page = self.client.get(token_page)
        assert page.status_code == 200, page.status_code
        self.token = form_fields(page.get_data(as_text=True))[1]["csrf_token"]

    def post(self, path: str, fields: Mapping[str, str | bytes], *, token: str | None = "own",
             hostile: bool = True, **kwargs: Any) -> TestResponse:
        body = dict(fields)
        if token == "own":
            body = {"csrf_token": self.token, **body}
        elif token is not None:
            body = {"csrf_token": token, **body}
        response = self.client.post(path, data=encode_form(body),
                                    content_type="application/x-www-form-urlencoded", **kwargs)
        figures.response(response.status_code, hostile)
        return response

    def get(self, path: str, *, hostile: bool = True, **kwargs: Any) -> TestResponse:
        response = self.client.get(path, **kwargs)
        figures.response(response.status_code, hostile)
        return response
