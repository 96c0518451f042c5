"""Every migration revision goes up, down and up again with rows in every table, on SQLite and
PostgreSQL; rows survive the round trip of each revision that does not concern them, and the
schema at the end matches the models. Walks whatever revisions exist, so new ones are covered.

listed_count (0004) is kept by triggers on the signature table: its rows are never inserted
here but made from the signatures (by 0004's upgrade, then by the triggers), and at every
revision that has it, it is compared with a fresh count of the signatures rather than with the
rows it held before a round trip."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from support_apps import BACKENDS, build_app, new_database

from campaign import count_check, moderation, paths
from campaign.extensions import db

ROWS_PER_TABLE = 3
KEPT_BY_TRIGGERS = {"listed_count"}  # made from the signatures; checked against a fresh count
Rows = dict[str, list[dict[str, Any]]]


# ------------------------------------------------------------------ rows for any schema


def _choices(table: sa.Table, inspector: sa.Inspector) -> dict[str, list[str]]:
    """Allowed values of columns under a CHECK (... IN ('a', 'b')) constraint, as reflected."""
    found: dict[str, list[str]] = {}
    for check in inspector.get_check_constraints(table.name):
        text = check["sqltext"]
        literals = re.findall(r"'([^']*)'", text)
        for column in table.columns:
            if literals and re.search(rf"\b{column.name}\b", text):
                found[column.name] = literals
    return found


def _value(table: sa.Table, column: sa.Column[Any], i: int, choices: dict[str, list[str]]) -> Any:
    kind = column.type
    if column.name in choices:
        return choices[column.name][i % len(choices[column.name])]
    if isinstance(kind, sa.Boolean):
        return i % 2 == 1  # so signature row 2 ('approved', not held) is listed
    if isinstance(kind, sa.Integer):
        return i + 1
    if isinstance(kind, sa.Float):
        return i + 0.5
    if isinstance(kind, sa.DateTime):
        return datetime(2026, 3, 1 + i, 12, 30, tzinfo=UTC)
    if isinstance(kind, sa.LargeBinary):
        return b"%PDF-1.7 row " + str(i).encode()
    if isinstance(kind, sa.String):
        text = f"{table.name}.{column.name} {i} Café Ñandú — “quoted” 🐝"
        if "email" in column.name or "recipient" in column.name:
            text = f"{column.name}{i}@{table.name.replace('_', '-')}.example.org"
        if getattr(kind, "length", None):
            text = text[: kind.length]
        return text
    raise AssertionError(f"no test value for {table.name}.{column.name} ({kind!r})")


def fill(conn: sa.Connection) -> list[str]:
    """Put ROWS_PER_TABLE rows in every empty table, parents first; returns the tables filled."""
    meta = sa.MetaData()
    meta.reflect(bind=conn)
    inspector = sa.inspect(conn)
    filled = []
    for table in meta.sorted_tables:
        if table.name in {"alembic_version", *KEPT_BY_TRIGGERS} or conn.scalar(
                sa.select(sa.func.count()).select_from(table)):
            continue
        choices = _choices(table, inspector)
        parents = {}
        for fk in table.foreign_keys:
            ids = list(conn.scalars(sa.select(fk.column).order_by(fk.column)))
            assert len(ids) >= ROWS_PER_TABLE, f"{fk.column.table.name} has too few rows"
            parents[fk.parent.name] = ids
        rows = []
        for i in range(ROWS_PER_TABLE):
            row = {}
            for column in table.columns:
                if column.name in parents:
                    row[column.name] = parents[column.name][i]
                elif column.primary_key and column.autoincrement in (True, "auto") and \
                        isinstance(column.type, sa.Integer) and len(table.primary_key) == 1:
                    continue
                else:
                    row[column.name] = _value(table, column, i, choices)
            rows.append(row)
        conn.execute(table.insert(), rows)
        filled.append(table.name)
    return filled


def snapshot(conn: sa.Connection) -> tuple[Rows, dict[str, list[str]]]:
    """Every table's rows, and its columns."""
    meta = sa.MetaData()
    meta.reflect(bind=conn)
    rows, columns = {}, {}
    for table in meta.sorted_tables:
        if table.name == "alembic_version":
            continue
        columns[table.name] = [c.name for c in table.columns]
        rows[table.name] = [dict(r) for r in conn.execute(sa.select(table)).mappings()]
    return rows, columns


def project(rows: list[dict[str, Any]], names: list[str]) -> list[tuple[Any, ...]]:
    return sorted((tuple(row[n] for n in names) for row in rows), key=repr)


def miscounted() -> dict[tuple[int, str], tuple[int, int]] | None:
    """The kept counts that differ from a fresh count, or None at a revision without them."""
    try:
        if "listed_count" not in sa.inspect(db.engine).get_table_names():
            return None
        return count_check.count_mismatches()
    finally:
        db.session.remove()


# ------------------------------------------------------------------ the walk


@dataclass
class Walk:
    app: Flask
    revisions: list[str]
    filled: dict[str, list[str]] = field(default_factory=dict)  # revision -> tables given rows
    lost: list[str] = field(default_factory=list)  # what a round trip did not keep
    downgraded_with_rows: list[str] = field(default_factory=list)
    counts_checked: list[str] = field(default_factory=list)  # stages with kept counts
    miscounted: list[str] = field(default_factory=list)  # stages whose kept counts were wrong


def check_counts(walk: Walk, stage: str) -> None:
    wrong = miscounted()
    if wrong is not None:
        walk.counts_checked.append(stage)
        if wrong:
            walk.miscounted.append(f"{stage}: kept counts (kept, fresh) {wrong}")


def walk_revisions(app: Flask) -> Walk:
    directory = str(paths.MIGRATIONS)
    script = ScriptDirectory(directory)
    order = [r.revision for r in reversed(list(script.walk_revisions()))]
    result = Walk(app, order)
    with app.app_context():
        for revision in order:
            down = script.get_revision(revision).down_revision or "base"
            flask_migrate.upgrade(directory=directory, revision=revision)
            with db.engine.begin() as conn:
                result.filled[revision] = fill(conn)
                before, columns_before = snapshot(conn)
            assert all(before.values()), f"an empty table at {revision}"
            check_counts(result, f"{revision} up")

            flask_migrate.downgrade(directory=directory, revision=down)
            result.downgraded_with_rows.append(revision)
            with db.engine.connect() as conn:
                after_down, kept_columns = snapshot(conn)
            flask_migrate.upgrade(directory=directory, revision=revision)
            with db.engine.begin() as conn:
                after_up, columns_up = snapshot(conn)
                fill(conn)  # the tables this revision made come back empty: give them rows again
            check_counts(result, f"{revision} up again")

            for table, names in kept_columns.items():
                if table in KEPT_BY_TRIGGERS:
                    continue  # compared with a fresh count instead (check_counts)
                # the columns the revision keeps (one it drops is only in the lower schema)
                names = [n for n in names if n in columns_before[table] and n in columns_up[table]]
                expected = project(before[table], names)
                for stage, rows in (("down", after_down), ("up again", after_up)):
                    if project(rows[table], names) != expected:
                        result.lost.append(f"{revision} {stage}: rows of {table} changed")
        db.session.remove()
    return result


@pytest.fixture(scope="module", params=BACKENDS)
def walk(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder: Path = tmp_path_factory.mktemp(f"walk-{request.param}")
    with new_database(request.param, request, folder) as url:
        app = build_app(url, folder / "instance")
        yield walk_revisions(app)
        with app.app_context():
            db.engine.dispose()


def test_the_walk_covers_every_revision_from_base_to_head(walk):
    script = ScriptDirectory(str(paths.MIGRATIONS))
    assert walk.revisions[-1] == script.get_current_head()
    assert len(walk.revisions) == len(list(script.walk_revisions()))
    assert len(walk.revisions) >= 3


def test_every_revision_went_down_and_up_again_with_rows_in_every_table(walk):
    assert walk.downgraded_with_rows == walk.revisions
    assert "signature" in walk.filled[walk.revisions[0]]
    assert "outbox_message" in walk.filled[walk.revisions[0]]


def test_rows_survive_the_round_trip_of_every_revision_that_does_not_concern_them(walk):
    assert walk.lost == []


def test_kept_counts_equal_a_fresh_count_at_every_revision_that_has_them(walk):
    assert "0004 up" in walk.counts_checked
    assert "0004 up again" in walk.counts_checked
    assert walk.miscounted == []


def test_after_the_round_trips_the_schema_matches_the_models(walk):
    with walk.app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_after_the_round_trips_the_app_reads_the_rows(walk):
    with walk.app.test_request_context():
        from campaign.models import Letter, OutboxMessage, Signature

        letter = db.session.scalars(sa.select(Letter).order_by(Letter.id)).first()
        assert letter is not None and letter.versions
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Signature)) == \
            ROWS_PER_TABLE
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == \
            ROWS_PER_TABLE
        assert sum(moderation.status_counts(letter).values()) == 1  # one row each per letter
        assert count_check.kept_counts() != {}  # the walk's rows list one signature
        assert count_check.count_mismatches() == {}
        db.session.remove()
