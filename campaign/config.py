"""Settings: defaults -> instance config.py -> CAMPAIGN_* environment -> test mapping, checked."""
from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask

PREFIX = "CAMPAIGN_"

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,  # SQLite file in the instance folder
    "SECRET_KEY": None,  # generated once and kept in the instance folder (not in production)
    "BASE_URL": "http://127.0.0.1:5000",
    "TIMEZONE": "UTC",
    "RATELIMIT_ENABLED": True,
    "MAIL_SERVER": None,  # no server: mail is printed and written to the instance folder
    "MAIL_PORT": 25,
    "MAIL_USE_TLS": False,
    "MAIL_USE_SSL": False,
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_DEFAULT_SENDER": "Campaign <letters@example.org>",
    "MAIL_TIMEOUT": 20.0,  # seconds; Flask-Mail itself sets none
    "MAIL_MAX_ATTEMPTS": 8,
    "TOKEN_MAX_AGE_DAYS": 7,
    "SIGN_LIMIT_PER_HOUR": 30,  # submissions per IP and letter before they are held for review
    "HELD_LIMIT": 1000,  # held submissions a letter keeps; further ones to hold are dropped
    "PDF_TIMEOUT": 300,
    "PROXIES": 0,  # reverse proxies in front of the app whose X-Forwarded-* headers are trusted
    "IMPORT_MAX_ROWS": 50_000,  # rows in one imported spreadsheet
    "IMPORT_MAX_BYTES": 4 * 1024 * 1024,  # size of one imported spreadsheet
    "IMPORT_BACKGROUND_ROWS": 1_000,  # larger imports are written by the worker, in chunks
    "IMPORT_CHUNK_ROWS": 500,  # rows written per writing unit by a background import
    "SESSION_IDLE_MINUTES": 120,  # an organizer's session ends after this long unused
    "SESSION_MAX_HOURS": 12,  # and this long after logging in, however used
    # days after a letter is delivered or closed when its signers' contact details are erased
    # (retention.py); None: kept. Checked in _finish: unset is a value of its own.
    "RETAIN_CONTACTS_DAYS": None,
}
OPTIONAL_DAYS = {"RETAIN_CONTACTS_DAYS": 36_500}  # a number of days or nothing, and its most

_BOOLS = {"1": True, "true": True, "yes": True, "on": True,
          "0": False, "false": False, "no": False, "off": False, "": False}


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def _coerce(raw: str, default: Any, source: str) -> Any:
    """A setting given as text, as its default's type; `source` names where it was given."""
    if isinstance(default, bool):
        try:
            return _BOOLS[raw.strip().lower()]
        except KeyError:
            raise ConfigError(f"{source} must be true or false, not {raw!r}") from None
    if isinstance(default, int | float):
        pattern = r"[0-9]{1,9}" if isinstance(default, int) else r"[0-9]{1,9}(\.[0-9]{1,6})?"
        if not re.fullmatch(pattern, raw.strip()):
            kind = "a whole number" if isinstance(default, int) else "a number such as 2.5"
            raise ConfigError(f"{source} must be a number ({kind}, from 0 to 999999999), "
                              f"not {raw!r}")
        return type(default)(raw.strip())
    return raw


def _check_type(value: Any, default: Any, source: str) -> Any:
    """A value from the instance config.py: text is read as the environment's would be."""
    if isinstance(value, str):
        return _coerce(value, default, source)
    if isinstance(default, bool) and not isinstance(value, bool):
        raise ConfigError(f"{source} must be True or False, not {value!r}")
    if (isinstance(default, int | float) and not isinstance(default, bool)
            and (isinstance(value, bool) or not isinstance(value, type(default) | int)
                 or not 0 <= value < 1e9)):  # NaN fails this too; an int setting takes no float
        raise ConfigError(f"{source} must be a number from 0 to 999999999, not {value!r}")
    if (default is None or isinstance(default, str)) and value is not None \
            and not isinstance(value, str):
        raise ConfigError(f"{source} must be text (in quotes), not {value!r}")
    return value


def _read_instance_config(path: Path) -> dict[str, Any]:
    """The upper-case names set in the instance folder's config.py; a broken file: ConfigError."""
    scope: dict[str, Any] = {}
    try:
        exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), scope)  # noqa: S102
    except SyntaxError as exc:
        raise ConfigError(f"{path}, line {exc.lineno}: {exc.msg}") from None
    except Exception as exc:  # anything the file itself raises
        raise ConfigError(f"{path}: {type(exc).__name__}: {exc}") from None
    settings = {}
    for key, value in scope.items():
        if key.isupper():
            # others (Flask's, SQLAlchemy's) are taken as given; OPTIONAL_DAYS checked in _finish
            known = key in DEFAULTS and key not in OPTIONAL_DAYS
            settings[key] = _check_type(value, DEFAULTS[key], f"{key} in {path}") if known \
                else value
    return settings


def load(app: Flask, test_config: Mapping[str, Any] | None, production: bool) -> None:
    """Fill app.config from the layers, in order, then check the result."""
    settings = dict(DEFAULTS)

    instance_file = Path(app.instance_path) / "config.py"
    if instance_file.exists():
        settings.update(_read_instance_config(instance_file))

    for name, raw in os.environ.items():
        if name.startswith(PREFIX) and name != f"{PREFIX}INSTANCE_PATH":
            key = name[len(PREFIX):]
            settings[key] = _coerce(raw, DEFAULTS.get(key), name)

    settings.update(test_config or {})
    _finish(app, settings, production)


def _finish(app: Flask, settings: dict[str, Any], production: bool) -> None:
    instance = Path(app.instance_path)
    if not settings.get("DATABASE_URL"):
        settings["DATABASE_URL"] = f"sqlite:///{instance / 'campaign.sqlite3'}"
    settings["SQLALCHEMY_DATABASE_URI"] = settings["DATABASE_URL"]
    settings.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})

    if not settings.get("SECRET_KEY"):
        if production:
            raise ConfigError(
                "CAMPAIGN_SECRET_KEY is not set: production refuses to start without one "
                "(set it in the environment or in the instance folder's config.py)"
            )
        settings["SECRET_KEY"] = _local_secret(instance)

    try:
        settings["TZ"] = ZoneInfo(settings["TIMEZONE"])
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigError(
            f"CAMPAIGN_TIMEZONE {settings['TIMEZONE']!r} is not a known time zone"
        ) from None

    settings["BASE_URL"] = _base_url(str(settings["BASE_URL"]))
    for name, most in OPTIONAL_DAYS.items():
        settings[name] = _optional_days(settings.get(name), f"{PREFIX}{name}", most)
    settings["MAIL_SUPPRESS_SEND"] = not settings.get("MAIL_SERVER")
    _session_settings(settings)
    # A request carries at most an imported file and its form (64 kB more).
    settings.setdefault("MAX_CONTENT_LENGTH",
                        max(4 * 1024 * 1024, int(settings["IMPORT_MAX_BYTES"]) + 64 * 1024))
    settings.setdefault("WTF_CSRF_TIME_LIMIT", None)  # tied to the session instead
    settings["PRODUCTION"] = production
    app.config.update(settings)


def _optional_days(value: Any, source: str, most: int) -> int | None:
    """A number of days from 0 to `most`, given as plain digits (or a number in config.py), or
    None when it is unset or empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,9}", value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
        raise ConfigError(f"{source} must be a whole number of days from 0 to {most}, or unset, "
                          f"not {value!r}")
    return value


def _base_url(raw: str) -> str:
    """CAMPAIGN_BASE_URL as every emailed link and the cookie's Secure flag read it: an http or
    https address with a host, its scheme and host in lower case, without a final '/'."""
    parts = urlsplit(raw)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname \
            or parts.query or parts.fragment or re.search(r"[\s\x00-\x1f\x7f]", raw):
        raise ConfigError(f"CAMPAIGN_BASE_URL must be an address such as "
                          f"https://letters.example.org, not {raw!r}")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", "")) \
        .rstrip("/")


def _session_settings(settings: dict[str, Any]) -> None:
    """The session cookie: HttpOnly, SameSite=Lax, Secure and named with the __Host- prefix (no
    Domain, Path=/) over HTTPS; gone when the browser closes. No remember-me cookie is ever set:
    organizer sessions are kept on the server for SESSION_IDLE_MINUTES and SESSION_MAX_HOURS."""
    for name, most in (("SESSION_IDLE_MINUTES", 525_600), ("SESSION_MAX_HOURS", 8_760)):
        if not 0 < settings[name] <= most:  # at most a year
            raise ConfigError(f"CAMPAIGN_{name} must be more than 0 and at most {most}, "
                              f"not {settings[name]!r}")
    settings.setdefault("SESSION_COOKIE_HTTPONLY", True)
    settings.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    settings.setdefault("SESSION_COOKIE_SECURE", settings["BASE_URL"].startswith("https://"))
    if settings["SESSION_COOKIE_SECURE"]:
        settings.setdefault("SESSION_COOKIE_NAME", "__Host-session")
        settings["SESSION_COOKIE_DOMAIN"] = None
        settings["SESSION_COOKIE_PATH"] = "/"
    settings.setdefault("PERMANENT_SESSION_LIFETIME",
                        timedelta(hours=settings["SESSION_MAX_HOURS"]))


def _local_secret(instance: Path) -> str:
    """A key generated once for local use and kept in the instance folder."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key
