"""The blob store contract, run against the folder store and against an S3 server (moto)."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.s3 import S3Server
from invoice_inbox.store.blob_folder import FolderBlobStore
from invoice_inbox.store.blob_s3 import S3BlobStore
from invoice_inbox.store.blobs import (
    BlobNotFound,
    BlobStore,
    BlobStoreError,
    open_blob_store,
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["folder", "s3"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> BlobStore:
    if request.param == "folder":
        return FolderBlobStore(tmp_path / "blobs")
    srv: S3Server = request.getfixturevalue("s3_server")
    for key, value in srv.env(srv.make_bucket()).items():
        monkeypatch.setenv(key, value)
    return open_blob_store(tmp_path)


@pytest.fixture
def s3(s3_env: dict[str, str], tmp_path: Path) -> S3BlobStore:
    found = open_blob_store(tmp_path)
    assert isinstance(found, S3BlobStore)
    return found


def test_put_get_stream_size(store: BlobStore) -> None:
    data = os.urandom(700_000)
    digest = store.put(data)
    assert digest == sha(data)
    assert store.exists(digest)
    assert store.get(digest) == data
    assert store.size(digest) == len(data)
    chunks = list(store.stream(digest, chunk_size=256 * 1024))
    assert b"".join(chunks) == data
    assert len(chunks) == 3
    assert store.put(data) == digest  # again: a no-op


def test_missing_blob(store: BlobStore) -> None:
    missing = sha(b"never stored")
    assert not store.exists(missing)
    for read in (store.get, store.size, store.stream):
        with pytest.raises(BlobNotFound):
            read(missing)
    with pytest.raises(FileNotFoundError):  # what callers of the folder store caught
        store.get(missing)
    store.delete(missing)  # no error


def test_put_many_list_delete(store: BlobStore) -> None:
    blobs = [(sha(b), b) for b in (f"blob {i}".encode() * 50 for i in range(25))]
    store.put_many([*blobs, blobs[0]])  # a repeat in the batch is stored once
    assert all(store.exists(d) for d, _ in blobs)
    soon = datetime.now(UTC) + timedelta(hours=1)
    listed = {b.sha256: b for b in store.list(older_than=soon)}
    assert set(listed) == {d for d, _ in blobs}
    assert listed[blobs[3][0]].size == len(blobs[3][1])
    assert all(abs(b.stored_at - datetime.now(UTC)) < timedelta(minutes=5) for b in listed.values())
    assert list(store.list(older_than=datetime.now(UTC) - timedelta(hours=1))) == []
    store.delete(blobs[0][0])
    assert not store.exists(blobs[0][0])
    assert len(list(store.list())) == len(blobs) - 1


def test_folder_store_keeps_its_layout_and_refreshes_an_old_blob(tmp_path: Path) -> None:
    store = FolderBlobStore(tmp_path / "blobs")
    digest = store.put(b"%PDF-1.7 old")
    path = tmp_path / "blobs" / digest[:2] / digest
    assert store.local_path(digest) == path and path.read_bytes() == b"%PDF-1.7 old"
    old = time.time() - 86_400
    os.utime(path, (old, old))
    store.put_many([(digest, b"%PDF-1.7 old")])  # stored a day ago: touched, not written
    assert path.stat().st_mtime > old + 3600
    assert list(store.list(older_than=datetime.now(UTC) - timedelta(hours=1))) == []


def test_folder_sweeps_old_temporary_files(tmp_path: Path) -> None:
    store = FolderBlobStore(tmp_path / "blobs")
    digest = store.put(b"kept")
    stale = tmp_path / "blobs" / digest[:2] / f".{'a' * 64}.123.tmp"
    fresh = tmp_path / "blobs" / digest[:2] / f".{'b' * 64}.124.tmp"
    stale.write_bytes(b"x" * 10)
    fresh.write_bytes(b"y")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    cutoff = datetime.now(UTC) - timedelta(hours=1)
    assert store.sweep_temporary(cutoff, dry_run=True) == (1, 10)
    assert stale.exists()
    assert store.sweep_temporary(cutoff) == (1, 10)
    assert not stale.exists() and fresh.exists() and store.exists(digest)
    assert [b.sha256 for b in store.list()] == [digest]  # temporary files are not blobs


def test_s3_keys_are_content_addressed(s3: S3BlobStore, s3_server: S3Server) -> None:
    digest = s3.put(b"invoice")
    assert s3_server.keys(s3.bucket) == [f"blobs/{digest[:2]}/{digest}"]
    assert s3.local_path(digest) is None


def test_s3_refuses_an_upload_whose_bytes_do_not_match(s3: S3BlobStore) -> None:
    claimed = sha(b"the real invoice")
    with pytest.raises(BlobStoreError, match="did not match their SHA-256"):
        s3.put(b"the real invoice, corrupted on the way", claimed)
    assert not s3.exists(claimed)


@pytest.mark.parametrize(
    ("mode", "key_id"), [("AES256", None), ("aws:kms", "arn:aws:kms:us-east-1:1:key/k1")]
)
def test_s3_asks_for_server_side_encryption(
    s3_env: dict[str, str],
    s3_server: S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    key_id: str | None,
) -> None:
    monkeypatch.setenv("INVOICE_INBOX_S3_SSE", mode)
    if key_id:
        monkeypatch.setenv("INVOICE_INBOX_S3_SSE_KMS_KEY_ID", key_id)
    store = open_blob_store(tmp_path)
    assert isinstance(store, S3BlobStore)
    digest = store.put(b"secret invoice")
    head = s3_server.client().head_object(Bucket=store.bucket, Key=store.key(digest))
    assert head["ServerSideEncryption"] == mode
    if key_id:
        assert head["SSEKMSKeyId"] == key_id


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"INVOICE_INBOX_S3_SSE": "rot13"}, "must be AES256 or aws:kms"),
        ({"INVOICE_INBOX_S3_SSE_KMS_KEY_ID": "k"}, "is not aws:kms"),
        ({"INVOICE_INBOX_S3_UPLOADS": "0"}, "from 1 to 64"),
        ({"INVOICE_INBOX_BLOB_URL": "ftp://host/x"}, "is not supported"),
        ({"INVOICE_INBOX_BLOB_URL": "s3:///nobucket"}, "names no bucket"),
    ],
)
def test_bad_settings_are_one_sentence(
    s3_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    words: str,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(BlobStoreError, match=words):
        open_blob_store(tmp_path)


def test_missing_bucket_and_unreachable_server(
    s3_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_bucket = open_blob_store(tmp_path, "s3://no-such-bucket-here/p")
    with pytest.raises(BlobStoreError, match="the bucket no-such-bucket-here does not exist"):
        no_bucket.put(b"x")
    with pytest.raises(BlobStoreError, match="does not exist"):
        list(no_bucket.list())
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard: nobody listens
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    down = open_blob_store(tmp_path, "s3://bucket/p")
    with pytest.raises(BlobStoreError, match=r"^cannot reach the blob store s3://bucket/p: "):
        down.get(sha(b"x"))


def test_open_blob_store_by_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INVOICE_INBOX_BLOB_URL", raising=False)
    default = open_blob_store(tmp_path)
    assert isinstance(default, FolderBlobStore) and default.root == tmp_path / "blobs"
    monkeypatch.setenv("INVOICE_INBOX_BLOB_URL", (tmp_path / "elsewhere").as_uri())
    chosen = open_blob_store(tmp_path)
    assert isinstance(chosen, FolderBlobStore) and chosen.root == tmp_path / "elsewhere"
