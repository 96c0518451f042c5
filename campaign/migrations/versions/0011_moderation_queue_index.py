"""moderation queue index: a letter's signatures by status, held and date, so that the
moderation page's tab counts read an index rather than every signature of the letter, and a
tab's oldest first come in its order

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 18:00:00
"""
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_signature_queue", "signature",
                    ["letter_id", "status", "held", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_signature_queue", table_name="signature")
