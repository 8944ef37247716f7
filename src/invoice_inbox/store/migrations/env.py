"""Alembic environment: runs migrations on the engine handed over by ``store.db.migrate``."""

from __future__ import annotations

from alembic import context

from invoice_inbox.store.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
    )
    context.run_migrations()
