"""Tests of the private PostgreSQL test cluster (tests/harness/postgres.py) and its fixtures."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from harness.postgres import PostgresServer


def test_cluster_listens_on_loopback_only(pg: PostgresServer) -> None:
    with pg.connect() as conn:
        listen = conn.execute("SHOW listen_addresses").fetchone()
    assert listen == ("127.0.0.1",)
    assert pg.url().startswith("postgresql+psycopg://postgres@127.0.0.1:")


def test_create_from_template_copies_rows_and_drop_removes(pg: PostgresServer) -> None:
    pg.create_database("harness_src")
    src = create_engine(pg.url("harness_src"))
    with src.begin() as conn:
        conn.execute(text("CREATE TABLE t (v text)"))
        conn.execute(text("INSERT INTO t VALUES ('kept')"))
    src.dispose()  # a template must have no open connections
    copy = create_engine(pg.create_database("harness_copy", template="harness_src"))
    with copy.connect() as conn:
        assert conn.execute(text("SELECT v FROM t")).scalar_one() == "kept"
    pg.drop_database("harness_copy")  # drops even with the pool's connection still open
    pg.drop_database("harness_src")
    copy.dispose()
    assert not {"harness_src", "harness_copy"} & set(pg.databases())


def test_restart_keeps_port_and_data_and_cuts_connections(pg: PostgresServer) -> None:
    engine = create_engine(pg.create_database("harness_restart"))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v int)"))
        conn.execute(text("INSERT INTO t VALUES (7)"))
    conn = engine.connect()
    port = pg.port
    pg.restart()
    assert pg.port == port
    with pytest.raises(OperationalError):
        conn.execute(text("SELECT 1"))
    conn.invalidate()
    conn.close()
    with engine.connect() as again:
        assert again.execute(text("SELECT v FROM t")).scalar_one() == 7
    engine.dispose()
    pg.drop_database("harness_restart")


def test_stop_then_run(pg: PostgresServer) -> None:
    pg.stop()
    assert not pg.running
    pg.run()
    assert pg.running
    with pg.connect() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_database_url_follows_the_db_option(request: pytest.FixtureRequest) -> None:
    url = os.environ.get("INVOICE_INBOX_DATABASE_URL", "")
    if request.config.getoption("db") == "postgresql":
        assert url.startswith("postgresql+psycopg://")
    else:
        assert url == ""
