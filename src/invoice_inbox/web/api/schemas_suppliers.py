"""The REST API's wire shapes for suppliers: a supplier with its sender domains and known
IBANs (:class:`SupplierOut`), the changes an administrator sends, and a blocked sender domain."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from invoice_inbox.store.supplier_views import SupplierInfo
from invoice_inbox.web.api.schemas_documents import DocumentDetail


class IbanOut(BaseModel):
    iban: str = Field(description="Compact, upper case.")
    confirmed: bool = Field(
        description="Confirmed by an administrator; otherwise known because it was seen on a "
        "document that raised no alert (a supplier's first IBAN is recorded unconfirmed)."
    )
    first_seen: datetime
    last_seen: datetime
    seen_count: int


class SupplierOut(BaseModel):
    """Who sends a company invoices, learned from its documents and allowed senders."""

    id: int
    company_id: int
    company: str
    name: str
    vat_id: str | None
    domains: list[str] = Field(description="Its sender domains.")
    ibans: list[IbanOut] = Field(description="The IBANs known to be its.")
    first_seen: datetime
    last_seen: datetime
    documents_count: int
    open_alerts: int = Field(
        description="Its documents with a bank-detail alert nobody decided on yet."
    )
    pending_ibans: list[str] = Field(description="The IBANs those documents ask payment to.")

    @classmethod
    def of(cls, info: SupplierInfo) -> SupplierOut:
        """From ``store.suppliers.SupplierInfo``."""
        return cls.model_validate(info, from_attributes=True)


class SupplierIn(BaseModel):
    """What to change; what is left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=300)
    vat_id: str | None = Field(None, max_length=40, description='"" clears it.')
    domains: list[str] | None = Field(
        None, description="Its sender domains, replacing the list (`*@` is taken off)."
    )


class IbanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    iban: str = Field(max_length=60, description="Spaces allowed; checked by its checksum.")


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    other_id: int = Field(
        description="The supplier merged into this one (its documents, domains and IBANs "
        "move here; it is deleted). Both belong to the same company."
    )


class BlockedOut(BaseModel):
    """A sender domain the company imports nothing from (a document was marked as fraud)."""

    company_id: int
    company: str
    domain: str
    reason: str
    document_id: int | None
    created_at: datetime


class FraudOut(BaseModel):
    blocked_domain: str | None = Field(
        description="The sender domain now blocked for the company (null: a free-mail domain "
        "or no sender, which is never blocked)."
    )
    document: DocumentDetail
