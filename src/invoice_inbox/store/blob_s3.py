"""The blob store on an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, Garage), through boto3.

Only the plain object API is used: PutObject, GetObject, HeadObject, ListObjectsV2,
DeleteObject. A blob's key is ``<prefix>/<first two hex digits>/<sha256>``. Endpoint, region and
credentials come from the standard AWS environment and config files (``AWS_ENDPOINT_URL``,
``AWS_REGION``, ``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``, ...), which boto3 reads itself; retries
use botocore's "standard" mode.

An upload sends the blob's SHA-256 (its name) as ``x-amz-checksum-sha256``: the server stores
nothing whose bytes do not hash to it, and a HEAD afterwards confirms the object and its size.
Only then does ``put`` return, so the database commit that refers to the blob comes after it.
A blob already there (HEAD) is not sent again, unless it was stored more than
``REFRESH_AFTER`` ago (see ``store.blobs``). ``put_many`` uploads with a small thread pool
(``INVOICE_INBOX_S3_UPLOADS``, default 8). Downloads ask for the checksum too, so botocore
verifies the bytes it hands out. ``INVOICE_INBOX_S3_SSE=AES256|aws:kms`` (with
``INVOICE_INBOX_S3_SSE_KMS_KEY_ID``) asks for server-side encryption of every upload.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from invoice_inbox.store.blobs import (
    CHUNK,
    REFRESH_AFTER,
    BlobNotFound,
    BlobStoreError,
    StoredBlob,
)

if TYPE_CHECKING:  # boto3-stubs: types only (boto3 builds its clients at run time)
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import HeadObjectOutputTypeDef

SSE_ENV = "INVOICE_INBOX_S3_SSE"
SSE_KMS_KEY_ENV = "INVOICE_INBOX_S3_SSE_KMS_KEY_ID"
UPLOADS_ENV = "INVOICE_INBOX_S3_UPLOADS"
DEFAULT_UPLOADS = 8
SSE_MODES = ("AES256", "aws:kms")
_MISSING = ("404", "NoSuchKey", "NotFound")


class _End:
    """The end of an iterator, as ``_guarded`` asks for its next item."""


_END = _End()

T = TypeVar("T")


class S3BlobStore:
    def __init__(self, bucket: str, prefix: str = "", *, client: S3Client | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.uploads = _uploads()
        self._sse = _sse_args()
        self._made = client
        self._lock = threading.Lock()

    @property
    def _client(self) -> S3Client:
        """The boto3 client, made on first use (a command that reads no blob never pays for
        it); boto3 clients are thread-safe."""
        if self._made is None:
            with self._lock:
                if self._made is None:
                    config = Config(
                        retries={"mode": "standard"},
                        max_pool_connections=max(10, self.uploads + 2),
                    )
                    try:  # a wrong AWS_PROFILE or AWS_ENDPOINT_URL shows here
                        self._made = boto3.session.Session().client("s3", config=config)
                    except (BotoCoreError, ValueError) as exc:
                        raise BlobStoreError(
                            f"cannot reach the blob store {self.url}: {exc}"
                        ) from None
        return self._made

    def key(self, sha256: str) -> str:
        name = f"{sha256[:2]}/{sha256}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def local_path(self, sha256: str) -> Path | None:
        return None

    def _head(self, sha256: str) -> HeadObjectOutputTypeDef | None:
        try:
            return self._call(self._client.head_object, Bucket=self.bucket, Key=self.key(sha256))
        except BlobNotFound:
            return None

    def exists(self, sha256: str) -> bool:
        return self._head(sha256) is not None

    def size(self, sha256: str) -> int:
        head = self._head(sha256)
        if head is None:
            raise BlobNotFound(sha256)
        return int(head["ContentLength"])

    def stat(self, sha256: str) -> StoredBlob:
        head = self._head(sha256)
        if head is None:
            raise BlobNotFound(sha256)
        stored_at = head["LastModified"].astimezone(UTC)
        return StoredBlob(sha256, stored_at, int(head["ContentLength"]))

    def _open(self, sha256: str) -> StreamingBody:
        return self._call(
            self._client.get_object,
            Bucket=self.bucket,
            Key=self.key(sha256),
            ChecksumMode="ENABLED",
        )["Body"]

    def get(self, sha256: str) -> bytes:
        body = self._open(sha256)
        try:
            return self._guard(body.read)
        finally:
            body.close()

    def stream(self, sha256: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        return self._chunks(self._open(sha256), chunk_size)

    def _chunks(self, body: StreamingBody, chunk_size: int) -> Iterator[bytes]:
        try:
            yield from self._guarded(body.iter_chunks(chunk_size))
        finally:
            body.close()

    def _guarded(self, items: Iterable[T]) -> Iterator[T]:
        """*items*, with errors raised while fetching the next one made ``BlobStoreError``s."""
        it = iter(items)
        while True:
            item = self._guard(lambda: next(it, _END))
            if isinstance(item, _End):
                return
            yield item

    def put(self, data: bytes, sha256: str | None = None) -> str:
        """Upload *data* (verified by its SHA-256) unless it is stored; return the SHA-256."""
        digest = sha256 or hashlib.sha256(data).hexdigest()
        head = self._head(digest)
        if head is not None and _current(head) and int(head["ContentLength"]) == len(data):
            return digest
        self._call(
            self._client.put_object,
            Bucket=self.bucket,
            Key=self.key(digest),
            Body=data,
            ContentType="application/octet-stream",
            ChecksumSHA256=base64.b64encode(bytes.fromhex(digest)).decode(),
            **self._sse,
        )
        head = self._head(digest)
        if head is None or int(head["ContentLength"]) != len(data):
            raise BlobStoreError(
                f"the blob store {self.url} did not keep the upload of {digest}"
                f" ({len(data)} bytes sent, {head and head['ContentLength']} stored)"
            )
        return digest

    def put_many(self, blobs: Iterable[tuple[str, bytes]], *, staged: bool = False) -> None:
        """Upload (sha256, data) pairs, several at a time; returns when all are stored.
        Nothing is ever staged into a bucket by other processes: *staged* must be False."""
        if staged:
            raise ValueError("an S3 blob store has no staging folder")
        todo = dict(blobs)
        if len(todo) <= 1 or self.uploads <= 1:
            for digest, data in todo.items():
                self.put(data, digest)
            return
        with ThreadPoolExecutor(min(self.uploads, len(todo)), "blob-upload") as pool:
            for _ in pool.map(lambda item: self.put(item[1], item[0]), todo.items()):
                pass

    def list(self, older_than: datetime | None = None) -> Iterator[StoredBlob]:
        paginator = self._client.get_paginator("list_objects_v2")
        start = f"{self.prefix}/" if self.prefix else ""
        pages = paginator.paginate(Bucket=self.bucket, Prefix=start)
        for page in self._guarded(pages):
            for obj in page.get("Contents", []):
                rest = obj["Key"][len(start) :]
                sub, _, sha = rest.partition("/")
                if len(sha) != 64 or sub != sha[:2] or not _is_hex(sha):
                    continue  # not one of ours
                stored_at = obj["LastModified"].astimezone(UTC)
                if older_than is None or stored_at < older_than:
                    yield StoredBlob(sha, stored_at, int(obj["Size"]))

    def delete(self, sha256: str) -> None:
        self._call(self._client.delete_object, Bucket=self.bucket, Key=self.key(sha256))

    def sweep_temporary(self, older_than: datetime, *, dry_run: bool = False) -> tuple[int, int]:
        return 0, 0  # an object appears whole or not at all: nothing half-written to remove

    def _call(self, fn: Callable[..., T], **kw: Any) -> T:  # kw: a boto3 call's arguments
        return self._guard(lambda: fn(**kw), kw.get("Key"))

    def _guard(self, fn: Callable[[], T], key: str | None = None) -> T:
        """Run *fn*; S3 and connection errors become one-sentence ``BlobStoreError``s."""
        try:
            return fn()
        except ClientError as exc:
            raise self._client_error(exc, key) from None
        except NoCredentialsError:
            raise BlobStoreError(
                f"cannot reach the blob store {self.url}: no AWS credentials are set "
                "(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile)"
            ) from None
        except BotoCoreError as exc:
            raise BlobStoreError(f"cannot reach the blob store {self.url}: {exc}") from None

    def _client_error(self, exc: ClientError, key: str | None) -> BlobStoreError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = error.get("Message") or code
        if code in _MISSING and key is not None:
            return BlobNotFound(key.rsplit("/", 1)[-1])
        if code == "NoSuchBucket":
            return BlobStoreError(
                f"cannot reach the blob store {self.url}: the bucket {self.bucket} does not exist"
            )
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return BlobStoreError(
                f"cannot reach the blob store {self.url}: access denied ({code}: {message})"
            )
        if code in ("BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"):
            return BlobStoreError(
                f"the blob store {self.url} refused an upload whose bytes did not match "
                f"their SHA-256 ({code})"
            )
        return BlobStoreError(f"the blob store {self.url} failed: {code}: {message}")


def _current(head: HeadObjectOutputTypeDef) -> bool:
    """Whether an existing object was stored recently enough not to be uploaded again."""
    stored = head.get("LastModified")
    return stored is None or datetime.now(UTC) - stored < REFRESH_AFTER


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _uploads() -> int:
    raw = os.environ.get(UPLOADS_ENV, "").strip()
    if not raw:
        return DEFAULT_UPLOADS
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise BlobStoreError(f"{UPLOADS_ENV} must be a number from 1 to 64, not {raw!r}")
    return int(raw)


def _sse_args() -> dict[str, str]:
    mode = os.environ.get(SSE_ENV, "").strip()
    key_id = os.environ.get(SSE_KMS_KEY_ENV, "").strip()
    if not mode:
        if key_id:
            raise BlobStoreError(f"{SSE_KMS_KEY_ENV} is set but {SSE_ENV} is not aws:kms")
        return {}
    if mode not in SSE_MODES:
        raise BlobStoreError(f"{SSE_ENV} must be AES256 or aws:kms, not {mode!r}")
    args = {"ServerSideEncryption": mode}
    if key_id:
        if mode != "aws:kms":
            raise BlobStoreError(f"{SSE_KMS_KEY_ENV} is set but {SSE_ENV} is not aws:kms")
        args["SSEKMSKeyId"] = key_id
    return args
