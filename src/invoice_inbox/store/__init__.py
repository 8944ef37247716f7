"""Persistence: SQLAlchemy models, Alembic migrations, the content-addressed blob store, and
small functions per noun (sources, ledger, runs, documents) that every surface shares."""

from invoice_inbox.store import (  # noqa: F401  (their tables join the metadata)
    models_cluster,
    models_events,
    models_state,
    models_trust,
)
