"""Persistence: SQLAlchemy models, Alembic migrations, the content-addressed blob store, and
small functions per noun (sources, ledger, runs, documents) that every surface shares."""
