"""The documents queue and the run log as people page through them: filtered, newest first,
one page at a time with a keyset cursor (``before`` an id), and acknowledging a document.

The queue never holds an exact duplicate (DESIGN invariant 9): those are on the log of the mail
they came in, and on their original's page as "also received in" (:func:`also_received_in`).

The queries return ``Select`` objects so the caller can narrow them to what a user may see
(``web.access``) before a page is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from invoice_inbox.store.documents import EXACT, in_queue
from invoice_inbox.store.models import Company, Document, Message, Run, Source

PAGE_SIZE = 50
NEW, PROCESSED, ALL = "new", "processed", "all"
STATUSES = (NEW, PROCESSED, ALL)


@dataclass(frozen=True, kw_only=True)
class QueueFilter:
    """What a person narrowed the queue to; None means "any"."""

    company_id: int | None = None
    source_id: int | None = None
    status: str = NEW  # new: not processed yet; processed; all
    kind: str | None = None
    received_from: date | None = None  # the mail's arrival day, UTC, inclusive
    received_to: date | None = None  # inclusive


@dataclass(frozen=True)
class QueueRow:
    document: Document
    message: Message
    source: str
    company: str


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def queue_query(f: QueueFilter) -> Select[Any]:
    """Documents in the queue (never an exact duplicate) with their mail, source and company,
    newest first."""
    q = (
        select(Document, Message, Source.name, Company.name)
        .join(Message, Document.message_id == Message.id)
        .join(Source, Message.source_id == Source.id)
        .join(Company, Document.company_id == Company.id)
        .where(in_queue())
        .order_by(Document.id.desc())
    )
    if f.company_id is not None:
        q = q.where(Document.company_id == f.company_id)
    if f.source_id is not None:
        q = q.where(Message.source_id == f.source_id)
    if f.status == NEW:
        q = q.where(Document.processed_at.is_(None))
    elif f.status == PROCESSED:
        q = q.where(Document.processed_at.is_not(None))
    if f.kind:
        q = q.where(Document.kind == f.kind)
    if f.received_from is not None:
        q = q.where(Message.received_at >= _midnight(f.received_from))
    if f.received_to is not None:
        q = q.where(Message.received_at < _midnight(f.received_to + timedelta(days=1)))
    return q


def queue_page(
    s: Session, q: Select[Any], *, before: int | None = None, size: int = PAGE_SIZE
) -> tuple[list[QueueRow], int | None]:
    """One page of *q* (from :func:`queue_query`) with ids below *before*, and the cursor of
    the next (older) page, or None when this is the last one."""
    if before is not None:
        q = q.where(Document.id < before)
    rows = [QueueRow(d, m, src, company) for d, m, src, company in s.execute(q.limit(size + 1))]
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].document.id if more and rows else None)


def duplicated_by(s: Session, document_id: int) -> list[Document]:
    """The documents marked as repeating this one, oldest first."""
    q = select(Document).where(Document.duplicate_of_id == document_id).order_by(Document.id)
    return list(s.scalars(q))


@dataclass(frozen=True)
class Receipt:
    """One more arrival of a document's exact bytes: the copy and the mail it came in."""

    document: Document
    message: Message
    source: Source


def also_received_in(s: Session, document_id: int) -> list[Receipt]:
    """The mails the document's exact bytes came again in, oldest first."""
    q = (
        select(Document, Message, Source)
        .join(Message, Document.message_id == Message.id)
        .join(Source, Message.source_id == Source.id)
        .where(Document.duplicate_of_id == document_id, Document.duplicate_kind == EXACT)
        .order_by(Document.id)
    )
    return [Receipt(d, m, src) for d, m, src in s.execute(q)]


def mark_processed(doc: Document, by: str, now: datetime) -> None:
    """Accounts payable has taken the document: it leaves the "new" queue."""
    doc.processed_at, doc.processed_by = now, by


def mark_new(doc: Document) -> None:
    """Undo :func:`mark_processed`."""
    doc.processed_at, doc.processed_by = None, None


# -- the run log -------------------------------------------------------------------------------


def runs_page(
    s: Session, source_id: int, *, before: int | None = None, size: int = PAGE_SIZE
) -> tuple[list[Run], int | None]:
    """A source's runs, newest first, below run id *before*; and the next page's cursor."""
    q = select(Run).where(Run.source_id == source_id).order_by(Run.id.desc())
    if before is not None:
        q = q.where(Run.id < before)
    runs = list(s.scalars(q.limit(size + 1)))
    more = len(runs) > size
    runs = runs[:size]
    return runs, (runs[-1].id if more and runs else None)


def run_messages(s: Session, run_id: int) -> Sequence[Message]:
    """The ledger rows a run decided, in the order it saw them, with their documents."""
    q = (
        select(Message)
        .where(Message.run_id == run_id)
        .options(selectinload(Message.documents))
        .order_by(Message.id)
    )
    return list(s.scalars(q))
