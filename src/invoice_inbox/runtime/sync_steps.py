"""The points of a mail's path through a sync run that an observer is told of (progress bars,
the crash tests), the run's progress count, and the cancellation of a run between batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
