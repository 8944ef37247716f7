"""Blob garbage collection on the folder store and on S3: an old unreferenced blob goes, a
referenced one and a new one stay; a blob stored again while the collection runs stays."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.s3 import S3Server
from invoice_inbox.runtime.context import App
from invoice_inbox.store import sources
from invoice_inbox.store.blob_folder import FolderBlobStore
from invoice_inbox.store.blob_gc import collect
from invoice_inbox.store.blobs import StoredBlob
from invoice_inbox.store.models import DecideAttempt, Document, Message

DAY = timedelta(days=1)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["folder", "s3"])
def app(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[App]:
    monkeypatch.delenv("INVOICE_INBOX_BLOB_URL", raising=False)
    if request.param == "s3":
        srv: S3Server = request.getfixturevalue("s3_server")
        for key, value in srv.env(srv.make_bucket()).items():
            monkeypatch.setenv(key, value)
    a = App.open(tmp_path / "data")
    yield a
    a.close()


def refer(a: App, raw: bytes, doc: bytes, attempt: bytes | None = None) -> None:
    """A ledger row for *raw* with one document *doc* (and an unfinished decision)."""
    with a.db.session() as s:
        src = sources.add(
            s, name="ap", company_name="ACME", host="127.0.0.1", port=143, username="ap"
        )
        msg = Message(
            source_id=src.id,
            folder="INBOX",
            uidvalidity=1,
            uid=1,
            raw_sha256=sha(raw),
            raw_size=len(raw),
            decision="import",
            reason="a PDF attachment",
        )
        s.add(msg)
        s.flush()
        s.add(
            Document(
                message_id=msg.id,
                company_id=src.company_id,
                sha256=sha(doc),
                size=len(doc),
                media_type="application/pdf",
                filename="i.pdf",
                kind="pdf",
            )
        )
        if attempt is not None:
            s.add(DecideAttempt(source_id=src.id, raw_sha256=sha(attempt), attempts=1))


def test_gc_removes_only_old_unreferenced_blobs(app: App) -> None:
    raw, doc, deciding, orphan = b"From: a\r\n\r\nmail", b"%PDF-1.7 doc", b"deciding", b"orphan"
    app.blobs.put_many([(sha(b), b) for b in (raw, doc, deciding, orphan)])
    refer(app, raw, doc, deciding)

    now = collect(app.db, app.blobs, DAY)  # all were stored just now
    assert (now.examined, now.deleted) == (0, 0)
    later = datetime.now(UTC) + 2 * DAY
    dry = collect(app.db, app.blobs, DAY, now=later, dry_run=True)
    assert (dry.examined, dry.referenced, dry.deleted) == (4, 3, 1)
    assert dry.deleted_bytes == len(orphan) and app.blobs.exists(sha(orphan))

    done = collect(app.db, app.blobs, DAY, now=later)
    assert (done.examined, done.referenced, done.deleted, done.deleted_bytes) == (
        4,
        3,
        1,
        len(orphan),
    )
    assert not app.blobs.exists(sha(orphan))
    assert all(app.blobs.exists(sha(b)) for b in (raw, doc, deciding))
    assert collect(app.db, app.blobs, DAY, now=later).deleted == 0


def test_gc_refuses_an_age_below_thirty_minutes(app: App) -> None:
    with pytest.raises(ValueError, match="at least"):
        collect(app.db, app.blobs, timedelta(minutes=29))


class StoredAgainWhileListed:
    """The folder store, where a sync stores each listed blob's bytes again right after the
    collection listed it (as an upload about to commit a reference would)."""

    def __init__(self, store: FolderBlobStore) -> None:
        self.store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def list(self, older_than: datetime | None = None) -> Iterator[StoredBlob]:
        for blob in self.store.list(older_than):
            self.store.put(self.store.get(blob.sha256))
            yield blob


def test_a_blob_stored_again_during_the_collection_stays(tmp_path: Path) -> None:
    a = App.open(tmp_path / "data")
    try:
        store = FolderBlobStore(tmp_path / "blobs")
        digest = store.put(b"an old mail seen again")
        two_days_ago = time.time() - 2 * 86_400
        os.utime(store.path(digest), (two_days_ago, two_days_ago))
        summary = collect(a.db, StoredAgainWhileListed(store), DAY)  # type: ignore[arg-type]
        assert (summary.examined, summary.deleted) == (1, 0)
        assert store.exists(digest)
        assert collect(a.db, store, DAY).examined == 0  # its stored_at is now
    finally:
        a.close()


def test_gc_removes_stale_temporary_files_of_the_folder_store(tmp_path: Path) -> None:
    a = App.open(tmp_path / "data")
    try:
        store = a.blobs
        assert isinstance(store, FolderBlobStore)
        digest = store.put(b"x")
        stale = store.path(digest).parent / f".{'c' * 64}.42.tmp"
        stale.write_bytes(b"half a mail")
        old = time.time() - 2 * 86_400
        os.utime(stale, (old, old))
        summary = collect(a.db, store, DAY)
        assert (summary.temporary, summary.temporary_bytes) == (1, len(b"half a mail"))
        assert not stale.exists()
    finally:
        a.close()
