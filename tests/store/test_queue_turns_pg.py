"""On PostgreSQL (READ COMMITTED), two transactions queueing documents of one company take turns:
the second waits for the first's commit and then finds its document, so the same invoice is not
queued twice (the race fault injection found: two workers, one invoice in two mailboxes)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select, text

from harness.postgres import PostgresServer
from invoice_inbox.store.db import Database
from invoice_inbox.store.documents import EXACT, QueueOriginals
from invoice_inbox.store.models import Company, Document, Message, Run, Source

SHA = "ab" * 32
WAIT_LIMIT = 30.0  # seconds for the second transaction to be seen waiting (never reached)


@pytest.fixture
def db(pg: PostgresServer, pg_template: str) -> Iterator[Database]:
    name = f"turns_{id(pg)}_{time.monotonic_ns()}"
    database = Database(pg.create_database(name, template=pg_template))
    yield database
    database.close()
    pg.drop_database(name)


def _seed(db: Database) -> tuple[int, list[int]]:
    with db.session() as s:
        company = Company(name="ACME")
        s.add(company)
        s.flush()
        ids = []
        for name in ("ap-a", "ap-b"):
            source = Source(name=name, company_id=company.id, host="h", port=993, username="u")
            s.add(source)
            s.flush()
            run = Run(source_id=source.id, trigger="manual")
            s.add(run)
            s.flush()
            message = Message(
                source_id=source.id,
                run_id=run.id,
                folder="INBOX",
                uidvalidity=1,
                uid=1,
                raw_sha256=f"{len(ids):064x}",
                raw_size=1,
                subject="Invoice",
                decision="import",
                reason="r",
                hits=[],
            )
            s.add(message)
            s.flush()
            ids.append(message.id)
        return company.id, ids


def _document(company_id: int, message_id: int) -> Document:
    return Document(
        message_id=message_id,
        company_id=company_id,
        sha256=SHA,
        size=1,
        media_type="application/pdf",
        filename="invoice.pdf",
        kind="pdf",
    )


def _someone_waits_for_a_lock(db: Database) -> bool:
    with db.engine.connect() as conn:
        waiting = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar()
    return bool(waiting)


def test_the_second_transaction_waits_and_finds_the_first_ones_document(db: Database) -> None:
    company_id, (first_message, second_message) = _seed(db)
    seen: list[tuple[int, str] | None] = []

    def second() -> None:
        with db.session() as s:
            originals = QueueOriginals.load(s, company_id, {SHA}, set())
            seen.append(originals.match(SHA, None))
            s.add(_document(company_id, second_message))

    with db.session() as s:
        assert QueueOriginals.load(s, company_id, {SHA}, set()).match(SHA, None) is None
        doc = _document(company_id, first_message)
        s.add(doc)
        s.flush()
        other = threading.Thread(target=second)
        other.start()
        deadline = time.monotonic() + WAIT_LIMIT
        while other.is_alive() and not _someone_waits_for_a_lock(db):
            assert time.monotonic() < deadline, "the second transaction neither ran nor waited"
            time.sleep(0.02)
        first_id = doc.id
    other.join(timeout=WAIT_LIMIT)
    assert seen == [(first_id, EXACT)], "the second transaction missed the first's document"
    with db.session() as s:
        assert s.scalars(select(Document.message_id).order_by(Document.id)).all() == [
            first_message,
            second_message,
        ]
