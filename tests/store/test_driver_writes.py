"""Rows written at the driver's level (``store.driver_writes``) on a real database (SQLite, or
PostgreSQL with ``--db=postgresql``): their values are what SQLAlchemy's bind processors make of
them, new ids come back in the rows' order however many rows there are (SQLite takes them in
chunks), and a driver error is raised as SQLAlchemy raises it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import JSON, Table, select
from sqlalchemy.exc import IntegrityError

from invoice_inbox.store import driver_writes
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import Company, UTCDateTime
from invoice_inbox.store.models_events import Event

EVENTS = cast(Table, Event.__table__)
COLUMNS = ("company_id", "kind", "payload", "created_at", "dispatched")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.in_data_dir(tmp_path)  # on a --db=postgresql run: the test's database
    yield database
    database.close()


def _company(db: Database) -> int:
    with db.session() as s:
        company = Company(name="ACME")
        s.add(company)
        s.flush()
        return company.id


JSON_VALUES: list[Any] = [
    None,
    [],
    ["pdf"],
    {"a": 'Café ✓ "quoted"', "n": 1.5, "t": True, "nested": [None, {"x": 1}], "e": {}},
    JSON.NULL,
]
WHEN = datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=UTC)
DATETIMES = [
    None,
    WHEN,
    WHEN.replace(microsecond=0),  # SQLAlchemy writes the microseconds even when 0
    WHEN.astimezone(timezone(timedelta(hours=2))),
    datetime(5, 1, 2, 3, 4, 5, tzinfo=UTC),  # a year of fewer than 4 digits
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(0))),
    datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
]


def test_the_quicker_bind_processors_make_what_sqlalchemys_make(db: Database) -> None:
    dialect = db.engine.dialect
    for type_, values in ((JSON(), JSON_VALUES), (UTCDateTime(), DATETIMES)):
        ours = driver_writes._processor(type_, dialect)
        theirs = type_._cached_bind_processor(dialect)
        assert ours is not None and theirs is not None
        if ours is theirs:  # PostgreSQL: SQLAlchemy's own
            continue
        for value in values:
            assert ours(value) == theirs(value), (type_, value)
    naive = driver_writes._processor(UTCDateTime(), dialect)
    assert naive is not None
    with pytest.raises(ValueError, match="naive"):
        naive(datetime(2026, 1, 1))


def test_inserted_rows_get_their_ids_in_order_and_store_the_values(db: Database) -> None:
    company = _company(db)
    count = 7000  # more than SQLite takes parameters in one statement (5 each)
    rows = [(company, f"kind {i}", {"n": i, "text": "é"}, WHEN, i % 2 == 0) for i in range(count)]
    with db.session() as s:
        ids = driver_writes.insert_rows(s, EVENTS, COLUMNS, rows, ids=True)
        assert driver_writes.insert_rows(s, EVENTS, COLUMNS, rows[:2], ids=False) == []
    assert len(ids) == count and ids == sorted(ids)
    with db.session() as s:
        stored = {e.id: e for e in s.scalars(select(Event))}
    assert len(stored) == count + 2
    for row_id, (_, kind, payload, created_at, dispatched) in zip(ids, rows, strict=True):
        event = stored[row_id]
        assert (event.kind, event.payload, event.dispatched) == (kind, payload, dispatched)
        assert event.created_at == created_at


def test_a_driver_error_is_raised_as_sqlalchemys(db: Database) -> None:
    company = _company(db)
    unknown = company + 1000  # no such company: the foreign key refuses the row
    row = (unknown, "kind", {}, WHEN, False)
    for ids in (True, False):
        with pytest.raises(IntegrityError), db.session() as s:
            driver_writes.insert_rows(s, EVENTS, COLUMNS, [row], ids=ids)
