"""The decide worker process: ``python -m invoice_inbox.runtime.worker_process FD MEMORY``.

Started by the pool (``runtime.workers``), it sets ``RLIMIT_AS`` to *MEMORY* once, says it is
ready on the socket *FD*, and then decides one mail at a time: the mail's bytes in, the
decision out (``runtime.decision_wire``). Before each mail it sets ``RLIMIT_CPU`` to the CPU time
used so far plus the mail's allowance. A ``MemoryError`` is reported and ends the process (its
heap is not trusted again); ``STOP``, or the parent gone, ends it quietly.

What the pool sends are ``Connection`` messages, each after a one-byte message saying what it
is: ``SETUP`` with the pickled policy and blob folder (or None) the next mails are decided with,
sent only to a worker that has not got this setup yet (workers are shared by pools), and
``MAIL`` with a mail's bytes as they are (never unpickled: they are untrusted). The pool writes
a mail's messages with one system call (``send_mail``), its bytes not copied. ``MAIL`` may carry
the mail's SHA-256 (hex), the fetch process's own digest of the same bytes: the mail is then put
into the blob folder under it without hashing it again.
"""

from __future__ import annotations

import atexit
import math
import os
import resource
import signal
import struct
import sys
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler

from invoice_inbox import process_gc
from invoice_inbox.pipeline.decide import Decision, Policy, decide
from invoice_inbox.runtime import decision_wire

READY = "ready"  # a worker's first message: its limits are set
SETUP, MAIL, STOP = b"s", b"m", b"."  # what the next message is; STOP: exit


def main(argv: Sequence[str]) -> None:
    """``python -m invoice_inbox.runtime.worker_process FD MEMORY_BYTES``: serve on socket *FD*."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent to handle
    fd, memory = int(argv[1]), int(argv[2])
    _set_limit(resource.RLIMIT_AS, memory)
    process_gc.settle()  # the imports' objects frozen, the youngest generation collected less often
    with Connection(fd) as conn:
        try:
            conn.send(READY)
        except OSError:  # started ahead, and the parent was gone before this was ready
            return
        _serve(conn)
    # the interpreter's finalization skipped (the parent waits for this exit, 0.1-0.2 s saved
    # a worker): what it would do that matters is run here (exit handlers, e.g. a profiler's)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _serve(conn: Connection) -> None:
    """Decide one mail at a time, with the last setup sent, until told to stop (``STOP``) or
    the parent is gone."""
    policy: Policy | None = None
    store = None  # the blob folder to put each mail's blobs in, or None
    while True:
        try:
            kind = conn.recv_bytes()
            if kind == SETUP:
                policy, store = ForkingPickler.loads(conn.recv_bytes())  # from the parent
                continue
            if kind[:1] != MAIL or policy is None:  # STOP (a mail before any setup: a bug)
                return
            digest = kind[1:].decode("ascii") or None  # the raw mail's SHA-256, if sent
            raw = conn.recv_bytes()
        except MemoryError:  # the mail alone is more than the limit
            conn.send(("memory", None))
            return
        except (EOFError, OSError):
            return
        _set_cpu_allowance(policy.limits.cpu_seconds)
        decision: Decision | None = None
        try:
            decision = decide(raw, policy)
            if store is None:
                raw = b""  # not needed to send the decision: let go of it first
            # the document bytes apart, not pickled, or into the blob folder with the mail's
            decision_wire.send_decided(conn, decision, raw=raw, store=store, raw_sha256=digest)
            continue
        except MemoryError:
            pass  # the frames holding the mail's data are released on leaving the handler
        except OSError:  # the parent is gone
            return
        except Exception as exc:  # e.g. a decision that cannot be pickled: name it
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
            continue
        raw, decision = b"", None  # let go of the mail and whatever was made of it
        conn.send(("memory", None))
        return  # a heap that ran out is not trusted with the next mail


def send_mail(
    conn: Connection, raw: bytes, setup: bytes | None = None, raw_sha256: str | None = None
) -> None:
    """The pool's side: send *raw* (with its SHA-256, if given) to the worker on *conn* (after
    *setup*, pickled, if given) as the messages ``Connection.send_bytes`` sends, written with one
    ``writev``."""
    parts: list[bytes] = []
    if setup is not None:
        parts += [_header(1), SETUP, _header(len(setup)), setup]
    tag = MAIL + raw_sha256.encode("ascii") if raw_sha256 else MAIL
    parts += [_header(len(tag)), tag, _header(len(raw)), raw]
    fd, left = conn.fileno(), sum(map(len, parts))
    written = os.writev(fd, parts)
    if written == left:
        return
    for part in parts:  # a signal cut the write short (rare): the rest, a piece at a time
        view = memoryview(part)[min(written, len(part)) :]
        written -= len(part) - len(view)
        while view:
            view = view[os.write(fd, view) :]


def _header(size: int) -> bytes:
    """``Connection``'s header for a message of *size* bytes."""
    if size > 0x7FFFFFFF:
        return struct.pack("!iQ", -1, size)
    return struct.pack("!i", size)


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


if __name__ == "__main__":
    main(sys.argv)
