"""Always on: sources get a schedule, instant pickup, POP3 deletion and failure accounting;
companies get a central import address and notification recipients; notifications (an outbox)
and service-wide settings; an index for counting a source's messages by decision.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _source_columns() -> tuple[sa.Column[Any], ...]:  # of several types
    return (
        sa.Column("delete_after_import", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("schedule", sa.String(length=300), nullable=False, server_default="every 60m"),
        sa.Column("instant", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("next_run_at", sa.DateTime(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("max_failures", sa.Integer(), nullable=False, server_default="5"),
        sa.Column("failing_since", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("inactive_reason", sa.Text(), nullable=True),
    )


def upgrade() -> None:
    with op.batch_alter_table("source", schema=None) as batch_op:
        for column in _source_columns():
            batch_op.add_column(column)
    with op.batch_alter_table("company", schema=None) as batch_op:
        batch_op.add_column(sa.Column("import_token", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("notify_emails", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.create_unique_constraint("uq_company_import_token", ["import_token"])
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "company_id",
            sa.Integer(),
            sa.ForeignKey("company.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "source_id",
            sa.Integer(),
            sa.ForeignKey("source.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("email_state", sa.String(length=20), nullable=False),
        sa.Column("webhook_state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_message_source_decision", "message", ["source_id", "decision"])
    op.create_table(
        "setting",
        sa.Column("key", sa.String(length=100), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("setting")
    op.drop_index("ix_message_source_decision", table_name="message")
    op.drop_table("notification")
    with op.batch_alter_table("company", schema=None) as batch_op:
        batch_op.drop_constraint("uq_company_import_token", type_="unique")
        batch_op.drop_column("notify_emails")
        batch_op.drop_column("import_token")
    with op.batch_alter_table("source", schema=None) as batch_op:
        for column in reversed(_source_columns()):
            batch_op.drop_column(column.name)
