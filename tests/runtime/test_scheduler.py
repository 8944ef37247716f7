"""The scheduler with a controllable clock: intervals, fixed times across a time-zone change,
manual-only sources, backoff after transient failures, wake-ups, and no overlapping runs."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from invoice_inbox.errors import ConnectFailed, LoginFailed
from invoice_inbox.runtime import health
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.scheduler import Scheduler
from invoice_inbox.runtime.sync import RunSummary
from invoice_inbox.store import runs, sources
from invoice_inbox.store.models import AuthState


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


class FakeFetch:
    """Records runs like runner.fetch would (a Run row, health), without a mailbox."""

    def __init__(self, app: App, clock: Clock, *, fail: type[Exception] | None = None) -> None:
        self.app, self.clock, self.fail = app, clock, fail
        self.calls: list[tuple[str, str, datetime]] = []
        self.delay = 0.0
        self.active: dict[str, int] = {}
        self.max_parallel: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, app: App, name: str, *, trigger: str, **_: Any) -> RunSummary:
        with self._lock:
            self.active[name] = self.active.get(name, 0) + 1
            self.max_parallel[name] = max(self.max_parallel.get(name, 0), self.active[name])
        try:
            self.calls.append((name, trigger, self.clock()))
            with app.db.session() as s:
                run = runs.start(s, sources.get(s, name).id, trigger)
                run.started_at = self.clock()
                run_id = run.id
            time.sleep(self.delay)
            if self.fail is not None:
                exc = self.fail(f"{name}: connection refused by 127.0.0.1:1")
                health.record_failure(app, name, exc, now=self.clock())  # type: ignore[arg-type]
                raise exc
            health.record_success(app, name)
            return RunSummary(run_id=run_id, source=name)
        finally:
            with self._lock:
                self.active[name] -= 1


@pytest.fixture
def app(tmp_path: Path) -> App:
    return App.open(tmp_path / "data")


def add(app: App, name: str, schedule: str, **fields: Any) -> None:
    with app.db.session() as s:
        sources.add(
            s,
            name=name,
            company_name="ACME",
            host="127.0.0.1",
            port=143,
            security="none",
            username="u",
            schedule=schedule,
            **fields,
        )


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_an_interval_source_runs_at_once_then_every_n_minutes(app: App) -> None:
    clock = Clock(at("2026-11-21 10:00"))
    fetch = FakeFetch(app, clock)
    add(app, "every30", "every 30m")
    sched = Scheduler(app, clock=clock, fetch=fetch)
    assert sched.tick() == ["every30"]
    clock.advance(minutes=29)
    assert sched.tick() == []
    clock.advance(minutes=1)
    assert sched.tick() == ["every30"]
    clock.advance(hours=5)  # the service was down: one catch-up run, not ten
    assert sched.tick() == ["every30"]
    assert sched.tick() == []
    assert [c[1] for c in fetch.calls] == ["schedule"] * 3


def test_fixed_times_follow_the_local_clock_across_the_dst_change(app: App) -> None:
    # Europe/Warsaw leaves summer time on 25 October 2026 (UTC+2 -> UTC+1)
    clock = Clock(at("2026-10-23 20:00"))
    fetch = FakeFetch(app, clock)
    add(app, "warsaw", "at 05:00,12:00,14:00 Europe/Warsaw")
    sched = Scheduler(app, clock=clock, fetch=fetch)
    while clock.now < at("2026-10-27 00:00"):
        sched.tick()
        clock.advance(minutes=1)
    ran = [c[2] for c in fetch.calls]
    assert ran == [
        at("2026-10-24 03:00"),  # 05:00 CEST
        at("2026-10-24 10:00"),
        at("2026-10-24 12:00"),
        at("2026-10-25 04:00"),  # 05:00 CET: the clocks went back at 03:00 CEST
        at("2026-10-25 11:00"),
        at("2026-10-25 13:00"),
        at("2026-10-26 04:00"),
        at("2026-10-26 11:00"),
        at("2026-10-26 13:00"),
    ]


def test_manual_sources_only_run_when_asked(app: App) -> None:
    clock = Clock(at("2026-11-21 10:00"))
    fetch = FakeFetch(app, clock)
    add(app, "manual", "manual")
    sched = Scheduler(app, clock=clock, fetch=fetch)
    for _ in range(3):
        assert sched.tick() == []
        clock.advance(days=1)
    assert fetch.calls == []
    sched.run("manual", "manual")
    assert [c[:2] for c in fetch.calls] == [("manual", "manual")]


def test_inactive_and_signed_out_sources_are_not_run(app: App) -> None:
    clock = Clock(at("2026-11-21 10:00"))
    fetch = FakeFetch(app, clock)
    add(app, "off", "every 5m", active=False)
    add(app, "refused", "every 5m", auth_state=AuthState.LOGIN_REFUSED)
    assert Scheduler(app, clock=clock, fetch=fetch).tick() == []


def test_a_transient_failure_is_retried_sooner_with_growing_backoff(app: App) -> None:
    clock = Clock(at("2026-11-21 10:00"))
    fetch = FakeFetch(app, clock, fail=ConnectFailed)
    add(app, "flaky", "every 60m", max_failures=10)
    sched = Scheduler(app, clock=clock, fetch=fetch, retry_base=60)
    waits = []
    for _ in range(4):
        sched.tick()
        with app.db.session() as s:
            nxt = sources.get(s, "flaky").next_run_at
        assert nxt is not None
        waits.append((nxt - clock.now).total_seconds())
        clock.now = nxt
    # 1, 2, 4, 8 minutes with jitter between half and all of it
    for n, wait in enumerate(waits):
        assert 30 * 2**n <= wait <= 60 * 2**n
    assert [c[1] for c in fetch.calls] == ["schedule", "retry", "retry", "retry"]
    fetch.fail = None
    sched.tick()
    with app.db.session() as s:
        src = sources.get(s, "flaky")
        assert (src.failures, src.last_error) == (0, None)
        assert src.next_run_at == clock.now + timedelta(minutes=60)


def test_five_failures_in_a_row_switch_the_source_off(app: App) -> None:
    clock = Clock(at("2026-11-21 10:00"))
    fetch = FakeFetch(app, clock, fail=ConnectFailed)
    add(app, "down", "every 10m")
    sched = Scheduler(app, clock=clock, fetch=fetch, retry_base=60)
    for _ in range(20):
        sched.tick()
        clock.advance(minutes=10)
    assert len(fetch.calls) == 5
    with app.db.session() as s:
        src = sources.get(s, "down")
        assert not src.active
        assert "switched off after 5 failed runs" in (src.inactive_reason or "")
        health.reactivate(src)
    fetch.fail = None
    assert sched.tick() == ["down"]


def test_a_refused_login_is_not_retried(app: App) -> None:
    clock = Clock(at("2026-11-21 10:00"))
    fetch = FakeFetch(app, clock, fail=LoginFailed)
    add(app, "badpw", "every 5m")
    sched = Scheduler(app, clock=clock, fetch=fetch)
    for _ in range(10):
        sched.tick()
        clock.advance(minutes=5)
    assert len(fetch.calls) == 1
    with app.db.session() as s:
        src = sources.get(s, "badpw")
        assert src.auth_state == AuthState.LOGIN_REFUSED
        assert src.active and src.failures == 0


def test_wake_ups_never_overlap_and_are_not_lost(app: App) -> None:
    clock = Clock(at("2026-11-21 10:00"))
    fetch = FakeFetch(app, clock)
    fetch.delay = 0.3
    add(app, "instant", "manual")
    sched = Scheduler(app, clock=clock, fetch=fetch, workers=4)
    stop = threading.Event()
    t = threading.Thread(target=sched.serve, args=(stop,), kwargs={"poll": 0.05})
    t.start()
    try:
        sched.wake("instant")
        deadline = time.monotonic() + 5
        while not fetch.calls and time.monotonic() < deadline:
            time.sleep(0.01)
        for _ in range(10):  # mail keeps arriving while the first run is going
            sched.wake("instant")
        deadline = time.monotonic() + 5
        while len(fetch.calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)
    finally:
        stop.set()
        t.join(5)
    assert fetch.max_parallel["instant"] == 1
    # the wake-ups during the first run were folded into exactly one more run
    assert [c[1] for c in fetch.calls] == ["instant", "instant"]
