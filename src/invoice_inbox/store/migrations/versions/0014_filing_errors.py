"""A mail that could not be filed on the server: the server's answer and when, on its ledger row
(the mail stays where it is, undisposed, and filing is tried again on each run).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("filing_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("filing_failed_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.drop_column("filing_failed_at")
        batch.drop_column("filing_error")
