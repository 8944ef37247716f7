"""Decide a run's mail in limited worker processes, and remember decisions that never finished.

``Decider.decide_many`` hands a batch to the run's worker pool (``runtime.workers``): every
mail is decided under the policy's memory and CPU limits, and a mail that stops its worker is
quarantined there and then, the rest of the batch decided as usual.

What the pool cannot catch is the death of the whole process: the machine's OOM killer taking
the service with its workers, a power cut, a kill -9. ``Decider.decide_recorded`` therefore
commits an attempt for each mail before deciding it (``store.ledger.begin_attempts``); the
caller ends it in the transaction that records the mail. A mail found with an attempt left
over was being decided when a run died: it is decided again on its own, one mail per commit,
so that a second death points at it alone. A mail with two attempts left over is not decided
again: it is quarantined with ``STOPPED_TWICE`` and filed as not imported, and the run goes on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence

from invoice_inbox.pipeline.decide import Decision, Policy
from invoice_inbox.runtime.workers import WorkerPool, WorkersUnavailable, quarantined
from invoice_inbox.store import ledger
from invoice_inbox.store.db import Database

__all__ = ["STOPPED_TWICE", "Decider", "WorkersUnavailable"]

STOPPED_TWICE = "could not be processed (stopped the worker twice)"
GIVE_UP = 2  # attempts left over after which a mail is not decided again


def _nothing(indexes: Sequence[int]) -> None:
    return None


class Decider:
    """The deciding of one run: its policy on up to *workers* limited workers at a time."""

    def __init__(self, policy: Policy, *, workers: int | None = None) -> None:
        self.policy = policy
        self.pool = WorkerPool(policy, size=workers if workers else (os.cpu_count() or 1))

    def decide_many(self, raws: Sequence[bytes]) -> list[Decision]:
        """The decisions for *raws*, in order, each made in a limited worker."""
        return self.pool.decide(raws) if raws else []

    def decide_recorded(
        self,
        db: Database,
        source_id: int,
        mails: Sequence[tuple[str, bytes]],
        *,
        deciding: Callable[[Sequence[int]], None] = _nothing,
    ) -> list[Decision]:
        """The decisions for *mails* (raw SHA-256, raw bytes) of a source, with their attempts
        recorded as the module says; *deciding* is told the indexes of each group of mails
        just before they are decided. The caller ends the attempts of the mails it records
        (``ledger.end_attempts``) in the same transaction."""
        if not mails:
            return []
        with db.session() as s:
            left_over = ledger.attempts(s, source_id, (sha for sha, _ in mails))
            fresh = [i for i, (sha, _) in enumerate(mails) if sha not in left_over]
            ledger.begin_attempts(s, source_id, (mails[i][0] for i in fresh))
        decisions: dict[int, Decision] = {}
        if fresh:
            deciding(fresh)
            decided = self._attempt(db, source_id, [mails[i] for i in fresh])
            decisions.update(zip(fresh, decided, strict=True))
        for i, (sha, raw) in enumerate(mails):
            if i in decisions:
                continue
            if left_over[sha] >= GIVE_UP:
                decisions[i] = quarantined(raw, STOPPED_TWICE)
                continue
            with db.session() as s:  # one suspect at a time: a death now points at it
                ledger.begin_attempts(s, source_id, [sha])
            deciding([i])
            decisions[i] = self._attempt(db, source_id, [(sha, raw)])[0]
            with db.session() as s:
                ledger.end_attempts(s, source_id, [sha])
        return [decisions[i] for i in range(len(mails))]

    def _attempt(
        self, db: Database, source_id: int, mails: Sequence[tuple[str, bytes]]
    ) -> list[Decision]:
        """Decide mails whose attempts are committed. When no worker can start, or the run is
        interrupted here on purpose (Ctrl-C), the attempts are taken back: only a death of the
        process counts against a mail."""
        try:
            return self.decide_many([raw for _, raw in mails])
        except BaseException:
            with contextlib.suppress(Exception), db.session() as s:  # the database may be down
                ledger.undo_attempts(s, source_id, (sha for sha, _ in mails))
            raise

    def close(self) -> None:
        """Nothing to release: workers go back to the process's idle workers after each batch
        (``workers.shutdown`` stops them)."""
