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
