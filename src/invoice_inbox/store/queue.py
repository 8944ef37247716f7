"""The documents queue and the run log as people page through them: filtered, newest first
or sorted by amount or due date, one page at a time with a keyset cursor, and acknowledging a
document.

Newest first pages with ``before`` an id. A sorted queue pages with a :class:`Cursor`, the sort
key and id of the last row shown: rows with no key (no e-invoice amount or due date) come last
in both directions, so every row is on exactly one page.

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

from sqlalchemy import ColumnElement, Numeric, Select, and_, cast, func, literal, or_, select
from sqlalchemy.orm import Session, selectinload

from invoice_inbox.store import trust_flags
from invoice_inbox.store.documents import EXACT, in_queue
from invoice_inbox.store.models import Company, Document, Message, Run, Source

PAGE_SIZE = 50
NEW, PROCESSED, ALL = "new", "processed", "all"
STATUSES = (NEW, PROCESSED, ALL)
# the queue's orders: "" is newest first; a leading "-" sorts the key from high to low
SORTS = ("", "amount", "-amount", "due_date", "-due_date")
SORT_FIELDS = {"amount": "total", "due_date": "due_date"}  # the e-invoice field sorted on


@dataclass(frozen=True, kw_only=True)
class QueueFilter:
    """What a person narrowed the queue to; None means "any"."""

    company_id: int | None = None
    source_id: int | None = None
    status: str = NEW  # new: not processed yet; processed; all
    kind: str | None = None
    received_from: date | None = None  # the mail's arrival day, UTC, inclusive
    received_to: date | None = None  # inclusive
    sort: str = ""  # one of SORTS
    flag: str | None = None  # a trust flag code (store.trust_flags)


@dataclass(frozen=True)
class Cursor:
    """Where a sorted page ends: the last row's sort key (the e-invoice value as written, None
    when it has none) and its id."""

    key: str | None
    id: int

    def __str__(self) -> str:
        return f"{self.id}" if self.key is None else f"{self.id}:{self.key}"

    @classmethod
    def parse(cls, value: str) -> Cursor | None:
        """A cursor from the query string; None for anything else."""
        head, colon, key = value.partition(":")
        if not (head.isascii() and head.isdigit() and len(head) <= 18) or len(key) > 100:
            return None
        return cls(key if colon else None, int(head))


@dataclass(frozen=True)
class QueueRow:
    document: Document
    message: Message
    source: str
    company: str


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _field(sort: str) -> str:
    return SORT_FIELDS[sort.lstrip("-")]


# Any: a text or a numeric SQL expression, by the sort field
def _key(sort: str, value: ColumnElement[Any]) -> ColumnElement[Any]:
    """The sort key of *value* (a column or a literal): amounts compare as numbers, ISO dates
    as text."""
    if sort.lstrip("-") == "amount":
        return cast(value, Numeric(30, 6))
    return value


def _sort_column(sort: str) -> ColumnElement[Any]:
    """The document's e-invoice value the queue is sorted on; NULL when missing or empty."""
    return _key(sort, func.nullif(Document.einvoice[_field(sort)].as_string(), ""))


# a document in the queue, its mail, its source's name and its company's name
QueueQuery = Select[Document, Message, str, str]


def row_key(doc: Document, sort: str) -> Cursor:
    """The cursor of *doc* in a queue sorted by *sort*."""
    value = (doc.einvoice or {}).get(_field(sort)) if sort else None
    return Cursor(value if isinstance(value, str) and value else None, doc.id)


def queue_query(f: QueueFilter) -> QueueQuery:
    """Documents in the queue (never an exact duplicate) with their mail, source and company,
    newest first or in the order of ``f.sort`` (no key last, then by id)."""
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
    if f.flag:
        q = q.where(trust_flags.condition(f.flag))
    if f.sort in SORTS and f.sort:
        key = _sort_column(f.sort)
        if f.sort.startswith("-"):
            q = q.order_by(None).order_by(key.desc().nulls_last(), Document.id.desc())
        else:
            q = q.order_by(None).order_by(key.asc().nulls_last(), Document.id.asc())
    return q


def _after(sort: str, cursor: Cursor) -> ColumnElement[bool]:
    """The rows that come after *cursor* in the order of *sort* (keys missing last)."""
    key = _sort_column(sort)
    down = sort.startswith("-")
    later_id = Document.id < cursor.id if down else Document.id > cursor.id
    if cursor.key is None:
        return and_(key.is_(None), later_id)
    k = _key(sort, literal(cursor.key))
    return or_(key < k if down else key > k, and_(key == k, later_id), key.is_(None))


def queue_page(
    s: Session,
    q: QueueQuery,
    *,
    before: int | None = None,
    size: int = PAGE_SIZE,
) -> tuple[list[QueueRow], int | None]:
    """One page of *q* (from :func:`queue_query`) with ids below *before*, and the cursor of
    the next (older) page, or None when this is the last one. For a sorted queue use
    :func:`sorted_page`."""
    if before is not None:
        q = q.where(Document.id < before)
    rows = [QueueRow(d, m, src, company) for d, m, src, company in s.execute(q.limit(size + 1))]
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].document.id if more and rows else None)


def sorted_page(
    s: Session, q: QueueQuery, sort: str, *, after: Cursor | None = None, size: int = PAGE_SIZE
) -> tuple[list[QueueRow], Cursor | None]:
    """One page of *q* (from :func:`queue_query` with ``sort``) after *after*, and the cursor
    of the next page, or None when this is the last one."""
    if after is not None:
        q = q.where(_after(sort, after))
    rows = [QueueRow(d, m, src, company) for d, m, src, company in s.execute(q.limit(size + 1))]
    more = len(rows) > size
    rows = rows[:size]
    return rows, (row_key(rows[-1].document, sort) if more and rows else None)


def next_new(s: Session, q: QueueQuery, doc: Document, sort: str) -> Document | None:
    """The document after *doc* in queue *q* (new documents only, in the order of *sort*),
    else the first one before it; None when no other new document is left."""
    if sort:
        rows, _ = sorted_page(s, q, sort, after=row_key(doc, sort), size=1)
    else:
        rows, _ = queue_page(s, q, before=doc.id, size=1)
    if not rows:
        rows, _ = queue_page(s, q.where(Document.id != doc.id), size=1)
    return rows[0].document if rows else None


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
