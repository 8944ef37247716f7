"""Persistence: SQLAlchemy models, Alembic migrations, the content-addressed blob store, and
small functions per noun (sources, ledger, runs, documents) that every surface shares."""

from invoice_inbox.store import models_state  # noqa: F401  (its tables join the metadata)
