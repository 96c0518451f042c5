"""CAMPAIGN_PROXIES: behind a reverse proxy, each visitor is known by their own address."""
from __future__ import annotations

import os

import pytest
from flask import request
from support import SECRET

from campaign import create_app


@pytest.mark.parametrize(("proxies", "expected"), [(0, "127.0.0.1"), (1, "203.0.113.7")])
def test_forwarded_address_is_trusted_only_with_proxies_set(tmp_path, monkeypatch, proxies,
                                                           expected):
    for name in list(os.environ):
        if name.startswith("CAMPAIGN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CAMPAIGN_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",  # never read
                      "SECRET_KEY": SECRET, "PROXIES": proxies})
    seen = {}

    @app.get("/_whoami")
    def whoami() -> str:
        seen["addr"] = request.remote_addr
        seen["secure"] = request.is_secure
        return "ok"

    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    response = app.test_client().get("/_whoami", headers=headers,
                                     environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 200
    assert seen["addr"] == expected
    assert seen["secure"] is bool(proxies)
