"""Filing as a stage of its own: a folder's committed batches are flagged and moved on the
server in the order they were committed, on one thread, while the next batches are committed.

A batch is handed to :class:`FilingStage` only once its transaction has committed, so no mail is
moved before its decision is stored (invariant 2). Filing a batch of 100 mails is one or two
round trips (``UID MOVE``) in which the server does the work; done by the committing thread
itself it took about as long again as the commit, and the next batch's commit waited for it.

When filing fails (the connection is lost, or whatever the filing raised), the failure is
raised to the committing thread before its next commit (:meth:`FilingStage.check`), so that
batch and the ones after it are not committed, and by :meth:`FilingStage.close` at the end. A
batch committed while the failing one was being filed stays where it is, its rows undisposed,
and the next run files it before anything else (``FolderFiling._file_undisposed``), as it does
for a run cut off between commit and filing: nothing is lost or imported twice.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")  # what one filing call takes: the rows of one committed batch

_END = object()


class FilingStage(Generic[T]):
    """Calls *file* with each submitted batch, in order, on a thread of its own."""

    def __init__(self, file: Callable[[T], None], *, name: str = "batch-filing") -> None:
        self._file = file
        self._todo: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._error: BaseException | None = None
        # the run's context (its log fields) goes with the thread, as with the other stages
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._work,), name=name, daemon=True
        )
        self._thread.start()

    def check(self) -> None:
        """Raise the failure of an earlier batch's filing, if one failed."""
        if self._error is not None:
            raise self._error

    def submit(self, batch: T) -> None:
        """File *batch* (committed) after the batches submitted before it."""
        self._todo.put(batch)

    def close(self, *, raise_error: bool = True) -> None:
        """Wait until every submitted batch is filed (or skipped after a failure); raise the
        first failure unless *raise_error* is false (the run already ends with another)."""
        self._todo.put(_END)
        self._thread.join()
        if raise_error:
            self.check()

    def _work(self) -> None:
        while (batch := self._todo.get()) is not _END:
            if self._error is not None:
                continue  # after a failure, the rest stay undisposed for the next run
            try:
                self._file(batch)  # type: ignore[arg-type]  # only T and _END are put
            except BaseException as exc:
                self._error = exc
