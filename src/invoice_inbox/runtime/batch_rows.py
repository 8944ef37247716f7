"""The ledger rows of a decided batch: one row per mail with its queue documents, and the
batch's writes in its transaction.

:func:`new_row` builds them as plain objects (``store.new_rows``) before the transaction;
:func:`write_batch` inserts them with one statement per table, marks their documents against
the queue, learns suppliers, writes the ``document.created`` events and what marking and
learning changed. ``document_rows`` (ORM rows) serves the re-check and the actions on a single
message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, case, update
from sqlalchemy.orm import Session

from invoice_inbox.pipeline.decide import Document
from invoice_inbox.reasons import to_json
from invoice_inbox.runtime.batch_decide import SAME_BATCH, BatchItem
from invoice_inbox.runtime.run_summary import RunSummary
from invoice_inbox.runtime.source_plan import SourcePlan
from invoice_inbox.store import events, ledger, new_rows, suppliers
from invoice_inbox.store.documents import Marked, QueueOriginals
from invoice_inbox.store.models import Document as DocumentRow
from invoice_inbox.store.models import FolderState, Run
from invoice_inbox.store.new_rows import NewDocument, NewMessage


def _document_columns(doc: Document, company_id: int) -> dict[str, Any]:
    """A decision's document as the queue row's columns (not yet marked against the queue)."""
    e = doc.einvoice
    return {
        "company_id": company_id,
        "sha256": doc.sha256,
        "size": doc.size,
        "media_type": doc.media_type,
        "filename": doc.filename,
        "kind": doc.kind,
        "einvoice": e.as_dict() if e else None,
        "einvoice_key": e.key if e else None,
        "einvoice_problems": len(e.problems) if e else None,
        "rule": doc.rule,
        "origin_sender": doc.origin_sender,
        "origin_date": doc.origin_date,
        "iban": doc.iban,
    }


def document_rows(documents: Sequence[Document], company_id: int) -> list[DocumentRow]:
    """The queue rows for a decision's documents (not yet marked against the queue)."""
    return [DocumentRow(**_document_columns(doc, company_id)) for doc in documents]


def new_row(plan: SourcePlan, run_id: int, folder: str, validity: int, it: BatchItem) -> NewMessage:
    """The ledger row of one decided (or recognised) mail of *folder*, state ``decided``: a copy
    of a mail committed before links to it now, one committed with it once it has its id."""
    h, auth = it.headers, it.sender_auth
    if it.original is not None:
        duplicate_of = it.original.row_id  # None until the original is inserted
    else:
        duplicate_of = None if it.duplicate_of == SAME_BATCH else it.duplicate_of
    return NewMessage(
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
        filed_to=it.target,
        duplicate_of_id=duplicate_of,
        documents=[NewDocument(**_document_columns(doc, plan.company_id)) for doc in it.documents],
    )


def write_batch(
    s: Session,
    plan: SourcePlan,
    items: Sequence[BatchItem],
    rows: Sequence[NewMessage],
    *,
    count: Callable[[str, Marked], object],
) -> None:
    """In the caller's transaction, what committing the batch *items* (their *rows* built by
    :func:`new_row`) writes, in this order: wait for the company's queue (``QueueOriginals``),
    insert the rows and documents (each item gets its ``row_id``), end the mails' decide
    attempts, link copies to their originals, mark the documents against the queue (*count* is
    told each mail's verdict and marking), learn suppliers, write what marking and learning
    changed and the ``document.created`` events."""
    originals = QueueOriginals.for_rows(s, plan.company_id, rows)
    new_rows.insert_rows(s, rows)
    pairs = list(zip(items, rows, strict=True))
    for it, row in pairs:
        it.row_id = row.id
    ledger.end_attempts(s, plan.id, [it.sha256 for it in items if it.duplicate_of is None])
    for it, row in pairs:
        if it.original is not None:  # committed in this transaction or just before
            assert it.original.row_id is not None
            row.duplicate_of_id = it.original.row_id
        count(it.verdict, originals.mark(row))
    created = events.DocumentsCreated(company=plan.company, source=plan.name, session=s)
    suppliers.learn_many(
        s,
        [(row, it.headers.sender_name if it.headers else None) for it, row in pairs],
        company_id=plan.company_id,
        then=created.add,
    )
    new_rows.write_changes(s, rows)
    created.write(s)


_FOLDERS = cast(Table, FolderState.__table__)
_RUNS = cast(Table, Run.__table__)
# the folder's uid cursor moved past a committed batch (``updated_at`` set as the ORM would)
_ADVANCE = (
    update(_FOLDERS)
    .where(
        _FOLDERS.c.source_id == bindparam("of_source"), _FOLDERS.c.folder == bindparam("of_folder")
    )
    .values(
        uidvalidity=bindparam("validity", type_=_FOLDERS.c.uidvalidity.type),
        last_uid=case(
            (_FOLDERS.c.last_uid > bindparam("past_uid"), _FOLDERS.c.last_uid),
            else_=bindparam("past_uid"),
        ),
        uidnext=bindparam("new_uidnext", type_=_FOLDERS.c.uidnext.type),
    )
)


def advance_folder(
    s: Session, source_id: int, folder: str, validity: int, last_uid: int, uidnext: int
) -> None:
    """In the caller's transaction, move *folder*'s cursor: its UIDVALIDITY and UIDNEXT, and its
    last uid to *last_uid* unless it is past it already. One UPDATE, no ORM object; a folder
    without a cursor yet gets one (``ledger.folder_state``)."""
    values = {
        "of_source": source_id,
        "of_folder": folder,
        "validity": validity,
        "past_uid": last_uid,
        "new_uidnext": uidnext,
    }
    result = cast(CursorResult[Any], s.execute(_ADVANCE, values))
    if result.rowcount:
        return
    st = ledger.folder_state(s, source_id, folder)
    st.uidvalidity = validity
    st.last_uid = max(st.last_uid, last_uid)
    st.uidnext = uidnext


_RUN_UPDATES: dict[tuple[str, ...], Any] = {}


def store_run(s: Session, run_id: int, summary: RunSummary) -> None:
    """In the caller's transaction, store *summary*'s figures into its run as
    ``RunSummary.store_into`` sets them on a ``Run``, with one UPDATE (no ORM object)."""
    taken = SimpleNamespace()
    summary.store_into(cast(Run, taken))  # the columns it sets, and their values
    figures = vars(taken)
    names = tuple(figures)
    if names not in _RUN_UPDATES:
        _RUN_UPDATES[names] = (
            update(_RUNS)
            .where(_RUNS.c.id == bindparam("run_id"))
            .values({n: bindparam(f"new_{n}", type_=_RUNS.c[n].type) for n in names})
        )
    s.execute(_RUN_UPDATES[names], {"run_id": run_id, **{f"new_{n}": figures[n] for n in names}})
