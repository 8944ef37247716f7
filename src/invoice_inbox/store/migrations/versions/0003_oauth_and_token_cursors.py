"""Sources learn OAuth2 (tenant, client, encrypted client secret and tokens, secret expiry,
shared mailbox, authentication state) and a protocol; the ledger keys token connectors' messages
by their remote id; folders keep an opaque cursor (Graph deltaLink, Gmail historyId).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("protocol", sa.String(length=20), nullable=False, server_default="imap")
        )
        batch_op.add_column(
            sa.Column("auth", sa.String(length=20), nullable=False, server_default="password")
        )
        batch_op.add_column(sa.Column("tenant_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("client_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("client_secret", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("secret_expires", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("shared_mailbox", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("token", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("auth_state", sa.String(length=30), nullable=False, server_default="ok")
        )
        batch_op.add_column(sa.Column("auth_error", sa.Text(), nullable=True))
        batch_op.alter_column("secret", existing_type=sa.Text(), nullable=True)
    with op.batch_alter_table("folder_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cursor", sa.Text(), nullable=True))
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("remote_id", sa.String(length=400), nullable=True))
        batch_op.alter_column("uid", existing_type=sa.Integer(), nullable=True)
        batch_op.create_unique_constraint(
            "uq_message_remote_id", ["source_id", "folder", "remote_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_constraint("uq_message_remote_id", type_="unique")
        batch_op.alter_column("uid", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("remote_id")
    with op.batch_alter_table("folder_state", schema=None) as batch_op:
        batch_op.drop_column("cursor")
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.Text(), nullable=False)
        for column in (
            "auth_error",
            "auth_state",
            "token",
            "shared_mailbox",
            "secret_expires",
            "client_secret",
            "client_id",
            "tenant_id",
            "auth",
            "protocol",
        ):
            batch_op.drop_column(column)
