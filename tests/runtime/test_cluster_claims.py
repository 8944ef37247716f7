"""Schedulers that share the sources of one database: each due source is claimed by exactly one
of them (``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, the lease's conditional UPDATE on
both), at most ``concurrency`` at a time per worker; a wake-up written by one worker is run by
another; a killed worker's source is run by another."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from harness.postgres import PostgresServer
from invoice_inbox.runtime import claims, lease
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.scheduler import Scheduler
from invoice_inbox.runtime.sync import RunSummary
from invoice_inbox.store import runs, sources
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import Source, utcnow


class Recorder:
    """A fetch that records who ran what and how many ran at once in each scheduler."""

    def __init__(self, delay: float = 0.2) -> None:
        self.delay = delay
        self.calls: list[tuple[str, str, str]] = []  # (worker, source, trigger)
        self.active: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.lock = threading.Lock()

    def for_worker(self, worker: str) -> Callable[..., RunSummary]:
        def fetch(app: App, name: str, *, trigger: str, **_: Any) -> RunSummary:
            with self.lock:
                self.calls.append((worker, name, trigger))
                self.active[worker] = self.active.get(worker, 0) + 1
                self.most[worker] = max(self.most.get(worker, 0), self.active[worker])
            try:
                with app.db.session() as s:
                    run_id = runs.start(s, sources.get(s, name).id, trigger).id
                time.sleep(self.delay)
                return RunSummary(run_id=run_id, source=name)
            finally:
                with self.lock:
                    self.active[worker] -= 1

        return fetch


def add(app: App, name: str, schedule: str = "every 60m", **fields: Any) -> None:
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


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def app(data: Path) -> App:
    return App.open(data)


def serving(*scheds: Scheduler, poll: float = 0.05) -> Iterator[None]:
    stop = threading.Event()
    threads = [
        threading.Thread(target=s.serve, args=(stop,), kwargs={"poll": poll}) for s in scheds
    ]
    for t in threads:
        t.start()
    try:
        yield
    finally:
        stop.set()
        for t in threads:
            t.join(30)


def test_two_workers_run_each_due_source_once_within_their_concurrency(
    app: App, data: Path
) -> None:
    names = [f"s{i:02}" for i in range(12)]
    for name in names:
        add(app, name)
    rec = Recorder()
    a = Scheduler(app, fetch=rec.for_worker("a"), workers=2)
    b = Scheduler(App.open(data), fetch=rec.for_worker("b"), workers=3)
    gen = serving(a, b)
    next(gen)
    try:
        wait_for("every source to run", lambda: len(rec.calls) >= len(names))
        time.sleep(1.0)  # would a source due once run again?
    finally:
        gen.close()
    ran = sorted(name for _, name, _ in rec.calls)
    assert ran == names  # each exactly once
    assert {w for w, _, _ in rec.calls} == {"a", "b"}  # shared
    assert rec.most["a"] <= 2 and rec.most["b"] <= 3
    with app.db.session() as s:  # every lease given back, every next run an hour away
        for src in s.scalars(select(Source)):
            assert src.lease_owner is None
            assert src.next_run_at is not None and src.next_run_at > utcnow()


def test_a_wake_up_written_by_one_worker_is_run_by_another(app: App, data: Path) -> None:
    add(app, "instant", "manual")
    rec = Recorder(delay=0.0)
    watcher = Scheduler(app, fetch=rec.for_worker("watcher"), workers=1)  # not serving
    runner = Scheduler(App.open(data), fetch=rec.for_worker("runner"), workers=1)
    gen = serving(runner)
    next(gen)
    try:
        watcher.wake("instant")
        wait_for("the woken run", lambda: rec.calls)
        time.sleep(0.5)
    finally:
        gen.close()
    assert rec.calls == [("runner", "instant", "instant")]
    with app.db.session() as s:
        assert sources.get(s, "instant").wake_requested is None


def test_fetch_now_runs_a_source_that_is_not_started_but_an_idle_wake_does_not(
    app: App,
) -> None:
    """ "Fetch now" works on any source (a draft, one switched off), as it did before workers
    claimed their runs; an IDLE wake-up of a source that is switched off is not run."""
    add(app, "draft", draft=True, active=False)
    add(app, "off", active=False)
    now = utcnow()
    Scheduler(app, fetch=Recorder().for_worker("web"), workers=1).wake("draft", "manual")
    claims.request_wake(app.db, "off", "instant", now)
    taken = claims.claim(app.db, utcnow(), 5)
    assert [(c.name, c.trigger) for c in taken] == [("draft", "manual")]


def test_claims_take_the_lease_oldest_due_first(app: App) -> None:
    for name in ("new", "old", "mid"):
        add(app, name)
    now = utcnow()
    with app.db.session() as s:
        for name, ago in (("new", 1), ("old", 30), ("mid", 10)):
            sources.get(s, name).next_run_at = now - timedelta(minutes=ago)
    taken = claims.claim(app.db, now, 2)
    assert [c.name for c in taken] == ["old", "mid"]
    with app.db.session() as s:
        for c in taken:
            assert sources.get(s, c.name).lease_owner == c.owner
    assert [c.name for c in claims.claim(app.db, now, 5)] == ["new"]
    assert claims.claim(app.db, now, 5) == []


def test_skip_locked_gives_two_claimers_disjoint_sources(pg: PostgresServer) -> None:
    name = f"claims_{time.monotonic_ns()}"
    url = pg.create_database(name)
    # without SKIP LOCKED the second claimer would wait for the first: make that an error
    db = Database(url + "?options=-c%20lock_timeout%3D3000")
    try:
        app_like = type("A", (), {"db": db})
        for i in range(6):
            add(app_like, f"s{i}")  # type: ignore[arg-type]
        now = utcnow()
        with db.session() as s:
            for src in s.scalars(select(Source)):
                src.next_run_at = now - timedelta(minutes=5)
        with db.engine.connect() as first:  # a claimer that has locked two due rows, not done
            locked_ids = set(
                first.execute(
                    text("SELECT id FROM source ORDER BY id LIMIT 2 FOR UPDATE SKIP LOCKED")
                ).scalars()
            )
            assert len(locked_ids) == 2
            second = claims.claim(db, now, 10)
            assert len(second) == 4
            assert not {c.source_id for c in second} & locked_ids
            first.rollback()
    finally:
        db.close()
        pg.drop_database(name)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word (a run hangs on it)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join(2)
        for c in conns:
            c.close()
        srv.close()


def test_a_killed_workers_source_is_taken_over(app: App, data: Path, silent_server: int) -> None:
    with app.db.session() as s:
        sources.add(
            s,
            name="stuck",
            company_name="ACME",
            host="127.0.0.1",
            port=silent_server,
            security="none",
            username="u",
            schedule="every 60m",
        )
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoice_inbox", "--data-dir", str(data), "worker"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def held_by_worker() -> str | None:
            with app.db.session() as s:
                owner = sources.get(s, "stuck").lease_owner
            return owner if owner and lease.Holder.parse(owner).pid == str(proc.pid) else None

        owner = wait_for("the worker to claim the source", held_by_worker)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    rec = Recorder(delay=0.0)
    other = Scheduler(app, fetch=rec.for_worker("other"), workers=1)
    with app.db.session() as s:  # it is still due: the killed run never set a next time
        assert sources.get(s, "stuck").lease_owner == owner
    assert other.tick() == ["stuck"]
    with app.db.session() as s:
        assert sources.get(s, "stuck").lease_owner is None
