"""Content-addressed file store: each blob lives once, under its SHA-256, durably.

A blob is written to a temporary file beside its final name, synced, renamed into place, and its
directory synced, so a blob the database refers to is on disk before the commit that refers to
it. ``put_many`` does the same for a batch with one pass of syncs, letting the disk coalesce the
writes. Writing the same bytes twice is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._dirs: set[Path] = set()

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def _dir_for(self, final: Path) -> Path:
        parent = final.parent
        if parent not in self._dirs:
            parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(parent)
        return parent

    def put_many(self, blobs: Iterable[tuple[str, bytes]]) -> None:
        """Store (sha256, data) pairs durably with one sync for the whole batch.

        All files are written and renamed into place first; then one ``syncfs(2)`` of the blob
        store's file system makes the data and the directory entries durable together, where a
        per-file ``fsync`` would cost two disk flushes per blob. Where ``syncfs`` is missing,
        each file and directory is synced on its own."""
        staged: dict[Path, Path] = {}
        for digest, data in blobs:
            final = self.path(digest)
            if final in staged or final.exists():
                continue
            tmp = self._dir_for(final) / f".{digest}.{os.getpid()}.tmp"
            _write(tmp, data, sync=_syncfs is None)
            staged[final] = tmp
        for final, tmp in staged.items():
            os.replace(tmp, final)
        if not staged:
            return
        if _syncfs is not None:
            _syncfs(self.root)
        else:
            for parent in {final.parent for final in staged}:
                _sync_dir(parent)

    def put(self, data: bytes, sha256: str | None = None) -> str:
        """Store *data* durably and return its SHA-256 (hex)."""
        digest = sha256 or hashlib.sha256(data).hexdigest()
        final = self.path(digest)
        if final.exists():
            return digest
        tmp = self._dir_for(final) / f".{digest}.{os.getpid()}.tmp"
        _write(tmp, data, sync=True)
        os.replace(tmp, final)
        _sync_dir(final.parent)
        return digest


def _write(path: Path, data: bytes, *, sync: bool) -> None:
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
    """``syncfs(2)`` from the C library (Linux), or None where it is not available."""
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


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
