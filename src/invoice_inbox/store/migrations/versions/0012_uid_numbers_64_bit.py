"""IMAP UIDs and UIDVALIDITY as BIGINT: they are unsigned 32-bit numbers, beyond a PostgreSQL
INTEGER from 2**31 on. SQLite's INTEGER already holds 64 bits: nothing changes there.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

COLUMNS = (
    ("folder_state", "uidvalidity", True),
    ("folder_state", "last_uid", False),
    ("folder_state", "uidnext", True),
    ("message", "uidvalidity", False),
    ("message", "uid", True),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column, nullable in COLUMNS:
        op.alter_column(
            table,
            column,
            type_=sa.BigInteger(),
            existing_type=sa.Integer(),
            existing_nullable=nullable,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column, nullable in COLUMNS:
        op.alter_column(
            table,
            column,
            type_=sa.Integer(),
            existing_type=sa.BigInteger(),
            existing_nullable=nullable,
        )
