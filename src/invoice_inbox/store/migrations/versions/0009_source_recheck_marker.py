"""Sources: the "re-check the not-imported mail" marker, a generation counter bumped with each
change of the allowed senders, rules or filters, and the generation last re-checked.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source") as batch:
        batch.add_column(
            sa.Column("recheck_wanted", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("recheck_done", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("source") as batch:
        batch.drop_column("recheck_done")
        batch.drop_column("recheck_wanted")
