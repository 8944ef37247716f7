"""The REST API's wire shapes for runs, the mail ledger and notifications: what a run found
and did, one mail seen and what was decided, and a notification with its delivery state."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from invoice_inbox.store.models import Message, Run
from invoice_inbox.store.models_events import Notification
from invoice_inbox.web.api.schemas_documents import SenderAuthOut
from invoice_inbox.web.api.schemas_reasons import (
    ReasonCode,
    ReasonParts,
    ReasonText,
    reason_fields,
)


class RunCounts(BaseModel):
    """What a run found and did, and its error if it stopped early."""

    messages_seen: int = Field(description="Mails the run decided (and committed).")
    imported: int
    not_imported: int
    quarantined: int
    duplicates: int = Field(
        description="Mails handled before, plus documents whose exact bytes are in the queue "
        "already: neither is queued again."
    )
    documents_created: int = Field(description="Documents that joined the queue.")
    errors: int
    error: str | None


class RunSummaryOut(RunCounts):
    """What a run did (``?wait=true``)."""

    run_id: int
    source: str
    status: str = Field(description="succeeded, or partial (see `error`)")
    resynced: list[str] = Field(description="Folders whose sync state had expired.")
    unfiled: dict[str, str] = Field(
        default_factory=dict,
        description="Folders the server refused to file mail into, with its answer: those mails"
        " stay where they are and filing is tried again on the next run.",
    )


# -- runs and messages ----------------------------------------------------------------------


class RunOut(RunCounts):
    id: int
    source_id: int
    source: str
    trigger: str = Field(description="manual, schedule, retry, instant or smtp")
    status: str = Field(
        description="running, succeeded, failed, or partial (it imported mail, then stopped "
        "on the error in `error`)"
    )
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, run: Run, source: str) -> RunOut:
        return cls(
            source=source,
            **{k: getattr(run, k) for k in cls.model_fields if k != "source"},
        )


Decision = Literal["import", "not_imported", "quarantined", "duplicate"]


class MessageOut(BaseModel):
    """A ledger row: one mail seen, what was decided and why."""

    id: int
    source_id: int
    source: str
    run_id: int | None
    folder: str
    message_id: str | None
    sender: str | None
    subject: str
    sent_at: datetime | None
    received_at: datetime
    decision: str = Field(description="import, not_imported, quarantined or duplicate")
    reason: ReasonText
    reason_code: ReasonCode
    reason_parts: ReasonParts
    hits: list[str] = Field(description="The rules that matched.")
    state: str = Field(description="decided (not filed yet) or disposed")
    filed_to: str | None
    duplicate_of: int | None = Field(description="The message this one repeats.")
    documents: list[int] = Field(description="Ids of the documents taken from it.")
    sender_auth: SenderAuthOut | None = Field(
        description="Whether the mail proves its sender, and why (null: decided before "
        "sender authentication existed)."
    )
    lookalike_of: str | None = Field(
        description="The allowed or known supplier domain its From domain imitates."
    )

    @classmethod
    def of(cls, m: Message, source: str) -> MessageOut:
        return cls(
            id=m.id,
            source_id=m.source_id,
            source=source,
            run_id=m.run_id,
            folder=m.folder,
            message_id=m.message_id,
            sender=m.sender,
            subject=m.subject,
            sent_at=m.sent_at,
            received_at=m.received_at,
            decision=m.decision,
            **reason_fields(m),
            hits=list(m.hits or []),
            state=m.state,
            filed_to=m.filed_to,
            duplicate_of=m.duplicate_of_id,
            documents=[d.id for d in m.documents],
            sender_auth=(
                None
                if m.sender_auth is None
                else SenderAuthOut(status=m.sender_auth, reason=m.sender_auth_reason or "")
            ),
            lookalike_of=m.lookalike_of or None,
        )


# -- notifications --------------------------------------------------------------------------


class NotificationOut(BaseModel):
    id: int
    company_id: int
    company: str
    source_id: int | None
    source: str | None
    kind: str = Field(
        description="source_deactivated, needs_attention, bank_details_changed or lookalike_sender"
    )
    document_id: int | None = Field(
        None, description="the document it is about (a bank-detail change, a look-alike's invoice)"
    )
    subject: str = Field(description="In the request's language (Accept-Language).")
    body: str = Field(description="In the request's language (Accept-Language).")
    created_at: datetime
    email_state: str = Field(description="pending, sent, failed or skipped")
    webhook_state: str = Field(description="pending, sent, failed or skipped")
    attempts: int
    last_error: str | None

    @classmethod
    def of(cls, n: Notification, company: str, source: str | None) -> NotificationOut:
        subject, body = n.written()  # in the request's language (Accept-Language)
        given = ("company", "source", "subject", "body")
        return cls(
            company=company,
            source=source,
            subject=subject,
            body=body,
            **{k: getattr(n, k) for k in cls.model_fields if k not in given},
        )
