"""On SQLite, this process's writing sessions take turns in a lock of the process (woken the
moment the other ends, not by SQLite's busy handler sleeping in steps); reading sessions do not
wait for them, and PostgreSQL sessions never take turns here."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from invoice_inbox.store.db import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.in_data_dir(tmp_path)  # on a --db=postgresql run: the test's database
    yield database
    database.close()


def test_a_writing_session_waits_for_the_one_writing_now(db: Database) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL sessions lock rows, not the database")
    events: list[str] = []
    inside, leave = threading.Event(), threading.Event()

    def first() -> None:
        with db.session(writes=True) as s:
            s.execute(text("UPDATE alembic_version SET version_num = version_num"))
            events.append("first in")
            inside.set()
            leave.wait(30)
            events.append("first out")

    def second() -> None:
        with db.session(durable=False):  # an attempt's commit: always a writing session
            events.append("second in")

    t1 = threading.Thread(target=first)
    t1.start()
    assert inside.wait(30)
    t2 = threading.Thread(target=second)
    t2.start()
    with db.session() as s:  # a reading session goes ahead meanwhile
        assert s.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        events.append("reader")
    leave.set()
    t1.join(30)
    t2.join(30)
    assert events == ["first in", "reader", "first out", "second in"]
