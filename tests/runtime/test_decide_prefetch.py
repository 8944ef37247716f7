"""A busy decide worker is handed its next mails before it answers (as many as wait in its
socket without blocking a write), so it never waits for the service's process between mails;
when it dies, only the mail it was deciding is charged and the ones waiting for it are decided
by another worker as if nothing happened."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from builders import Attachment, make_mail, make_many_lines_mail, make_pdf
from invoice_inbox.pipeline.decide import Policy, decide
from invoice_inbox.pipeline.limits import MB, Limits
from invoice_inbox.runtime import workers
from invoice_inbox.runtime.workers import WorkerPool

MEMORY = 777 * MB  # a limit no other test uses: its workers are found by it


def our_workers() -> list[int]:
    """Pids of this process's decide workers started with ``MEMORY``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = next(line for line in status.splitlines() if line.startswith("PPid:"))
        if int(parent.split()[1]) == os.getpid() and str(MEMORY).encode() in command:
            found.append(int(entry.name))
    return found


def mails(n: int) -> list[bytes]:
    return [
        make_mail(subject=f"Invoice {i}", attachments=[Attachment(f"{i}.pdf", make_pdf(str(i)))])
        for i in range(n)
    ]


def test_a_busy_worker_has_its_next_mails_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = Policy(limits=Limits(memory_bytes=MEMORY))
    pool = WorkerPool(policy, size=1)
    pool.decide(mails(1))  # a ready worker waits in the idle workers
    sent: list[int] = []
    send = WorkerPool._send

    def sending(self: WorkerPool, w: workers._Worker, batch: workers._Batch, i: int) -> None:
        sent.append(len(sent))
        send(self, w, batch, i)

    monkeypatch.setattr(WorkerPool, "_send", sending)
    seen: list[int] = []
    batch = mails(3)
    decisions = pool.decide(batch, lambda: seen.append(len(sent)))
    assert seen == [3]  # when the first mail went out, the others went with it
    assert decisions == [decide(raw, policy) for raw in batch]


def test_only_the_mail_being_decided_is_charged_when_its_worker_dies(
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy = Policy(limits=Limits(memory_bytes=MEMORY))
    pool = WorkerPool(policy, size=1)
    pool.decide(mails(1))  # warm: the next batch's worker is ready, so it is given two mails
    batch = [make_many_lines_mail(2_000_000), *mails(2)]  # the first takes a while to decide

    def kill() -> None:  # the first mail is being decided and the second waits for it
        for pid in our_workers():
            os.kill(pid, signal.SIGKILL)

    with caplog.at_level(logging.WARNING, logger=workers.__name__):
        decisions = pool.decide(batch, kill)
    # the first mail was charged once and decided again; the second was never charged
    assert [r.getMessage() for r in caplog.records] == [
        "mail 1 of the batch stopped the worker: killed by signal 9 (SIGKILL)"
    ]
    assert decisions == [decide(raw, policy) for raw in batch]


def test_only_what_fits_in_the_socket_waits_for_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mails wait in a worker's socket up to half its buffer: a write to it never blocks, so a
    worker sending a big decision and this process handing out cannot block each other."""
    policy = Policy(limits=Limits(memory_bytes=MEMORY))
    pool = WorkerPool(policy, size=1)
    pool.decide(mails(1))
    waiting: list[int] = []
    hand_out = WorkerPool._hand_out

    def handing_out(self: WorkerPool, batch: workers._Batch) -> None:
        hand_out(self, batch)
        for w in batch.busy:
            assert w.queued_bytes <= w.room and len(w.queued) <= workers.QUEUED
            waiting.append(len(w.queued))

    monkeypatch.setattr(WorkerPool, "_hand_out", handing_out)
    big = [
        make_mail(subject=f"Scan {i}", attachments=[Attachment(f"{i}.pdf", make_pdf("x" * 90_000))])
        for i in range(12)
    ]
    decisions = pool.decide(big)
    assert decisions == [decide(raw, policy) for raw in big]
    assert 1 <= max(waiting) < len(big) - 1  # some waited, never all: the buffer is smaller


def _seen(count: int, within: float = 10.0) -> list[int]:
    """Our workers once *count* of them show in /proc (a loaded machine may take a moment to
    show a child's new command line), or those seen when *within* seconds have passed."""
    until = time.monotonic() + within
    while len(found := sorted(our_workers())) < count and time.monotonic() < until:
        time.sleep(0.05)
    return found


def test_workers_started_ahead_are_the_ones_that_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    """``prestart`` (called when a sync has mail to fetch) starts the pool's workers at once;
    the batch then finds them, starting none of its own."""
    memory = 779 * MB  # no other test's
    monkeypatch.setattr(sys.modules[__name__], "MEMORY", memory)
    workers.shutdown()  # no idle worker left by an earlier test of this process counts
    pool = WorkerPool(Policy(limits=Limits(memory_bytes=memory)), size=2)
    assert our_workers() == []
    pool.prestart()
    ahead = _seen(2)
    assert len(ahead) == 2
    started: list[object] = []
    start = workers._Worker.start
    monkeypatch.setattr(workers._Worker, "start", lambda m: started.append(m) or start(m))
    batch = mails(4)
    assert pool.decide(batch) == [decide(raw, pool.policy) for raw in batch]
    assert started == [] and sorted(our_workers()) == ahead
    pool.prestart()  # enough are idle: nothing more is started
    assert started == []
