"""Alembic environment: runs migrations on the engine (or, on PostgreSQL, the locked connection)
handed over by ``store.db.migrate``.

On SQLite, batch mode changes a table by copying it, dropping the old one and renaming the copy.
With foreign keys enforced, that drop first deletes the old table's rows, and ``ON DELETE
CASCADE`` takes every row that refers to them along (a new ``source`` column would empty the
ledger and the documents). So SQLite migrates with foreign keys off (the pragma only takes effect
outside a transaction), checks them afterwards, and turns them back on.
"""

from __future__ import annotations

from alembic import context
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from invoice_inbox.store.models import Base

config = context.config


class ForeignKeyViolation(RuntimeError):
    """A migration left rows that refer to rows that do not exist."""


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
    )
    context.run_migrations()


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _run_sqlite(connection: Connection) -> None:
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()  # SQLAlchemy's transaction only: the driver began none for a pragma
    try:
        with connection.begin():
            was = _revision(connection)
            _run(connection)
            # the check reads every referencing table: only after a migration ran
            if _revision(connection) != was:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:  # stop here rather than serve a ledger that points nowhere
                    raise ForeignKeyViolation(f"a migration broke references: {broken[:5]}")
    finally:
        if connection.in_transaction():
            connection.rollback()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


# On PostgreSQL, migrate hands over the connection that holds the advisory lock.
given: Connection | None = config.attributes.get("connection")
if given is not None:
    with given.begin():
        _run(given)
else:
    with config.attributes["engine"].connect() as connection:
        if connection.dialect.name == "sqlite":
            _run_sqlite(connection)
        else:
            with connection.begin():
                _run(connection)
