"""A fetch batch's new ledger rows and queue documents as plain objects, written with one INSERT
per table (Core executemany, no ORM instance, no unit of work).

:class:`NewMessage` and :class:`NewDocument` carry the columns of ``Message`` and ``Document``
under the same names, so what runs in the batch's transaction after they are inserted (queue
marking, supplier learning, the ``document.created`` payloads) reads and changes them as it does
ORM rows. :func:`insert_rows` gives them their ids; :func:`write_changes` then writes what was
changed since (a duplicate link, a reason, a supplier, a bank alert), as the ORM's flush at
commit would. Text from the mail is made to fit its column (``store.bounded.fit``), and other
text too long for its column is refused with ``TooLong``, as the ORM's flush refuses it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any, cast

from sqlalchemy import CursorResult, Executable, String, Table, bindparam, insert, update
from sqlalchemy.orm import Session

from invoice_inbox import reasons
from invoice_inbox.store import bounded
from invoice_inbox.store.errors import TooLong
from invoice_inbox.store.models import Document, Message, MessageState, utcnow

_MESSAGES = cast(Table, Message.__table__)
_DOCUMENTS = cast(Table, Document.__table__)
_SENDER = bounded.column_length(Message.sender)
_REMOTE_ID = bounded.column_length(Message.remote_id)
_FILENAME = bounded.column_length(Document.filename)
_ORIGIN_SENDER = bounded.column_length(Document.origin_sender)
_EINVOICE_KEY = bounded.column_length(Document.einvoice_key)


@dataclass(slots=True, eq=False)
class NewDocument:
    """A queue row not yet inserted, with ``Document``'s columns (``message_id`` and ``id``
    come with :func:`insert_rows`)."""

    company_id: int
    sha256: str
    size: int
    media_type: str
    filename: str
    kind: str
    einvoice: dict[str, Any] | None = None
    einvoice_key: str | None = None
    einvoice_problems: int | None = None
    rule: str | None = None
    origin_sender: str | None = None
    origin_date: datetime | None = None
    iban: str | None = None
    id: int = 0
    message_id: int = 0
    created_at: datetime | None = None
    duplicate_of_id: int | None = None
    duplicate_kind: str | None = None
    supplier_id: int | None = None
    bank_alert: str | None = None
    bank_alert_known: list[str] | None = None
    bank_alert_by: str | None = None
    bank_alert_at: datetime | None = None

    def __post_init__(self) -> None:
        self.filename = bounded.fit(self.filename, _FILENAME) or ""
        self.origin_sender = bounded.fit(self.origin_sender, _ORIGIN_SENDER)
        self.einvoice_key = bounded.fit(self.einvoice_key, _EINVOICE_KEY)


@dataclass(slots=True, eq=False)
class NewMessage:
    """A ledger row not yet inserted, with ``Message``'s columns and its documents."""

    source_id: int
    run_id: int | None
    folder: str
    uidvalidity: int
    uid: int | None
    remote_id: str | None
    raw_sha256: str
    raw_size: int
    message_id: str | None
    sender: str | None
    subject: str
    sent_at: datetime | None
    decision: str
    reason: str
    reason_parts: list[dict[str, object]] | None
    hits: list[str]
    sender_auth: str | None
    sender_auth_reason: str | None
    auth_results: dict[str, object] | None
    lookalike_of: str | None
    filed_to: str | None
    duplicate_of_id: int | None = None
    state: str = MessageState.DECIDED
    documents: list[NewDocument] = field(default_factory=list)
    id: int = 0
    received_at: datetime | None = None
    # (reason, reason_parts, duplicate_of_id) as inserted: write_changes compares
    inserted: tuple[object, ...] = ()

    def __post_init__(self) -> None:
        self.sender = bounded.fit(self.sender, _SENDER)
        self.remote_id = bounded.fit(self.remote_id, _REMOTE_ID)

    @property
    def reason_text(self) -> str:
        """As ``Message.reason_text``."""
        return reasons.text(self.reason, self.reason_parts)

    @property
    def reason_code(self) -> str | None:
        """As ``Message.reason_code``."""
        return reasons.reason_code(reasons.from_json(self.reason_parts))


LedgerRow = Message | NewMessage  # what the batch's store functions take
QueueDocument = Document | NewDocument

# the columns each INSERT sets (duplicate links, suppliers and alerts come after, if at all)
_MESSAGE_COLUMNS = tuple(
    c.name
    for c in _MESSAGES.columns
    if c.name in NewMessage.__dataclass_fields__ and c.name != "id"
)
_DOCUMENT_COLUMNS = tuple(
    c.name
    for c in _DOCUMENTS.columns
    if c.name in NewDocument.__dataclass_fields__
    and c.name not in ("id", "duplicate_of_id", "duplicate_kind", "supplier_id")
    and not c.name.startswith("bank_alert")
)


def _limits(table: Table, names: Sequence[str]) -> tuple[tuple[str, int, str], ...]:
    """(column, length, the sentence) of each bounded text column, as ``store.bounded``."""
    found = []
    for name in names:
        column = table.c[name]
        if isinstance(column.type, String) and column.type.length:
            what = f"{table.name.removeprefix('app_')} {name}".replace("_", " ")
            length = int(column.type.length)
            found.append((name, length, f"the {what} is too long: at most {length} characters"))
    return tuple(found)


_MESSAGE_LIMITS = _limits(_MESSAGES, _MESSAGE_COLUMNS)
_DOCUMENT_LIMITS = _limits(_DOCUMENTS, _DOCUMENT_COLUMNS)


def _values(
    objects: Sequence[object], names: tuple[str, ...], limits: tuple[tuple[str, int, str], ...]
) -> list[dict[str, Any]]:
    """The INSERT's parameters: one dict per object; ``TooLong`` for a text too long."""
    take = attrgetter(*names)
    values = [dict(zip(names, take(obj), strict=True)) for obj in objects]
    for name, length, sentence in limits:
        for v in values:
            text = v[name]
            if text is not None and len(text) > length:
                raise TooLong(sentence)
    return values


def _insert(s: Session, table: Table, values: list[dict[str, Any]]) -> list[int]:
    """Insert *values* with one statement (batched by the driver); their new ids, in order."""
    dialect = s.get_bind().dialect
    if dialect.name == "sqlite" and dialect.insert_executemany_returning:
        # SQLite cannot promise RETURNING's order, but gives a table's new rows increasing ids
        # in the order of the VALUES (one larger than the largest, one writer at a time)
        ids = sorted(s.scalars(insert(table).returning(table.c.id), values))
    elif dialect.insert_executemany_returning_sort_by_parameter_order:
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        ids = list(s.scalars(statement, values))
    else:  # an old SQLite without RETURNING: row by row
        ids = []
        for v in values:
            result = cast(CursorResult[Any], s.execute(insert(table), v))
            key = result.inserted_primary_key
            assert key is not None
            ids.append(int(key[0]))
    assert len(ids) == len(values)
    return ids


def insert_rows(s: Session, rows: Sequence[NewMessage]) -> None:
    """Insert *rows* and their documents (one statement each), in order, and give them ids."""
    if not rows:
        return
    for row in rows:
        row.received_at = utcnow()
    message_values = _values(rows, _MESSAGE_COLUMNS, _MESSAGE_LIMITS)
    for row, row_id in zip(rows, _insert(s, _MESSAGES, message_values), strict=True):
        row.id = row_id
        row.inserted = (row.reason, row.reason_parts, row.duplicate_of_id)
    docs = [doc for row in rows for doc in row.documents]
    if not docs:
        return
    for row in rows:
        for doc in row.documents:
            doc.message_id, doc.created_at = row.id, utcnow()
    values = _values(docs, _DOCUMENT_COLUMNS, _DOCUMENT_LIMITS)
    for doc, doc_id in zip(docs, _insert(s, _DOCUMENTS, values), strict=True):
        doc.id = doc_id


_ROW_CHANGE = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("row_id"))
    .values(
        reason=bindparam("new_reason", type_=_MESSAGES.c.reason.type),
        reason_parts=bindparam("new_parts", type_=_MESSAGES.c.reason_parts.type),
        duplicate_of_id=bindparam("new_duplicate_of", type_=_MESSAGES.c.duplicate_of_id.type),
    )
)
# what queue marking and supplier learning may set on a document after its insert
_DOCUMENT_CHANGES = ("duplicate_of_id", "duplicate_kind", "supplier_id", "bank_alert")
_DOCUMENT_UPDATES: dict[tuple[str, ...], Executable] = {}


def _document_update(names: tuple[str, ...]) -> Executable:
    """UPDATE of these columns of one document (``doc_id``), built once."""
    if names not in _DOCUMENT_UPDATES:
        _DOCUMENT_UPDATES[names] = (
            update(_DOCUMENTS)
            .where(_DOCUMENTS.c.id == bindparam("doc_id"))
            .values({n: bindparam(f"new_{n}", type_=_DOCUMENTS.c[n].type) for n in names})
        )
    return _DOCUMENT_UPDATES[names]


def write_changes(s: Session, rows: Sequence[NewMessage]) -> None:
    """Write what changed in inserted *rows* and their documents since :func:`insert_rows`: rows'
    reasons and duplicate links; documents' duplicate links, suppliers and bank alerts (those
    whose supplier is all that changed: one UPDATE per supplier)."""
    changed_rows = [
        {
            "row_id": row.id,
            "new_reason": row.reason,
            "new_parts": row.reason_parts,
            "new_duplicate_of": row.duplicate_of_id,
        }
        for row in rows
        if (row.reason, row.reason_parts, row.duplicate_of_id) != row.inserted
    ]
    if changed_rows:
        s.execute(_ROW_CHANGE, changed_rows)
    by_supplier: dict[int, list[int]] = defaultdict(list)
    changed_docs: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        for doc in row.documents:
            if doc.duplicate_kind is None and doc.bank_alert is None:
                if doc.supplier_id is not None:
                    by_supplier[doc.supplier_id].append(doc.id)
                continue
            # the columns set since the insert (all NULL then), as the ORM's flush would write
            names = tuple(n for n in _DOCUMENT_CHANGES if getattr(doc, n) is not None)
            if doc.bank_alert is not None:
                names += ("bank_alert_known",)
            changed = {f"new_{n}": getattr(doc, n) for n in names}
            changed_docs[names].append({"doc_id": doc.id, **changed})
    for supplier_id, doc_ids in by_supplier.items():
        s.execute(
            update(_DOCUMENTS).where(_DOCUMENTS.c.id.in_(doc_ids)).values(supplier_id=supplier_id)
        )
    for names, values in changed_docs.items():
        s.execute(_document_update(names), values)
