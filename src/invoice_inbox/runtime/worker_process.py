"""The decide worker process: ``python -m invoice_inbox.runtime.worker_process FD MEMORY``.

Started by the pool (``runtime.workers``), it sets ``RLIMIT_AS`` to *MEMORY* once, says it is
ready on the socket *FD*, and then decides one mail at a time: the policy (with the blob folder
to put the mail's blobs in, or None), the mail's bytes, and back the decision
(``runtime.decision_wire``). Before each mail it sets ``RLIMIT_CPU`` to the CPU time used so far
plus the mail's allowance. A ``MemoryError`` is reported and ends the process (its heap is not
trusted again); ``None`` instead of a policy, or the parent gone, ends it quietly.
"""

from __future__ import annotations

import math
import resource
import signal
import sys
from collections.abc import Sequence
from multiprocessing.connection import Connection

from invoice_inbox.pipeline.decide import Decision, decide
from invoice_inbox.runtime import decision_wire

READY = "ready"  # a worker's first message: its limits are set


def main(argv: Sequence[str]) -> None:
    """``python -m invoice_inbox.runtime.worker_process FD MEMORY_BYTES``: serve on socket *FD*."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent to handle
    fd, memory = int(argv[1]), int(argv[2])
    _set_limit(resource.RLIMIT_AS, memory)
    with Connection(fd) as conn:
        try:
            conn.send(READY)
        except OSError:  # started ahead, and the parent was gone before this was ready
            return
        _serve(conn)


def _serve(conn: Connection) -> None:
    """Decide one mail at a time (its policy, then its bytes) until told to stop (``None``) or
    the parent is gone."""
    while True:
        try:
            setup = conn.recv()
            if setup is None:
                return
            policy, store = setup  # the policy, and the blob folder to put blobs in, or None
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
            decision_wire.send_decided(conn, decision, raw=raw, store=store)
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
