"""A fetch batch written with one INSERT per table (``runtime.batch_rows.write_batch``, plain
rows of ``store.new_rows``) stores what the ORM's unit of work stored for the same batch: the
same ledger rows and documents with the same ids and links, the same suppliers, notifications
and events, on SQLite and (``--db=postgresql``) PostgreSQL.

Two databases set up alike get the same two batches: one through the ORM commit as
``runtime.sync`` made it before (``orm_commit`` below, kept here as the reference), the other
through ``write_batch``. The batches hold a copy of a mail in the same batch and of one in the
batch before, documents repeating a queued one (in the same batch and from the batch before),
a probable duplicate (the same e-invoice as other bytes), suppliers learned by domain and by VAT
id, a look-alike sender, a changed IBAN, a mail without documents and text too long for its
column."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import DateTime, Table, func, select
from sqlalchemy.orm import Session

from harness.pg_fixtures import _fresh_name, on_postgresql
from invoice_inbox.pipeline import mime
from invoice_inbox.pipeline.einvoice.model import EInvoice
from invoice_inbox.pipeline.extract import Document as Extracted
from invoice_inbox.pipeline.trust.result import AuthStatus, SenderAuth
from invoice_inbox.reasons import documents_found, english, part
from invoice_inbox.runtime.batch_decide import DUPLICATE, SAME_BATCH, BatchItem
from invoice_inbox.runtime.batch_rows import (
    advance_folder,
    document_rows,
    new_row,
    store_run,
    write_batch,
)
from invoice_inbox.runtime.run_summary import RunSummary
from invoice_inbox.runtime.source_plan import SourcePlan
from invoice_inbox.store import events, ledger, suppliers
from invoice_inbox.store.db import Database
from invoice_inbox.store.documents import QueueOriginals
from invoice_inbox.store.errors import TooLong
from invoice_inbox.store.models import (
    Base,
    Company,
    FolderState,
    Message,
    MessageState,
    Run,
    Source,
    UTCDateTime,
)
from invoice_inbox.store.new_rows import NewMessage

DE = "DE89370400440532013000"
GB = "GB29NWBK60161331926819"
PDF = b"%PDF-1.4 the invoice of supplier.test"


@pytest.fixture
def two(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Database, Database]]:
    """Two fresh databases (on a --db=postgresql run: the test's and one more like it)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = Database.in_data_dir(tmp_path / "a")
    if on_postgresql(request.config):
        pg = request.getfixturevalue("pg")
        name = _fresh_name("batch")
        second = Database(pg.create_database(name, template=request.getfixturevalue("pg_template")))
    else:
        second = Database.in_data_dir(tmp_path / "b")
    yield first, second
    first.close()
    second.close()
    if on_postgresql(request.config):
        pg.drop_database(name)


def setup(db: Database) -> tuple[SourcePlan, int]:
    with db.session() as s:
        company = Company(name="ACME", locale="de")
        s.add(company)
        s.flush()
        src = Source(name="ap", company_id=company.id, host="h", port=993, username="u")
        s.add(src)
        s.flush()
        run = Run(source_id=src.id, trigger="manual")
        s.add(run)
        s.flush()
        return SourcePlan.of(src), run.id


def mail(
    uid: int,
    sender: str,
    docs: tuple[Extracted, ...] = (),
    *,
    raw: bytes | None = None,
    name: str = "",
    verdict: str = "import",
    auth: AuthStatus = AuthStatus.PASS,
    lookalike_of: str | None = None,
) -> BatchItem:
    raw = raw if raw is not None else f"mail {uid}".encode()
    headers = mime.Headers(
        sender=sender,
        sender_name=name,
        to="ap@acme.test",
        subject=f"Invoice {uid}",
        message_id=f"<{uid}@test>",
        date=datetime(2025, 3, 1, 9, uid % 60, tzinfo=UTC),
    )
    names = ", ".join(d.filename for d in docs)
    reason = (documents_found(len(docs), sender, names),) if docs else (part("no_document"),)
    return BatchItem(
        uid,
        raw,
        hashlib.sha256(raw).hexdigest(),
        headers,
        docs,
        verdict,
        english(reason),
        "Imported" if docs else None,
        hits=("pdf",) if docs else (),
        sender_auth=SenderAuth(auth, f"dkim={auth}", from_domain=sender.rpartition("@")[2]),
        lookalike_of=lookalike_of,
        reason_parts=reason,
    )


def pdf(
    data: bytes, name: str, *, iban: str | None = DE, einvoice: EInvoice | None = None
) -> Extracted:
    return Extracted(name, "application/pdf", data, iban=iban, einvoice=einvoice)


def copy_of(item: BatchItem, uid: int, *, committed: bool) -> BatchItem:
    """A copy of *item*'s raw mail (batch_decide: committed before, or on its way with it)."""
    said = (part("duplicate", original=item.reason_parts or item.reason),)
    return BatchItem(
        uid,
        item.raw,
        item.sha256,
        item.headers,
        (),
        DUPLICATE,
        "duplicate",
        item.target,
        duplicate_of=item.row_id if committed else SAME_BATCH,
        original=None if committed else item,
        reason_parts=said,
    )


def first_batch() -> list[BatchItem]:
    seller = EInvoice(
        format="xrechnung-ubl",
        document_type="invoice",
        number="R-7",
        seller_name="Vat Seller AG",
        seller_vat_id="DE 123 456 789",
    )
    a = mail(1, "billing@supplier.test", (pdf(PDF, "a.pdf"),), name="Supplier GmbH")
    first = [
        a,
        copy_of(a, 2, committed=False),  # the same mail twice in one batch
        mail(3, "other@supplier.test", (pdf(PDF, "again.pdf"), pdf(b"%PDF new", "b.pdf"))),
        mail(4, "x@vatco.test", (pdf(b"%PDF xr", "xr.pdf", iban=None, einvoice=seller),)),
        mail(5, "y@vatco.test", (pdf(b"%PDF xr 2", "xr2.pdf", iban=None, einvoice=seller),)),
        mail(
            6,
            "billing@suppIier.test",
            (pdf(b"%PDF l", "l.pdf", iban=GB),),
            lookalike_of="supplier.test",
        ),
        mail(7, "billing@supplier.test", (pdf(b"%PDF c", "c.pdf", iban=GB),)),
        mail(8, "news@letter.test", verdict="not_imported"),
        mail(
            9,
            "f" * 330 + "@long.test",
            (pdf(b"%PDF long", "n" * 300 + ".pdf"),),
            auth=AuthStatus.FAIL,
        ),
    ]
    return first


def second_batch(first: list[BatchItem]) -> list[BatchItem]:
    a = first[0]
    return [
        copy_of(a, 10, committed=True),  # a mail of the batch before, listed again
        mail(11, "billing@supplier.test", (pdf(PDF, "a-again.pdf"),)),
        mail(12, "billing@supplier.test", (pdf(b"%PDF d", "d.pdf"),)),
    ]


def orm_commit(db: Database, plan: SourcePlan, run_id: int, items: list[BatchItem]) -> int:
    """A batch committed as ``runtime.sync`` did with the ORM (the reference)."""
    counted = RunSummary(run_id=run_id, source=plan.name)
    rows = [orm_row(plan, run_id, it) for it in items]
    with db.session() as s:
        originals = QueueOriginals.for_rows(s, plan.company_id, rows)
        s.add_all(rows)
        ledger.end_attempts(s, plan.id, [it.sha256 for it in items if it.duplicate_of is None])
        s.flush()
        pairs = list(zip(items, rows, strict=True))
        for it, row in pairs:
            it.row_id = row.id
        for it, row in pairs:
            if it.original is not None:
                assert it.original.row_id is not None
                row.duplicate_of_id = it.original.row_id
            counted.count(it.verdict, originals.mark(row))
        created = events.DocumentsCreated(company=plan.company, source=plan.name)
        suppliers.learn_many(
            s,
            [(row, it.headers.sender_name if it.headers else None) for it, row in pairs],
            company_id=plan.company_id,
            then=created.add,
        )
        created.write(s)
    return counted.documents_created


def orm_row(plan: SourcePlan, run_id: int, it: BatchItem) -> Message:
    """``runtime.batch_rows.message_row`` as it was: the same columns, as an ORM row."""
    new = new_row(plan, run_id, "INBOX", 1, copy.copy(it))
    row = Message(
        **{k: getattr(new, k) for k in _MESSAGE_FIELDS},
        duplicate_of_id=None if it.duplicate_of == SAME_BATCH else it.duplicate_of,
    )
    row.documents = document_rows(it.documents, plan.company_id)
    return row


_MESSAGE_FIELDS = [
    f
    for f in NewMessage.__dataclass_fields__
    if f not in ("documents", "id", "received_at", "inserted", "duplicate_of_id")
]


def core_commit(db: Database, plan: SourcePlan, run_id: int, items: list[BatchItem]) -> int:
    counted = RunSummary(run_id=run_id, source=plan.name)
    rows = [new_row(plan, run_id, "INBOX", 1, it) for it in items]
    with db.session() as s:
        write_batch(s, plan, items, rows, count=counted.count)
    return counted.documents_created


_TIMES = {"received_at", "created_at", "first_seen", "last_seen", "next_attempt_at", "time"}


def _timeless(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _timeless(v)
            for k, v in value.items()
            if k not in _TIMES and not isinstance(v, datetime)
        }
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def dump(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, in id order, without the times of the writing."""
    found = {}
    with db.session() as s:
        for table in Base.metadata.sorted_tables:
            found[table.name] = _rows(s, table)
    return found


def _rows(s: Session, table: Table) -> list[dict[str, Any]]:
    """*table*'s rows as the database holds them (JSON as text: SQL NULL is not JSON null),
    without the times of the writing."""
    times = {c.name for c in table.c if isinstance(c.type, DateTime | UTCDateTime)}
    names = [c.name for c in table.c if c.name not in times]
    order = " ORDER BY id" if "id" in table.c else ""
    listed = ", ".join(f'"{name}"' for name in names)
    found = s.connection().exec_driver_sql(f"SELECT {listed} FROM {table.name}{order}")
    return [{k: _json_timeless(v) for k, v in zip(names, r, strict=True)} for r in found]


def _json_timeless(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("{"):
        return _timeless(json.loads(value))
    return _timeless(value)


def test_a_batch_written_with_one_insert_per_table_stores_what_the_orm_stored(
    two: tuple[Database, Database],
) -> None:
    written = []
    for db, commit in zip(two, (orm_commit, core_commit), strict=True):
        plan, run_id = setup(db)
        first = first_batch()
        queued = [commit(db, plan, run_id, first)]
        queued.append(commit(db, plan, run_id, second_batch(first)))
        written.append((queued, first[1].original, [it.row_id for it in first], dump(db)))
    (orm_queued, _, orm_ids, orm), (queued, original, ids, core) = written
    assert queued == orm_queued == [7, 1]
    assert ids == orm_ids and original is not None and original.row_id == ids[0]
    for table in orm:
        assert core[table] == orm[table], table
    # the scenario did what it is there for
    messages, documents = core["message"], core["document"]
    assert [m["duplicate_of_id"] for m in messages[:2]] == [None, messages[0]["id"]]
    assert messages[9]["duplicate_of_id"] == messages[0]["id"]  # the batch before
    assert "exact duplicate of #" in messages[2]["reason"]  # in this batch
    assert "exact duplicate of #" in messages[10]["reason"]  # in the batch before
    kinds = [d["duplicate_kind"] for d in documents]
    assert kinds.count("exact") == 2 and kinds.count("probable") == 1
    assert any(d["bank_alert"] == "changed" for d in documents)
    assert len(messages[8]["sender"]) == 320 and len(documents[-3]["filename"]) == 255
    assert {n["kind"] for n in core["notification"]} == {"lookalike_sender", "bank_details_changed"}
    assert len(core["supplier"]) >= 2
    assert sum(e["kind"] == events.DOCUMENT_CREATED for e in core["event"]) == 8
    assert all(m["state"] == MessageState.DECIDED for m in messages)


def test_text_too_long_for_its_column_is_refused_as_the_orm_refused_it(
    two: tuple[Database, Database],
) -> None:
    refused = []
    for db, commit in zip(two, (orm_commit, core_commit), strict=True):
        plan, run_id = setup(db)
        item = mail(1, "billing@supplier.test", (pdf(PDF, "a.pdf"),))
        item.target = "Imported/" + "x" * 300  # a folder name no mail server would make
        with pytest.raises(TooLong) as caught:
            commit(db, plan, run_id, [item])
        refused.append(str(caught.value))
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(Message)) == 0
    assert refused[1] == refused[0] == "the message filed to is too long: at most 255 characters"


def test_the_folder_cursor_moves_forward_only_and_is_made_when_missing(
    two: tuple[Database, Database],
) -> None:
    db = two[0]
    plan, _ = setup(db)
    with db.session() as s:  # no cursor yet: made
        advance_folder(s, plan.id, "INBOX", 7, 40, 41)
    with db.session() as s:  # a later batch with higher uids: moved
        advance_folder(s, plan.id, "INBOX", 7, 90, 91)
    with db.session() as s:  # a batch of lower uids (filed late): the last uid stays
        advance_folder(s, plan.id, "INBOX", 7, 60, 95)
    with db.session() as s:
        advance_folder(s, plan.id, "Archive", 3, 5, 6)
    with db.session() as s:
        states = {
            st.folder: (st.uidvalidity, st.last_uid, st.uidnext)
            for st in s.scalars(select(FolderState))
        }
    assert states == {"INBOX": (7, 90, 95), "Archive": (3, 5, 6)}


def test_the_run_figures_stored_with_one_update_are_what_store_into_sets(
    two: tuple[Database, Database],
) -> None:
    stored = []
    for db in two:
        _, run_id = setup(db)
        summary = RunSummary(run_id=run_id, source="ap", status="partial", error="cut off")
        for i, name in enumerate(("messages_seen", "imported", "not_imported", "quarantined")):
            setattr(summary, name, 10 + i)
        summary.duplicates, summary.documents_created, summary.errors = 4, 5, 6
        with db.session() as s:
            if db is two[0]:
                store_run(s, run_id, summary)
            else:
                run = s.get(Run, run_id)
                assert run is not None
                summary.store_into(run)
        with db.session() as s:
            run = s.get(Run, run_id)
            assert run is not None
            stored.append({c.name: getattr(run, c.name) for c in Run.__table__.columns})
    for figures in stored:
        figures.pop("started_at")
    assert stored[0] == stored[1]
    assert stored[0]["status"] == "partial" and stored[0]["errors"] == 6
