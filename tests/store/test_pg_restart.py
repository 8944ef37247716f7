"""A PostgreSQL restart costs an open Database nothing but a reconnect: the pool pings each
connection at checkout and replaces the ones the restart cut."""

from __future__ import annotations

from sqlalchemy import func, select

from harness.postgres import PostgresServer
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import Company


def test_the_first_session_after_a_restart_works(pg: PostgresServer, pg_empty_url: str) -> None:
    db = Database(pg_empty_url)
    try:
        with db.session() as s:  # the pool now holds a connection
            s.add(Company(name="ACME"))
        pg.restart()  # every connection is cut
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(Company)) == 1
            s.add(Company(name="Globex"))
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(Company)) == 2
    finally:
        db.close()
