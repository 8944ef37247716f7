"""The store's bulk functions for a fetch batch store what the single-mail ones store, on a real
database (SQLite, or PostgreSQL with ``--db=postgresql``): ``supplier_learning.learn_many``
beside ``learn``, ``events.documents_created_many`` beside ``documents_created``, and the
decide attempts (``ledger.begin_attempts`` in three statements, ``switch_attempts``).

Two companies get the same mails, batch by batch, one through the single functions and one
through the bulk ones; what each ends up with (suppliers, their domains and IBANs, the documents'
suppliers and bank alerts, notifications, events) must be the same."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from invoice_inbox.store import events, ledger
from invoice_inbox.store import supplier_learning as learning
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import Company, DecideAttempt, Document, Message, Run, Source
from invoice_inbox.store.models_events import Event, Notification
from invoice_inbox.store.models_trust import Supplier, SupplierDomain, SupplierIban

DE = "DE89370400440532013000"
GB = "GB29NWBK60161331926819"
FR = "FR1420041010050500013M02606"
_uid = itertools.count(1)


@dataclass(frozen=True)
class Mail:
    sender: str
    ibans: tuple[str | None, ...] = (DE,)
    name: str | None = None  # the sender's display name
    einvoice: dict[str, Any] | None = None
    sender_auth: str | None = "pass"
    lookalike_of: str | None = None
    exact_duplicate: bool = False
    origin_sender: str | None = None


# the first batch teaches: new suppliers by domain and by VAT id, a parent domain, a free-mail
# forward, a look-alike, a failed authentication, an exact duplicate, a changed IBAN, a supplier
# renamed by its e-invoice, and a domain found nowhere until a later mail teaches its parent
FIRST = [
    Mail("billing@supplier.test", name="Supplier GmbH"),
    Mail("ar@eu.supplier.test"),
    Mail("a@x.late.test", sender_auth="fail"),
    Mail("someone@gmail.com", einvoice={"seller_vat_id": "DE 123.456.789", "seller_name": "Vat"}),
    Mail("x@vatco.test", ibans=(None,), einvoice={"seller_vat_id": "de123456789"}),
    Mail("billing@suppIier.test", ibans=(GB,), lookalike_of="supplier.test"),
    Mail("billing@supplier.test", exact_duplicate=True),
    Mail("fwd@gmail.com", ibans=(FR,), origin_sender="Orig <orig@parts.test>"),
    Mail("billing@supplier.test", ibans=(GB,)),
    Mail("billing@supplier.test", ibans=(DE, None)),
    Mail("ops@named.test", ibans=(None,)),
    Mail("ops@named.test", ibans=(FR,), einvoice={"seller_vat_id": "ATU1", "seller_name": "N AG"}),
    Mail("b@late.test", name="Late Ltd"),
    Mail("c@x.late.test", ibans=(GB,)),
]
# the second batch finds what the first one taught (and a look-alike within its quiet time)
SECOND = [
    Mail("billing@supplier.test"),
    Mail("x@vatco.test", ibans=(GB,)),
    Mail("c@x.late.test", ibans=(DE,)),
    Mail("billing@suppIier.test", lookalike_of="supplier.test"),
    Mail("new@fresh.test", name="Fresh", ibans=(None, GB)),
    Mail("ops@named.test", ibans=(FR,)),
    Mail("orig@parts.test", ibans=(FR,), sender_auth="fail"),
]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.in_data_dir(tmp_path)  # on a --db=postgresql run: the test's database
    yield database
    database.close()


@dataclass(frozen=True)
class Ids:
    company: int
    source: int
    run: int


def company(db: Database, name: str) -> Ids:
    with db.session() as s:
        c = Company(name=name)
        s.add(c)
        s.flush()
        src = Source(name=f"{name}-ap", company_id=c.id, host="h", port=993, username="u")
        s.add(src)
        s.flush()
        run = Run(source_id=src.id, trigger="manual")
        s.add(run)
        s.flush()
        return Ids(c.id, src.id, run.id)


def add_rows(s: Session, ids: Ids, mails: list[Mail]) -> list[tuple[Message, str | None]]:
    """Ledger rows of *mails*, flushed, with one document per IBAN (as ``runtime.sync``)."""
    rows = []
    for i, mail in enumerate(mails):
        uid = next(_uid)
        row = Message(
            source_id=ids.source,
            run_id=ids.run,
            folder="INBOX",
            uidvalidity=1,
            uid=uid,
            raw_sha256=f"{uid:064x}",
            raw_size=1,
            sender=mail.sender,
            subject=f"Invoice {i}",
            decision="import",
            reason="r",
            hits=[],
            sender_auth=mail.sender_auth,
            lookalike_of=mail.lookalike_of,
        )
        row.documents = [
            Document(
                company_id=ids.company,
                sha256=f"{uid:032x}{n:032x}",
                size=1,
                media_type="application/pdf",
                filename=f"{i}-{n}.pdf",
                kind="pdf",
                einvoice=mail.einvoice,
                iban=iban,
                duplicate_kind="exact" if mail.exact_duplicate else None,
                origin_sender=mail.origin_sender,
            )
            for n, iban in enumerate(mail.ibans)
        ]
        rows.append((row, mail.name))
    s.add_all([row for row, _ in rows])
    s.flush()
    for row, _ in rows:
        for doc in row.documents:
            if doc.duplicate_kind == "exact":
                doc.duplicate_of_id = doc.id  # any queued original will do here
    return rows


def commit_batch(db: Database, ids: Ids, mails: list[Mail], *, bulk: bool) -> int:
    """One batch in one transaction, learned and announced as ``runtime.sync`` does."""
    with db.session() as s:
        rows = add_rows(s, ids, mails)
        if bulk:
            announced = events.DocumentsCreated(company="ACME", source="ap")
            learning.learn_many(s, rows, company_id=ids.company, then=announced.add)
            return announced.write(s)
        emitted = 0
        for row, name in rows:
            learning.learn(s, row, company_id=ids.company, sender_name=name)
            emitted += events.documents_created(s, row, company="ACME", source="ap")
        return emitted


_DIFFERENT = ("id", "download_url", "duplicate_of", "source", "company", "sha256", "received_at")


def _no_ids(value: Any) -> Any:
    """*value* (an event payload) without what differs from company to company: ids, names,
    hashes (the uid's) and times."""
    if isinstance(value, dict):
        return {k: _no_ids(v) for k, v in value.items() if k not in _DIFFERENT}
    if isinstance(value, list):
        return [_no_ids(v) for v in value]
    return value


def learned(s: Session, ids: Ids) -> dict[str, Any]:
    """What a company has learned and announced, without its ids."""
    names = dict(s.execute(select(Supplier.id, Supplier.name)).all())
    suppliers = [
        (
            sup.name,
            sup.vat_id,
            sup.documents_count,
            sorted(d.domain for d in sup.domains),
            [(i.iban, i.confirmed, i.seen_count) for i in sup.ibans],
        )
        for sup in s.scalars(
            select(Supplier).where(Supplier.company_id == ids.company).order_by(Supplier.name)
        )
    ]
    documents = [
        (d.filename, names.get(d.supplier_id or 0), d.bank_alert, d.bank_alert_known)
        for d in s.scalars(
            select(Document).where(Document.company_id == ids.company).order_by(Document.id)
        )
    ]
    notes = sorted(
        (n.kind, n.subject)
        for n in s.scalars(select(Notification).where(Notification.company_id == ids.company))
    )
    announced = [
        (e.kind, _no_ids(e.payload))
        for e in s.scalars(select(Event).where(Event.company_id == ids.company).order_by(Event.id))
    ]
    return {
        "suppliers": suppliers,
        "documents": documents,
        "notifications": notes,
        "document.created": [e for e in announced if e[0] == events.DOCUMENT_CREATED],
        "bank events": [e for e in announced if e[0] == events.BANK_DETAILS_CHANGED],
    }


def test_a_batch_learned_and_announced_in_bulk_stores_what_mail_by_mail_stores(
    db: Database,
) -> None:
    single, bulk = company(db, "single"), company(db, "bulk")
    emitted = [commit_batch(db, single, batch, bulk=False) for batch in (FIRST, SECOND)]
    assert [commit_batch(db, bulk, batch, bulk=True) for batch in (FIRST, SECOND)] == emitted
    with db.session() as s:
        one, many = learned(s, single), learned(s, bulk)
    assert many == one
    # the scenario did what it is there for
    assert len(one["suppliers"]) == 6 and one["bank events"] and one["notifications"]
    assert sum(emitted) == len(one["document.created"]) == 22  # not the exact duplicate
    assert ("N AG", "ATU1", 3, ["named.test"], [(FR, False, 2)]) in one["suppliers"]
    (named,) = [p for _, p in one["document.created"] if p["document"]["filename"] == "10-0.pdf"]
    assert named["document"]["supplier"] == {"name": "named.test"}  # renamed by the next mail
    late = next(sup for sup in one["suppliers"] if sup[0] == "Late Ltd")
    assert late[2:4] == (3, ["late.test"])  # x.late.test: found once its parent was taught


def test_learn_many_finds_a_batchs_suppliers_in_one_query_each_not_one_per_mail(
    db: Database,
) -> None:
    ids = company(db, "ACME")
    senders = [f"billing@supplier{i}.test" for i in range(8)]
    commit_batch(db, ids, [Mail(sender) for sender in senders], bulk=True)  # taught
    selects: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with db.session() as s:
            rows = add_rows(s, ids, [Mail(sender) for sender in senders * 3])
            learning.learn_many(s, rows, company_id=ids.company)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    # the domains' owners, the suppliers with their IBANs: not one look per sender domain
    assert len(selects) <= 3, selects
    with db.session() as s:
        counts = s.scalars(
            select(Supplier.documents_count).where(Supplier.company_id == ids.company)
        )
        assert sorted(counts) == [4] * 8
        assert s.scalar(select(func.count()).select_from(SupplierDomain)) == 8
        assert s.scalar(select(func.sum(SupplierIban.seen_count))) == 8 * 4


def attempts(db: Database, source_id: int) -> dict[str, int]:
    with db.session() as s:
        found = s.execute(
            select(DecideAttempt.raw_sha256, DecideAttempt.attempts).where(
                DecideAttempt.source_id == source_id
            )
        )
        return dict(found.all())


def test_attempts_are_counted_ended_and_switched_group_to_group(db: Database) -> None:
    ids = company(db, "ACME")
    many = [f"{i:064x}" for i in range(1, 1202)]  # more than one IN (...) of 500
    with db.session() as s:
        ledger.begin_attempts(s, ids.source, many)
    with db.session() as s:
        ledger.begin_attempts(s, ids.source, [*many[:3], many[3], many[3]])  # a mail twice
    counted = attempts(db, ids.source)
    assert len(counted) == 1201 and sum(counted.values()) == 1201 + 4
    assert {counted[sha] for sha in many[:4]} == {2}
    with db.session() as s:
        ledger.undo_attempts(s, ids.source, many[:2])
        ledger.end_attempts(s, ids.source, many[4:])
    assert attempts(db, ids.source) == {many[0]: 1, many[1]: 1, many[2]: 2, many[3]: 2}
    # a decider going from one group to the next: one transaction ends one, begins the other
    with db.session() as s:
        ledger.switch_attempts(s, ids.source, many[:3], [many[2], "f" * 64])
    assert attempts(db, ids.source) == {many[2]: 1, many[3]: 2, "f" * 64: 1}
    with db.session() as s:
        ledger.switch_attempts(s, ids.source, [many[2], many[3], "f" * 64], [])
    assert attempts(db, ids.source) == {}
