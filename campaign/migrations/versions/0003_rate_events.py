"""rate events: counted attempts for limits shared by every worker

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 11:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "rate_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_event")),
    )
    with op.batch_alter_table("rate_event", schema=None) as batch_op:
        batch_op.create_index("ix_rate_event_key", ["key", "created_at"], unique=False)
        batch_op.create_index("ix_rate_event_created_at", ["created_at"], unique=False)


def downgrade():
    with op.batch_alter_table("rate_event", schema=None) as batch_op:
        batch_op.drop_index("ix_rate_event_created_at")
        batch_op.drop_index("ix_rate_event_key")
    op.drop_table("rate_event")
