"""A folder's batches in three overlapping stages: download, decide, commit.

``run_pipelined`` takes a folder's new mail batch by batch, as ``runtime.sync`` did one step at
a time, but with up to three batches in flight: while batch N is decided (on the calling thread,
its work done by the worker processes), batch N+1 is downloaded on one thread and batch N-1 is
written, committed and filed on another. The stages hand batches on in order, so batches are
committed and filed in the order they were listed, each in its own transaction, each filed only
after its commit: the guarantees of a sequential run hold (invariants 1, 2 and 5).

The deciding thread prepares each batch (``Stages.prepare``: a sync commits the first decide
attempts of its mails there) before it hands the batch decided before it to the commit stage,
when that next batch is downloaded already: on SQLite, one write at a time, that commit would
otherwise hold the write lock while the workers wait for the preparing (a third of the deciding
thread's time at 10,000 mails). When the next batch is not there yet, the decided one goes to
the commit at once and is not held back for a download.

Errors keep a sequential run's outcome: the first error of any stage stops new work, every batch
before the failing one is still committed and filed, no batch from the failing one on is
committed, and the error is raised once the stages have stopped (a download error is raised
when its batch's turn comes; a commit error wins over a later batch's). ``runtime.sync`` gives
the download stage a second IMAP session when the server allows one; otherwise the download and
the filing stage share the connection, one at a time.

Memory: the download stage waits while the batches downloaded and not yet committed hold more
than *budget* bytes, so a folder of large mails keeps about one batch in flight.

The stages are threads of one interpreter: a thread back from a socket or the database waits for
the interpreter lock until the thread holding it lets go, by default after 5 ms. The deciding
thread hands each mail to a worker process and takes its answer, so every such wait leaves the
workers idle; ``run_pipelined`` therefore lowers the process's switch interval to
``SWITCH_INTERVAL`` (``benchmarks/decide_handout.py`` measures the difference).
"""

from __future__ import annotations

import contextlib
import contextvars
import queue
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

B = TypeVar("B")  # a downloaded batch
D = TypeVar("D")  # a decided batch

IN_FLIGHT_BYTES = 64 * 1024 * 1024  # downloaded and not yet committed, before waiting
POLL = 0.1  # seconds between looks at the halt flag while a stage waits
SWITCH_INTERVAL = 0.0005  # seconds a thread holds the interpreter lock while another waits


@dataclass
class _Failed:
    error: BaseException


_END = object()


class _Budget:
    """Bytes downloaded and not yet committed; the downloader waits while over the limit."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self._cond = threading.Condition()

    def wait_below(self, halt: threading.Event) -> bool:
        with self._cond:
            while self.used >= self.limit and not halt.is_set():
                self._cond.wait(POLL)
        return not halt.is_set()

    def add(self, n: int) -> None:
        with self._cond:
            self.used += n

    def release(self, n: int) -> None:
        with self._cond:
            self.used -= n
            self._cond.notify_all()


# Any here and below: the stages' queues carry each stage's own batch type, and _END
def _put(q: queue.Queue[Any], item: object, halt: threading.Event | None = None) -> bool:
    """Put *item*, giving up when *halt* is set (nobody will take it)."""
    while True:
        try:
            q.put(item, timeout=POLL)
            return True
        except queue.Full:
            if halt is not None and halt.is_set():
                return False


def _ready(downloaded: queue.Queue[Any]) -> Any:
    """The next downloaded batch if it is there now, else None."""
    try:
        return downloaded.get_nowait()
    except queue.Empty:
        return None


def _next(downloaded: queue.Queue[Any], downloader: threading.Thread) -> Any:
    """The next downloaded batch; ``_END`` also when the downloader stopped without saying so
    (it gives up handing on batches once a later stage has failed)."""
    while True:
        try:
            return downloaded.get(timeout=POLL)
        except queue.Empty:
            if not downloader.is_alive() and downloaded.empty():
                return _END


class Stages(Generic[B, D]):
    """What each stage does with one batch; *size* is a downloaded batch's bytes. *prepare*
    (optional) readies a downloaded batch for *decide* on the deciding thread, before the
    batch decided before it is handed to the commit (the module doc); *prepare_ahead*
    (optional) does most of that earlier, on a thread of its own while the batch before is
    decided, and *prepare* then finishes it; *abandon* takes back what they did when the batch
    will not be decided after all."""

    def __init__(
        self,
        download: Callable[[Any], B],
        decide: Callable[[B], D],
        commit: Callable[[D], None],
        size: Callable[[B], int],
        *,
        prepare: Callable[[B], B] = lambda batch: batch,
        prepare_ahead: Callable[[B], B] | None = None,
        abandon: Callable[[B], None] = lambda batch: None,
    ) -> None:
        self.download, self.decide, self.commit, self.size = download, decide, commit, size
        self.prepare, self.prepare_ahead, self.abandon = prepare, prepare_ahead, abandon


class _Ahead:
    """The next downloaded batch, taken and prepared (``Stages.prepare_ahead``) on a thread of
    its own while the deciding thread decides the one before it: the workers then wait for
    none of that preparing between two batches (a tenth of a 10,000-mail fetch, both idle)."""

    def __init__(
        self, downloaded: queue.Queue[Any], downloader: threading.Thread, stages: Stages[Any, Any]
    ) -> None:
        self.item: Any = None
        self.downloaded, self.downloader, self.stages = downloaded, downloader, stages
        self.thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._run,), name="batch-prepare"
        )
        self.thread.start()

    def _run(self) -> None:
        item = _next(self.downloaded, self.downloader)
        if item is not _END and not isinstance(item, _Failed):
            batch, size = item
            try:
                assert self.stages.prepare_ahead is not None
                item = (self.stages.prepare_ahead(batch), size)
            except BaseException as exc:  # raised by the deciding thread when its turn comes
                item = _Failed(exc)
        self.item = item

    def ready(self) -> bool:
        return not self.thread.is_alive()

    def take(self) -> Any:
        """The batch (with its size), ``_END`` or ``_Failed``, once the thread has ended."""
        self.thread.join()
        return self.item


def run_pipelined(
    batches: Iterable[Any],
    stages: Stages[B, D],
    *,
    check_cancel: Callable[[], None] = lambda: None,
    budget: int = IN_FLIGHT_BYTES,
) -> None:
    """Download, decide and commit each of *batches* (the keys of each batch) as the module
    says; *check_cancel* is called before each batch is decided and may raise to stop."""
    if sys.getswitchinterval() > SWITCH_INTERVAL:  # process-wide; only ever lowered
        sys.setswitchinterval(SWITCH_INTERVAL)
    downloaded: queue.Queue[Any] = queue.Queue(maxsize=1)
    decided: queue.Queue[Any] = queue.Queue(maxsize=1)
    halt = threading.Event()
    bytes_in_flight = _Budget(budget)
    commit_error: list[BaseException] = []

    def downloading() -> None:
        try:
            for keys in batches:
                if not bytes_in_flight.wait_below(halt):
                    return
                batch = stages.download(keys)
                size = stages.size(batch)
                bytes_in_flight.add(size)
                if not _put(downloaded, (batch, size), halt):
                    return
        except BaseException as exc:  # raised by the deciding thread when its turn comes
            _put(downloaded, _Failed(exc), halt)
            return
        _put(downloaded, _END, halt)

    def committing() -> None:
        while (item := decided.get()) is not _END:
            batch, size = item
            try:
                if not commit_error:  # after an error, later batches are only drained
                    stages.commit(batch)
            except BaseException as exc:
                commit_error.append(exc)
                halt.set()
            finally:
                bytes_in_flight.release(size)

    threads = [
        threading.Thread(target=contextvars.copy_context().run, args=(f,), name=name, daemon=True)
        for f, name in ((downloading, "batch-download"), (committing, "batch-commit"))
    ]
    for t in threads:
        t.start()
    failed: BaseException | None = None
    held: tuple[D, int] | None = None  # decided, handed to the commit once the next is ready
    ahead: _Ahead | None = None  # the next batch, prepared while *held* was decided
    try:
        while not commit_error:
            check_cancel()
            if ahead is not None:
                if held is not None and not ahead.ready():  # not there yet: the commit first
                    _put(decided, held)
                    held = None
                item, ahead = ahead.take(), None
            else:
                item = _ready(downloaded) if held is not None else None
                if item is None:  # the next batch is not downloaded yet: the commit goes first
                    if held is not None:
                        _put(decided, held)
                        held = None
                    item = _next(downloaded, threads[0])
            if item is _END:
                break
            if isinstance(item, _Failed):
                raise item.error
            batch, size = item
            try:
                batch = stages.prepare(batch)
                if held is not None:
                    _put(decided, held)  # the committer takes every item until _END
                    held = None
            except BaseException:
                stages.abandon(batch)
                raise
            if stages.prepare_ahead is not None:
                ahead = _Ahead(downloaded, threads[0], stages)
            held = (stages.decide(batch), size)
    except BaseException as exc:
        failed = exc
    finally:
        halt.set()
        if held is not None:  # decided before the error: committed as any batch before it
            _put(decided, held)
        _put(decided, _END)
        if ahead is not None:  # prepared for nothing: taken back
            item = ahead.take()
            if item is not _END and not isinstance(item, _Failed):
                stages.abandon(item[0])
        threads[1].join()  # every batch handed on is committed (or drained after an error)
        while threads[0].is_alive():  # the downloader may wait to hand on a batch
            with contextlib.suppress(queue.Empty):
                downloaded.get(timeout=POLL)
        threads[0].join()
    if commit_error:  # an earlier batch's error than any the deciding thread met
        raise commit_error[0]
    if failed is not None:
        raise failed
