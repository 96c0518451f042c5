"""signed letter: letterhead and closing, delivery records, outbox attachments

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 11:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("coalition_name", sa.String(length=200), server_default="",
                                      nullable=False))
        batch_op.add_column(sa.Column("logo_file", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("closing", sa.String(length=300), server_default="",
                                      nullable=False))
        batch_op.add_column(sa.Column("delivery_emails", sa.Text(), server_default="",
                                      nullable=False))
        batch_op.add_column(sa.Column("deliver_by_email", sa.Boolean(), server_default=sa.false(),
                                      nullable=False))

    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organizer_id", sa.Integer(), nullable=True),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.Column("emailed_to", sa.Text(), nullable=False),
        sa.Column("signatory_count", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("contacts_csv", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["letter_id"], ["letter.id"],
                                name=op.f("fk_delivery_letter_id_letter"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organizer_id"], ["organizer.id"],
                                name=op.f("fk_delivery_organizer_id_organizer"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery")),
        sa.UniqueConstraint("letter_id", name=op.f("uq_delivery_letter_id")),
    )
    op.create_table(
        "delivered_signature",
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("signature_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["delivery.id"],
                                name=op.f("fk_delivered_signature_delivery_id_delivery"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["signature_id"], ["signature.id"],
                                name=op.f("fk_delivered_signature_signature_id_signature"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("delivery_id", "signature_id", name=op.f("pk_delivered_signature")),
    )
    op.create_table(
        "outbox_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["outbox_message.id"],
                                name=op.f("fk_outbox_attachment_message_id_outbox_message"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_attachment")),
    )
    with op.batch_alter_table("outbox_attachment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_attachment_message_id"), ["message_id"],
                              unique=False)


def downgrade():
    with op.batch_alter_table("outbox_attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_attachment_message_id"))
    op.drop_table("outbox_attachment")
    op.drop_table("delivered_signature")
    op.drop_table("delivery")

    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.drop_column("deliver_by_email")
        batch_op.drop_column("delivery_emails")
        batch_op.drop_column("closing")
        batch_op.drop_column("logo_file")
        batch_op.drop_column("coalition_name")
