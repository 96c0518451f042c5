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
from support import password_hash

from campaign import count_check, listing, moderation, spreadsheets
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Letter, Signature

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
    with writing():
        accounts.create_organizer("keeper@example.org", password_hash())
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


# ------------------------------------------------------------------ kept counts (0004)


def assert_counts_right(expected: dict[tuple[int, str], int]) -> None:
    """The kept counts are `expected`, and equal a fresh count of the signatures."""
    db.session.expire_all()
    assert count_check.count_mismatches() == {}
    assert count_check.kept_counts() == expected


def test_kept_counts_follow_every_change_to_the_signatures(app, runner, make_letter,
                                                          make_signature):
    init_db(runner)
    letter, other = make_letter(), make_letter(slug="another-letter", title="Another")
    waiting = [make_signature(letter, status="pending", scope=scope)
               for scope in ("local", "national", "local", "state")]
    listed = make_signature(letter, scope="state")
    make_signature(letter, status="unconfirmed")
    make_signature(other)
    ids = [s.id for s in waiting]
    a, b = letter.id, other.id
    assert_counts_right({(a, "state"): 1, (b, "local"): 1})

    with writing():
        assert moderation.decide(letter, ids, approve=True) == 4
    assert_counts_right({(a, "local"): 2, (a, "national"): 1, (a, "state"): 2, (b, "local"): 1})
    assert listing.count(letter) == 5

    with writing():
        assert moderation.decide(letter, ids[:2], approve=False) == 2
    assert_counts_right({(a, "local"): 1, (a, "state"): 2, (b, "local"): 1})

    with writing():
        db.session.get(Signature, listed.id).held = True
    assert_counts_right({(a, "local"): 1, (a, "state"): 1, (b, "local"): 1})

    with writing():
        db.session.get(Signature, ids[3]).scope = "international"
    assert_counts_right({(a, "local"): 1, (a, "international"): 1, (b, "local"): 1})

    with writing():
        db.session.delete(db.session.get(Signature, ids[2]))
        db.session.delete(db.session.get(Signature, ids[0]))  # rejected: no count changes
    assert_counts_right({(a, "international"): 1, (b, "local"): 1})

    rows = "organization,city,scope\nFirst Imported Union,Tucson,local\n" \
           "Second Imported Union,Tucson,local\nThird Imported Union,Phoenix,national\n"
    with writing():
        assert spreadsheets.import_csv(other, rows, approved=True) == 3
    assert_counts_right({(a, "international"): 1, (b, "local"): 3, (b, "national"): 1})

    with writing():
        db.session.execute(sa.delete(Signature).where(Signature.letter_id == b))
    assert_counts_right({(a, "international"): 1})


def triggers() -> set[str]:
    """The names of the triggers in the database (and on PostgreSQL, of their functions)."""
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            return set(conn.scalars(sa.text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'")))
        return set(conn.scalars(sa.text(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal UNION "
            "SELECT proname FROM pg_proc WHERE proname LIKE 'listed\\_count\\_%'")))


SIGNATURE_AT_0003 = sa.text(
    "INSERT INTO signature (letter_id, organization, sort_key, org_key, contact_name,"
    " contact_title, email, phone, website, city, region, country, scope, keep_updated, status,"
    " source, held, created_at) VALUES (:letter_id, 'Signed At 0003', 'signed at 0003',"
    " 'signed at 0003', '', '', 'at0003@example.org', '', '', 'Tucson', 'AZ', '', :scope, false,"
    " 'approved', 'web', false, CURRENT_TIMESTAMP)")


def test_below_0004_the_counts_and_their_triggers_are_gone_and_come_back(app, runner, make_letter,
                                                                          make_signature):
    init_db(runner)
    letter = make_letter()
    make_signature(letter)
    waiting_id = make_signature(letter, status="pending", scope="national").id
    letter_id = letter.id
    assert_counts_right({(letter_id, "local"): 1})
    db.session.remove()  # the objects loaded so far are not used below 0004

    flask_migrate.downgrade(directory=migrations_directory(), revision="0003")
    assert "listed_count" not in tables()
    assert triggers() == set()
    with writing() as session:  # no trigger is left to write to a table that is gone
        session.execute(SIGNATURE_AT_0003, {"letter_id": letter_id, "scope": "local"})
        session.execute(sa.text("UPDATE signature SET status = 'approved' WHERE id = :id"),
                        {"id": waiting_id})
        session.execute(sa.text("DELETE FROM signature WHERE email = 'at0003@example.org'"))
        session.execute(SIGNATURE_AT_0003, {"letter_id": letter_id, "scope": "state"})
    db.session.remove()

    init_db(runner)
    assert "listed_count" in tables()
    assert {"listed_count_insert", "listed_count_update", "listed_count_delete"} <= triggers()
    assert_counts_right({(letter_id, "local"): 1, (letter_id, "national"): 1,
                         (letter_id, "state"): 1})
    letter = db.session.get(Letter, letter_id)
    make_signature(letter, scope="national")  # the triggers are back
    with writing():
        moderation.decide(letter, [waiting_id], approve=False)
    assert_counts_right({(letter_id, "local"): 1, (letter_id, "national"): 1,
                         (letter_id, "state"): 1})


def test_below_0007_an_individuals_kept_count_moves_to_local(app, runner, make_letter,
                                                              make_signature):
    """0006 has no individuals: they become local signatories, and the kept counts follow."""
    init_db(runner)
    letter = make_letter(signers="both")
    make_signature(letter, scope="individual", organization="Rosa Sample")
    make_signature(letter, scope="local")
    make_signature(letter, status="withdrawn", scope="local")
    letter_id = letter.id
    assert_counts_right({(letter_id, "individual"): 1, (letter_id, "local"): 1})
    db.session.remove()

    flask_migrate.downgrade(directory=migrations_directory(), revision="0006")
    assert_counts_right({(letter_id, "local"): 2})


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


def trigger_definitions() -> dict[str, str]:
    """Each trigger's (and on PostgreSQL each trigger function's) definition."""
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            return dict(conn.execute(sa.text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all())
        return dict(conn.execute(sa.text(
            "SELECT proname, prosrc FROM pg_proc WHERE proname LIKE 'listed\\_count\\_%'")).all())


def test_0007_rebuilds_the_signature_table_with_its_triggers_as_they_were(
        app, runner, make_letter, make_signature):
    """0007 rebuilds the signature table on SQLite, which drops its triggers: they come back
    exactly as 0006 had them, counting and queueing the PDF's refresh."""
    flask_migrate.upgrade(directory=migrations_directory(), revision="0006")
    before = trigger_definitions()
    assert len(before) == 3 and all("render_job" in sql for sql in before.values())
    init_db(runner)
    assert trigger_definitions() == before
    letter = make_letter()
    with writing() as session:
        session.execute(sa.text("DELETE FROM render_job"))
    make_signature(letter, status="approved")
    with db.engine.connect() as conn:
        waiting = conn.scalar(sa.text(
            "SELECT count(*) FROM render_job WHERE letter_id = :id AND status = 'queued'"),
            {"id": letter.id})
    assert waiting == 1
    assert_counts_right({(letter.id, "local"): 1})
