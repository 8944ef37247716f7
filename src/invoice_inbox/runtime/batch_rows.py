"""The ledger rows of a decided batch: one ``Message`` per mail with its queue ``Document`` rows.

Built here, added by ``runtime.sync`` in the batch's transaction; ``document_rows`` serves the
re-check and the actions on a single message too.
"""

from __future__ import annotations

from collections.abc import Sequence

from invoice_inbox.pipeline.decide import Document
from invoice_inbox.reasons import to_json
from invoice_inbox.runtime.batch_decide import SAME_BATCH, BatchItem
from invoice_inbox.runtime.source_plan import SourcePlan
from invoice_inbox.store.models import Document as DocumentRow
from invoice_inbox.store.models import Message, MessageState


def document_rows(documents: Sequence[Document], company_id: int) -> list[DocumentRow]:
    """The queue rows for a decision's documents (not yet marked against the queue)."""
    return [
        DocumentRow(
            company_id=company_id,
            sha256=doc.sha256,
            size=doc.size,
            media_type=doc.media_type,
            filename=doc.filename,
            kind=doc.kind,
            einvoice=doc.einvoice.as_dict() if doc.einvoice else None,
            einvoice_key=doc.einvoice.key if doc.einvoice else None,
            einvoice_problems=len(doc.einvoice.problems) if doc.einvoice else None,
            rule=doc.rule,
            origin_sender=doc.origin_sender,
            origin_date=doc.origin_date,
            iban=doc.iban,
        )
        for doc in documents
    ]


def message_row(
    plan: SourcePlan, run_id: int, folder: str, validity: int, it: BatchItem
) -> Message:
    """The ledger row of one decided (or recognised) mail of *folder*, state ``decided``."""
    h, auth = it.headers, it.sender_auth
    row = Message(
        source_id=plan.id,
        run_id=run_id,
        folder=folder,
        uidvalidity=validity,
        uid=it.uid if isinstance(it.uid, int) else None,
        remote_id=it.uid if isinstance(it.uid, str) else None,
        raw_sha256=it.sha256,
        raw_size=len(it.raw),
        message_id=h.message_id if h else None,
        sender=h.sender if h else None,
        subject=(h.subject if h else "")[:1000],
        sent_at=h.date if h else None,
        decision=it.verdict,
        reason=it.reason,
        reason_parts=to_json(it.reason_parts) if it.reason_parts else None,
        hits=list(it.hits),
        sender_auth=str(auth.status) if auth else None,
        sender_auth_reason=auth.reason if auth else None,
        auth_results=auth.to_json() if auth else None,
        lookalike_of=it.lookalike_of,
        state=MessageState.DECIDED,
        filed_to=it.target,
        duplicate_of_id=None if it.duplicate_of == SAME_BATCH else it.duplicate_of,
    )
    row.documents = document_rows(it.documents, plan.company_id)
    return row
