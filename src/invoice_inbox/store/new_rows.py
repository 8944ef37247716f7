"""A fetch batch's new ledger rows and queue documents as plain objects, written with one INSERT
per table (at the driver's level, ``store.driver_writes``: no ORM instance, no unit of work).

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

from sqlalchemy import Executable, String, Table, bindparam, update
from sqlalchemy.orm import Session

from invoice_inbox import reasons
from invoice_inbox.store import bounded, driver_writes
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
) -> list[tuple[Any, ...]]:
    """The INSERT's rows: one tuple of the *names* values per object; ``TooLong`` for a text
    too long."""
    take = attrgetter(*names)
    values = [take(obj) for obj in objects]
    for name, length, sentence in limits:
        i = names.index(name)
        for v in values:
            text = v[i]
            if text is not None and len(text) > length:
                raise TooLong(sentence)
    return values


def insert_rows(s: Session, rows: Sequence[NewMessage]) -> None:
    """Insert *rows* and their documents (one statement each), in order, and give them ids."""
    if not rows:
        return
    for row in rows:
        row.received_at = utcnow()
    message_values = _values(rows, _MESSAGE_COLUMNS, _MESSAGE_LIMITS)
    inserted = driver_writes.insert_rows(s, _MESSAGES, _MESSAGE_COLUMNS, message_values, ids=True)
    for row, row_id in zip(rows, inserted, strict=True):
        row.id = row_id
        row.inserted = (row.reason, row.reason_parts, row.duplicate_of_id)
    docs = [doc for row in rows for doc in row.documents]
    if not docs:
        return
    for row in rows:
        for doc in row.documents:
            doc.message_id, doc.created_at = row.id, utcnow()
    values = _values(docs, _DOCUMENT_COLUMNS, _DOCUMENT_LIMITS)
    doc_ids = driver_writes.insert_rows(s, _DOCUMENTS, _DOCUMENT_COLUMNS, values, ids=True)
    for doc, doc_id in zip(docs, doc_ids, strict=True):
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
_ROW_CHANGE_NAMES = ("row_id", "new_reason", "new_parts", "new_duplicate_of")
# what queue marking and supplier learning may set on a document after its insert
_DOCUMENT_CHANGES = ("duplicate_of_id", "duplicate_kind", "supplier_id", "bank_alert")
_SUPPLIER_ONLY = ("supplier_id",)
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
    reasons and duplicate links; documents' duplicate links, suppliers and bank alerts (one
    executemany per set of changed columns, ``store.driver_writes``)."""
    changed_rows = [
        (row.id, row.reason, row.reason_parts, row.duplicate_of_id)
        for row in rows
        if (row.reason, row.reason_parts, row.duplicate_of_id) != row.inserted
    ]
    driver_writes.execute_many(s, "message changes", _ROW_CHANGE, _ROW_CHANGE_NAMES, changed_rows)
    changed_docs: dict[tuple[str, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        for doc in row.documents:
            if doc.duplicate_kind is None and doc.bank_alert is None:
                if doc.supplier_id is not None:  # most often all that changed
                    changed_docs[_SUPPLIER_ONLY].append((doc.id, doc.supplier_id))
                continue
            # the columns set since the insert (all NULL then), as the ORM's flush would write
            names = tuple(n for n in _DOCUMENT_CHANGES if getattr(doc, n) is not None)
            if doc.bank_alert is not None:
                names += ("bank_alert_known",)
            changed_docs[names].append((doc.id, *(getattr(doc, n) for n in names)))
    for names, values in changed_docs.items():
        params = ("doc_id", *(f"new_{n}" for n in names))
        statement = _document_update(names)
        driver_writes.execute_many(s, f"document changes {names}", statement, params, values)
