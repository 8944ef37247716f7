"""Persistence: SQLAlchemy models, Alembic migrations, the content-addressed blob store, and
small functions per noun (sources, ledger, runs, documents) that every surface shares.

Importing the package loads nothing: ``store.models`` brings every table with it, and the blob
store (``store.blob_folder``) needs no database at all."""
