"""Decide a batch of messages, in worker processes when the batch is big enough to pay for them.

Parsing MIME with the standard library costs one to two milliseconds per invoice mail, most of
the CPU time of a backfill; ``pipeline.decide`` is a pure function of bytes, so a batch spreads
over a process pool. Small batches (the usual scheduled run) stay in this process. Workers start
from a fork server, not a fork of this process with its open database and sockets.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial

from invoice_inbox.pipeline.decide import Decision, Policy, decide

log = logging.getLogger(__name__)

MIN_PARALLEL = 32  # below this many messages a pool costs more than it saves


class Decider:
    def __init__(self, policy: Policy, *, workers: int | None = None) -> None:
        self.policy = policy
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None

    def decide_many(self, raws: list[bytes]) -> list[Decision]:
        if self.workers <= 1 or len(raws) < MIN_PARALLEL:
            return [decide(raw, self.policy) for raw in raws]
        try:
            if self._pool is None:
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(["invoice_inbox.pipeline.decide"])
                self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)
            chunk = max(1, len(raws) // (self.workers * 4))
            return list(self._pool.map(partial(decide, policy=self.policy), raws, chunksize=chunk))
        except (BrokenProcessPool, OSError) as exc:
            # workers could not start or died (e.g. no importable __main__, out of memory):
            # the run goes on in this process
            log.warning("decide workers unavailable (%s); deciding in-process", exc)
            self.close()
            self.workers = 1
            return [decide(raw, self.policy) for raw in raws]

    def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                pool.shutdown(wait=True, cancel_futures=True)
            except Exception:  # a broken pool may fail to shut down cleanly; nothing to keep
                log.debug("decide pool shutdown failed", exc_info=True)
