"""a coalition's tool: partners and the signatures they bring, embeds, organizers' roles per
letter, invitations, site administrators, preview images for shared links

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 14:00:00

Every organizer account made before this revision becomes a site administrator: it could do
everything on every letter, and still can.

Going down, SQLite drops a column only by rebuilding the table, which drops the signature table's
triggers (and renames a rebuilt letter table only without them): they are made again at the end,
as 0005 made them.
"""
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organizer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_admin", sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    op.execute(sa.text("UPDATE organizer SET is_admin = :yes").bindparams(yes=True))
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("embed_origins", sa.Text(), server_default="",
                                      nullable=False))
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.add_column(sa.Column("partner_id", sa.Integer(), nullable=True))
    op.create_index("ix_signature_partner", "signature", ["letter_id", "partner_id", "status"])
    # a letter's earlier signatures (those of a version before its latest change) without reading
    # the rest of its list
    op.create_index("ix_signature_version", "signature", ["letter_id", "version_id"])
    op.create_table(
        "partner",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["letter_id"], ["letter.id"],
                                name=op.f("fk_partner_letter_id_letter"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner")),
        sa.UniqueConstraint("letter_id", "code", name=op.f("uq_partner_letter_id_code")),
    )
    op.create_table(
        "letter_role",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("organizer_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('owner', 'editor', 'moderator', 'viewer', 'partner')",
                           name=op.f("ck_letter_role_role")),
        sa.ForeignKeyConstraint(["letter_id"], ["letter.id"],
                                name=op.f("fk_letter_role_letter_id_letter"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organizer_id"], ["organizer.id"],
                                name=op.f("fk_letter_role_organizer_id_organizer"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"],
                                name=op.f("fk_letter_role_partner_id_partner"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_role")),
        sa.UniqueConstraint("letter_id", "organizer_id", name=op.f("uq_letter_role_letter_id_organizer_id")),
    )
    op.create_index("ix_letter_role_organizer_id", "letter_role", ["organizer_id"])
    op.create_table(
        "invitation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by", sa.Integer(), nullable=True),
        sa.Column("letter_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["invited_by"], ["organizer.id"],
                                name=op.f("fk_invitation_invited_by_organizer"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["letter_id"], ["letter.id"],
                                name=op.f("fk_invitation_letter_id_letter"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"],
                                name=op.f("fk_invitation_partner_id_partner"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitation")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitation_token_hash")),
    )
    op.create_table(
        "share_image",
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("png", sa.LargeBinary(), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["letter_id"], ["letter.id"],
                                name=op.f("fk_share_image_letter_id_letter"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("letter_id", name=op.f("pk_share_image")),
    )


def downgrade() -> None:
    _drop_sqlite_triggers()
    op.drop_table("share_image")
    op.drop_table("invitation")
    op.drop_index("ix_letter_role_organizer_id", table_name="letter_role")
    op.drop_table("letter_role")
    op.drop_table("partner")
    op.drop_index("ix_signature_version", table_name="signature")
    op.drop_index("ix_signature_partner", table_name="signature")
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.drop_column("partner_id")
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.drop_column("embed_origins")
    with op.batch_alter_table("organizer", schema=None) as batch_op:
        batch_op.drop_column("is_admin")
    _create_sqlite_triggers()


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _drop_sqlite_triggers() -> None:
    if _sqlite():
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS listed_count_{name}")


def _create_sqlite_triggers() -> None:
    """The signature table's SQLite triggers as 0005 made them (the kept counts and the PDF
    refresh jobs), from that migration's module (its file name is not an importable name)."""
    if not _sqlite():
        return
    import importlib.util

    path = Path(__file__).with_name("0005_renders_in_the_background.py")
    spec = importlib.util.spec_from_file_location("campaign_migration_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for statement in module.SQLITE_TRIGGERS:
        op.execute(statement)
