"""What the pool sends a decide worker: the setup (policy and blob folder) only when the worker
has not got it yet, then each mail's bytes alone, written with one system call; workers shared
by pools of other policies decide each mail with the policy of the pool that sent it."""

from __future__ import annotations

import contextlib
import hashlib
import signal
import socket
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import pytest

from builders import Attachment, make_mail, make_pdf
from invoice_inbox.pipeline.decide import Decision, Policy, Verdict
from invoice_inbox.pipeline.limits import MB, Limits
from invoice_inbox.runtime import decision_wire, workers
from invoice_inbox.runtime.worker_process import MAIL, READY, SETUP, STOP, send_mail
from invoice_inbox.runtime.workers import WorkerPool
from invoice_inbox.store.blob_folder import FolderBlobStore

MEMORY = 781 * MB  # a limit no other test uses: its workers are its own
LIMITS = Limits(memory_bytes=MEMORY)
OPEN = Policy(limits=LIMITS)
CLOSED = Policy(allowed_senders=("*@elsewhere.example",), limits=LIMITS)


def invoice(i: int) -> bytes:
    pdf = make_pdf(str(i))
    return make_mail(subject=f"Invoice {i}", attachments=[Attachment(f"{i}.pdf", pdf)])


def setup(policy: Policy) -> bytes:
    return bytes(ForkingPickler.dumps((policy, None)))


def decided(conn: Connection) -> Decision:
    assert conn.poll(60), "the worker did not answer"
    kind, decision = decision_wire.recv(conn)  # type: ignore[misc]
    assert kind == "decided" and isinstance(decision, Decision)
    return decision


@pytest.fixture
def worker() -> Iterator[workers._Worker]:
    w = workers._Worker.start(MEMORY)
    try:
        assert w.conn.poll(60) and w.conn.recv() == READY
        yield w
    finally:
        w.stop()


def test_a_worker_decides_each_mail_with_the_last_setup_it_was_sent(
    worker: workers._Worker,
) -> None:
    send_mail(worker.conn, invoice(1), setup(CLOSED))
    send_mail(worker.conn, invoice(2))  # no setup: the last one holds
    send_mail(worker.conn, invoice(3), setup(OPEN))
    send_mail(worker.conn, invoice(4))
    verdicts = [decided(worker.conn).verdict for _ in range(4)]
    assert verdicts == [Verdict.NOT_IMPORTED] * 2 + [Verdict.IMPORT] * 2


def test_a_mail_sent_with_its_digest_is_staged_under_it(
    worker: workers._Worker, tmp_path: Path
) -> None:
    """The fetch process hashed the mail already: the worker puts it into the blob folder under
    that digest, hashing it no more (a digest no hash of these bytes gives shows it)."""
    store = FolderBlobStore(tmp_path).staging_root()
    raw, given = invoice(5), "ab" * 32
    send_mail(worker.conn, raw, bytes(ForkingPickler.dumps((OPEN, store))), given)
    send_mail(worker.conn, raw)  # no digest: hashed by the worker
    assert decided(worker.conn).stored and decided(worker.conn).stored
    assert (store / "ab" / given).read_bytes() == raw
    real = hashlib.sha256(raw).hexdigest()
    assert (store / real[:2] / real).read_bytes() == raw


def test_a_pool_given_the_digests_sends_them(tmp_path: Path) -> None:
    store = FolderBlobStore(tmp_path).staging_root()
    raws, given = [invoice(6), invoice(7)], ["cd" * 32, "ef" * 32]
    decided = WorkerPool(OPEN, size=1, store=store).decide(raws, shas=given)
    assert all(d.stored for d in decided)
    assert [(store / sha[:2] / sha).read_bytes() for sha in given] == raws


def test_pools_sharing_their_workers_decide_with_their_own_policies() -> None:
    """Idle workers are shared by the pools of one memory limit: a worker last used by another
    pool is sent this pool's setup before its mail."""
    closed, open_ = WorkerPool(CLOSED, size=1), WorkerPool(OPEN, size=1)
    for round_ in range(3):
        mails = [invoice(10 * round_ + i) for i in range(3)]
        assert {d.verdict for d in closed.decide(mails)} == {Verdict.NOT_IMPORTED}
        assert {d.verdict for d in open_.decide(mails)} == {Verdict.IMPORT}
    assert len(workers._IDLE._workers[MEMORY]) == 1  # one worker did it all


def test_a_mail_whose_write_a_signal_cuts_short_arrives_whole() -> None:
    """``writev`` returns what it wrote when a signal interrupts it (Python's handlers do not
    restart it): the rest follows, and the reader gets the messages as sent."""
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    sender, reader = Connection(ours.detach()), Connection(theirs.detach())
    raw = bytes(range(256)) * (64 * 1024)  # 16 MB: many times the socket's buffer
    got: list[bytes] = []

    def read() -> None:
        with contextlib.suppress(EOFError, OSError):  # a message cut short ends in EOF
            for _ in range(4):
                time.sleep(0.02)  # slowly: the writer blocks, and the timer interrupts it
                got.append(reader.recv_bytes())

    interrupts: list[int] = []
    old = signal.signal(signal.SIGALRM, lambda signum, frame: interrupts.append(signum))
    thread = threading.Thread(target=read)
    thread.start()
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
        send_mail(sender, raw, b"setup")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        sender.close()  # what was not sent will not come
        thread.join()
        reader.close()
        signal.signal(signal.SIGALRM, old)
    assert interrupts
    assert got == [SETUP, b"setup", MAIL, raw]


def test_shutdown_asks_every_idle_worker_before_waiting_for_any(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each exits on its own time: asked one after the other, the last waited as long as all."""
    WorkerPool(OPEN, size=2).decide([invoice(8), invoice(9)])  # two ready workers, now idle
    idle = list(workers._IDLE._workers[MEMORY])
    assert len(idle) == 2
    events: list[str] = []
    send_bytes, end = Connection.send_bytes, workers._Worker.end

    def sending(self: Connection, buf: bytes, *args: int) -> None:
        events.append("ask" if buf == STOP else "other")
        send_bytes(self, buf, *args)

    def ending(self: workers._Worker, *, kill: bool) -> None:
        events.append("end")
        end(self, kill=kill)

    monkeypatch.setattr(Connection, "send_bytes", sending)
    monkeypatch.setattr(workers._Worker, "end", ending)
    workers.shutdown()
    asked = events.count("ask")
    assert asked >= 2 and events[:asked] == ["ask"] * asked  # every idle worker, then waited
    assert [w.proc.returncode for w in idle] == [0, 0]
