"""runtime.pipelined on its own: batches go through download, decide and commit in order, and a
failing stage stops the others with a one-step run's outcome, also while the download stage
waits on its byte budget (a run that never ended is a failure here, after a generous wait)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import pytest

from invoice_inbox.runtime import pipelined
from invoice_inbox.runtime.pipelined import Stages, run_pipelined

ENDS_WITHIN = 30.0  # seconds: far beyond what these few batches take


class Boom(Exception):
    pass


def stages(committed: list[int], *, fail_commit_at: int | None = None) -> Stages[int, int]:
    def commit(n: int) -> None:
        if n == fail_commit_at:
            raise Boom(f"commit of {n}")
        committed.append(n)

    return Stages(download=lambda n: n, decide=lambda n: n, commit=commit, size=lambda n: 10)


def run_bounded(fn: Callable[[], None]) -> BaseException | None:
    """Run *fn* on a thread; its error, or None. Fails the test when it does not end."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            fn()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(ENDS_WITHIN)
    assert not t.is_alive(), "run_pipelined did not end"
    return outcome[0]


def test_every_batch_is_committed_in_order() -> None:
    committed: list[int] = []
    assert run_bounded(lambda: run_pipelined(range(20), stages(committed), budget=25)) is None
    assert committed == list(range(20))


@pytest.mark.parametrize("budget", [1, 10_000])
def test_a_failed_commit_stops_the_run_even_while_the_download_waits_on_its_budget(
    budget: int,
) -> None:
    committed: list[int] = []
    error = run_bounded(
        lambda: run_pipelined(range(50), stages(committed, fail_commit_at=3), budget=budget)
    )
    assert isinstance(error, Boom) and str(error) == "commit of 3"
    assert committed == [0, 1, 2], "the batches before the failed one, none after"


def test_a_failed_decision_lets_the_earlier_batches_commit() -> None:
    committed: list[int] = []

    def decide(n: int) -> int:
        if n == 4:
            raise Boom("decide of 4")
        return n

    s = Stages(download=lambda n: n, decide=decide, commit=committed.append, size=lambda n: 1)
    error = run_bounded(lambda: run_pipelined(range(10), s))
    assert isinstance(error, Boom) and committed == [0, 1, 2, 3]


def test_the_stages_hand_the_interpreter_lock_on_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread back from a worker's socket waits for the lock at most the switch interval:
    a pipelined run lowers the process's interval from CPython's 5 ms, and never raises it."""
    chosen = [0.005]
    monkeypatch.setattr(sys, "getswitchinterval", lambda: chosen[-1])
    monkeypatch.setattr(sys, "setswitchinterval", chosen.append)
    run_pipelined(range(2), stages([]))
    assert chosen == [0.005, pipelined.SWITCH_INTERVAL] and pipelined.SWITCH_INTERVAL <= 0.001
    chosen[:] = [0.0001]  # lower already (someone chose it): left alone
    run_pipelined(range(2), stages([]))
    assert chosen == [0.0001]


def test_the_next_batch_is_prepared_before_the_one_before_it_goes_to_the_commit() -> None:
    """A sync commits the first decide attempts of a batch in ``prepare``: on SQLite, one write
    at a time, that waited for the commit of the batch before it while the workers had no mail.
    The decided batch is held back until the next one is prepared, when that is downloaded
    already; else it goes to the commit at once (no waiting for a download), and every batch
    decided before an error is still committed."""
    events: list[str] = []
    started = {n: threading.Event() for n in range(8)}

    def download(n: int) -> int:
        events.append(f"download {n}")
        started[n].set()  # the batch before is handed on (the hand-over holds one)
        return n

    def decide(n: int) -> int:
        if n + 2 in started:  # the next batch is downloaded while this one is decided
            assert started[n + 2].wait(ENDS_WITHIN)
        events.append(f"decide {n}")
        return n

    s = Stages(
        download=download,
        decide=decide,
        commit=lambda n: events.append(f"commit {n}"),
        size=lambda n: 1,
        prepare=lambda n: events.append(f"prepare {n}") or n,
    )
    assert run_bounded(lambda: run_pipelined(range(8), s)) is None
    for n in range(1, 7):
        assert events.index(f"prepare {n}") < events.index(f"commit {n - 1}"), events
    assert [e for e in events if e.startswith("commit")] == [f"commit {n}" for n in range(8)]


def test_a_decided_batch_is_not_held_back_for_a_download() -> None:
    """Holding a decided batch back for the next download would let a download that waits for
    the byte budget wait for itself: the batch goes to the commit first."""
    committed: list[int] = []
    gate = threading.Event()

    def download(n: int) -> int:
        if n == 1:
            assert gate.wait(ENDS_WITHIN), "batch 0 was held back for this download"
        return n

    def commit(n: int) -> None:
        committed.append(n)
        gate.set()

    s = Stages(download=download, decide=lambda n: n, commit=commit, size=lambda n: 1)
    assert run_bounded(lambda: run_pipelined(range(3), s)) is None
    assert committed == [0, 1, 2]


def test_the_next_batch_is_prepared_ahead_while_the_one_before_is_decided() -> None:
    """With ``prepare_ahead``, the next downloaded batch is prepared on a thread of its own
    while the one before it is decided (the workers then wait for no preparing between two
    batches); ``prepare`` finishes it before the one before goes to the commit."""
    events: list[str] = []
    ahead = {n: threading.Event() for n in range(6)}

    def prepare_ahead(n: int) -> int:
        events.append(f"ahead {n}")
        ahead[n].set()
        return n

    def decide(n: int) -> int:
        if n + 1 in ahead:  # batch n+1 is prepared while batch n is still being decided
            assert ahead[n + 1].wait(ENDS_WITHIN), f"batch {n + 1} was not prepared ahead"
        events.append(f"decide {n}")
        return n

    s = Stages(
        download=lambda n: n,
        decide=decide,
        commit=lambda n: events.append(f"commit {n}"),
        size=lambda n: 1,
        prepare=lambda n: events.append(f"prepare {n}") or n,
        prepare_ahead=prepare_ahead,
    )
    assert run_bounded(lambda: run_pipelined(range(6), s)) is None
    for n in range(1, 6):
        assert events.index(f"ahead {n}") < events.index(f"decide {n - 1}"), events
        assert events.index(f"prepare {n}") < events.index(f"commit {n - 1}"), events
    assert [e for e in events if e.startswith("commit")] == [f"commit {n}" for n in range(6)]


def test_a_batch_prepared_ahead_is_taken_back_when_the_one_before_fails() -> None:
    abandoned: list[int] = []
    committed: list[int] = []
    prepared = threading.Event()

    def decide(n: int) -> int:
        if n == 1:
            assert prepared.wait(ENDS_WITHIN)
            raise Boom("decide of 1")
        return n

    def prepare_ahead(n: int) -> int:
        if n == 2:
            prepared.set()
        return n

    s = Stages(
        download=lambda n: n,
        decide=decide,
        commit=committed.append,
        size=lambda n: 1,
        prepare_ahead=prepare_ahead,
        abandon=abandoned.append,
    )
    assert isinstance(run_bounded(lambda: run_pipelined(range(4), s)), Boom)
    assert committed == [0] and abandoned == [2]
