"""The event outbox: what happened (a document joined the queue, a source needs someone), written
in the caller's transaction, so an event exists exactly when what it announces was committed.

``delivery.webhooks`` fans the events out to the company's webhook subscriptions later; writing
one is a single INSERT, with no look-up of who subscribes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session, object_session

from invoice_inbox import i18n
from invoice_inbox.i18n import N_
from invoice_inbox.json_types import JsonObject
from invoice_inbox.store import driver_writes, trust_flags
from invoice_inbox.store.models import Company, Document, Message, Source, utcnow
from invoice_inbox.store.models_events import Event
from invoice_inbox.store.models_trust import Supplier
from invoice_inbox.store.new_rows import LedgerRow, NewMessage, QueueDocument

_EVENTS = cast(Table, Event.__table__)
_EVENT_COLUMNS = ("company_id", "kind", "payload", "created_at", "dispatched")
DOCUMENT_CREATED = "document.created"
SOURCE_DEACTIVATED = "source.deactivated"
SOURCE_NEEDS_ATTENTION = "source.needs_attention"
BANK_DETAILS_CHANGED = "supplier.bank_details_changed"  # store.supplier_alerts
WEBHOOK_TEST = "webhook.test"  # sent to one subscription on request, never fanned out

# what a webhook can subscribe to, with the words the screens use
KINDS: dict[str, str] = {
    DOCUMENT_CREATED: "a document joined the queue",
    SOURCE_DEACTIVATED: "a source was switched off after failing again and again",
    SOURCE_NEEDS_ATTENTION: "a source cannot sign in and waits for someone to fix it",
    BANK_DETAILS_CHANGED: "a document asks payment to an IBAN its supplier never used",
}


def emit(
    s: Session,
    company_id: int,
    kind: str,
    payload: JsonObject,
    *,
    now: datetime | None = None,
    dispatched: bool = False,
) -> Event:
    """Add an event to the outbox in the caller's transaction."""
    event = Event(
        company_id=company_id,
        kind=kind,
        payload=payload,
        created_at=now or utcnow(),
        dispatched=dispatched,
    )
    s.add(event)
    return event


def document_payload(doc: Document, row: Message, *, company: str, source: str) -> JsonObject:
    """The ``document.created`` payload of a flushed document and the message it came in,
    with its trust fields and flags (``store.trust_flags``: sender authentication, look-alike
    sender, IBAN and bank-detail alert, supplier)."""
    return _payload(doc, row, company=company, source=source, mode=_mode(row), locale=_locale(row))


def _mode(row: Message) -> str | None:
    """The sender authentication policy of *row*'s source."""
    return row.source.sender_auth if row.source is not None else None


def _locale(row: Message) -> str | None:
    """The language of *row*'s company, for a webhook's ``message`` (None: no message)."""
    return row.source.company.locale if row.source is not None else None


# a webhook payload is codes and values; these sentences are its optional ``message``, in the
# company's language when the company has one
_DOCUMENT_MESSAGE = N_("A document joined the queue: %(file)s from %(sender)s (%(reason)s)")
_SOURCE_MESSAGES = {
    SOURCE_DEACTIVATED: N_('Source "%(source)s" was switched off: %(reason)s'),
    SOURCE_NEEDS_ATTENTION: N_('Source "%(source)s" cannot sign in: %(reason)s'),
}


def _message(locale: str | None, template: str, **params: object) -> JsonObject:
    """``{"message": ...}``: *template* with *params* in *locale* (a ledger row: its reason
    there); nothing without a locale."""
    if not locale:
        return {}
    with i18n.use_locale(locale):
        shown = {
            k: v.reason_text if isinstance(v, Message | NewMessage) else v
            for k, v in params.items()
        }
        return {"message": i18n.gettext(template) % shown}


def _payload(
    doc: QueueDocument,
    row: LedgerRow,
    *,
    company: str,
    source: str,
    mode: str | None,
    names: Mapping[int, str] | None = None,
    locale: str | None = None,
) -> JsonObject:
    return {
        "event": DOCUMENT_CREATED,
        "document": {
            "id": doc.id,
            "company": company,
            "source": source,
            "filename": doc.filename,
            "media_type": doc.media_type,
            "size": doc.size,
            "sha256": doc.sha256,
            "kind": doc.kind,
            "einvoice": doc.einvoice,
            "duplicate_of": doc.duplicate_of_id,
            "duplicate_kind": doc.duplicate_kind,
            "received_at": _received(row).isoformat(),
            "sender": row.sender,
            "subject": row.subject,
            "download_url": f"/api/v1/documents/{doc.id}/file",
            # why the mail was imported, as codes (null: decided before reasons had codes)
            "reason_code": row.reason_code,
            "reason_parts": row.reason_parts,
            # trust_flags reads the same columns of a new row (store.new_rows)
            **trust_flags.trust(cast(Document, doc), cast(Message, row), mode=mode, names=names),
        },
        **_message(
            locale, _DOCUMENT_MESSAGE, file=doc.filename, sender=row.sender or "", reason=row
        ),
    }


def _received(row: LedgerRow) -> datetime:
    assert row.received_at is not None  # flushed or inserted
    return row.received_at


def documents_created(s: Session, row: Message, *, company: str, source: str) -> int:
    """One ``document.created`` event per document of *row* that joined the queue.

    Call it after the documents are flushed (they need their ids) and marked against the queue
    (``QueueOriginals.mark``): exact repeats of a queued document are not queued again, so they
    announce nothing; probable repeats are queued and say so in ``duplicate_kind``."""
    emitted = 0
    for doc in row.documents:
        if doc.duplicate_kind == "exact":
            continue
        emit(
            s,
            doc.company_id,
            DOCUMENT_CREATED,
            document_payload(doc, row, company=company, source=source),
        )
        emitted += 1
    return emitted


# a source's policy and its company's language, in one query without ORM objects
_SOURCE_SETTINGS = (
    select(Source.sender_auth, Company.locale)
    .join(Company, Source.company_id == Company.id)
    .where(Source.id == bindparam("source_id"))
)


class DocumentsCreated:
    """The ``document.created`` events of a batch, written with one INSERT (no ORM object
    each): :meth:`add` each row where :func:`documents_created` would be called (its payloads
    are taken then, e.g. the supplier's name as it is), :meth:`write` once at the end. In the
    outbox, events written by others meanwhile (``supplier.bank_details_changed``) come first.
    Rows may be ORM rows or new rows (``store.new_rows``): these need *session*, which finds
    their sources and suppliers."""

    def __init__(self, *, company: str, source: str, session: Session | None = None) -> None:
        self.company, self.source, self.session = company, source, session
        self.values: list[tuple[object, ...]] = []  # rows of _EVENT_COLUMNS
        self._modes: dict[int, str | None] = {}  # by source id: one look per source, not mail
        self._locales: dict[int, str | None] = {}  # the same, the company's language
        self._suppliers: dict[int, Supplier | None] = {}  # by id: one look each, not per mail

    def add(self, row: LedgerRow) -> int:
        """Take the events of *row*'s documents that joined the queue; how many."""
        before = len(self.values)
        for doc in row.documents:
            if doc.duplicate_kind == "exact":
                continue
            if row.source_id not in self._modes:
                self._modes[row.source_id], self._locales[row.source_id] = self._source(row)
            mode = self._modes[row.source_id]
            payload = _payload(
                doc,
                row,
                company=self.company,
                source=self.source,
                mode=mode,
                names=self._name(doc),
                locale=self._locales[row.source_id],
            )
            self.values.append((doc.company_id, DOCUMENT_CREATED, payload, utcnow(), False))
        return len(self.values) - before

    def _source(self, row: LedgerRow) -> tuple[str | None, str | None]:
        """The sender authentication policy of *row*'s source and its company's language."""
        if isinstance(row, Message):
            src = row.source
            return (src.sender_auth, src.company.locale) if src is not None else (None, None)
        assert self.session is not None, "new rows need the session"
        found = self.session.execute(_SOURCE_SETTINGS, {"source_id": row.source_id}).first()
        return (found[0], found[1]) if found is not None else (None, None)

    def _name(self, doc: QueueDocument) -> dict[int, str]:
        """The name of *doc*'s supplier as it is now (a later mail of the batch may rename it)."""
        if doc.supplier_id is None:
            return {}
        if doc.supplier_id not in self._suppliers:
            s = object_session(doc) if isinstance(doc, Document) else self.session
            self._suppliers[doc.supplier_id] = s.get(Supplier, doc.supplier_id) if s else None
        supplier = self._suppliers[doc.supplier_id]
        return {} if supplier is None else {doc.supplier_id: supplier.name}

    def write(self, s: Session) -> int:
        """Add the events taken so far to the outbox in the caller's transaction; how many."""
        written, self.values = self.values, []
        driver_writes.insert_rows(s, _EVENTS, _EVENT_COLUMNS, written, ids=False)
        return len(written)


def documents_created_many(
    s: Session, rows: Iterable[Message], *, company: str, source: str
) -> int:
    """:func:`documents_created` for each of *rows* (flushed, marked against the queue, their
    suppliers learned), written with one INSERT (:class:`DocumentsCreated`)."""
    announced = DocumentsCreated(company=company, source=source)
    for row in rows:
        announced.add(row)
    return announced.write(s)


def source_changed(s: Session, kind: str, src: Source, reason: str, *, now: datetime) -> Event:
    """A ``source.deactivated`` or ``source.needs_attention`` event: the source, why, and when."""
    payload = {
        "event": kind,
        "source": {
            "id": src.id,
            "name": src.name,
            "company": src.company.name,
            "protocol": src.protocol,
            "active": src.active,
            "auth_state": src.auth_state,
            "failures": src.failures,
        },
        "reason": reason,
        "time": now.isoformat(),
        **_message(src.company.locale, _SOURCE_MESSAGES[kind], source=src.name, reason=reason),
    }
    return emit(s, src.company_id, kind, payload, now=now)
