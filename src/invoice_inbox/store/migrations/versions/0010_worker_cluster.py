"""Workers that share the work: the worker registry, the leased IDLE watches, and a source's
pending wake-up (so a wake reaches whichever worker runs the source).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source") as batch:
        batch.add_column(sa.Column("wake_requested", sa.String(20), nullable=True))
        batch.create_index("ix_source_next_run_at", ["next_run_at"])
    op.create_table(
        "worker",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False, unique=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False, server_default="worker"),
        sa.Column("concurrency", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.Column("stopping", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "watch",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "source_id",
            sa.Integer(),
            sa.ForeignKey("source.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("folder", sa.String(255), nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("source_id", "folder", name="uq_watch_source_folder"),
    )
    op.create_index("ix_watch_owner", "watch", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_watch_owner", table_name="watch")
    op.drop_table("watch")
    op.drop_table("worker")
    with op.batch_alter_table("source") as batch:
        batch.drop_index("ix_source_next_run_at")
        batch.drop_column("wake_requested")
