"""hardening: organizer sessions kept on the server, login failures per account and address,
background imports

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 12:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _sessions_up()
    _imports_up()
    _held_up()


def downgrade() -> None:
    _held_down()
    _imports_down()
    _sessions_down()


# ------------------------------------------------------------------ held submissions, capped


def _held_up() -> None:
    """The held submissions of a letter, found without reading its other signatures: sign()
    stops keeping them at HELD_LIMIT."""
    op.create_index("ix_signature_held", "signature", ["letter_id"],
                    sqlite_where=sa.text("held = 1"), postgresql_where=sa.text("held"))


def _held_down() -> None:
    op.drop_index("ix_signature_held", table_name="signature")


# ------------------------------------------------------------------ organizer sessions, logins


def _sessions_up() -> None:
    """organizer_session: sessions kept on the server. The failed-login count on the account
    goes: failures are counted per account and address (rate_event), so that no stranger can
    lock an organizer out."""
    op.create_table(
        "organizer_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organizer_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["organizer_id"], ["organizer.id"],
                                name=op.f("fk_organizer_session_organizer_id_organizer"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizer_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_organizer_session_token_hash")),
    )
    with op.batch_alter_table("organizer_session", schema=None) as batch_op:
        batch_op.create_index("ix_organizer_session_organizer_id", ["organizer_id"], unique=False)
        batch_op.create_index("ix_organizer_session_last_seen_at", ["last_seen_at"], unique=False)
    with op.batch_alter_table("organizer", schema=None) as batch_op:
        batch_op.drop_column("last_failed_login")
        batch_op.drop_column("failed_logins")


def _sessions_down() -> None:
    with op.batch_alter_table("organizer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("last_failed_login", sa.DateTime(timezone=True),
                                      nullable=True))
    with op.batch_alter_table("organizer_session", schema=None) as batch_op:
        batch_op.drop_index("ix_organizer_session_last_seen_at")
        batch_op.drop_index("ix_organizer_session_organizer_id")
    op.drop_table("organizer_session")


# ------------------------------------------------------------------ background imports


def _imports_up() -> None:
    """signature_import, and signature.import_id naming the import that wrote a row. The column
    is added with a plain ALTER TABLE (no foreign key, no batch): rebuilding the signature table
    on SQLite would drop its triggers (0004, 0005)."""
    op.create_table(
        "signature_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("organizer_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("csv_text", sa.Text(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')",
                           name=op.f("ck_signature_import_status")),
        sa.ForeignKeyConstraint(["letter_id"], ["letter.id"],
                                name=op.f("fk_signature_import_letter_id_letter"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organizer_id"], ["organizer.id"],
                                name=op.f("fk_signature_import_organizer_id_organizer"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signature_import")),
    )
    op.create_index("ix_signature_import_due", "signature_import", ["status", "due"])
    op.create_index("ix_signature_import_letter_id", "signature_import", ["letter_id", "id"])
    op.add_column("signature", sa.Column("import_id", sa.Integer(), nullable=True))
    op.create_index("ix_signature_import_id", "signature", ["import_id"])


def _imports_down() -> None:
    op.drop_index("ix_signature_import_id", table_name="signature")
    op.drop_column("signature", "import_id")  # SQLite 3.35+: ALTER TABLE ... DROP COLUMN
    op.drop_index("ix_signature_import_letter_id", table_name="signature_import")
    op.drop_index("ix_signature_import_due", table_name="signature_import")
    op.drop_table("signature_import")
