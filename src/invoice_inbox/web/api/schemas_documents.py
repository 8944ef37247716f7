"""The REST API's wire shapes for documents: a queued document with its e-invoice data, the
mail it came in and what it says about trust (sender authentication, look-alike sender, IBAN
and bank-detail alert, supplier, flags), and the detail view with its duplicates and repeated
arrivals."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from invoice_inbox.pipeline.einvoice.stored import complete
from invoice_inbox.store import trust_flags
from invoice_inbox.store.documents import is_exact_duplicate
from invoice_inbox.store.models import Document, Message
from invoice_inbox.web.api.schemas_einvoice import EInvoiceOut
from invoice_inbox.web.api.schemas_reasons import (
    ReasonCode,
    ReasonParts,
    ReasonText,
    reason_fields,
)


class MessageSummary(BaseModel):
    """The mail a document came in."""

    id: int
    message_id: str | None
    sender: str | None
    subject: str
    sent_at: datetime | None
    received_at: datetime
    decision: str
    reason: ReasonText
    reason_code: ReasonCode
    reason_parts: ReasonParts


Flag = Literal[
    "sender_not_authenticated", "lookalike_sender", "bank_details_changed", "einvoice_inconsistent"
]


class SenderAuthOut(BaseModel):
    """Whether the mail proves its sender (DKIM, SPF, DMARC or a trusted provider's
    Authentication-Results), and why."""

    status: str = Field(description="pass, fail, none or temperror (DNS did not answer)")
    reason: str = Field(description='e.g. "DKIM signature by supplier.test verified; DMARC pass"')


class BankAlertOut(BaseModel):
    """The document asks payment to an IBAN its supplier was not known to use."""

    status: Literal["changed", "confirmed", "fraud"] = Field(
        description="changed (nobody decided yet), confirmed by an administrator (the IBAN is "
        "known now) or fraud (marked so; the sender domain is blocked for the company)"
    )
    known: list[str] = Field(description="The supplier's IBANs known when it arrived.")
    reason: str = Field(description='"bank details changed: DE89 …3000 → GB29 …6819"')
    by: str | None = Field(description="Who confirmed it or marked it as fraud.")
    at: datetime | None = Field(description="When they did.")


class SupplierRef(BaseModel):
    id: int = Field(description="See `GET /api/v1/suppliers/{id}`.")
    name: str | None


class DocumentOut(BaseModel):
    id: int
    company_id: int
    company: str
    source_id: int
    source: str
    filename: str
    media_type: str
    size: int
    sha256: str
    kind: str
    einvoice: EInvoiceOut | None = Field(
        description="What the e-invoice says (null for other files): the header facts and the "
        "EN 16931 booking core, as the JSON Schema /api/v1/schemas/einvoice-v1.json describes."
    )
    rule: str | None = Field(description="The import rule that took it, if one did.")
    duplicate_of: int | None = Field(description="The queued document this one repeats.")
    duplicate_kind: str | None = Field(
        description="exact (same bytes, not queued again) or probable (same e-invoice)"
    )
    origin_sender: str | None = Field(description="The sender of a forwarded mail.")
    origin_date: datetime | None
    created_at: datetime
    received_at: datetime
    status: Literal["new", "processed", "duplicate"] = Field(
        description="new (not acknowledged yet), processed, or duplicate: an exact duplicate "
        "of `duplicate_of`, not in the queue and never to be booked"
    )
    processed_at: datetime | None
    processed_by: str | None
    file_url: str
    message: MessageSummary
    sender_auth: SenderAuthOut | None = Field(
        description="The sender authentication of the mail it came in (null: not checked)."
    )
    lookalike_of: str | None = Field(
        description="The allowed or known supplier domain the From domain imitates."
    )
    iban: str | None = Field(description="The IBAN it asks payment to (e-invoice or PDF text).")
    bank_alert: BankAlertOut | None
    supplier: SupplierRef | None
    flags: list[Flag] = Field(
        description="sender_not_authenticated (not when the source's policy is off), "
        "lookalike_sender, bank_details_changed (an alert not confirmed), "
        "einvoice_inconsistent (the e-invoice's figures break a calculation rule: see "
        "`einvoice.problems`); filter the queue with `flag`."
    )

    @classmethod
    def of(
        cls,
        d: Document,
        m: Message,
        source: str,
        company: str,
        names: Mapping[int, str] | None = None,
        modes: Mapping[int, str] | None = None,
    ) -> DocumentOut:
        """*names* and *modes*: the page's supplier names and sources' policies
        (``trust_flags.supplier_names``, ``source_modes``); else asked one by one."""
        mode = modes[m.source_id] if modes is not None else m.source.sender_auth
        return cls(
            id=d.id,
            company_id=d.company_id,
            company=company,
            source_id=m.source_id,
            source=source,
            filename=d.filename,
            media_type=d.media_type,
            size=d.size,
            sha256=d.sha256,
            kind=d.kind,
            einvoice=EInvoiceOut.model_validate(complete(d.einvoice)) if d.einvoice else None,
            rule=d.rule,
            duplicate_of=d.duplicate_of_id,
            duplicate_kind=d.duplicate_kind,
            origin_sender=d.origin_sender,
            origin_date=d.origin_date,
            created_at=d.created_at,
            received_at=m.received_at,
            status=_status(d),
            processed_at=d.processed_at,
            processed_by=d.processed_by,
            file_url=f"/api/v1/documents/{d.id}/file",
            message=MessageSummary(
                id=m.id,
                message_id=m.message_id,
                sender=m.sender,
                subject=m.subject,
                sent_at=m.sent_at,
                received_at=m.received_at,
                decision=m.decision,
                **reason_fields(m),
            ),
            **trust_flags.trust(d, m, mode=mode, names=names),
        )


def _status(d: Document) -> Literal["new", "processed", "duplicate"]:
    if is_exact_duplicate(d):
        return "duplicate"
    return "new" if d.processed_at is None else "processed"


class ReceivedAgain(BaseModel):
    """Another arrival of a document's exact bytes: the copy (not queued) and its mail."""

    document_id: int
    source_id: int
    source: str
    run_id: int | None
    message: MessageSummary


class DocumentDetail(DocumentOut):
    duplicated_by: list[int] = Field(description="Documents marked as repeating this one.")
    also_received_in: list[ReceivedAgain] = Field(
        default_factory=list, description="The mails this document's exact bytes came again in."
    )
