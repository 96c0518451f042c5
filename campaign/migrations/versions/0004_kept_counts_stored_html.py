"""kept counts of listed signatures, letter bodies stored as HTML, emails made when sent

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 09:00:00

listed_count holds how many signatures of each letter are listed (approved, not held) per scope,
and a revision bumped by every change to a listed signature of that letter and scope; both kept
by triggers on the signature table in the transaction of each change. On SQLite they are row
triggers; on PostgreSQL statement triggers over transition tables, so that an import of 100,000
rows changes each count once, not 100,000 times.

Note for later migrations: on SQLite, a batch operation that rebuilds the signature table drops
its triggers with it; such a migration must create them again (SQLITE_TRIGGERS below).
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

LISTED_NEW = "NEW.status = 'approved' AND NOT NEW.held"
LISTED_OLD = "OLD.status = 'approved' AND NOT OLD.held"

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER listed_count_insert AFTER INSERT ON signature WHEN {LISTED_NEW}
    BEGIN
      INSERT INTO listed_count (letter_id, scope, listed, revision)
        VALUES (NEW.letter_id, NEW.scope, 1, 1)
      ON CONFLICT (letter_id, scope)
        DO UPDATE SET listed = listed + 1, revision = revision + 1;
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
    END""",
    f"""CREATE TRIGGER listed_count_delete AFTER DELETE ON signature WHEN {LISTED_OLD}
    BEGIN
      UPDATE listed_count SET listed = listed - 1, revision = revision + 1
       WHERE letter_id = OLD.letter_id AND scope = OLD.scope;
    END""",
]

LISTED_ROWS = "status = 'approved' AND NOT held"
UPSERT = """ON CONFLICT (letter_id, scope) DO UPDATE
        SET listed = listed_count.listed + EXCLUDED.listed,
            revision = listed_count.revision + EXCLUDED.revision"""
POSTGRES_TRIGGERS = [
    f"""CREATE FUNCTION listed_count_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO listed_count (letter_id, scope, listed, revision)
        SELECT letter_id, scope, count(*), count(*) FROM new_rows WHERE {LISTED_ROWS}
         GROUP BY letter_id, scope
      {UPSERT};
      RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION listed_count_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO listed_count (letter_id, scope, listed, revision)
        SELECT letter_id, scope, sum(change), count(*) FROM (
          SELECT letter_id, scope, 1 AS change FROM new_rows WHERE {LISTED_ROWS}
          UNION ALL
          SELECT letter_id, scope, -1 FROM old_rows WHERE {LISTED_ROWS}) AS changes
         GROUP BY letter_id, scope
      {UPSERT};
      RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION listed_count_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE listed_count SET listed = listed_count.listed - gone.n,
                              revision = listed_count.revision + gone.n
        FROM (SELECT letter_id, scope, count(*) AS n FROM old_rows WHERE {LISTED_ROWS}
               GROUP BY letter_id, scope) AS gone
       WHERE listed_count.letter_id = gone.letter_id AND listed_count.scope = gone.scope;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER listed_count_insert AFTER INSERT ON signature
       REFERENCING NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION listed_count_after_insert()""",
    """CREATE TRIGGER listed_count_update AFTER UPDATE ON signature
       REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION listed_count_after_update()""",
    """CREATE TRIGGER listed_count_delete AFTER DELETE ON signature
       REFERENCING OLD TABLE AS old_rows
       FOR EACH STATEMENT EXECUTE FUNCTION listed_count_after_delete()""",
]


def upgrade():
    op.create_table(
        "listed_count",
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("listed", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["letter_id"], ["letter.id"],
                                name=op.f("fk_listed_count_letter_id_letter"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("letter_id", "scope", name=op.f("pk_listed_count")),
    )
    op.execute(f"""INSERT INTO listed_count (letter_id, scope, listed, revision)
                   SELECT letter_id, scope, count(*), 0 FROM signature WHERE {LISTED_ROWS}
                    GROUP BY letter_id, scope""")
    for statement in (SQLITE_TRIGGERS if op.get_bind().dialect.name == "sqlite"
                      else POSTGRES_TRIGGERS):
        op.execute(statement)

    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_html", sa.Text(), server_default="", nullable=False))
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("params", sa.Text(), nullable=True))

    # Each letter's body as HTML, made by the same code as a save makes it.
    from campaign.markup import markdown_to_html

    bind = op.get_bind()
    letters = bind.execute(sa.text("SELECT id, body FROM letter")).all()
    for letter_id, body in letters:
        bind.execute(sa.text("UPDATE letter SET body_html = :html WHERE id = :id"),
                     {"html": str(markdown_to_html(body or "")), "id": letter_id})


def downgrade():
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("params")
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.drop_column("body_html")
    for name in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS listed_count_{name}"
                   + ("" if op.get_bind().dialect.name == "sqlite" else " ON signature"))
        if op.get_bind().dialect.name != "sqlite":
            op.execute(f"DROP FUNCTION IF EXISTS listed_count_after_{name}()")
    op.drop_table("listed_count")
