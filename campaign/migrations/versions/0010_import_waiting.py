"""import waiting: an uploaded spreadsheet kept in the database between its preview and the
organizer's confirmation (it was kept in the instance folder of the host that served the
preview, which another host answering the confirmation cannot read)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 17:00:00

Files waiting in the instance folder when this revision runs are not carried over: they wait an
hour at most, and their organizers upload them again.
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_waiting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("organizer_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("encoding", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["letter_id"], ["letter.id"],
                                name=op.f("fk_import_waiting_letter_id_letter"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organizer_id"], ["organizer.id"],
                                name=op.f("fk_import_waiting_organizer_id_organizer"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_waiting")),
        sa.UniqueConstraint("token", name=op.f("uq_import_waiting_token")),
    )
    op.create_index("ix_import_waiting_created_at", "import_waiting", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_import_waiting_created_at", table_name="import_waiting")
    op.drop_table("import_waiting")
