"""Tables for trust in senders: the suppliers a company learned from its documents (their sender
domains and the IBANs their invoices asked payment to) and the sender domains it blocked after
a fraud.

They sit beside ``store.models`` (same ``Base``), imported by ``invoice_inbox.store`` so the
metadata always holds them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from invoice_inbox.store.models import Base, UTCDateTime, utcnow


class Supplier(Base):
    """Who sends a company invoices, learned from imported documents and allowed senders."""

    __tablename__ = "supplier"
    __table_args__ = (Index("ix_supplier_company_vat", "company_id", "vat_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(300), default="")
    vat_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    documents_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    domains: Mapped[list[SupplierDomain]] = relationship(
        back_populates="supplier", cascade="all, delete-orphan", order_by="SupplierDomain.domain"
    )
    ibans: Mapped[list[SupplierIban]] = relationship(
        back_populates="supplier", cascade="all, delete-orphan", order_by="SupplierIban.id"
    )


class SupplierDomain(Base):
    """A sender domain of a supplier; one domain belongs to one supplier of a company."""

    __tablename__ = "supplier_domain"
    __table_args__ = (UniqueConstraint("company_id", "domain"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id", ondelete="CASCADE"))
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253))

    supplier: Mapped[Supplier] = relationship(back_populates="domains")


class SupplierIban(Base):
    """An IBAN a supplier's documents asked payment to, or an admin confirmed. A first IBAN is
    recorded unconfirmed; it is known either way once seen on a document that was not flagged."""

    __tablename__ = "supplier_iban"
    __table_args__ = (UniqueConstraint("supplier_id", "iban"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id", ondelete="CASCADE"))
    iban: Mapped[str] = mapped_column(String(34))  # compact, upper case
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    seen_count: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    supplier: Mapped[Supplier] = relationship(back_populates="ibans")


class BlockedSender(Base):
    """A sender domain a company will not import from (marked as fraud by an admin)."""

    __tablename__ = "blocked_sender"
    __table_args__ = (UniqueConstraint("company_id", "domain"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253))
    reason: Mapped[str] = mapped_column(Text, default="")
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("document.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
