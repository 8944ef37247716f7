"""The web admin and REST API: users and their companies, API tokens, browser sessions; sources
restricted to a user or role; documents acknowledged as processed; webhook subscriptions with
an event outbox and a delivery log.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), primary_key=True)


def _fk(
    name: str, target: str, *, nullable: bool = False, ondelete: str = "CASCADE"
) -> sa.Column[int]:
    return sa.Column(
        name, sa.Integer(), sa.ForeignKey(f"{target}.id", ondelete=ondelete), nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "app_user",
        _id(),
        sa.Column("email", sa.String(length=320), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "user_company",
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("app_user.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "company_id",
            sa.Integer(),
            sa.ForeignKey("company.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_table(
        "api_token",
        _id(),
        _fk("user_id", "app_user"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "web_session",
        sa.Column("id_sha256", sa.String(length=64), primary_key=True),
        _fk("user_id", "app_user"),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "event",
        _id(),
        _fk("company_id", "company"),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("dispatched", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_event_dispatched", "event", ["dispatched"])
    op.create_table(
        "webhook",
        _id(),
        _fk("company_id", "company"),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "webhook_delivery",
        _id(),
        _fk("webhook_id", "webhook"),
        _fk("event_id", "event"),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("webhook_id", "event_id"),
    )
    op.create_index("ix_webhook_delivery_due", "webhook_delivery", ["state", "next_attempt_at"])
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "used_for",
                sa.String(length=40),
                nullable=False,
                server_default="supplier_invoices",
            )
        )
        batch_op.add_column(sa.Column("restricted_to_user_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("restricted_to_role", sa.String(length=20), nullable=True))
        batch_op.create_foreign_key(
            "fk_source_restricted_to_user",
            "app_user",
            ["restricted_to_user_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.add_column(sa.Column("processed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("processed_by", sa.String(length=320), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.drop_column("processed_by")
        batch_op.drop_column("processed_at")
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.drop_constraint("fk_source_restricted_to_user", type_="foreignkey")
        batch_op.drop_column("restricted_to_role")
        batch_op.drop_column("restricted_to_user_id")
        batch_op.drop_column("used_for")
    for table in ("webhook_delivery", "webhook", "event", "web_session", "api_token"):
        op.drop_table(table)
    op.drop_table("user_company")
    op.drop_table("app_user")
