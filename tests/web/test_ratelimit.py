"""The sign-in limiter on its own (on a database of its own), with a clock the test turns:
attempts reserved before the password check, refusals that cost no row, a bounded table, and
the per-account back-off."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from invoice_inbox.runtime.context import App
from invoice_inbox.store.db import Database
from invoice_inbox.web.ratelimit import LoginLimiter


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    app = App.open(tmp_path / "data")  # the configured database (SQLite, or PostgreSQL)
    yield app.db
    app.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_attempt_is_reserved_before_the_password_is_checked(db: Database) -> None:
    limiter = LoginLimiter(db, per_account_client=5)
    barrier = threading.Barrier(20)
    allowed: list[bool] = []

    def guess() -> None:
        barrier.wait()
        allowed.append(limiter.attempt("10.0.0.1", "a@x.test").allowed)

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert allowed.count(True) == 5 and allowed.count(False) == 15


def test_a_success_gives_the_reservation_back(db: Database) -> None:
    limiter = LoginLimiter(db, per_account_client=2)
    first = limiter.attempt("c", "a@x.test")
    limiter.succeeded(first)
    assert limiter.attempt("c", "a@x.test").allowed
    assert limiter.attempt("c", "a@x.test").allowed  # two new guesses may fail ...
    assert not limiter.attempt("c", "a@x.test").allowed  # ... a third waits


def test_refusals_cost_nothing_and_the_table_is_bounded(db: Database) -> None:
    clock = Clock()
    limiter = LoginLimiter(db, per_account_client=5, max_entries=30, clock=clock)
    for _ in range(5):
        assert limiter.attempt("c", "a@x.test").allowed
    size = len(limiter)
    for _ in range(100):
        assert not limiter.attempt("c", "a@x.test").allowed
    assert len(limiter) == size  # refusals add nothing

    for n in range(200):  # many clients, many (long) addresses
        limiter.attempt(f"10.0.{n // 250}.{n % 250}", f"{'x' * 300}{n}@x.test")
        assert len(limiter) <= 30
    clock.now += limiter.window + 1  # everything expired ...
    limiter.attempt("d", "b@x.test")
    assert len(limiter) <= 3  # ... and is gone with the next attempt


def test_an_account_backs_off_across_client_addresses_and_the_delay_grows(db: Database) -> None:
    clock = Clock()
    limiter = LoginLimiter(db, account_threshold=10, account_delay=30.0, clock=clock)
    for n in range(10):
        assert limiter.attempt(f"10.0.0.{n}", "a@x.test").allowed
    refused = limiter.attempt("10.9.9.9", "a@x.test")
    assert not refused.allowed and 29 <= refused.wait <= 30
    assert limiter.attempt("10.9.9.9", "b@x.test").allowed  # other accounts: not affected

    clock.now += 31
    assert limiter.attempt("10.9.9.9", "a@x.test").allowed  # one more guess after the delay ...
    second = limiter.attempt("10.9.9.8", "a@x.test")
    assert not second.allowed and 59 <= second.wait <= 60  # ... and the next delay is twice as long

    clock.now += 61
    ok = limiter.attempt("10.9.9.7", "a@x.test")
    assert ok.allowed
    limiter.succeeded(ok)  # the right password clears the account's back-off
    assert limiter.attempt("10.9.9.6", "a@x.test").allowed
    assert limiter.attempt("10.9.9.5", "a@x.test").allowed
