"""Decide mail in worker processes, each held to the policy's memory and CPU limits.

No decision on untrusted bytes runs in the service's own process. A worker is started from a
fork server (never a fork of the service with its open database and sockets) with the pipeline
preloaded; it sets ``RLIMIT_AS`` to the memory limit once and, before each mail, ``RLIMIT_CPU``
to the CPU time it has used plus the mail's allowance. Workers stay up for the pool's lifetime
(one run) and take one mail at a time, so the mail a worker held when it stopped is the one
that stopped it:

- a ``MemoryError`` is reported by the worker, which then exits (its heap is not trusted again);
- at the CPU limit the kernel ends the worker with ``SIGXCPU``;
- a worker still busy well past the CPU limit in wall time hangs: the pool kills it;
- any other end (a native crash, the kernel's OOM killer) may be bad luck: the mail is tried
  once more in a fresh worker, and quarantined if that one stops too.

Each of these quarantines that mail with a reason naming what happened; the other mails are
decided as usual.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import resource
import signal
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from invoice_inbox.pipeline import mime
from invoice_inbox.pipeline.decide import Decision, Policy, Verdict, decide
from invoice_inbox.pipeline.limits import MB

log = logging.getLogger(__name__)

WALL_FACTOR, WALL_GRACE = 3, 30  # a mail's wall time before "hung": 3 x its CPU limit + 30 s
TRIES = 2  # a mail whose worker stopped for no limit of ours is tried once more
START_FAILURES = 3  # workers in a row that die before taking a mail: the pool cannot work
START_SECONDS = 60.0  # a new worker's time to get ready (the fork server's first start)
HEADERS_IN_PARENT = 256 * 1024  # a stopped mail's header block read here only up to this size
PRELOAD = ["invoice_inbox.runtime.workers"]  # imported once by the fork server
PREFIX = "could not be processed"

_READY = "ready"  # a worker's first message: its limits are set


class WorkersUnavailable(RuntimeError):
    """No decide worker could be started; the run cannot decide safely and stops."""


# -- the worker process ---------------------------------------------------------------------


def _serve(conn: Connection, policy: Policy) -> None:
    """A worker's life: set the memory limit, then decide one mail per message until told to
    stop (``None``) or the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent to handle
    _set_limit(resource.RLIMIT_AS, policy.limits.memory_bytes)
    conn.send(_READY)
    while True:
        try:
            raw = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if raw is None:
            return
        _set_cpu_allowance(policy.limits.cpu_seconds)
        try:
            reply: tuple[str, object] = ("decided", decide(raw, policy))
            conn.send(reply)
            continue
        except MemoryError:
            pass  # the frames holding the mail's data are released on leaving the handler
        except OSError:  # the parent is gone
            return
        except Exception as exc:  # e.g. a decision that cannot be pickled: name it
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
            continue
        raw = reply = None
        conn.send(("memory", None))
        return  # a heap that ran out is not trusted with the next mail


def _set_limit(which: int, value: int) -> None:
    _soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _set_cpu_allowance(seconds: int) -> None:
    """Let the next mail use *seconds* of CPU on top of what this worker used so far."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(used.ru_utime + used.ru_stime) + seconds
    _old, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


# -- the pool, in the service's process -----------------------------------------------------


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    ready: bool = False
    task: int | None = None  # the index of the mail it holds
    deadline: float = 0.0
    hung: bool = False
    exitcode: int | None = None  # once it has ended


@dataclass
class _Batch:
    raws: Sequence[bytes]
    todo: deque[int]
    busy: list[_Worker] = field(default_factory=list)
    done: dict[int, Decision] = field(default_factory=dict)
    stops: dict[int, int] = field(default_factory=dict)  # index -> workers it stopped


class WorkerPool:
    """Up to *size* worker processes deciding for one policy; close it when the run is over."""

    def __init__(self, policy: Policy, *, size: int) -> None:
        self.policy = policy
        self.size = max(1, size)
        self.limits = policy.limits
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(PRELOAD)
        self._idle: list[_Worker] = []
        self._start_failures = 0

    @property
    def wall_seconds(self) -> float:
        return float(self.limits.cpu_seconds * WALL_FACTOR + WALL_GRACE)

    def decide(self, raws: Sequence[bytes]) -> list[Decision]:
        """The decisions for *raws*, in order; a mail that stopped its worker is quarantined
        with the reason. Raises ``WorkersUnavailable`` when workers cannot be started."""
        batch = _Batch(raws, deque(range(len(raws))))
        try:
            while batch.todo or batch.busy:
                self._hand_out(batch)
                self._collect(batch)
        finally:
            for w in batch.busy:  # interrupted (e.g. KeyboardInterrupt): nobody waits for them
                self._end(w, kill=True)
        return [batch.done[i] for i in range(len(raws))]

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for w in idle:
            with contextlib.suppress(OSError):
                w.conn.send(None)
        for w in idle:
            w.process.join(timeout=2)
            self._end(w, kill=True)

    # -- one batch --------------------------------------------------------------------------

    def _hand_out(self, batch: _Batch) -> None:
        while batch.todo and len(batch.busy) < self.size:
            i = batch.todo.popleft()
            w = self._idle.pop() if self._idle else self._start()
            allowed = self.wall_seconds if w.ready else self.wall_seconds + START_SECONDS
            w.task, w.deadline = i, time.monotonic() + allowed
            batch.busy.append(w)
            with contextlib.suppress(OSError):  # it died first: _collect sees it has ended
                w.conn.send(batch.raws[i])

    def _collect(self, batch: _Batch) -> None:
        now = time.monotonic()
        timeout = max(0.0, min(w.deadline for w in batch.busy) - now)
        waitables: list[object] = [w.conn for w in batch.busy]
        waitables += [w.process.sentinel for w in batch.busy]
        wait(waitables, timeout)  # type: ignore[arg-type]
        now = time.monotonic()
        for w in list(batch.busy):
            if w.conn.poll():
                try:
                    message = w.conn.recv()
                except (EOFError, OSError):  # it ended with nothing more to say
                    self._stopped(batch, w)
                    continue
                if message == _READY:  # the mail's time starts now
                    w.ready, w.deadline = True, now + self.wall_seconds
                    continue
                self._answered(batch, w, *message)
            elif not w.process.is_alive():
                self._stopped(batch, w)
            elif now >= w.deadline:
                w.hung = True
                self._stopped(batch, w)

    def _answered(self, batch: _Batch, w: _Worker, kind: str, payload: object) -> None:
        assert w.task is not None
        i, w.task = w.task, None
        batch.busy.remove(w)
        if kind == "decided":
            assert isinstance(payload, Decision)
            batch.done[i] = payload
            self._idle.append(w)
            return
        if kind == "memory":
            mb = self.limits.memory_bytes // MB
            batch.done[i] = self._quarantined(batch.raws[i], f"exceeded the memory limit ({mb} MB)")
            self._end(w, kill=False)
            return
        batch.done[i] = self._quarantined(batch.raws[i], str(payload))
        self._idle.append(w)

    def _stopped(self, batch: _Batch, w: _Worker) -> None:
        """*w* ended (or hangs) while holding a mail: charge the mail, or the start-up."""
        assert w.task is not None
        i = w.task
        batch.busy.remove(w)
        self._end(w, kill=True)
        if not w.ready:
            self._start_failures += 1
            if self._start_failures >= START_FAILURES:
                raise WorkersUnavailable(
                    f"decide workers stop before taking any mail ({self._why(w)})"
                )
            batch.todo.appendleft(i)
            return
        self._start_failures = 0
        why, certain = self._why(w), w.hung or w.exitcode == -signal.SIGXCPU
        batch.stops[i] = batch.stops.get(i, 0) + 1
        log.warning("mail %d of the batch %s", i + 1, why)
        if certain or batch.stops[i] >= TRIES:
            batch.done[i] = self._quarantined(batch.raws[i], why)
        else:
            batch.todo.appendleft(i)

    def _why(self, w: _Worker) -> str:
        code = w.exitcode
        if w.hung:
            return f"took longer than {self.wall_seconds:g} s (the worker was stopped)"
        if code == -signal.SIGXCPU:
            return f"exceeded the CPU time limit ({self.limits.cpu_seconds} s)"
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = "unknown"
            return f"stopped the worker: killed by signal {-code} ({name})"
        return f"stopped the worker: exit status {code}"

    # -- workers ----------------------------------------------------------------------------

    def _start(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_serve, args=(child, self.policy), name="invoice-inbox decide", daemon=True
        )
        try:
            process.start()
        except OSError as exc:
            raise WorkersUnavailable(f"decide workers could not be started: {exc}") from exc
        finally:
            child.close()
        return _Worker(process, parent)

    def _end(self, w: _Worker, *, kill: bool) -> None:
        if kill and w.process.is_alive():
            w.process.kill()
        w.process.join(timeout=5)
        w.conn.close()
        w.exitcode = w.process.exitcode
        if w.exitcode is not None:
            w.process.close()

    def _quarantined(self, raw: bytes, why: str) -> Decision:
        return quarantined(raw, f"{PREFIX}: {why}")


def quarantined(raw: bytes, reason: str) -> Decision:
    """A decision made without deciding: quarantined with *reason*. The envelope is read here
    only from a header block of ordinary size (this is the service's own process)."""
    headers = None
    if len(mime.header_block(raw)) <= HEADERS_IN_PARENT:
        try:
            headers = mime.parse_headers(raw)
        except Exception:  # unreadable headers: the row shows none
            headers = None
    return Decision(Verdict.QUARANTINED, reason, headers, hits=("worker",))
