"""Content-addressed file store: each blob lives once, under its SHA-256, durably.

A blob is written to a temporary file beside its final name, synced, renamed into place, and its
directory synced, so a blob the database refers to is on disk before the commit that refers to
it. ``put_many`` does the same for a batch with one pass of syncs, letting the disk coalesce the
writes. Writing the same bytes twice is a no-op (a blob older than ``REFRESH_AFTER`` only has its
modification time, its ``stored_at``, set to now). Decide workers ``stage`` a batch's blobs
into the folder themselves (renamed into place, unsynced); the committing process's
``put_many(staged=True)`` then makes them durable with its own in the one ``syncfs``, so the
service's process neither reads nor writes their bytes. The contract is in ``store.blobs``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from invoice_inbox.store.blobs import CHUNK, REFRESH_AFTER, BlobNotFound, StoredBlob

_SHA = re.compile(r"[0-9a-f]{64}")
_TMP = re.compile(r"\.[0-9a-f]{64}\.\d+\.tmp")
_STAGING: dict[tuple[Path, str], str] = {}  # (root, prefix): the sub-folder ``stage`` made


class FolderBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = root.absolute().as_uri()
        self._dirs: set[Path] = set()  # sub-folders this store made or found

    def path(self, sha256: str) -> Path:
        return _path(self.root, sha256)

    def local_path(self, sha256: str) -> Path | None:
        path = self.path(sha256)
        return path if path.is_file() else None

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def get(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def stream(self, sha256: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        try:
            f = self.path(sha256).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None
        return _chunks(f, chunk_size)

    def size(self, sha256: str) -> int:
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def stat(self, sha256: str) -> StoredBlob:
        try:
            st = self.path(sha256).stat()
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None
        return StoredBlob(sha256, datetime.fromtimestamp(st.st_mtime, UTC), st.st_size)

    def put_many(self, blobs: Iterable[tuple[str, bytes]], *, staged: bool = False) -> None:
        """Store (sha256, data) pairs durably with one sync for the whole batch.

        All files are written and renamed into place first; then one ``syncfs(2)`` of the blob
        store's file system makes the data and the directory entries durable together, where a
        per-file ``fsync`` would cost two disk flushes per blob. Where ``syncfs`` is missing,
        each file and directory is synced on its own. *staged*: other processes (decide
        workers, ``stage``) put blobs of this batch into the folder unsynced; the sync makes
        them durable too, even when nothing is left to write here."""
        written: dict[Path, Path] = {}
        for digest, data in blobs:
            final = self.path(digest)
            if final in written or _kept(final):
                continue
            tmp = _folder_of(final, self._dirs) / f".{digest}.{os.getpid()}.tmp"
            _write(tmp, data, sync=_syncfs is None)
            written[final] = tmp
        for final, tmp in written.items():
            os.replace(tmp, final)
        if not written and not staged:
            return
        if _syncfs is not None:
            _syncfs(self.root)
        else:
            for parent in {final.parent for final in written}:
                sync_dir(parent)

    def staging_root(self) -> Path | None:
        """The folder other processes may ``stage`` blobs into for ``put_many(staged=True)``
        to make durable: only where one ``syncfs`` covers their files (Linux), else None."""
        return self.root if _syncfs is not None else None

    def put(self, data: bytes, sha256: str | None = None) -> str:
        """Store *data* durably and return its SHA-256 (hex)."""
        digest = sha256 or hashlib.sha256(data).hexdigest()
        final = self.path(digest)
        if _kept(final):
            return digest
        tmp = _folder_of(final, self._dirs) / f".{digest}.{os.getpid()}.tmp"
        _write(tmp, data, sync=True)
        os.replace(tmp, final)
        sync_dir(final.parent)
        return digest

    def list(self, older_than: datetime | None = None) -> Iterator[StoredBlob]:
        limit = older_than.timestamp() if older_than is not None else None
        for sub, name, st in self._files():
            if _SHA.fullmatch(name) and sub == name[:2] and (limit is None or st.st_mtime < limit):
                yield StoredBlob(name, datetime.fromtimestamp(st.st_mtime, UTC), st.st_size)

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def sweep_temporary(self, older_than: datetime, *, dry_run: bool = False) -> tuple[int, int]:
        """Remove ``.tmp`` files of interrupted writes last changed before *older_than*."""
        count = size = 0
        limit = older_than.timestamp()
        for sub, name, st in self._files():
            if _TMP.fullmatch(name) and st.st_mtime < limit:
                if not dry_run:
                    (self.root / sub / name).unlink(missing_ok=True)
                count, size = count + 1, size + st.st_size
        return count, size

    def _files(self) -> Iterator[tuple[str, str, os.stat_result]]:
        """(sub-folder, name, stat) of each file in the two-character sub-folders."""
        with os.scandir(self.root) as subs:
            dirs = sorted(d.name for d in subs if len(d.name) == 2 and d.is_dir())
        for sub in dirs:
            try:
                with os.scandir(self.root / sub) as entries:
                    for entry in entries:
                        try:
                            if entry.is_file(follow_symlinks=False):
                                yield sub, entry.name, entry.stat(follow_symlinks=False)
                        except FileNotFoundError:
                            continue  # removed meanwhile
            except FileNotFoundError:
                continue


def stage(root: Path, sha256: str, data: bytes) -> None:
    """Put *data* under its SHA-256 in the blob folder *root*, renamed into place but not
    synced: a decide worker's share of a batch, made durable by the ``put_many(staged=True)``
    of the process that commits it (``FolderBlobStore.staging_root``). Paths are plain strings
    here: a worker stages two blobs per mail, and ``pathlib`` costs more than the write."""
    folder = _STAGING.get((root, sha256[:2]))
    if folder is None:  # made (or found) once per process
        made = root / sha256[:2]
        made.mkdir(parents=True, exist_ok=True)
        folder = _STAGING[root, sha256[:2]] = str(made)
    final = f"{folder}/{sha256}"
    if _kept(final):
        return
    tmp = f"{folder}/.{sha256}.{os.getpid()}.tmp"
    _write(tmp, data, sync=False)
    os.replace(tmp, final)


def _path(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256


def _folder_of(final: Path, made: set[Path]) -> Path:
    """*final*'s sub-folder, made unless it is in *made* (those made or found before)."""
    parent = final.parent
    if parent not in made:
        parent.mkdir(parents=True, exist_ok=True)
        made.add(parent)
    return parent


def _kept(final: Path | str) -> bool:
    """Whether *final* is stored; one stored long ago gets a new modification time."""
    try:
        if time.time() - os.stat(final).st_mtime > REFRESH_AFTER.total_seconds():
            os.utime(final)
        return True
    except FileNotFoundError:
        return False


def _chunks(f: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    with f:
        while chunk := f.read(chunk_size):
            yield chunk


def _write(path: Path | str, data: bytes, *, sync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fdatasync(fd)
    finally:
        os.close(fd)


def _load_syncfs() -> Callable[[Path], None] | None:
    """``syncfs(2)`` from the C library (Linux), or None where it is not available. The
    interpreter's own symbols are asked first: ``find_library`` runs ``ldconfig -p``, a process
    started in every process that imports this module (each decide worker too)."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            fn = libc.syncfs
        except (OSError, AttributeError):
            return None

    def syncfs(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            if fn(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"syncfs failed: {os.strerror(err)}", str(path))
        finally:
            os.close(fd)

    return syncfs


_syncfs = _load_syncfs()


def sync_dir(path: Path) -> None:
    """Make a folder's entries durable (fsync of the folder itself)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
