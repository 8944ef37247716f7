"""pytest side of the PostgreSQL test cluster: the ``--db`` option and the fixtures.

``pytest --db=postgresql`` runs every test against a fresh PostgreSQL database: one private
cluster per xdist worker (:func:`pg`), a template database migrated to head once per session,
and for each test ``CREATE DATABASE … TEMPLATE`` that template with ``INVOICE_INBOX_DATABASE_URL``
set to it (so ``App.open``, the CLI and subprocesses all use it). The default ``--db=sqlite``
leaves everything on the embedded SQLite and starts no cluster.

``pg`` (the server) and ``pg_empty_url`` (a fresh, empty database) serve tests that need
PostgreSQL explicitly on either run; they are skipped without the binaries, unless ``CI`` is set:
then that is a failure. Tests marked ``sqlite_only`` are skipped on a PostgreSQL run.
conftest.py imports the names below, which registers them.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness.postgres import PostgresServer

TEMPLATE_DB = "invoice_inbox_template"
_names = itertools.count(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="database of the tests: sqlite (embedded, default) or postgresql (private cluster)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: inherently SQLite (skipped with --db=postgresql)"
    )
    config.addinivalue_line("markers", "postgres: needs the private PostgreSQL test cluster")


def mark_db_items(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``sqlite_only`` tests on a PostgreSQL run; mark tests that use the ``pg`` fixtures."""
    on_pg = config.getoption("db") == "postgresql"
    skip = pytest.mark.skip(reason="SQLite only (this run is --db=postgresql)")
    for item in items:
        if on_pg and item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)
        if {"pg", "pg_empty_url"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


def on_postgresql(config: pytest.Config) -> bool:
    """Whether this run puts the application's database on PostgreSQL (``--db=postgresql``)."""
    return config.getoption("db") == "postgresql"


def _need_postgres() -> None:
    from harness.postgres import find_postgres_bin

    if find_postgres_bin() is None:
        message = "PostgreSQL not found; install it with `apt-get install postgresql`"
        # as conftest.running_under_ci (not importable here: each test folder has a conftest)
        if os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no", "off"}:
            pytest.fail(f"{message} (CI is set, so this is an error, not a skip)", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresServer]:
    """This worker's private PostgreSQL cluster (started on first use, stopped at the end)."""
    _need_postgres()
    from harness.postgres import PostgresServer

    base = Path(tempfile.mkdtemp(prefix="invoice-inbox-pg-"))
    try:
        server = PostgresServer.start(base)
        try:
            yield server
        finally:
            server.stop("immediate")
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_template(pg: PostgresServer) -> str:
    """Name of a database migrated to head, to copy per test (nobody stays connected to it)."""
    from invoice_inbox.store.db import Database

    pg.create_database(TEMPLATE_DB)
    db = Database(pg.url(TEMPLATE_DB))
    db.close()
    return TEMPLATE_DB


def _fresh_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{next(_names)}"


@pytest.fixture
def pg_empty_url(pg: PostgresServer) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database (no schema), dropped after the test."""
    name = _fresh_name("empty")
    url = pg.create_database(name)
    yield url
    pg.drop_database(name)


@pytest.fixture(autouse=True)
def _database_per_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """On ``--db=postgresql``: a fresh migrated database for this test, named by
    ``INVOICE_INBOX_DATABASE_URL``. On SQLite: nothing. (Its own MonkeyPatch: a test's
    ``monkeypatch.undo()`` must not take the database away.)"""
    if not on_postgresql(request.config) or request.node.get_closest_marker("sqlite_only"):
        yield
        return
    server: PostgresServer = request.getfixturevalue("pg")
    template: str = request.getfixturevalue("pg_template")
    name = _fresh_name("t")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("INVOICE_INBOX_DATABASE_URL", server.create_database(name, template=template))
        yield
    server.drop_database(name)
