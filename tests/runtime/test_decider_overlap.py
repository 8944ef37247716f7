"""The commit that ends one group's decide attempts and begins the next group's runs while a
group is in the workers, never between groups: the deciding does not wait for the database. A
sync's batch is one group, its attempts begun ahead (``Stages.prepare_ahead``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import select

from builders import make_mail
from invoice_inbox.pipeline.decide import Policy, Verdict
from invoice_inbox.runtime import decider as decider_module
from invoice_inbox.runtime.decider import GROUP, Decider
from invoice_inbox.runtime.workers import WorkerPool
from invoice_inbox.store import ledger
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import Company, DecideAttempt, Source


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'overlap.db'}")
    yield database
    database.close()


def source(db: Database) -> int:
    with db.session() as s:
        company = Company(name="ACME")
        s.add(company)
        s.flush()
        src = Source(name="ap", company_id=company.id, host="h", port=993, username="u")
        s.add(src)
        s.flush()
        return src.id


def attempted(db: Database, source_id: int) -> set[str]:
    with db.session() as s:
        return set(
            s.scalars(select(DecideAttempt.raw_sha256).where(DecideAttempt.source_id == source_id))
        )


def test_attempts_switch_while_a_group_is_in_the_workers(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    source_id = source(db)
    mails = [(f"{i:064x}", make_mail(subject=f"Invoice {i}")) for i in range(3 * GROUP)]
    groups = [[sha for sha, _ in mails[k * GROUP : (k + 1) * GROUP]] for k in range(3)]
    events: list[str] = []
    seen: list[set[str]] = []
    hand_out = WorkerPool._hand_out
    switch = ledger.switch_attempts

    def handing_out(pool: WorkerPool, batch: object) -> None:
        events.append("hand out")
        hand_out(pool, batch)  # type: ignore[arg-type]

    def switching(s: object, sid: int, ended: Sequence[str], begun: Sequence[str]) -> None:
        events.append("switch")
        switch(s, sid, ended, begun)  # type: ignore[arg-type]

    def deciding(indexes: Sequence[int]) -> None:
        events.append("group")
        seen.append(attempted(db, source_id))

    monkeypatch.setattr(WorkerPool, "_hand_out", handing_out)
    monkeypatch.setattr(decider_module.ledger, "switch_attempts", switching)
    decider = Decider(Policy(), workers=2, group=GROUP)  # a sync's batch is one group
    decisions = decider.decide_recorded(db, source_id, mails, deciding=deciding)

    assert [d.verdict for d in decisions] == [Verdict.NOT_IMPORTED] * len(mails)  # no PDF
    # each group: its attempts and the previous group's are committed when it starts ...
    assert seen == [set(groups[0]), set(groups[0] + groups[1]), set(groups[1] + groups[2])]
    assert attempted(db, source_id) == set()  # ... and none is left at the end
    # ... and the switch is made after the group's first mails went to the workers, while the
    # deciding goes on (on a thread of its own), and before the next group begins
    starts = [i for i, e in enumerate(events) if e == "group"] + [len(events)]
    for k in range(3):
        during = events[starts[k] + 1 : starts[k + 1]]
        assert during[0] == "hand out" and during.count("switch") == 1, events


def test_what_runs_meanwhile_runs_once_and_its_error_ends_the_batch() -> None:
    pool = WorkerPool(Policy(), size=2)
    calls: list[int] = []
    decisions = pool.decide([make_mail(), make_mail(), make_mail()], lambda: calls.append(1))
    assert calls == [1] and len(decisions) == 3
    assert pool.decide([], lambda: calls.append(2)) == [] and calls == [1, 2]

    def broken() -> None:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError, match="database down"):
        pool.decide([make_mail()], broken)
    assert len(pool.decide([make_mail()])) == 1  # the pool works on afterwards


def test_the_deciding_goes_on_while_what_runs_meanwhile_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What runs meanwhile (a commit waiting for SQLite's write lock) does not hold up the
    workers: their answers are taken and more mails handed out while it waits."""
    answered = WorkerPool._answered
    three = threading.Event()
    count = [0]

    def answering(pool: WorkerPool, *args: object) -> None:
        answered(pool, *args)  # type: ignore[arg-type]
        count[0] += 1
        if count[0] == 3:
            three.set()

    monkeypatch.setattr(WorkerPool, "_answered", answering)
    waited: list[bool] = []
    pool = WorkerPool(Policy(), size=1)
    decisions = pool.decide(
        [make_mail(subject=f"n {i}") for i in range(4)], lambda: waited.append(three.wait(30))
    )
    assert waited == [True] and len(decisions) == 4


def test_the_first_group_is_begun_ahead_and_taken_back_when_not_decided(db: Database) -> None:
    """A sync begins a batch's first group of attempts ahead (``begin_recorded``), before it
    hands the batch before to its commit; deciding then starts with them committed, and a batch
    not decided after all has them taken back (``abandon``)."""
    source_id = source(db)
    mails = [(f"{i:064x}", make_mail(subject=f"Invoice {i}")) for i in range(GROUP + 3)]
    decider = Decider(Policy(), workers=2, group=GROUP)
    begun = decider.begin_recorded(db, source_id, mails)
    first = {sha for sha, _ in mails[:GROUP]}
    assert attempted(db, source_id) == first
    seen: list[set[str]] = []
    decisions = decider.decide_recorded(
        db,
        source_id,
        mails,
        begun=begun,
        deciding=lambda idx: seen.append(attempted(db, source_id)),
    )
    assert len(decisions) == len(mails) and seen[0] == first
    assert attempted(db, source_id) == set()  # all ended, none begun twice

    again = decider.begin_recorded(db, source_id, mails)
    assert attempted(db, source_id) == first
    decider.abandon(db, again)
    assert attempted(db, source_id) == set()
    with db.session() as s:  # taken back, not counted as a death
        assert ledger.attempts(s, source_id, first) == {}


def test_a_batch_prepared_ahead_takes_the_items_it_awaits(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch prepared while the one before was decided awaits the items of mails first seen
    there: from the batch before's pending items, or, committed meanwhile, the ledger's rows;
    one found nowhere (the batch before was not decided) stops it."""
    from types import SimpleNamespace

    from invoice_inbox.runtime import batch_decide
    from invoice_inbox.runtime.batch_decide import Prepared, prepare_batch, take_awaited

    plan = SimpleNamespace(id=source(db))
    fetched = [(1, b"a", "a" * 64), (2, b"b", "b" * 64), (3, b"c", "c" * 64)]
    deciding = {"a" * 64, "b" * 64}
    ready = prepare_batch(db, plan, Decider(Policy(), workers=1), fetched, deciding=deciding)  # type: ignore[arg-type]
    assert isinstance(ready, Prepared) and ready.awaiting == deciding
    assert [sha for _, _, sha in ready.fresh] == ["c" * 64]  # only the new one is decided here
    row = SimpleNamespace(id=7, reason_parts=None, reason="imported", filed_to="Imported")
    monkeypatch.setattr(batch_decide.ledger, "originals", lambda s, sid, shas: {"b" * 64: row})
    item = object()
    take_awaited(db, plan, ready, {"a" * 64: item})  # type: ignore[arg-type, dict-item]
    assert ready.earlier["a" * 64] is item and ready.known["b" * 64] == (7, "imported", "Imported")
    assert not ready.awaiting
    ready.awaiting = {"d" * 64}
    with pytest.raises(RuntimeError):
        take_awaited(db, plan, ready, {})  # type: ignore[arg-type]
    ready.abandon(db, Decider(Policy(), workers=1))


def test_a_sync_batch_is_decided_as_one_group(db: Database) -> None:
    source_id = source(db)
    mails = [(f"{i:064x}", make_mail(subject=f"Invoice {i}")) for i in range(3 * GROUP)]
    decider = Decider(Policy(), workers=2)
    begun = decider.begin_recorded(db, source_id, mails)
    assert begun.groups == [list(range(len(mails)))]
    assert attempted(db, source_id) == {sha for sha, _ in mails}
    decisions = decider.decide_recorded(db, source_id, mails, begun=begun)
    assert len(decisions) == len(mails) and attempted(db, source_id) == set()
