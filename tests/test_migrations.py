"""Migrations: `campaign init-db` builds the schema from nothing, reruns harmlessly, fits models."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app

from campaign.extensions import db

CORE_TABLES = {"organizer", "letter", "letter_version", "signature", "outbox_message"}


def model_tables() -> set[str]:
    """Every table the models declare (new models join without editing this module)."""
    return set(db.metadata.tables)


@pytest.fixture
def empty_url(database_url, request, tmp_path):  # type: ignore[no-untyped-def]
    """A new database with nothing in it, on the same backend as `database_url`."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    cluster = request.getfixturevalue("postgres")
    name = "empty_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(cluster.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    yield cluster.url(name)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture
def app_config(app_config, empty_url):  # type: ignore[no-untyped-def]
    return {**app_config, "DATABASE_URL": empty_url}


def tables() -> set[str]:
    db.engine.dispose()  # a fresh look, not a cached connection
    return set(sa.inspect(db.engine).get_table_names())


def init_db(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "Database ready" in result.output


def migrations_directory() -> str:
    return str(current_app.extensions["migrate"].directory)


def test_init_db_on_an_empty_database_creates_every_table(app, runner):
    assert tables() == set()
    init_db(runner)
    assert tables() == model_tables() | {"alembic_version"}
    assert model_tables() >= CORE_TABLES


def test_init_db_records_the_latest_revision(app, runner):
    init_db(runner)
    with db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    assert current is not None
    assert current == ScriptDirectory(migrations_directory()).get_current_head()


def test_init_db_twice_is_harmless_and_keeps_data(app, runner):
    from campaign import accounts

    init_db(runner)
    accounts.create_organizer("keeper@example.org", "correct horse battery 9")
    db.session.commit()
    init_db(runner)
    assert tables() == model_tables() | {"alembic_version"}
    assert accounts.find("keeper@example.org") is not None


def test_downgrade_to_base_then_upgrade_again(app, runner):
    init_db(runner)
    flask_migrate.downgrade(directory=migrations_directory(), revision="base")
    assert tables() <= {"alembic_version"}
    init_db(runner)
    assert tables() == model_tables() | {"alembic_version"}


def test_migrated_schema_matches_the_models(app, runner):
    init_db(runner)
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_migrated_schema_enforces_the_letter_status_check(app, runner):
    init_db(runner)
    with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO letter (slug, title, recipient, body, status, language, require_approval,"
            " show_contact_names, created_at, updated_at) VALUES ('x', 'X', '', '', 'bogus', 'en',"
            " true, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))


def test_migrated_schema_enforces_foreign_keys(app, runner):
    init_db(runner)
    with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO letter_version (letter_id, number, title, recipient, body, content_hash,"
            " created_at) VALUES (424242, 1, 'X', '', '', 'abc', CURRENT_TIMESTAMP)"))


# ------------------------------------------------------------------ the console script


def test_console_init_db_creates_the_default_sqlite_database_in_wal_mode(tmp_path):
    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_")}
    env["CAMPAIGN_INSTANCE_PATH"] = str(instance)
    script = Path(sys.executable).parent / "campaign"
    for _ in range(2):  # the second run must be harmless too
        result = subprocess.run([str(script), "init-db"], capture_output=True, text=True, env=env,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    with sqlite3.connect(instance / "campaign.sqlite3") as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        names = {row[0] for row in rows}
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert names >= CORE_TABLES
    assert mode == "wal"


# ------------------------------------------------------------------ /healthz


def test_healthz_answers_when_the_database_does(app, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_is_503_when_the_database_is_unreachable(database_url, tmp_path, monkeypatch):
    from campaign import create_app

    if database_url.startswith("sqlite"):
        unreachable = f"sqlite:///{tmp_path / 'no-such-folder' / 'db.sqlite3'}"
    else:
        unreachable = database_url.rsplit("/", 1)[0] + "/no_such_database"
    monkeypatch.setenv("CAMPAIGN_INSTANCE_PATH", str(tmp_path / "instance"))
    down = create_app({"DATABASE_URL": unreachable, "SECRET_KEY": "healthz-test"})
    response = down.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "database unavailable"}
    with down.app_context():
        db.engine.dispose()
