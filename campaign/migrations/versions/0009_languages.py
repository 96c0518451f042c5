"""languages: a letter's translations (one list, one count), the language of each version of a
text and of each signature, an organizer's own language, a stored PDF per language

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 16:00:00

Every version and signature made before this revision is of its letter's own language. A stored
PDF's `language` is "" for the letter's own language, so the PDFs kept before stay served.

Going down, SQLite drops a column only by rebuilding the table, which drops the signature table's
triggers: they are made again at the end, as 0005 made them (0008's helper).
"""
import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "letter_translation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["letter_id"], ["letter.id"],
                                name=op.f("fk_letter_translation_letter_id_letter"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_translation")),
        sa.UniqueConstraint("letter_id", "language",
                            name=op.f("uq_letter_translation_letter_id_language")),
    )
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("translated_to", sa.String(length=200), server_default="",
                                      nullable=False))
    with op.batch_alter_table("letter_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=16), server_default="en",
                                      nullable=False))
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=16), server_default="en",
                                      nullable=False))
    with op.batch_alter_table("organizer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=16), nullable=True))
    for table in ("letter_version", "signature"):
        op.execute(f"UPDATE {table} SET language = (SELECT letter.language FROM letter"
                   f" WHERE letter.id = {table}.letter_id)")
    with op.batch_alter_table("pdf_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=16), server_default="",
                                      nullable=False))
        batch_op.drop_constraint("uq_pdf_file_letter_id_kind", type_="unique")
        batch_op.create_unique_constraint("uq_pdf_file_letter_id_kind_language",
                                          ["letter_id", "kind", "language"])


def downgrade() -> None:
    _zero08 = _migration("0008_coalition.py")
    _zero08._drop_sqlite_triggers()
    op.execute("DELETE FROM pdf_file WHERE language <> ''")
    with op.batch_alter_table("pdf_file", schema=None) as batch_op:
        batch_op.drop_constraint("uq_pdf_file_letter_id_kind_language", type_="unique")
        batch_op.create_unique_constraint("uq_pdf_file_letter_id_kind", ["letter_id", "kind"])
        batch_op.drop_column("language")
    with op.batch_alter_table("organizer", schema=None) as batch_op:
        batch_op.drop_column("language")
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.drop_column("language")
    with op.batch_alter_table("letter_version", schema=None) as batch_op:
        batch_op.drop_column("language")
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.drop_column("translated_to")
    op.drop_table("letter_translation")
    _zero08._create_sqlite_triggers()


def _migration(name: str):  # type: ignore[no-untyped-def]
    """Another migration's module (their file names are not importable names)."""
    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(f"_campaign_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
