"""How fast the decide workers get through a batch while another thread of the service's process
is busy, as the download and commit stages of a fetch are (``runtime.pipelined``).

The deciding thread hands each mail to a worker process and takes its answer; each time it comes
back from a socket it waits for the interpreter lock, which a busy thread lets go after the
switch interval. The same 100 mails of about 50 KB (a text part and a PDF of random bytes, as
``ingest.py`` sends) are decided by a warm ``WorkerPool`` of two workers that put the blobs in a
blob folder, as a fetch's do: with no other thread (the floor), and with a thread spinning in
Python at CPython's default interval (5 ms, the baseline) and at ``pipelined.SWITCH_INTERVAL``,
in turns, best and median of the rounds; and the deciding thread's own CPU time a mail (handing
out, reading the decisions: the fetch process's share of the deciding), median::

    .venv/bin/python benchmarks/decide_handout.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from builders import Attachment, make_mail
from invoice_inbox.pipeline.decide import Policy
from invoice_inbox.runtime.pipelined import SWITCH_INTERVAL
from invoice_inbox.runtime.workers import WorkerPool
from invoice_inbox.store.blob_folder import FolderBlobStore

DEFAULT_INTERVAL = 0.005  # CPython's


def _mails(n: int) -> list[bytes]:
    pdf = [b"%PDF-1.4\n" + os.urandom(36_000) + b"\n%%EOF\n" for _ in range(n)]
    return [
        make_mail(subject=f"Invoice {i}", attachments=[Attachment(f"{i}.pdf", pdf[i])])
        for i in range(n)
    ]


def _busy(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(range(1000))


def _timed(pool: WorkerPool, raws: list[bytes], interval: float, busy: bool) -> tuple[float, float]:
    """Wall time and this thread's CPU time of deciding *raws*."""
    sys.setswitchinterval(interval)
    stop = threading.Event()
    spinner = threading.Thread(target=_busy, args=(stop,))
    if busy:
        spinner.start()
    try:
        start, cpu = time.perf_counter(), time.thread_time()
        pool.decide(raws)
        return time.perf_counter() - start, time.thread_time() - cpu
    finally:
        stop.set()
        if busy:
            spinner.join()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=7, help="rounds of each setting (7)")
    p.add_argument("--mails", type=int, default=100, help="mails per batch (100)")
    args = p.parse_args()
    raws = _mails(args.mails)
    blobs = FolderBlobStore(Path(tempfile.mkdtemp(prefix="decide-handout-")))
    pool = WorkerPool(Policy(), size=2, store=blobs.staging_root())
    pool.decide(raws[:4])  # the workers start and warm up
    settings = [
        ("no other thread (floor)", DEFAULT_INTERVAL, False),
        (f"busy thread, {DEFAULT_INTERVAL * 1000:g} ms (baseline)", DEFAULT_INTERVAL, True),
        (f"busy thread, {SWITCH_INTERVAL * 1000:g} ms", SWITCH_INTERVAL, True),
    ]
    times: dict[str, list[float]] = {name: [] for name, _, _ in settings}
    cpu: list[float] = []
    for _ in range(args.rounds):  # in turns: the machine's load falls on each alike
        for name, interval, busy in settings:
            wall, used = _timed(pool, raws, interval, busy)
            times[name].append(wall)
            cpu.append(used)
    size = sum(map(len, raws)) / len(raws) / 1024
    print(f"{args.mails} mails of {size:.1f} KB, 2 workers, {os.cpu_count()} CPUs, best / median")
    for name, _, _ in settings:
        best, median = min(times[name]), statistics.median(times[name])
        per_s = args.mails / best
        print(f"  {name:32s} {best * 1000:7.1f} / {median * 1000:7.1f} ms  {per_s:6.0f} mails/s")
    per_mail = statistics.median(cpu) / args.mails * 1e6
    print(f"  deciding thread's CPU time: {per_mail:.0f} us a mail (median)")


if __name__ == "__main__":
    main()
