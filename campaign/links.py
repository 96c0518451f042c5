"""Absolute addresses under CAMPAIGN_BASE_URL, for links that leave the site (emails, the
delivery record): never built from the request's Host header."""
from __future__ import annotations

from flask import current_app


def external_url(endpoint: str, **values: object) -> str:
    """An absolute address under BASE_URL; works outside a request too (the worker, commands)."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return current_app.config["BASE_URL"] + path
