"""Trust in senders: each mail's sender authentication (result, sentence, the DKIM/SPF/DMARC
results it came from) and look-alike domain on the ledger; each source's policy (off, flag,
require) and the authserv-ids it trusts; the supplier registry (suppliers, their sender domains
and IBANs), each document's supplier, IBAN and bank-detail alert; blocked sender domains; a daily
cap on a company's import addresses (counted on an index of each source's mail by arrival);
who settled a bank-detail alert or confirmed an IBAN, and when; the document a notification is
about.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
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
        "supplier",
        _id(),
        _fk("company_id", "company"),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("vat_id", sa.String(40), nullable=True),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("documents_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_supplier_company_vat", "supplier", ["company_id", "vat_id"])
    op.create_table(
        "supplier_domain",
        _id(),
        _fk("supplier_id", "supplier"),
        _fk("company_id", "company"),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.UniqueConstraint("company_id", "domain"),
    )
    op.create_table(
        "supplier_iban",
        _id(),
        _fk("supplier_id", "supplier"),
        sa.Column("iban", sa.String(34), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("seen_count", sa.Integer(), nullable=False),
        sa.Column("confirmed_by", sa.String(320), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("supplier_id", "iban"),
    )
    op.create_table(
        "blocked_sender",
        _id(),
        _fk("company_id", "company"),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _fk("document_id", "document", nullable=True, ondelete="SET NULL"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("company_id", "domain"),
    )
    with op.batch_alter_table("company") as batch:
        batch.add_column(sa.Column("smtp_daily_cap", sa.Integer(), nullable=True))
    with op.batch_alter_table("notification") as batch:
        batch.add_column(sa.Column("document_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_notification_document", "document", ["document_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("source") as batch:
        batch.add_column(
            sa.Column("sender_auth", sa.String(10), nullable=False, server_default="flag")
        )
        batch.add_column(sa.Column("trusted_authserv_ids", sa.JSON(), nullable=True))
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("sender_auth", sa.String(16), nullable=True))
        batch.add_column(sa.Column("sender_auth_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("auth_results", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("lookalike_of", sa.String(253), nullable=True))
        batch.create_index("ix_message_source_received", ["source_id", "received_at"])
    with op.batch_alter_table("document") as batch:
        batch.add_column(sa.Column("supplier_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("iban", sa.String(34), nullable=True))
        batch.add_column(sa.Column("bank_alert", sa.String(16), nullable=True))
        batch.add_column(sa.Column("bank_alert_known", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("bank_alert_by", sa.String(320), nullable=True))
        batch.add_column(sa.Column("bank_alert_at", sa.DateTime(), nullable=True))
        batch.create_foreign_key(
            "fk_document_supplier", "supplier", ["supplier_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index("ix_document_supplier_id", ["supplier_id"])


def downgrade() -> None:
    with op.batch_alter_table("document") as batch:
        batch.drop_index("ix_document_supplier_id")
        batch.drop_constraint("fk_document_supplier", type_="foreignkey")
        for column in (
            "bank_alert_at",
            "bank_alert_by",
            "bank_alert_known",
            "bank_alert",
            "iban",
            "supplier_id",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("message") as batch:
        batch.drop_index("ix_message_source_received")
        for column in ("lookalike_of", "auth_results", "sender_auth_reason", "sender_auth"):
            batch.drop_column(column)
    with op.batch_alter_table("source") as batch:
        batch.drop_column("trusted_authserv_ids")
        batch.drop_column("sender_auth")
    with op.batch_alter_table("notification") as batch:
        batch.drop_constraint("fk_notification_document", type_="foreignkey")
        batch.drop_column("document_id")
    with op.batch_alter_table("company") as batch:
        batch.drop_column("smtp_daily_cap")
    op.drop_table("blocked_sender")
    op.drop_table("supplier_iban")
    op.drop_table("supplier_domain")
    op.drop_index("ix_supplier_company_vat", table_name="supplier")
    op.drop_table("supplier")
