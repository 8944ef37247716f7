"""Sources: "draft" (made on the screen, not started yet), a pasted private CA certificate
(PEM) and the explicit "do not verify the certificate" choice for test servers.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source") as batch:
        batch.add_column(
            sa.Column("draft", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("ca_pem", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("verify_tls", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("source") as batch:
        batch.drop_column("verify_tls")
        batch.drop_column("ca_pem")
        batch.drop_column("draft")
