"""Settings: defaults, instance config.py, CAMPAIGN_* environment, test mapping; bad values."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT, assert_one_line_error

from campaign import create_app
from campaign.config import ConfigError

CAMPAIGN = Path(sys.executable).parent / "campaign"


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty instance folder and an environment without any CAMPAIGN_* setting."""
    for name in list(os.environ):
        if name.startswith("CAMPAIGN_"):
            monkeypatch.delenv(name)
    folder = tmp_path / "instance"
    folder.mkdir()
    monkeypatch.setenv("CAMPAIGN_INSTANCE_PATH", str(folder))
    return folder


def write_config(instance: Path, text: str) -> None:
    (instance / "config.py").write_text(text, encoding="utf-8")


# ------------------------------------------------------------------ the layers


def test_defaults_apply_when_nothing_is_set(instance):
    app = create_app()
    assert app.config["BASE_URL"] == "http://127.0.0.1:5000"
    assert app.config["TIMEZONE"] == "UTC"
    assert app.config["RATELIMIT_ENABLED"] is True
    assert app.config["DATABASE_URL"] == f"sqlite:///{instance / 'campaign.sqlite3'}"


def test_instance_config_beats_defaults(instance):
    write_config(instance, 'BASE_URL = "https://letters.example.org"\n'
                           'TIMEZONE = "America/Phoenix"\n')
    app = create_app()
    assert app.config["BASE_URL"] == "https://letters.example.org"
    assert str(app.config["TZ"]) == "America/Phoenix"


def test_instance_config_ignores_lowercase_names(instance):
    write_config(instance, 'base_url = "https://ignored.example.org"\n')
    assert create_app().config["BASE_URL"] == "http://127.0.0.1:5000"


def test_environment_beats_instance_config(instance, monkeypatch):
    write_config(instance, 'BASE_URL = "https://letters.example.org"\n')
    monkeypatch.setenv("CAMPAIGN_BASE_URL", "https://env.example.net/")
    assert create_app().config["BASE_URL"] == "https://env.example.net"


def test_test_mapping_beats_environment(instance, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_BASE_URL", "https://env.example.net")
    assert create_app({"BASE_URL": "http://test.example.org"}).config["BASE_URL"] == \
        "http://test.example.org"


def test_environment_text_becomes_booleans_and_numbers(instance, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_RATELIMIT_ENABLED", "off")
    monkeypatch.setenv("CAMPAIGN_MAIL_PORT", "2525")
    monkeypatch.setenv("CAMPAIGN_MAIL_USE_TLS", "yes")
    config = create_app().config
    assert config["RATELIMIT_ENABLED"] is False
    assert config["MAIL_PORT"] == 2525
    assert config["MAIL_USE_TLS"] is True


def test_database_url_comes_from_the_environment(instance, monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}"
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", url)
    assert create_app().config["SQLALCHEMY_DATABASE_URI"] == url


# ------------------------------------------------------------------ bad values


def test_ratelimit_maybe_is_a_config_error_naming_the_variable(instance, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_RATELIMIT_ENABLED", "maybe")
    with pytest.raises(ConfigError, match=r"CAMPAIGN_RATELIMIT_ENABLED must be true or.*'maybe'"):
        create_app()


def test_unknown_timezone_is_a_config_error_naming_it(instance, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_TIMEZONE", "Mars/Olympus_Mons")
    with pytest.raises(ConfigError, match=r"CAMPAIGN_TIMEZONE 'Mars/Olympus_Mons' is not a known"):
        create_app()


def test_non_numeric_mail_port_is_a_config_error(instance, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_MAIL_PORT", "smtp")
    with pytest.raises(ConfigError, match=r"CAMPAIGN_MAIL_PORT must be a number"):
        create_app()


@pytest.mark.parametrize(("name", "raw"), [
    ("MAIL_PORT", "²"), ("MAIL_PORT", "١٢"), ("MAIL_PORT", "-1"), ("MAIL_PORT", "1_000"),
    ("TOKEN_MAX_AGE_DAYS", "9" * 30), ("MAIL_TIMEOUT", "nan"), ("MAIL_TIMEOUT", "inf"),
    ("MAIL_TIMEOUT", "1e400"), ("MAIL_TIMEOUT", "-2.5"), ("SIGN_LIMIT_PER_HOUR", "")])
def test_a_number_setting_takes_plain_digits_within_bounds(instance, monkeypatch, name, raw):
    """Python's int() and float() take all of these; none is a setting anyone means, and some
    (a token lifetime of 10**30 days) would fail later, in a request."""
    monkeypatch.setenv(f"CAMPAIGN_{name}", raw)
    with pytest.raises(ConfigError, match=rf"CAMPAIGN_{name} must be a number"):
        create_app()


@pytest.mark.parametrize("value", ["float('nan')", "-1", "10**30", "True"])
def test_a_number_in_the_instance_config_is_bounded_too(instance, value):
    write_config(instance, f"MAIL_TIMEOUT = {value}\n")
    with pytest.raises(ConfigError, match=r"MAIL_TIMEOUT in .*config\.py must be a number"):
        create_app()


def test_instance_config_text_is_checked_like_the_environment(instance):
    write_config(instance, 'RATELIMIT_ENABLED = "maybe"\n')
    with pytest.raises(ConfigError, match=r"RATELIMIT_ENABLED in .*config\.py must be true or"):
        create_app()


def test_instance_config_text_boolean_is_read_as_a_boolean(instance):
    write_config(instance, 'RATELIMIT_ENABLED = "off"\nMAIL_PORT = "2525"\n')
    config = create_app().config
    assert config["RATELIMIT_ENABLED"] is False
    assert config["MAIL_PORT"] == 2525


def test_instance_config_syntax_error_is_a_config_error_with_the_line(instance):
    write_config(instance, 'BASE_URL = "https://example.org"\nTIMEZONE = "UTC\n')
    with pytest.raises(ConfigError, match=r"config\.py, line 2"):
        create_app()


def test_instance_config_that_raises_is_a_config_error(instance):
    write_config(instance, "import campaign_no_such_module\n")
    with pytest.raises(ConfigError, match=r"config\.py: ModuleNotFoundError"):
        create_app()


# ------------------------------------------------------------------ the secret key


def test_missing_secret_key_is_generated_and_kept_in_the_instance_folder(instance):
    key = create_app().config["SECRET_KEY"]
    assert len(key) >= 32
    assert (instance / "secret_key").read_text().strip() == key
    assert (instance / "secret_key").stat().st_mode & 0o077 == 0


def test_generated_secret_key_is_the_same_on_the_next_start(instance):
    assert create_app().config["SECRET_KEY"] == create_app().config["SECRET_KEY"]


def test_secret_key_from_the_environment_is_used_and_nothing_is_written(instance, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_SECRET_KEY", "an-environment-key-for-this-test")
    assert create_app().config["SECRET_KEY"] == "an-environment-key-for-this-test"
    assert not (instance / "secret_key").exists()


def test_production_refuses_to_start_without_a_secret_key(instance):
    with pytest.raises(ConfigError, match=r"CAMPAIGN_SECRET_KEY is not set"):
        create_app(production=True)
    assert not (instance / "secret_key").exists()


def test_production_ignores_a_generated_local_key(instance):
    create_app()  # a local run leaves a generated key behind
    with pytest.raises(ConfigError, match=r"CAMPAIGN_SECRET_KEY is not set"):
        create_app(production=True)


def test_production_starts_with_a_secret_key(instance, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_SECRET_KEY", "a-production-key-for-this-test")
    app = create_app(production=True)
    assert app.config["SECRET_KEY"] == "a-production-key-for-this-test"
    assert app.config["PRODUCTION"] is True


def test_session_cookie_is_secure_when_the_base_url_is_https(instance, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_BASE_URL", "https://letters.example.org")
    assert create_app().config["SESSION_COOKIE_SECURE"] is True


# ------------------------------------------------------------------ the command line


def run_campaign(instance: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_")}
    return subprocess.run([str(CAMPAIGN), *args], capture_output=True, text=True, timeout=60,
                          env={**clean, "CAMPAIGN_INSTANCE_PATH": str(instance), **env})


@pytest.mark.parametrize("args", [["init-db"], ["routes"], ["--help"], []],
                         ids=["init-db", "routes", "help", "bare"])
def test_cli_with_a_bad_setting_prints_one_error_line(instance, args):
    result = run_campaign(instance, *args, CAMPAIGN_RATELIMIT_ENABLED="maybe")
    assert_one_line_error(result, "CAMPAIGN_RATELIMIT_ENABLED")


def test_cli_with_an_unknown_timezone_prints_one_error_line(instance):
    result = run_campaign(instance, "init-db", CAMPAIGN_TIMEZONE="Nowhere/Atlantis")
    assert_one_line_error(result, "Nowhere/Atlantis")
    assert not (instance / "campaign.sqlite3").exists()


def test_cli_with_a_broken_instance_config_prints_one_error_line(instance):
    write_config(instance, "BASE_URL = (\n")
    assert_one_line_error(run_campaign(instance, "routes"), "config.py")


def test_wsgi_entry_point_refuses_to_start_without_a_secret_key(instance):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_")}
    env = {**clean, "CAMPAIGN_INSTANCE_PATH": str(instance)}
    refused = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "CAMPAIGN_SECRET_KEY is not set" in refused.stderr
    started = subprocess.run([sys.executable, "-c", "import wsgi; print(wsgi.app.name)"], cwd=ROOT,
                             env={**env, "CAMPAIGN_SECRET_KEY": "a-production-key"},
                             capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "campaign"


@pytest.mark.parametrize("raw", [" https://letters.example.org", "javascript:alert(1)",
                                 "https://letters.example.org\r\nX: y", "letters.example.org",
                                 "ftp://letters.example.org", "https://", "https://a.example.org/?x=1"])
def test_a_base_url_that_is_no_web_address_stops_the_app(instance, monkeypatch, raw):
    monkeypatch.setenv("CAMPAIGN_BASE_URL", raw)
    with pytest.raises(ConfigError, match="CAMPAIGN_BASE_URL must be an address"):
        create_app()


def test_a_base_url_in_capitals_still_makes_the_cookie_secure(instance, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_BASE_URL", "HTTPS://Letters.Example.org/")
    config = create_app().config
    assert config["BASE_URL"] == "https://letters.example.org"
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_NAME"] == "__Host-session"
