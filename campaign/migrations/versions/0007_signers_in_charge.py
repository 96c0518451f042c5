"""signers in charge: individuals, withdrawals, the signer's own links, re-consent, updates to
signers, collecting letters, retention, the audit log

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 13:00:00

The letter and signature tables take new values in their CHECK constraints (a letter may be
`collecting`; a signature may be `withdrawn`, and of scope `individual`). SQLite changes a
constraint only by rebuilding the table, which drops the signature table's triggers and its
partial index: both are made again here (the triggers as 0005 made them).
"""
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LETTER_STATUSES = "('draft', 'collecting', 'open', 'closed')"
OLD_LETTER_STATUSES = "('draft', 'open', 'closed')"
SCOPES = "('national', 'state', 'local', 'international', 'individual')"
OLD_SCOPES = "('national', 'state', 'local', 'international')"
SIGNATURE_STATUSES = "('unconfirmed', 'pending', 'approved', 'rejected', 'withdrawn')"
OLD_SIGNATURE_STATUSES = "('unconfirmed', 'pending', 'approved', 'rejected')"



def _sqlite_triggers() -> list[str]:
    """The signature table's SQLite triggers as 0005 made them (the kept counts and the PDF
    refresh jobs), from that migration's module (its file name is not an importable name)."""
    import importlib.util

    path = Path(__file__).with_name("0005_renders_in_the_background.py")
    spec = importlib.util.spec_from_file_location("campaign_migration_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.SQLITE_TRIGGERS)


SIGNATURE_COLUMNS = ("withdrawn_at", "withdraw_requested_at", "reconsent_asked_at",
                     "reminded_at", "unsubscribed_at")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    _drop_sqlite_triggers()  # SQLite renames a rebuilt letter table only without them
    _letter_up()
    _signature_up()
    _tables_up()


def downgrade() -> None:
    _signature_values_down()  # while the SQLite triggers still move the kept counts
    _drop_sqlite_triggers()
    _tables_down()
    _signature_down()
    _letter_down()
    _create_sqlite_triggers()


def _drop_sqlite_triggers() -> None:
    if _sqlite():
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS listed_count_{name}")


def _create_sqlite_triggers() -> None:
    if _sqlite():
        for statement in _sqlite_triggers():
            op.execute(statement)


# ------------------------------------------------------------------ letters and their versions


def _letter_up() -> None:
    with op.batch_alter_table("letter", schema=None, recreate="auto") as batch_op:
        batch_op.add_column(sa.Column("signers", sa.String(length=16),
                                      server_default="organizations", nullable=False))
        batch_op.add_column(sa.Column("publish_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("contacts_erased_at", sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.drop_constraint(op.f("ck_letter_status"), type_="check")
        batch_op.create_check_constraint("status", sa.text(f"status IN {LETTER_STATUSES}"))
        batch_op.create_check_constraint(
            "signers", sa.text("signers IN ('organizations', 'individuals', 'both')"))
    # a letter closed before now: closed since its last change
    op.execute("UPDATE letter SET closed_at = updated_at WHERE status = 'closed'")
    with op.batch_alter_table("letter_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), server_default="change",
                                      nullable=False))
    op.execute("UPDATE letter_version SET kind = 'original' WHERE number = 1")


def _letter_down() -> None:
    with op.batch_alter_table("letter_version", schema=None) as batch_op:
        batch_op.drop_column("kind")
    op.execute("UPDATE letter SET status = 'draft' WHERE status = 'collecting'")
    with op.batch_alter_table("letter", schema=None, recreate="auto") as batch_op:
        batch_op.drop_constraint(op.f("ck_letter_signers"), type_="check")
        batch_op.drop_constraint(op.f("ck_letter_status"), type_="check")
        batch_op.create_check_constraint("status", sa.text(f"status IN {OLD_LETTER_STATUSES}"))
        batch_op.drop_column("contacts_erased_at")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("publish_at")
        batch_op.drop_column("signers")


# ------------------------------------------------------------------ signatures


def _signature_up() -> None:
    op.drop_index("ix_signature_held", table_name="signature")
    with op.batch_alter_table("signature", schema=None, recreate="auto") as batch_op:
        batch_op.add_column(sa.Column("affiliation", sa.String(length=300), server_default="",
                                      nullable=False))
        for name in SIGNATURE_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f("ck_signature_scope"), type_="check")
        batch_op.drop_constraint(op.f("ck_signature_status"), type_="check")
        batch_op.create_check_constraint("scope", sa.text(f"scope IN {SCOPES}"))
        batch_op.create_check_constraint("status", sa.text(f"status IN {SIGNATURE_STATUSES}"))
    _signature_after_rebuild()
    _create_sqlite_triggers()


def _signature_values_down() -> None:
    """An individual becomes a local signatory, a withdrawal a rejection: what 0006 can hold. Run
    with the triggers in place, so that an individual's kept count moves to `local`."""
    op.execute("UPDATE signature SET scope = 'local' WHERE scope = 'individual'")
    op.execute("UPDATE signature SET status = 'rejected' WHERE status = 'withdrawn'")


def _signature_down() -> None:
    op.drop_index("ix_signature_held", table_name="signature")
    with op.batch_alter_table("signature", schema=None, recreate="auto") as batch_op:
        batch_op.drop_constraint(op.f("ck_signature_scope"), type_="check")
        batch_op.drop_constraint(op.f("ck_signature_status"), type_="check")
        batch_op.create_check_constraint("scope", sa.text(f"scope IN {OLD_SCOPES}"))
        batch_op.create_check_constraint("status",
                                         sa.text(f"status IN {OLD_SIGNATURE_STATUSES}"))
        for name in reversed(SIGNATURE_COLUMNS):
            batch_op.drop_column(name)
        batch_op.drop_column("affiliation")
    _signature_after_rebuild()


def _signature_after_rebuild() -> None:
    """The partial index the rebuild dropped."""
    op.create_index("ix_signature_held", "signature", ["letter_id"],
                    sqlite_where=sa.text("held = 1"), postgresql_where=sa.text("held"))


# ------------------------------------------------------------------ new tables


def _tables_up() -> None:
    with op.batch_alter_table("delivered_signature", schema=None) as batch_op:
        batch_op.add_column(sa.Column("page", sa.Integer(), nullable=True))
    op.create_table(
        "signer_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("signature_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["signature_id"], ["signature.id"],
                                name=op.f("fk_signer_link_signature_id_signature"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signer_link")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_signer_link_token_hash")),
    )
    op.create_index(op.f("ix_signer_link_signature_id"), "signer_link", ["signature_id"])
    op.create_table(
        "letter_update",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("organizer_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["letter_id"], ["letter.id"],
                                name=op.f("fk_letter_update_letter_id_letter"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organizer_id"], ["organizer.id"],
                                name=op.f("fk_letter_update_organizer_id_organizer"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_update")),
    )
    op.create_index(op.f("ix_letter_update_letter_id"), "letter_update", ["letter_id"])
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=True),
        sa.Column("organizer_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["letter_id"], ["letter.id"],
                                name=op.f("fk_audit_entry_letter_id_letter"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["organizer_id"], ["organizer.id"],
                                name=op.f("fk_audit_entry_organizer_id_organizer"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entry")),
    )
    op.create_index("ix_audit_entry_letter", "audit_entry", ["letter_id", "at"])


def _tables_down() -> None:
    with op.batch_alter_table("delivered_signature", schema=None) as batch_op:
        batch_op.drop_column("page")
    op.drop_index("ix_audit_entry_letter", table_name="audit_entry")
    op.drop_table("audit_entry")
    op.drop_index(op.f("ix_letter_update_letter_id"), table_name="letter_update")
    op.drop_table("letter_update")
    op.drop_index(op.f("ix_signer_link_signature_id"), table_name="signer_link")
    op.drop_table("signer_link")
