"""Alembic environment: runs migrations on the engine (or, on PostgreSQL, the locked connection)
handed over by ``store.db.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from invoice_inbox.store.models import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
    )
    context.run_migrations()


# On PostgreSQL, migrate hands over the connection that holds the advisory lock.
given: Connection | None = config.attributes.get("connection")
if given is not None:
    with given.begin():
        _run(given)
else:
    with config.attributes["engine"].begin() as connection:
        _run(connection)
