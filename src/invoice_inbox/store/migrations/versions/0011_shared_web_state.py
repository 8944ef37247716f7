"""State that web processes and SMTP receivers share through the database: OAuth sign-ins in
progress (``oauth_state``), the sign-in limiter (``login_key``) and the claims that recognise a
mail delivered twice to the import addresses (``inbound_claim``). The first-run setup token
lives in ``setting`` (hashed), which needs no change.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oauth_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column(
            "source_id",
            sa.Integer(),
            sa.ForeignKey("source.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("app_user.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_oauth_state_expires_at", "oauth_state", ["expires_at"])
    op.create_table(
        "login_key",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("stamps", sa.JSON(), nullable=False),
        sa.Column("used_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_login_key_used_at", "login_key", ["used_at"])
    op.create_table(
        "inbound_claim",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "source_id",
            sa.Integer(),
            sa.ForeignKey("source.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column(
            "message_id",
            sa.Integer(),
            sa.ForeignKey("message.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("source_id", "key", name="uq_inbound_claim_key"),
    )
    op.create_index("ix_inbound_claim_created_at", "inbound_claim", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_inbound_claim_created_at", "inbound_claim")
    op.drop_table("inbound_claim")
    op.drop_index("ix_login_key_used_at", "login_key")
    op.drop_table("login_key")
    op.drop_index("ix_oauth_state_expires_at", "oauth_state")
    op.drop_table("oauth_state")
