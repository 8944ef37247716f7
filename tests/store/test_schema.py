"""The Alembic migrations produce exactly the schema the models describe; blobs are durable and
content-addressed; the public API is the documented list."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import invoice_inbox
from invoice_inbox.store.blob_folder import FolderBlobStore
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import Base


def test_migrations_match_the_models(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}", lock_dir=tmp_path)
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    tables = set(inspect(db.engine).get_table_names())
    assert {"company", "source", "folder_state", "message", "document", "run"} <= tables


def test_opening_twice_is_idempotent(tmp_path: Path) -> None:
    Database(f"sqlite:///{tmp_path / 'x.db'}", lock_dir=tmp_path).close()
    Database(f"sqlite:///{tmp_path / 'x.db'}", lock_dir=tmp_path).close()


def test_blob_store_is_content_addressed(tmp_path: Path) -> None:
    store = FolderBlobStore(tmp_path / "blobs")
    data = b"%PDF-1.4 invoice"
    digest = store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.path(digest) == tmp_path / "blobs" / digest[:2] / digest
    assert store.get(digest) == data
    assert store.put(data) == digest  # again: a no-op
    assert [p.name for p in store.path(digest).parent.iterdir()] == [digest]  # no temp files


def test_public_api_is_the_documented_list() -> None:
    assert invoice_inbox.__all__ == sorted(invoice_inbox.__all__)
    for name in invoice_inbox.__all__:
        assert getattr(invoice_inbox, name) is not None


def test_put_many_stores_each_blob_once(tmp_path: Path) -> None:
    store = FolderBlobStore(tmp_path / "blobs")
    blobs = [(hashlib.sha256(d).hexdigest(), d) for d in (b"a", b"b", b"a", b"c" * 100_000)]
    store.put_many(blobs)
    store.put_many(blobs)
    for digest, data in blobs:
        assert store.get(digest) == data
    files = sorted(p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file())
    assert files == sorted({d for d, _ in blobs})


def test_syncfs_is_found_without_starting_ldconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ctypes.util.find_library`` runs ``ldconfig -p``: every decide worker imports the blob
    store, so the interpreter's own symbols are asked first."""
    from invoice_inbox.store import blob_folder

    def no_ldconfig(name: str) -> str:
        raise AssertionError("find_library started ldconfig")

    monkeypatch.setattr(blob_folder.ctypes.util, "find_library", no_ldconfig)
    assert blob_folder._load_syncfs() is not None
