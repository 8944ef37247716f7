"""Content-addressed file store: each blob lives once, under its SHA-256, durably.

A blob is written to a temporary file beside its final name, synced, renamed into place, and its
directory synced, so a blob the database refers to is on disk before the commit that refers to
it. ``put_many`` does the same for a batch with one pass of syncs, letting the disk coalesce the
writes. Writing the same bytes twice is a no-op.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._dirs: set[Path] = set()

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

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
        """Store (sha256, data) pairs durably: write all, sync all, rename all, sync each
        directory once."""
        staged: list[tuple[int, Path, Path]] = []
        try:
            for digest, data in blobs:
                final = self.path(digest)
                if final.exists() or any(f == final for _, _, f in staged[-64:]):
                    continue
                tmp = self._dir_for(final) / f".{digest}.{os.getpid()}.tmp"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
                staged.append((fd, tmp, final))
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            for fd, _, _ in staged:
                os.fdatasync(fd)
        finally:
            for fd, _, _ in staged:
                os.close(fd)
        for _, tmp, final in staged:
            os.replace(tmp, final)
        for parent in {final.parent for _, _, final in staged}:
            _sync_dir(parent)

    def put(self, data: bytes, sha256: str | None = None) -> str:
        """Store *data* durably and return its SHA-256 (hex)."""
        digest = sha256 or hashlib.sha256(data).hexdigest()
        final = self.path(digest)
        if final.exists():
            return digest
        tmp = self._dir_for(final) / f".{digest}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        _sync_dir(final.parent)
        return digest


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
