"""The documents queue: listing documents with the mail they came from, and finding the
documents a new one repeats (the same bytes, or the same e-invoice as other bytes).

An *exact* duplicate (the same bytes as a document already queued) is recorded, linked to that
document and shown on the mail's log, but never queued: :func:`in_queue` is the condition every
listing of the payable queue applies. A *probable* duplicate (the same e-invoice as other bytes)
is queued, flagged, for a person to decide.

Transactions that queue documents of one company take turns (:meth:`QueueOriginals.load` locks
the company's row until commit): under PostgreSQL's READ COMMITTED two of them would otherwise
each miss the other's new document and both queue the same invoice. SQLite has no row locks and
its SELECTs take no lock, so there ``load`` takes the database's write lock first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from invoice_inbox.json_types import JsonObject
from invoice_inbox.reasons import ReasonPart, english, part, to_json
from invoice_inbox.store import bounded, trust_flags
from invoice_inbox.store.models import Company, Document, Message, Source
from invoice_inbox.store.new_rows import LedgerRow

EXACT, PROBABLE = "exact", "probable"


def in_queue() -> ColumnElement[bool]:
    """Documents that belong in the payable queue: all but exact duplicates. A copy whose
    original is gone (its source was deleted) is the only one left, so it is queued."""
    return or_(
        Document.duplicate_kind.is_(None),
        Document.duplicate_kind != EXACT,
        Document.duplicate_of_id.is_(None),
    )


def is_exact_duplicate(doc: Document) -> bool:
    """*doc* repeats the bytes of a queued document: it is not in the queue itself."""
    return doc.duplicate_kind == EXACT and doc.duplicate_of_id is not None


@dataclass(frozen=True)
class DocumentView:
    id: int
    company: str
    source: str
    filename: str
    media_type: str
    sha256: str
    size: int
    kind: str
    einvoice: dict[str, str | None] | None
    rule: str | None
    duplicate_of: int | None
    duplicate_kind: str | None  # "exact" (not queued again) or "probable" (same e-invoice)
    origin_sender: str | None  # the sender of the forwarded mail the document came in
    origin_date: datetime | None
    message_id: str | None
    sender: str | None
    subject: str
    sent_at: datetime | None
    received_at: datetime
    # sender_auth, lookalike_of, iban, bank_alert, supplier, flags (store.trust_flags)
    trust: JsonObject = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        d = asdict(self)
        d.update(d.pop("trust"))
        d["sent_at"] = self.sent_at.isoformat() if self.sent_at else None
        d["received_at"] = self.received_at.isoformat()
        d["origin_date"] = self.origin_date.isoformat() if self.origin_date else None
        return d


def listing(
    s: Session,
    *,
    source: str | None = None,
    company: str | None = None,
    kind: str | None = None,
    queue_only: bool = False,
    flag: str | None = None,
) -> list[DocumentView]:
    """Documents in arrival order; *queue_only* leaves out exact duplicates; *flag* keeps
    those with that trust flag (``store.trust_flags``)."""
    q = (
        select(Document, Message, Source.name, Company.name, Source.sender_auth)
        .join(Message, Document.message_id == Message.id)
        .join(Source, Message.source_id == Source.id)
        .join(Company, Document.company_id == Company.id)
        .order_by(Document.id)
    )
    if source:
        q = q.where(Source.name == source)
    if company:
        q = q.where(Company.name == company)
    if kind:
        q = q.where(Document.kind == kind)
    if queue_only:
        q = q.where(in_queue())
    if flag:
        q = q.where(trust_flags.condition(flag))
    rows = s.execute(q).all()
    names = trust_flags.supplier_names(s, (r[0] for r in rows))
    return [
        DocumentView(
            id=d.id,
            company=company,
            source=src,
            filename=d.filename,
            media_type=d.media_type,
            sha256=d.sha256,
            size=d.size,
            kind=d.kind,
            einvoice=d.einvoice,
            rule=d.rule,
            duplicate_of=d.duplicate_of_id,
            duplicate_kind=d.duplicate_kind,
            origin_sender=d.origin_sender,
            origin_date=d.origin_date,
            message_id=m.message_id,
            sender=m.sender,
            subject=m.subject,
            sent_at=m.sent_at,
            received_at=m.received_at,
            trust=trust_flags.trust(d, m, mode=mode, names=names),
        )
        for d, m, src, company, mode in rows
    ]


# SQLite has no row locks, and a SELECT takes none: a no-op write takes the database's; not of
# the key (SQLite would look through every table referring to it: each batch would scan all the
# documents), of a column no index holds. On the table, not the ORM class: no ORM objects to keep
# in step, a fifth of the CPU
_COMPANIES = cast(Table, Company.__table__)
_SQLITE_LOCK = (
    update(_COMPANIES)
    .where(_COMPANIES.c.id == bindparam("company_id"))
    .values(smtp_daily_cap=_COMPANIES.c.smtp_daily_cap)
)
# PostgreSQL: FOR NO KEY UPDATE of the company's row: new rows referring to it are not held up
_ROW_LOCK = (
    select(Company.id).where(Company.id == bindparam("company_id")).with_for_update(key_share=True)
)
_KEY_LENGTH = bounded.column_length(Document.einvoice_key)
# the queued documents with any of these contents or e-invoice keys: the lists are bound as
# they are (expanding), not made into one bound parameter per value on each batch
_ORIGINALS = (
    select(Document.id, Document.sha256, Document.einvoice_key, Document.duplicate_of_id)
    .where(
        Document.company_id == bindparam("company_id"),
        in_queue(),
        or_(
            Document.sha256.in_(bindparam("shas", expanding=True)),
            Document.einvoice_key.in_(bindparam("keys", expanding=True)),
        ),
    )
    .order_by(Document.id)
)


@dataclass
class QueueOriginals:
    """What new documents of a company are compared with: by content (SHA-256), the first
    queued document with those bytes (an original or a probable duplicate: both are in the
    queue); by e-invoice (seller, number, type), the first original with that key."""

    by_sha: dict[str, int]
    by_key: dict[str, int]

    @classmethod
    def load(
        cls, s: Session, company_id: int, shas: set[str], keys: set[str], *, lock: bool = True
    ) -> QueueOriginals:
        """One query for all the contents and invoice keys asked about. With *lock* (to queue
        documents in this transaction), first wait for the company's row: another transaction
        queueing documents of the company commits first, and the query then sees them."""
        found = cls({}, {})
        if not shas and not keys:
            return found
        if lock and s.get_bind().dialect.name == "sqlite":
            s.execute(_SQLITE_LOCK, {"company_id": company_id})
        elif lock:
            s.execute(_ROW_LOCK, {"company_id": company_id})
        keys = {key for key in (bounded.fit(k, _KEY_LENGTH) for k in keys) if key}  # as stored
        found_rows = s.execute(
            _ORIGINALS, {"company_id": company_id, "shas": sorted(shas), "keys": sorted(keys)}
        )
        for doc_id, sha, key, duplicate_of in found_rows:
            found.by_sha.setdefault(sha, doc_id)
            if key and duplicate_of is None:
                found.by_key.setdefault(key, doc_id)
        return found

    @classmethod
    def for_rows(cls, s: Session, company_id: int, rows: Iterable[LedgerRow]) -> QueueOriginals:
        docs = [d for row in rows for d in row.documents]
        shas = {d.sha256 for d in docs}
        return cls.load(s, company_id, shas, {d.einvoice_key for d in docs if d.einvoice_key})

    def match(self, sha256: str, key: str | None) -> tuple[int, str] | None:
        """(the original's id, "exact" or "probable") when a document repeats one, else None."""
        if sha256 in self.by_sha:
            return self.by_sha[sha256], EXACT
        key = bounded.fit(key, _KEY_LENGTH)  # as stored
        if key and key in self.by_key:
            return self.by_key[key], PROBABLE
        return None

    def mark(self, row: LedgerRow) -> Marked:
        """Mark *row*'s documents (flushed, or inserted by ``store.new_rows``) that repeat an
        earlier one, remember the queued ones; the reason of the row names the exact repeats,
        which are not queued."""
        queued = 0
        repeated: list[str] = []
        parts: list[ReasonPart] = []
        for doc in row.documents:
            found = self.match(doc.sha256, doc.einvoice_key)
            if found is not None:
                doc.duplicate_of_id, doc.duplicate_kind = found
                if found[1] == EXACT:
                    parts.append(part("exact_duplicate", file=doc.filename, original_id=found[0]))
                    repeated.append(english(parts[-1:]))
                    continue
            queued += 1
            self.by_sha.setdefault(doc.sha256, doc.id)
            if found is None and doc.einvoice_key:
                self.by_key.setdefault(doc.einvoice_key, doc.id)
        if repeated:
            row.reason += f"; already in the queue: {', '.join(repeated)}"
            if row.reason_parts is not None:  # a new list: the JSON column sees the change
                row.reason_parts = [
                    *row.reason_parts,
                    *to_json([part("already_queued", files=tuple(parts))]),
                ]
        return Marked(queued=queued, exact_duplicates=len(repeated))


@dataclass(frozen=True)
class Marked:
    """What :meth:`QueueOriginals.mark` did with a mail's documents."""

    queued: int  # joined the queue (originals and probable duplicates)
    exact_duplicates: int  # the same bytes as a queued document: recorded, not queued


def find_duplicates(
    s: Session, company_id: int, contents: Iterable[tuple[str, str | None]]
) -> dict[str, tuple[int, str]]:
    """For documents not stored yet, given as (sha256, e-invoice key or None): by sha256, the
    queued document each one repeats."""
    contents = list(contents)
    keys = {key for _, key in contents if key}
    shas = {sha for sha, _ in contents}
    originals = QueueOriginals.load(s, company_id, shas, keys, lock=False)  # only a look
    found = {}
    for sha, key in contents:
        match = originals.match(sha, key)
        if match:
            found[sha] = match
    return found
