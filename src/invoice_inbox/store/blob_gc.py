"""Garbage collection of blobs: remove the stored files no database row refers to.

A blob is referenced by a ledger row (``message.raw_sha256``), a document (``document.sha256``)
or an unfinished decision (``decide_attempt.raw_sha256``). Blobs become unreferenced when a
company or source is deleted (their files are left behind on purpose: content-addressed files
may be shared). Only blobs stored before a cutoff are candidates, so a blob whose upload has
happened but whose transaction has not committed yet is never touched; a blob stored again is
refreshed (see ``store.blobs``), and each candidate's ``stored_at`` is read again just before it
is deleted. The cutoff may not be nearer than ``MIN_AGE``.

The candidates are checked against the database in batches, so memory stays flat however many
blobs there are. The folder store's stale ``.tmp`` files (writes cut off by a crash) older than
the cutoff are removed too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from invoice_inbox.store.blobs import REFRESH_AFTER, BlobNotFound, BlobStore, StoredBlob
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import DecideAttempt, Document, Message

MIN_AGE = 3 * REFRESH_AFTER  # 30 minutes
BATCH = 500

T = TypeVar("T")
Progress = Callable[[int, int | None], None]


@dataclass
class GcSummary:
    cutoff: datetime
    dry_run: bool
    examined: int = 0  # blobs stored before the cutoff
    referenced: int = 0
    deleted: int = 0  # (or that would be, on a dry run)
    deleted_bytes: int = 0
    temporary: int = 0  # stale .tmp files removed
    temporary_bytes: int = 0


def referenced(s: Session, sha256s: Sequence[str]) -> set[str]:
    """Which of *sha256s* a row of the database refers to."""
    wanted = list(set(sha256s))
    found: set[str] = set()
    for column in (Message.raw_sha256, Document.sha256, DecideAttempt.raw_sha256):
        found.update(s.scalars(select(column).where(column.in_(wanted)).distinct()))
    return found


def collect(
    db: Database,
    blobs: BlobStore,
    older_than: timedelta,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> GcSummary:
    """Delete (or, on a dry run, count) the unreferenced blobs stored more than *older_than*
    before *now*; raises ValueError for an age below ``MIN_AGE``."""
    if older_than < MIN_AGE:
        raise ValueError(f"the age must be at least {MIN_AGE}")
    cutoff = (now or datetime.now(UTC)) - older_than
    summary = GcSummary(cutoff=cutoff, dry_run=dry_run)
    summary.temporary, summary.temporary_bytes = blobs.sweep_temporary(cutoff, dry_run=dry_run)
    for batch in _batches(blobs.list(older_than=cutoff), BATCH):
        with db.session() as s:
            kept = referenced(s, [b.sha256 for b in batch])
        for blob in batch:
            summary.examined += 1
            if blob.sha256 in kept:
                summary.referenced += 1
            elif _delete(blobs, blob, cutoff, dry_run):
                summary.deleted += 1
                summary.deleted_bytes += blob.size
        if progress is not None:
            progress(summary.examined, None)
    return summary


def _delete(blobs: BlobStore, blob: StoredBlob, cutoff: datetime, dry_run: bool) -> bool:
    """Delete *blob* unless it was stored again since it was listed."""
    if dry_run:
        return True
    try:
        if blobs.stat(blob.sha256).stored_at >= cutoff:
            return False  # put again meanwhile: an upload may be about to refer to it
    except BlobNotFound:
        return False
    blobs.delete(blob.sha256)
    return True


def _batches(items: Iterator[T], size: int) -> Iterator[list[T]]:
    while batch := list(islice(items, size)):
        yield batch
