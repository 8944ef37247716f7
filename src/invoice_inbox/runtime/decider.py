"""Decide a run's mail in limited worker processes, and remember decisions that never finished.

``Decider.decide_many`` hands a batch to the run's worker pool (``runtime.workers``): every
mail is decided under the policy's memory and CPU limits, and a mail that stops its worker is
quarantined there and then, the rest of the batch decided as usual.

What the pool cannot catch is the death of the whole process: the machine's OOM killer taking
the service with its workers, a power cut, a kill -9. ``Decider.decide_recorded`` therefore
commits an attempt for each mail before deciding it (``store.ledger.begin_attempts``) and ends it
as soon as its decision is made, so that a left-over attempt means the process died while that
mail was being decided (a database error or a death after the decision leave none). A sync
batch's mails are decided as one group: its attempts are committed before any of them is in a
worker, by ``begin_recorded``, which a sync takes on a thread of its own while the batch before
is decided (``Stages.prepare_ahead``), so the workers never wait for it, and ended once the
batch is decided. Smaller groups (``group``: at least twice the pool's size) are decided one
after the other, the pool drained at each group's end: there the end of one group's attempts
and the start of the next's are one commit, made while the group between them is in the
workers; on SQLite that commit waits for the batch commit before it, and the workers with it
(a 400-mail batch in two groups left them idle a tenth of a 10,000-mail fetch). These commits
do not wait for the disk (``Database.session(durable=False)``: they guard against the death of
this process, which loses nothing the system has been handed). One death makes the mails of the
group being decided and those begun ahead (at most two batches) suspects, each decided again on
its own, one mail per commit, so that a death now points at it alone: a few milliseconds a
suspect, once.
Deaths happen for other reasons too (a deploy, an operator's kill -9, a crash elsewhere), so one
such death is not proof: a mail that stopped the process twice while decided on its own is not
decided again but quarantined with ``STOPPED_TWICE`` and filed as not imported, and the run goes
on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from invoice_inbox.pipeline.decide import Decision, Policy
from invoice_inbox.reasons import part
from invoice_inbox.runtime.decision_wire import quarantined
from invoice_inbox.runtime.workers import WorkerPool, WorkersUnavailable
from invoice_inbox.store import ledger
from invoice_inbox.store.db import Database

__all__ = ["STOPPED_TWICE", "Begun", "Decider", "WorkersUnavailable"]

STOPPED_TWICE = "could not be processed (stopped the worker twice)"
GIVE_UP = 2  # deaths while a mail was decided on its own, after which it is not decided again
GROUP = 50  # the smallest group a caller may ask for (``Decider(group=...)``)


def _nothing(indexes: Sequence[int]) -> None:
    return None


@dataclass(frozen=True)
class Begun:
    """A source's mails split into groups (indexes into *mails*; those with attempts left
    over are in none), the first group's attempts committed (``Decider.begin_recorded``)."""

    source_id: int
    mails: Sequence[tuple[str, bytes]]
    left_over: Mapping[str, int]
    groups: list[list[int]]
    shas: list[list[str]]  # each group's raw SHA-256s


class Decider:
    """The deciding of one run: its policy on up to *workers* limited workers at a time."""

    def __init__(
        self,
        policy: Policy,
        *,
        workers: int | None = None,
        store: Path | None = None,
        group: int | None = None,
    ) -> None:
        """*store*: the blob folder the workers put each decided mail's blobs in (``stored``
        decisions, made durable by the caller), or None: the decisions carry the bytes.
        *group*: mails decided under one commit of attempts (None: all of a batch's)."""
        self.policy = policy
        self.group = max(GROUP, group) if group else None
        size = workers if workers else (os.cpu_count() or 1)
        self.pool = WorkerPool(policy, size=size, store=store)

    def prestart(self) -> None:
        """Mail is coming: start the workers now (``WorkerPool.prestart``)."""
        self.pool.prestart()

    def decide_many(self, raws: Sequence[bytes]) -> list[Decision]:
        """The decisions for *raws*, in order, each made in a limited worker."""
        return self.pool.decide(raws) if raws else []

    def begin_recorded(
        self,
        db: Database,
        source_id: int,
        mails: Sequence[tuple[str, bytes]],
        *,
        left_over: Mapping[str, int] | None = None,
    ) -> Begun:
        """The first step of :meth:`decide_recorded`, which a caller may take ahead (a sync
        takes it for the next batch before it hands the last one to its commit, so that this
        commit does not wait for SQLite's one write lock while the workers wait for mail): the
        mails' groups, and the first group's attempts committed. *left_over* as there."""
        if left_over is None:
            with db.session() as s:
                left_over = ledger.attempts(s, source_id, (sha for sha, _ in mails))
        fresh = [i for i, (sha, _) in enumerate(mails) if sha not in left_over]
        size = max(self.group or len(fresh), 2 * self.pool.size)
        groups = [fresh[start : start + size] for start in range(0, len(fresh), size)]
        shas = [[mails[i][0] for i in group] for group in groups]
        if groups:
            with db.session(durable=False) as s:
                ledger.begin_attempts(s, source_id, shas[0])
        return Begun(source_id, mails, left_over, groups, shas)

    def abandon(self, db: Database, begun: Begun) -> None:
        """Take back the first group's attempts of *begun*, whose deciding will not come (the
        run stopped in between): they say nothing about its mails."""
        if begun.shas:
            with contextlib.suppress(Exception), db.session(durable=False) as s:  # may be down
                ledger.undo_attempts(s, begun.source_id, begun.shas[0])

    def decide_recorded(
        self,
        db: Database,
        source_id: int,
        mails: Sequence[tuple[str, bytes]],
        *,
        deciding: Callable[[Sequence[int]], None] = _nothing,
        left_over: Mapping[str, int] | None = None,
        begun: Begun | None = None,
    ) -> list[Decision]:
        """The decisions for *mails* (raw SHA-256, raw bytes) of a source, with their attempts
        recorded as the module says; *deciding* is told the indexes of each group of mails
        just before they are decided. *left_over*: these mails' attempts, when the caller has
        just asked the ledger (``ledger.attempts``, with its own questions), else asked here.
        *begun*: :meth:`begin_recorded` of the same mails, taken ahead by the caller.
        Attempts end here once the decisions are made, except those of mails quarantined for
        ``STOPPED_TWICE``: the caller ends them with the transaction that records them
        (``ledger.end_attempts``)."""
        if not mails:
            return []
        if begun is None:
            begun = self.begin_recorded(db, source_id, mails, left_over=left_over)
        assert begun.mails is mails and begun.source_id == source_id, "begun for other mails"
        left_over, groups, shas = begun.left_over, begun.groups, begun.shas
        decisions: dict[int, Decision] = {}
        for k, group in enumerate(groups):
            ended = shas[k - 1] if k else []  # decided: their attempts end ...
            following = shas[k + 1] if k + 1 < len(groups) else []  # ... as the next ones begin

            def switch(ended: list[str] = ended, following: list[str] = following) -> None:
                if ended or following:
                    with db.session(durable=False) as s:
                        ledger.switch_attempts(s, source_id, ended, following)

            deciding(group)
            decided = self._attempt(
                db, source_id, [mails[i] for i in group], meanwhile=switch, begun=following
            )
            decisions.update(zip(group, decided, strict=True))
        if groups:
            with db.session(durable=False) as s:
                ledger.end_attempts(s, source_id, shas[-1])
        for i, (sha, _) in enumerate(mails):
            if i in decisions:
                continue
            # one attempt is the death of its group; each one more, a death while on its own
            if left_over[sha] > GIVE_UP:
                decisions[i] = quarantined(mails[i][1], part("stopped_twice"))
                continue
            decisions[i] = self._recorded(db, source_id, mails, [i], deciding)[0]
        return [decisions[i] for i in range(len(mails))]

    def _recorded(
        self,
        db: Database,
        source_id: int,
        mails: Sequence[tuple[str, bytes]],
        indexes: list[int],
        deciding: Callable[[Sequence[int]], None],
    ) -> list[Decision]:
        """Decide *mails* at *indexes* between committing their attempts and ending them."""
        shas = [mails[i][0] for i in indexes]
        with db.session(durable=False) as s:
            ledger.begin_attempts(s, source_id, shas)
        deciding(indexes)
        decided = self._attempt(db, source_id, [mails[i] for i in indexes])
        with db.session(durable=False) as s:  # decided: whatever stops the process now, not them
            ledger.end_attempts(s, source_id, shas)
        return decided

    def _attempt(
        self,
        db: Database,
        source_id: int,
        mails: Sequence[tuple[str, bytes]],
        *,
        meanwhile: Callable[[], None] | None = None,
        begun: Sequence[str] = (),
    ) -> list[Decision]:
        """Decide mails whose attempts are committed; *meanwhile* (the commit that ends the
        last group's attempts and begins the next's, *begun*) runs while they are decided. When
        no worker can start, or the run is interrupted here on purpose (Ctrl-C), the attempts
        are taken back: only a death of the process counts against a mail."""
        try:
            if not mails:
                return []
            raws, shas = [raw for _, raw in mails], [sha for sha, _ in mails]
            return self.pool.decide(raws, meanwhile, shas=shas)  # shas: the raw's, hashed here
        except BaseException:
            with contextlib.suppress(Exception), db.session(durable=False) as s:  # may be down
                ledger.undo_attempts(s, source_id, [*(sha for sha, _ in mails), *begun])
            raise

    def close(self) -> None:
        """Nothing to release: workers go back to the process's idle workers after each batch
        (``workers.shutdown`` stops them)."""
