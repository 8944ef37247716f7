"""On SQLite too, two transactions queueing documents of one company take turns (the embedded
``serve`` syncs two sources at once on two threads): SQLite has no row locks, and a plain SELECT
takes no lock at all, so the second transaction would read the queue before the first commits,
miss its document and queue the same invoice again. ``QueueOriginals.load`` therefore takes
SQLite's write lock before it reads."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from invoice_inbox.store.db import Database
from invoice_inbox.store.documents import EXACT, QueueOriginals
from invoice_inbox.store.models import Document
from store.test_queue_turns_pg import SHA, _document, _seed

GIVE_IT = 2.0  # seconds the first transaction leaves the second to read the queue, if it can


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'invoice-inbox.db'}")
    yield database
    database.close()


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
        deadline = time.monotonic() + GIVE_IT
        while not seen and time.monotonic() < deadline:  # it reads now, or waits for us
            time.sleep(0.02)
        first_id = doc.id
    other.join(timeout=60)
    assert seen == [(first_id, EXACT)], "the second transaction missed the first's document"
    with db.session() as s:
        assert s.scalars(select(Document.message_id).order_by(Document.id)).all() == [
            first_message,
            second_message,
        ]
