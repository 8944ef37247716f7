"""An index of a source's ledger rows by their raw bytes' SHA-256.

Each sync batch asks which of its mails' bytes a source has seen before (``ledger.originals``).
With an index on the hash alone and one on (source, received), SQLite without statistics read
every row of the source for each batch: a backfill's cost grew with the square of the mailbox.
(source_id, raw_sha256) finds them directly on every database.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_message_source_raw", "message", ["source_id", "raw_sha256"])


def downgrade() -> None:
    op.drop_index("ix_message_source_raw", table_name="message")
