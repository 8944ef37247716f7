"""What people are told when a document asks payment to an unknown IBAN, or a mail comes from a
look-alike sender domain: a notification (e-mail to the company's recipients) and, for a bank
detail change, one ``supplier.bank_details_changed`` webhook event. Both are written in the
caller's transaction, so they exist exactly when what they announce was committed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from invoice_inbox.json_types import JsonObject
from invoice_inbox.store import events, notifications, trust_flags
from invoice_inbox.store.models import Company, Document, Message, Source
from invoice_inbox.store.models_events import Notification
from invoice_inbox.store.models_trust import Supplier
from invoice_inbox.store.notification_texts import Texts, reason_of

BANK_DETAILS_CHANGED = "bank_details_changed"  # notification kinds
LOOKALIKE_SENDER = "lookalike_sender"
# one look-alike notification per impostor domain and company in this time: an impostor sending
# thousands of mails must not bury the company's inbox (each mail stays flagged on the ledger)
LOOKALIKE_QUIET = timedelta(hours=24)


def _mail_ref(row: Message) -> str:
    """The line that ties a notification to its ledger row (and keeps it to one per mail)."""
    return f"Ledger entry: mail #{row.id}."


def bank_details_changed(
    s: Session, doc: Document, row: Message, supplier: Supplier, *, now: datetime
) -> None:
    """A notification and a ``supplier.bank_details_changed`` event for a flagged document."""
    src = s.get(Source, row.source_id)
    company = s.get(Company, doc.company_id)
    if src is None or company is None:
        return
    reason = trust_flags.bank_alert_reason(doc)
    texts = Texts(
        "bank_subject",
        "bank_body",
        {
            "file": doc.filename,
            "document_id": doc.id,
            "sender": row.sender,
            "subject": row.subject,
            "iban": doc.iban,
            "supplier": supplier.name,
            "known": ", ".join(doc.bank_alert_known or []),
        },
        tail=_mail_ref(row),
    )
    notifications.create_written(s, src, BANK_DETAILS_CHANGED, texts, now=now, document_id=doc.id)
    said = payload(doc, row, supplier, company=company.name, source=src.name, reason=reason)
    if company.locale:  # a sentence in the company's language beside the codes
        said["message"] = texts.written(company.locale)[0].removeprefix("invoice-inbox: ")
    events.emit(s, doc.company_id, events.BANK_DETAILS_CHANGED, said, now=now)


def payload(
    doc: Document, row: Message, supplier: Supplier, *, company: str, source: str, reason: str
) -> JsonObject:
    """The ``supplier.bank_details_changed`` payload."""
    return {
        "event": events.BANK_DETAILS_CHANGED,
        "reason": reason,
        "supplier": {"id": supplier.id, "name": supplier.name, "vat_id": supplier.vat_id},
        "document": {
            "id": doc.id,
            "company": company,
            "source": source,
            "filename": doc.filename,
            "kind": doc.kind,
            "sha256": doc.sha256,
            "iban": doc.iban,
            "known_ibans": list(doc.bank_alert_known or []),
            "received_at": row.received_at.isoformat() if row.received_at else None,
            "sender": row.sender,
            "sender_auth": row.sender_auth,
            "subject": row.subject,
            "download_url": f"/api/v1/documents/{doc.id}/file",
        },
    }


def lookalike_sender(s: Session, row: Message, *, now: datetime) -> None:
    """A notification for a mail whose From domain imitates a known one: one per mail, and one
    per impostor domain and company within ``LOOKALIKE_QUIET`` (later mails from it are
    flagged on the ledger and in the queue, not notified again)."""
    src = s.get(Source, row.source_id)
    if src is None or not row.lookalike_of:
        return
    ref = _mail_ref(row)
    domain = f"Look-alike domain: {(row.sender or '').rpartition('@')[2].lower()}."
    sent = s.scalar(
        select(func.count(Notification.id)).where(
            Notification.company_id == src.company_id,
            Notification.kind == LOOKALIKE_SENDER,
            Notification.body.contains(ref)
            | (
                Notification.body.contains(domain)
                & (Notification.created_at > now - LOOKALIKE_QUIET)
            ),
        )
    )
    if sent:
        return
    texts = Texts(
        "lookalike_subject",
        "lookalike_body",
        {
            "sender": str(row.sender),
            "subject": row.subject,
            "known": row.lookalike_of,
            "decision": row.decision,
            "reason": reason_of(row.reason, row.reason_parts),
        },
        tail=f"{domain}\n{ref}",
    )
    notifications.create_written(
        s,
        src,
        LOOKALIKE_SENDER,
        texts,
        now=now,
        document_id=row.documents[0].id if row.documents else None,
    )
