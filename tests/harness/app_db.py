"""Read the application's database from a test, whichever database the run uses.

On a ``--db=postgresql`` run ``INVOICE_INBOX_DATABASE_URL`` names it; otherwise it is the embedded
SQLite file in the data directory. Tests read through SQLAlchemy so they run on both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, MetaData, create_engine, select, text

DB_FILE = "invoice-inbox.db"


def database_url(data_dir: Path) -> str:
    """The URL the application opens for *data_dir* (as ``Database.in_data_dir``)."""
    return os.environ.get("INVOICE_INBOX_DATABASE_URL") or f"sqlite:///{data_dir / DB_FILE}"


def on_sqlite() -> bool:
    return not os.environ.get("INVOICE_INBOX_DATABASE_URL")


@contextmanager
def connect(data_dir: Path) -> Iterator[Connection]:
    """A read connection to the application's database (no migrations run)."""
    engine = create_engine(database_url(data_dir))
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def scalar(data_dir: Path, sql: str, **params: Any) -> Any:
    with connect(data_dir) as conn:
        return conn.execute(text(sql), params).scalar()


def stored_bytes(data_dir: Path) -> bytes:
    """Everything the database holds, to search for clear-text secrets: on SQLite the raw bytes
    of its files (also free pages and the WAL); elsewhere every row of every table as text."""
    if on_sqlite():
        return b"".join(p.read_bytes() for p in sorted(data_dir.glob(f"{DB_FILE}*")))
    out: list[str] = []
    with connect(data_dir) as conn:
        meta = MetaData()
        meta.reflect(conn)
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                out.extend(_as_text(value) for value in row)
    return "\n".join(out).encode()


def _as_text(value: object) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("latin-1")
    return str(value)
