"""Documents learn e-invoice fields, import rules, forwarded origin and duplicates; sources get
import rules and the image / mail-body options.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("allow_images", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("body_fallback", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "import_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("keyword", sa.Text(), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["source.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_id", "name"),
    )
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.add_column(sa.Column("einvoice", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("einvoice_key", sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column("rule", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("origin_sender", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("origin_date", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("duplicate_of_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("duplicate_kind", sa.String(length=20), nullable=True))
        batch_op.create_foreign_key(
            "fk_document_duplicate_of_id_document",
            "document",
            ["duplicate_of_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(batch_op.f("ix_document_einvoice_key"), ["einvoice_key"])


def downgrade() -> None:
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_document_einvoice_key"))
        batch_op.drop_constraint("fk_document_duplicate_of_id_document", type_="foreignkey")
        for column in (
            "duplicate_kind",
            "duplicate_of_id",
            "origin_date",
            "origin_sender",
            "rule",
            "einvoice_key",
            "einvoice",
        ):
            batch_op.drop_column(column)
    op.drop_table("import_rule")
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.drop_column("body_fallback")
        batch_op.drop_column("allow_images")
