"""A sync batch's questions to the ledger stay cheap as a source's ledger grows: on SQLite
(without statistics, the embedded default) the query for a batch's copies seen before searches
the (source, raw SHA-256) index rather than reading every row of the source."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert

from invoice_inbox.store import ledger
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import Company, Message, Source

ROWS = 3_000


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.in_data_dir(tmp_path)  # on a --db=postgresql run: the test's database
    yield database
    database.close()


def sha(n: int) -> str:
    return f"{n:064x}"


def fill(db: Database) -> int:
    with db.session() as s:
        c = Company(name="ACME")
        s.add(c)
        s.flush()
        src = Source(name="ap", company_id=c.id, host="h", port=993, username="u")
        s.add(src)
        s.flush()
        row: dict[str, Any] = dict(source_id=src.id, folder="INBOX", uidvalidity=1, raw_size=10)
        row.update(decision="import", reason="ok", subject="", hits=[], state="disposed")
        s.execute(insert(Message), [dict(row, uid=n, raw_sha256=sha(n)) for n in range(ROWS)])
        return src.id


def test_a_batchs_copies_are_found_by_the_index(db: Database) -> None:
    source_id = fill(db)
    asked: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, params: Any, *rest: Any) -> None:
        if "raw_sha256 IN" in statement:
            asked.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", seen)
    wanted = [sha(n) for n in (5, 2_999)] + [sha(ROWS + n) for n in range(98)]
    with db.session() as s:
        found = ledger.originals(s, source_id, wanted)
    event.remove(db.engine, "before_cursor_execute", seen)
    assert sorted(found) == [sha(5), sha(2_999)]
    assert asked
    if db.engine.dialect.name != "sqlite":
        return  # PostgreSQL plans by its statistics
    with db.engine.connect() as conn:
        for statement, params in asked:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
            steps = " / ".join(str(step[-1]) for step in plan)
            assert "ix_message_source_raw" in steps, steps
