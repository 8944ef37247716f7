"""Languages, and e-invoice problems.

A user's language for the pages and notifications (None: the browser's); a company's language for
notification addresses that are no user's; a decision's reason as message codes with parameters
(``reason_parts``), rendered in the reader's language (``reason`` keeps the English text, and is all
that rows decided before this revision have); a document's count of e-invoice calculation rules
its figures break (``einvoice_problems``), for the queue's flag; a notification's subject and
body as codes with parameters (``texts``), built in each recipient's language when sent.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("locale", sa.String(length=16), nullable=True))
    with op.batch_alter_table("company") as batch:
        batch.add_column(sa.Column("locale", sa.String(length=16), nullable=True))
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("reason_parts", sa.JSON(), nullable=True))
    with op.batch_alter_table("document") as batch:
        batch.add_column(sa.Column("einvoice_problems", sa.Integer(), nullable=True))
    with op.batch_alter_table("notification") as batch:
        batch.add_column(sa.Column("texts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notification") as batch:
        batch.drop_column("texts")
    with op.batch_alter_table("document") as batch:
        batch.drop_column("einvoice_problems")
    with op.batch_alter_table("message") as batch:
        batch.drop_column("reason_parts")
    with op.batch_alter_table("company") as batch:
        batch.drop_column("locale")
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("locale")
