"""The blob store contract: content-addressed bytes, each blob once under its SHA-256.

Two stores keep it: a folder on the local disk (``blob_folder``, the embedded default) and an
S3-compatible bucket (``blob_s3``, for scale-out). ``open_blob_store`` picks one from
``INVOICE_INBOX_BLOB_URL``: unset → ``<data dir>/blobs``; ``file:///path`` → that folder;
``s3://bucket/prefix`` → the bucket (endpoint, region and credentials from the standard AWS
environment and config files).

What every store promises:

- ``put``/``put_many`` return only once the bytes are durable (synced to disk, or acknowledged by
  the server after it verified the upload's checksum), so callers write blobs *before* the
  database commit that refers to them. Storing the same bytes twice is a no-op, except that a
  blob stored more than ``REFRESH_AFTER`` ago is stored (or touched) again, so its ``stored_at``
  is new: a garbage collection that saw it unreferenced a moment ago does not remove a blob an
  upload is about to commit a reference to.
- ``get``, ``stream``, ``size`` and ``stat`` raise ``BlobNotFound`` (a ``FileNotFoundError``)
  for a blob not stored; ``stream`` raises it before the first chunk.
- ``list(older_than)`` yields the blobs stored before that time, for the garbage collection
  (``blob_gc``); ``delete`` removes one (a missing one is no error).
- Any other failure (bucket missing, access denied, server unreachable) is a ``BlobStoreError``
  whose message is one sentence naming the store.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple, Protocol
from urllib.parse import unquote, urlsplit

from invoice_inbox.store.errors import StoreError

BLOB_URL_ENV = "INVOICE_INBOX_BLOB_URL"
CHUNK = 256 * 1024  # bytes per chunk of ``stream``
REFRESH_AFTER = timedelta(minutes=10)


class BlobStoreError(StoreError):
    """The blob store failed or cannot be reached; the message is one sentence for the user.
    A run it stops counts as a failed run that is retried sooner (``transient``), as when a
    mail server cannot be reached."""

    transient = True


class BlobNotFound(BlobStoreError, FileNotFoundError):
    """No blob with that SHA-256 is stored."""

    def __init__(self, sha256: str) -> None:
        super().__init__(f"blob {sha256} is not in the blob store")
        self.sha256 = sha256


class StoredBlob(NamedTuple):
    """One blob as ``list`` finds it."""

    sha256: str
    stored_at: datetime  # timezone-aware (UTC)
    size: int


class BlobStore(Protocol):
    """What sync, recheck, export, the web downloads and the garbage collection use."""

    url: str  # where the blobs are, for messages (no secrets in it)

    def exists(self, sha256: str) -> bool: ...

    def get(self, sha256: str) -> bytes: ...

    def stream(self, sha256: str, chunk_size: int = CHUNK) -> Iterator[bytes]: ...

    def size(self, sha256: str) -> int: ...

    def stat(self, sha256: str) -> StoredBlob: ...

    def local_path(self, sha256: str) -> Path | None:
        """A file holding the blob when the store keeps it on this machine, else None."""
        ...

    def put(self, data: bytes, sha256: str | None = None) -> str: ...

    def put_many(self, blobs: Iterable[tuple[str, bytes]], *, staged: bool = False) -> None:
        """Store the (sha256, data) pairs durably; *staged*: a folder store's
        ``staging_root`` holds more of the batch from other processes, made durable too."""
        ...

    def list(self, older_than: datetime | None = None) -> Iterator[StoredBlob]: ...

    def delete(self, sha256: str) -> None: ...

    def sweep_temporary(self, older_than: datetime, *, dry_run: bool = False) -> tuple[int, int]:
        """Remove leftovers of interrupted writes older than *older_than*: (count, bytes)."""
        ...


def open_blob_store(data_dir: Path, url: str | None = None) -> BlobStore:
    """The blob store named by *url* (default: ``INVOICE_INBOX_BLOB_URL``; unset → the folder
    ``blobs`` in *data_dir*). Opening does not contact a server."""
    from invoice_inbox.store.blob_folder import FolderBlobStore

    url = url if url is not None else os.environ.get(BLOB_URL_ENV, "")
    url = url.strip()
    if not url:
        return FolderBlobStore(data_dir / "blobs")
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise BlobStoreError(
                f"{BLOB_URL_ENV}={url} is not a folder URL; write file:///absolute/path"
            )
        return FolderBlobStore(Path(unquote(parts.path)))
    if parts.scheme == "s3":
        if not parts.netloc:
            raise BlobStoreError(f"{BLOB_URL_ENV}={url} names no bucket; write s3://bucket/prefix")
        try:
            from invoice_inbox.store.blob_s3 import S3BlobStore
        except ImportError:
            raise BlobStoreError(
                f"{BLOB_URL_ENV} is an s3:// URL but boto3 is not installed; "
                "install invoice-inbox[s3]"
            ) from None
        return S3BlobStore(parts.netloc, parts.path.strip("/"))
    raise BlobStoreError(
        f"{BLOB_URL_ENV}={url} is not supported; use s3://bucket/prefix or file:///path"
    )
