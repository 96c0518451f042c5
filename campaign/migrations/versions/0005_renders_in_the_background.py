"""renders in the background: render jobs, stored PDFs and their parts, uploads in the database

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 11:00:00

The signature triggers of 0004 are made again: besides the kept counts, a change to a listed
signature now queues a 'refresh' render job for its letter in the same transaction (at most one
waits per letter: the partial unique index uq_render_job_waiting). Uploaded images move from the
instance folder into the database, so that every host reads them; every letter gets a refresh
job, so that its PDF is made by the worker.
"""
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

LISTED_NEW = "NEW.status = 'approved' AND NOT NEW.held"
LISTED_OLD = "OLD.status = 'approved' AND NOT OLD.held"
LISTED_ROWS = "status = 'approved' AND NOT held"
SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%S', 'now')"


def sqlite_refresh(letter: str, when: str) -> str:
    return f"""INSERT INTO render_job (letter_id, kind, status, attempts, due, last_error, params,
                                       created_at)
        SELECT {letter}, 'refresh', 'queued', 0, {SQLITE_NOW}, '', '{{}}', {SQLITE_NOW}
         WHERE {when}
      ON CONFLICT (letter_id, kind) WHERE status = 'queued' DO NOTHING;"""


SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER listed_count_insert AFTER INSERT ON signature WHEN {LISTED_NEW}
    BEGIN
      INSERT INTO listed_count (letter_id, scope, listed, revision)
        VALUES (NEW.letter_id, NEW.scope, 1, 1)
      ON CONFLICT (letter_id, scope)
        DO UPDATE SET listed = listed + 1, revision = revision + 1;
      {sqlite_refresh("NEW.letter_id", "1")}
    END""",
    f"""CREATE TRIGGER listed_count_update AFTER UPDATE ON signature
    WHEN ({LISTED_OLD}) OR ({LISTED_NEW})
    BEGIN
      UPDATE listed_count SET listed = listed - 1, revision = revision + 1
       WHERE {LISTED_OLD} AND letter_id = OLD.letter_id AND scope = OLD.scope;
      INSERT INTO listed_count (letter_id, scope, listed, revision)
        SELECT NEW.letter_id, NEW.scope, 1, 1 WHERE {LISTED_NEW}
      ON CONFLICT (letter_id, scope)
        DO UPDATE SET listed = listed + 1, revision = revision + 1;
      {sqlite_refresh("NEW.letter_id", "1")}
    END""",
    f"""CREATE TRIGGER listed_count_delete AFTER DELETE ON signature WHEN {LISTED_OLD}
    BEGIN
      UPDATE listed_count SET listed = listed - 1, revision = revision + 1
       WHERE letter_id = OLD.letter_id AND scope = OLD.scope;
      {sqlite_refresh("OLD.letter_id", "EXISTS (SELECT 1 FROM letter WHERE id = OLD.letter_id)")}
    END""",
]

UPSERT = """ON CONFLICT (letter_id, scope) DO UPDATE
        SET listed = listed_count.listed + EXCLUDED.listed,
            revision = listed_count.revision + EXCLUDED.revision"""


def postgres_refresh(rows: str) -> str:
    return f"""INSERT INTO render_job (letter_id, kind, status, attempts, due, last_error, params,
                                       created_at)
        SELECT DISTINCT letter_id, 'refresh', 'queued', 0, now(), '', '{{}}', now()
          FROM {rows}
      ON CONFLICT (letter_id, kind) WHERE status = 'queued' DO NOTHING;"""


POSTGRES_FUNCTIONS = [
    f"""CREATE OR REPLACE FUNCTION listed_count_after_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO listed_count (letter_id, scope, listed, revision)
        SELECT letter_id, scope, count(*), count(*) FROM new_rows WHERE {LISTED_ROWS}
         GROUP BY letter_id, scope
      {UPSERT};
      {postgres_refresh(f"new_rows WHERE {LISTED_ROWS}")}
      RETURN NULL;
    END $$""",
    f"""CREATE OR REPLACE FUNCTION listed_count_after_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO listed_count (letter_id, scope, listed, revision)
        SELECT letter_id, scope, sum(change), count(*) FROM (
          SELECT letter_id, scope, 1 AS change FROM new_rows WHERE {LISTED_ROWS}
          UNION ALL
          SELECT letter_id, scope, -1 FROM old_rows WHERE {LISTED_ROWS}) AS changes
         GROUP BY letter_id, scope
      {UPSERT};
      {postgres_refresh(f'''(SELECT letter_id FROM new_rows WHERE {LISTED_ROWS}
                             UNION SELECT letter_id FROM old_rows WHERE {LISTED_ROWS}) AS touched''')}
      RETURN NULL;
    END $$""",
    f"""CREATE OR REPLACE FUNCTION listed_count_after_delete() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE listed_count SET listed = listed_count.listed - gone.n,
                              revision = listed_count.revision + gone.n
        FROM (SELECT letter_id, scope, count(*) AS n FROM old_rows WHERE {LISTED_ROWS}
               GROUP BY letter_id, scope) AS gone
       WHERE listed_count.letter_id = gone.letter_id AND listed_count.scope = gone.scope;
      {postgres_refresh(f"old_rows WHERE {LISTED_ROWS} AND EXISTS (SELECT 1 FROM letter WHERE letter.id = old_rows.letter_id)")}
      RETURN NULL;
    END $$""",
]


def upgrade():
    op.create_table(
        "upload",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("content_type", sa.String(length=50), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_upload")),
    )
    op.create_table(
        "render_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.CheckConstraint("kind IN ('refresh', 'deliver')", name=op.f("ck_render_job_kind")),
        sa.ForeignKeyConstraint(["letter_id"], ["letter.id"],
                                name=op.f("fk_render_job_letter_id_letter"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_render_job")),
    )
    with op.batch_alter_table("render_job", schema=None) as batch_op:
        batch_op.create_index("ix_render_job_due", ["status", "due"], unique=False)
        batch_op.create_index("ix_render_job_letter_id", ["letter_id", "id"], unique=False)
        batch_op.create_index("uq_render_job_waiting", ["letter_id", "kind"], unique=True,
                              sqlite_where=sa.text("status = 'queued'"),
                              postgresql_where=sa.text("status = 'queued'"))
    op.create_table(
        "pdf_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("signatory_count", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rendered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("reused", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('signed', 'addendum')", name=op.f("ck_pdf_file_kind")),
        sa.ForeignKeyConstraint(["letter_id"], ["letter.id"],
                                name=op.f("fk_pdf_file_letter_id_letter"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdf_file")),
        sa.UniqueConstraint("letter_id", "kind", name=op.f("uq_pdf_file_letter_id_kind")),
    )
    op.create_table(
        "pdf_part",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_pdf_part")),
    )
    with op.batch_alter_table("pdf_part", schema=None) as batch_op:
        batch_op.create_index("ix_pdf_part_used_at", ["used_at"], unique=False)

    _replace_triggers(refresh=True)
    bind = op.get_bind()
    _import_uploads(bind)
    now = sa.func.now() if bind.dialect.name == "postgresql" else sa.text(SQLITE_NOW)
    bind.execute(sa.text(
        f"""INSERT INTO render_job (letter_id, kind, status, attempts, due, last_error, params,
                                    created_at)
            SELECT id, 'refresh', 'queued', 0, {now}, '', '{{}}', {now} FROM letter"""))


def _import_uploads(bind):
    """The images the letters name, from the instance folder they were kept in until now."""
    from flask import current_app

    folder = Path(current_app.instance_path) / "uploads"
    names = [name for (name,) in bind.execute(
        sa.text("SELECT DISTINCT logo_file FROM letter WHERE logo_file IS NOT NULL"))]
    for name in names:
        path = folder / name
        if path.is_file():
            kind = "image/png" if name.endswith(".png") else "image/jpeg"
            bind.execute(sa.text("INSERT INTO upload (name, content_type, data, created_at) "
                                 "VALUES (:name, :kind, :data, CURRENT_TIMESTAMP)"),
                         {"name": name, "kind": kind, "data": path.read_bytes()})


def _replace_triggers(refresh: bool) -> None:
    """The signature triggers with (upgrade) or without (downgrade) the refresh jobs."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS listed_count_{name}")
        for statement in SQLITE_TRIGGERS if refresh else _sqlite_0004():
            op.execute(statement)
    else:
        for statement in POSTGRES_FUNCTIONS if refresh else _postgres_0004():
            op.execute(statement)


def _sqlite_0004() -> list[str]:
    return _load_0004().SQLITE_TRIGGERS


def _postgres_0004() -> list[str]:
    return [statement.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
            for statement in _load_0004().POSTGRES_TRIGGERS if "CREATE FUNCTION" in statement]


def _load_0004():
    """Migration 0004's module (its file name is not an importable name)."""
    import importlib.util

    path = Path(__file__).with_name("0004_kept_counts_stored_html.py")
    spec = importlib.util.spec_from_file_location("migration_0004", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _export_uploads(bind):
    """Back to the instance folder, where 0004's code looks for them."""
    from flask import current_app

    folder = Path(current_app.instance_path) / "uploads"
    for name, data in bind.execute(sa.text("SELECT name, data FROM upload")):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def downgrade():
    _export_uploads(op.get_bind())
    _replace_triggers(refresh=False)
    with op.batch_alter_table("pdf_part", schema=None) as batch_op:
        batch_op.drop_index("ix_pdf_part_used_at")
    op.drop_table("pdf_part")
    op.drop_table("pdf_file")
    with op.batch_alter_table("render_job", schema=None) as batch_op:
        batch_op.drop_index("uq_render_job_waiting", sqlite_where=sa.text("status = 'queued'"),
                            postgresql_where=sa.text("status = 'queued'"))
        batch_op.drop_index("ix_render_job_letter_id")
        batch_op.drop_index("ix_render_job_due")
    op.drop_table("render_job")
    op.drop_table("upload")
