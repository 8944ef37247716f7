"""Decide mail in worker processes, each held to the policy's memory and CPU limits.

No decision on untrusted bytes runs in the service's own process. A worker is a child
interpreter (``python -m invoice_inbox.runtime.worker_process``: a fresh process, never a fork
of the service with its open database, sockets and threads) that sets ``RLIMIT_AS`` to the memory
limit once and, before each mail, ``RLIMIT_CPU`` to the CPU time it has used so far plus the
mail's allowance. Workers are shared by the process's runs and kept warm between them; each
takes one mail at a time, so the mail a worker held when it stopped is the one that stopped it:

- a ``MemoryError`` is reported by the worker, which then exits (its heap is not trusted again);
- at the CPU limit the kernel ends the worker with ``SIGXCPU``;
- a worker still busy well past the CPU limit in wall time hangs: the pool kills it;
- any other end (a native crash, the kernel's OOM killer) may be bad luck: the mail is tried
  once more in a fresh worker, and quarantined if that one stops too.

Each of these quarantines that mail with a reason naming what happened; the other mails are
decided as usual.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import logging
import math
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

from invoice_inbox.pipeline.decide import Decision, Policy
from invoice_inbox.pipeline.limits import MB
from invoice_inbox.reasons import ReasonPart, english, part
from invoice_inbox.runtime import decision_wire, worker_process
from invoice_inbox.runtime.decision_wire import NOT_PROCESSED, quarantined
from invoice_inbox.runtime.worker_process import READY

log = logging.getLogger(__name__)

WALL_FACTOR, WALL_GRACE = 3, 30  # a mail's wall time before "hung": 3 x its CPU limit + 30 s
START_SECONDS = 60.0  # a new worker's time to get ready (start the interpreter, import)
TRIES = 2  # a mail whose worker stopped for no limit of ours is tried once more
START_FAILURES = 3  # workers in a row that die before taking a mail: no worker can work
IDLE_SECONDS = 300.0  # a worker nobody needed for this long is stopped
# a busy worker is handed its next mails before it has answered, up to QUEUED of them and as long
# as they fit in its socket's buffer (half of what the kernel gives, SOCKET_BUFFER asked for):
# they wait there, so the worker goes on without waiting for this process to take its answer and
# hand out (this process's threads share one interpreter lock), and a write never blocks, so
# neither side can block the other
QUEUED = 8
SOCKET_BUFFER = 1024 * 1024


__all__ = ["WorkerPool", "WorkersUnavailable", "quarantined", "shutdown"]


class WorkersUnavailable(RuntimeError):
    """No decide worker could be started; the run cannot decide safely and stops."""


# -- workers, seen from the service's process -----------------------------------------------


@dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    conn: Connection
    memory: int  # its RLIMIT_AS
    ready: bool = False
    task: int | None = None  # the index of the mail it holds in its batch
    # the next ones, sent before it answered for *task*, and their bytes
    queued: deque[int] = field(default_factory=deque)
    queued_bytes: int = 0
    room: int = 0  # bytes that may wait in its socket
    deadline: float = 0.0
    hung: bool = False
    idle_since: float = 0.0
    setup: bytes | None = None  # the pickled setup it decides with (``WorkerPool._setup``)

    @classmethod
    def start(cls, memory: int) -> _Worker:
        ours, theirs = socket.socketpair()
        command = [sys.executable, "-m", worker_process.__name__, str(theirs.fileno()), str(memory)]
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                pass_fds=[theirs.fileno()],
                start_new_session=True,  # the terminal's Ctrl-C is for the parent
                env=_worker_environment(),
            )
        except OSError as exc:
            ours.close()
            raise WorkersUnavailable(f"decide workers could not be started: {exc}") from exc
        finally:
            theirs.close()
        with contextlib.suppress(OSError):  # capped by the kernel (net.core.wmem_max)
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
        room = ours.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) // 2
        return cls(proc, Connection(ours.detach()), memory, room=room)

    def end(self, *, kill: bool) -> None:
        if kill and self.proc.poll() is None:
            self.proc.kill()
        self.conn.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def stop(self, *, wait: bool = True) -> None:
        """Ask an idle worker to exit, then (*wait*) make sure it did."""
        with contextlib.suppress(OSError):
            self.conn.send_bytes(worker_process.STOP)
        if wait:
            self.end(kill=False)


def _worker_environment() -> dict[str, str]:
    """The service's environment without its own settings (the secret key, the database URL):
    a worker handles hostile bytes and needs none of them."""
    return {k: v for k, v in os.environ.items() if not k.startswith("INVOICE_INBOX_")}


class _Idle:
    """The process's idle workers by memory limit, shared by its runs (and their threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workers: dict[int, list[_Worker]] = {}

    def take(self, memory: int) -> _Worker | None:
        now, stale = time.monotonic(), []
        with self._lock:
            workers = self._workers.get(memory, [])
            while workers and now - workers[0].idle_since > IDLE_SECONDS:
                stale.append(workers.pop(0))
            w = workers.pop() if workers else None
        for old in stale:
            old.stop()
        return w

    def give(self, w: _Worker) -> None:
        w.task, w.idle_since = None, time.monotonic()
        w.queued.clear()
        w.queued_bytes = 0
        with self._lock:
            workers = self._workers.setdefault(w.memory, [])
            if len(workers) < (os.cpu_count() or 1):
                workers.append(w)
                return
        w.stop()

    def count(self, memory: int) -> int:
        with self._lock:
            return len(self._workers.get(memory, []))

    def shutdown(self) -> None:
        with self._lock:
            workers = [w for group in self._workers.values() for w in group]
            self._workers.clear()
        for w in workers:  # all asked first: they exit at the same time
            w.stop(wait=False)
        for w in workers:
            w.end(kill=False)


_IDLE = _Idle()
atexit.register(_IDLE.shutdown)


def shutdown() -> None:
    """Stop the idle workers (the service is stopping; runs start new ones when needed)."""
    _IDLE.shutdown()


# -- one batch ------------------------------------------------------------------------------


@dataclass
class _Batch:
    raws: Sequence[bytes]
    shas: Sequence[str] | None  # their SHA-256s, given by the caller
    todo: deque[int]
    busy: list[_Worker] = field(default_factory=list)
    done: dict[int, Decision] = field(default_factory=dict)
    stops: dict[int, int] = field(default_factory=dict)  # index -> workers it stopped

    def ready(self, timeout: float) -> set[int]:
        """The busy workers' descriptors with something to read (or ended), waiting up to
        *timeout* seconds for one (one poll, no selector set up and no poll per worker)."""
        poller = select.poll()
        for w in self.busy:
            poller.register(w.conn.fileno(), select.POLLIN)
        return {fd for fd, _ in poller.poll(math.ceil(timeout * 1000))}


class _Aside:
    """A batch's *meanwhile*, run once on a thread of its own (in the caller's context)."""

    def __init__(self, fn: Callable[[], None] | None) -> None:
        self.fn = fn
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        if self.fn is None or self.thread is not None:
            return
        context = contextvars.copy_context()  # the run's log context, the locale
        self.thread = threading.Thread(target=context.run, args=(self._run,), name="meanwhile")
        self.thread.start()

    def _run(self) -> None:
        assert self.fn is not None
        try:
            self.fn()
        except BaseException as exc:  # raised in the deciding thread once the batch is done
            self.error = exc

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


class WorkerPool:
    """Decides batches for one policy on up to *size* workers at a time."""

    def __init__(self, policy: Policy, *, size: int, store: Path | None = None) -> None:
        """*store*: a blob folder the workers put each decided mail's blobs in, unsynced
        (``decision_wire``; the caller makes them durable: ``put_many(staged=True)``)."""
        self.policy = policy
        self.size = max(1, size)
        self.limits = policy.limits
        # pickled once, sent to each worker that has not got it yet
        self._setup = bytes(ForkingPickler.dumps((policy, store)))
        self._start_failures = 0

    def prestart(self) -> None:
        """Start the pool's workers now, so that they start their interpreters and import while
        the caller lists and downloads the first mails (idle ones count); one that cannot be
        started is left to the first batch, which says why."""
        for _ in range(self.size - _IDLE.count(self.limits.memory_bytes)):
            try:
                _IDLE.give(_Worker.start(self.limits.memory_bytes))
            except WorkersUnavailable:
                return

    @property
    def wall_seconds(self) -> float:
        return float(self.limits.cpu_seconds * WALL_FACTOR + WALL_GRACE)

    def decide(
        self,
        raws: Sequence[bytes],
        meanwhile: Callable[[], None] | None = None,
        *,
        shas: Sequence[str] | None = None,
    ) -> list[Decision]:
        """The decisions for *raws*, in order; a mail that stopped its worker is quarantined
        with the reason. Raises ``WorkersUnavailable`` when workers cannot be started.
        *meanwhile* is called once, on a thread of its own, as soon as the first mails are in
        the workers (or at once when there are none): the caller's own work (a commit that may
        wait for a database lock) overlaps the deciding, which goes on meanwhile; it has ended
        when this returns, and what it raised ends the batch as a failure to decide would."""
        batch = _Batch(raws, shas, deque(range(len(raws))))
        aside = _Aside(meanwhile)
        try:
            while batch.todo or batch.busy:
                self._hand_out(batch)
                aside.start()
                self._collect(batch)
            aside.start()
        finally:
            for w in batch.busy:  # interrupted (e.g. KeyboardInterrupt): nobody waits for them
                w.end(kill=True)
            aside.join()
        aside.raise_error()
        return [batch.done[i] for i in range(len(raws))]

    def _hand_out(self, batch: _Batch) -> None:
        while batch.todo and len(batch.busy) < self.size:
            i = batch.todo.popleft()
            w = _IDLE.take(self.limits.memory_bytes) or _Worker.start(self.limits.memory_bytes)
            allowed = self.wall_seconds if w.ready else self.wall_seconds + START_SECONDS
            w.task, w.deadline, w.hung = i, time.monotonic() + allowed, False
            batch.busy.append(w)
            self._send(w, batch, i)
        for w in batch.busy:  # each worker's next mails wait for it in its socket
            while batch.todo and w.ready and len(w.queued) < QUEUED:
                size = len(batch.raws[batch.todo[0]])
                if w.queued_bytes + size > w.room:
                    break
                i = batch.todo.popleft()
                w.queued.append(i)
                w.queued_bytes += size
                self._send(w, batch, i)

    def _send(self, w: _Worker, batch: _Batch, i: int) -> None:
        raw, sha = batch.raws[i], batch.shas[i] if batch.shas else None
        setup = None if w.setup == self._setup else self._setup  # another pool's worker
        w.setup = self._setup
        with contextlib.suppress(OSError):  # it died first: _collect sees it has ended
            worker_process.send_mail(w.conn, raw, setup, sha)  # as it is: no pickled copy

    def _collect(self, batch: _Batch) -> None:
        timeout = max(0.0, min(w.deadline for w in batch.busy) - time.monotonic())
        ready = batch.ready(timeout)
        now = time.monotonic()
        for w in list(batch.busy):
            if w.conn.fileno() in ready:
                try:
                    message = decision_wire.recv(w.conn)  # a decision with its documents
                except (EOFError, OSError):  # it ended with nothing more to say
                    self._stopped(batch, w)
                    continue
                if message == READY:  # the mail's time starts now
                    w.ready, w.deadline = True, now + self.wall_seconds
                    continue
                assert isinstance(message, tuple)  # ("decided" | "memory" | "failed", payload)
                self._answered(batch, w, *message)
            elif now >= w.deadline:
                w.hung = True
                self._stopped(batch, w)

    def _answered(self, batch: _Batch, w: _Worker, kind: str, payload: object) -> None:
        assert w.task is not None
        i = w.task
        self._start_failures = 0
        if kind == "memory":  # the worker ends: mails queued for it go to another
            batch.busy.remove(w)
            self._requeue(batch, w)
            mb = self.limits.memory_bytes // MB
            batch.done[i] = quarantined(batch.raws[i], NOT_PROCESSED, part("worker_memory", mb=mb))
            w.end(kill=False)
            return
        if kind == "decided":
            assert isinstance(payload, Decision)
            batch.done[i] = payload
        else:
            failed = part("worker_failed", detail=str(payload))
            batch.done[i] = quarantined(batch.raws[i], NOT_PROCESSED, failed)
        if w.queued:  # it goes on with the mail waiting for it: its time starts now
            w.task = w.queued.popleft()
            w.queued_bytes -= len(batch.raws[w.task])
            w.deadline = time.monotonic() + self.wall_seconds
            return
        batch.busy.remove(w)
        _IDLE.give(w)

    @staticmethod
    def _requeue(batch: _Batch, w: _Worker) -> None:
        """The mails queued for *w* were never begun: back to the batch's to-do, uncharged."""
        batch.todo.extendleft(reversed(w.queued))
        w.queued.clear()
        w.queued_bytes = 0

    def _stopped(self, batch: _Batch, w: _Worker) -> None:
        """*w* ended (or hangs) while holding a mail: charge the mail, or the start-up."""
        assert w.task is not None
        i = w.task
        batch.busy.remove(w)
        self._requeue(batch, w)  # only the mail it was deciding is charged
        w.end(kill=True)
        if not w.ready:
            self._start_failures += 1
            if self._start_failures >= START_FAILURES:
                said = english((self._why(w),))
                raise WorkersUnavailable(f"decide workers stop before taking any mail ({said})")
            batch.todo.appendleft(i)
            return
        why, certain = self._why(w), w.hung or w.proc.returncode == -signal.SIGXCPU
        batch.stops[i] = batch.stops.get(i, 0) + 1
        log.warning("mail %d of the batch %s", i + 1, english((why,)))
        if certain or batch.stops[i] >= TRIES:
            batch.done[i] = quarantined(batch.raws[i], NOT_PROCESSED, why)
        else:
            batch.todo.appendleft(i)

    def _why(self, w: _Worker) -> ReasonPart:
        code = w.proc.returncode
        if w.hung:
            return part("worker_time", seconds=f"{self.wall_seconds:g}")
        if code == -signal.SIGXCPU:
            return part("worker_cpu", seconds=self.limits.cpu_seconds)
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = "unknown"
            return part("worker_signal", signal=-code, name=name)
        return part("worker_exit", status=str(code))
