"""The points of a mail's path through a sync run that an observer is told of (progress bars,
the crash tests), the run's progress count, the cancellation of a run between batches, and the
sizes of a folder's batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from invoice_inbox.runtime.batch_decide import Key


class Step(StrEnum):
    """Points on a message's path, reported to an observer (progress, tests)."""

    DOWNLOADED = "downloaded"
    DECIDING = "deciding"  # the messages' decisions start (after their attempts are committed)
    BLOBS_WRITTEN = "blobs_written"
    COMMITTED = "committed"
    FILED = "filed"
    DISPOSED = "disposed"


Observer = Callable[[Step, str, Sequence[Key]], None]

BATCH = 100  # a folder's first batch (and each batch, when a caller sets the size)
BATCH_MOST = 400  # the batches after the first double up to this many mails ...
BATCH_BYTES = 24 * 1024 * 1024  # ... while the last one's mails, as many, hold no more bytes


class Batches:
    """*todo* in batches of *size* mails; without *size*, the first of ``BATCH`` and each next
    one twice the one before, up to ``BATCH_MOST`` and to as many mails as the batch before's
    average size fits into ``BATCH_BYTES`` (never fewer than ``BATCH``: the size before). A
    folder of a few mails is one small batch and its first commit comes early; a backlog of
    thousands takes fewer transactions, syncs and server commands per mail (a batch's fixed
    cost: ``benchmarks/ingest.py``), and one of large mails keeps its batches small, as
    ``pipelined.IN_FLIGHT_BYTES`` waits only between batches. The downloader tells
    :meth:`downloaded` each batch's bytes before it asks for the next."""

    def __init__(self, todo: Sequence[Key], size: int | None = None) -> None:
        self.todo, self.size = todo, size
        self._last: tuple[int, int] | None = None  # the last batch: mails, bytes

    def downloaded(self, count: int, size: int) -> None:
        self._last = (count, size)

    def __iter__(self) -> Iterator[Sequence[Key]]:
        step, i = self.size or BATCH, 0
        while i < len(self.todo):
            yield self.todo[i : i + step]
            i += step
            if self.size is None:
                step = self._next(step)

    def _next(self, step: int) -> int:
        step = min(step * 2, BATCH_MOST)
        if self._last is not None and self._last[1] > 0:
            count, size = self._last
            step = min(step, BATCH_BYTES * count // size)
        return max(step, BATCH)


class RunCancelled(Exception):
    """The service is shutting down; the run stopped between two batches."""


@dataclass
class Progress:
    total: int = 0
    done: int = 0
    hook: Callable[[int, int], None] | None = field(default=None)

    def add_total(self, n: int) -> None:
        self.total += n
        if self.hook:
            self.hook(self.done, self.total)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.hook:
            self.hook(self.done, self.total)


def noop(step: Step, folder: str, uids: Sequence[Key]) -> None:
    return None
