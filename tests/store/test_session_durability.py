"""``Database.session(durable=False)``: a commit that does not wait for the disk, for records that
only guard against the death of our own process (decide attempts, rows marked filed, leases).
It commits and rolls back like any session, and leaves every other session durable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from invoice_inbox.store.db import Database
from invoice_inbox.store.models import Company


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.in_data_dir(tmp_path)  # on a --db=postgresql run: the test's database
    yield database
    database.close()


def durability(db: Database, *, durable: bool) -> str:
    """What the database says about waiting for the disk, inside such a session."""
    with db.session(durable=durable) as s:
        if db.engine.dialect.name == "sqlite":
            return {2: "full", 1: "normal"}[s.execute(text("PRAGMA synchronous")).scalar_one()]
        return str(s.execute(text("SHOW synchronous_commit")).scalar_one())


def test_only_the_session_that_asks_skips_waiting_for_the_disk(db: Database) -> None:
    if db.engine.dialect.name == "sqlite":
        full, relaxed = "full", "normal"
    else:  # the server's own setting (the test clusters run without waiting, for speed)
        with db.engine.connect() as conn:
            full = str(conn.execute(text("SHOW synchronous_commit")).scalar_one())
        relaxed = "off"
    assert durability(db, durable=True) == full
    assert durability(db, durable=False) == relaxed
    for _ in range(3):  # the pool's connections are all back to waiting
        assert durability(db, durable=True) == full


def test_a_relaxed_session_commits_and_rolls_back_like_any(db: Database) -> None:
    with db.session(durable=False) as s:
        s.add(Company(name="Kept"))
    with pytest.raises(KeyError), db.session(durable=False) as s:
        s.add(Company(name="Rolled back"))
        s.flush()
        raise KeyError("the block fails")
    with db.session() as s:
        names = set(s.scalars(select(Company.name)))
    assert "Kept" in names and "Rolled back" not in names
