"""Who holds a source's lease: a machine id, a boot id, a pid and that process's start time.

The same-host shortcut (take a lease at once instead of waiting for it to expire) applies only
when the holder is certainly gone; a live holder's lease is never taken, whatever its hostname.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from invoice_inbox.runtime import lease
from invoice_inbox.runtime.context import App
from invoice_inbox.store import sources
from invoice_inbox.store.models import Source, utcnow

HOST = lease._HOST


@pytest.fixture
def app(tmp_path: Path) -> App:
    a = App.open(tmp_path / "data")
    with a.db.session() as s:
        sources.add(s, name="ap", company_name="ACME", host="127.0.0.1", port=143, username="u")
    return a


@pytest.fixture
def other_process() -> Iterator[int]:
    """A live process other than this one (its pid)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def held_by(app: App, owner: str) -> int:
    """Give the source's lease to *owner* (not expiring soon); returns the source id."""
    with app.db.session() as s:
        src = sources.get(s, "ap")
        src.lease_owner, src.lease_expires_at = owner, utcnow() + timedelta(minutes=5)
        return src.id


def owner_of(app: App) -> str | None:
    with app.db.session() as s:
        return s.get(Source, sources.get(s, "ap").id).lease_owner


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def ident(pid: int, *, start: str | None = None, boot: str | None = None) -> str:
    """An owner string for *pid* on this machine (as ``lease.new_owner`` writes it)."""
    start = lease.start_time(pid) or "" if start is None else start
    return f"{HOST}:{pid}:abcd1234:{lease.machine_id()}:{boot or lease.boot_id()}:{start}"


def test_the_owner_names_machine_boot_pid_and_start_time() -> None:
    holder = lease.Holder.parse(lease.new_owner())
    assert holder.pid == str(os.getpid())
    assert holder.machine == lease.machine_id() != ""
    assert holder.boot == lease.boot_id() != ""
    assert holder.start == lease.start_time(os.getpid()) != ""
    assert holder.process == lease.process_identity()
    assert not holder.is_gone()


def test_a_live_holders_lease_is_not_taken_though_its_hostname_matches(
    app: App, other_process: int
) -> None:
    source_id = held_by(app, ident(other_process))
    with pytest.raises(lease.SourceBusy, match=f"pid {other_process}"):
        lease.acquire(app.db, source_id, lease.new_owner())
    assert owner_of(app) == ident(other_process)


def test_a_holder_whose_pid_was_reused_is_taken_at_once(app: App, other_process: int) -> None:
    # the pid is alive, but it is another process than the one that took the lease
    source_id = held_by(app, ident(other_process, start="1"))
    mine = lease.new_owner()
    lease.acquire(app.db, source_id, mine)
    assert owner_of(app) == mine


def test_a_holder_that_stopped_on_this_machine_is_taken_at_once(app: App) -> None:
    pid = dead_pid()
    source_id = held_by(app, ident(pid, start="12345"))
    mine = lease.new_owner()
    lease.acquire(app.db, source_id, mine)
    assert owner_of(app) == mine


def test_a_holder_from_another_boot_is_not_shortcut(app: App) -> None:
    pid = dead_pid()
    other_boot = ident(pid, start="12345", boot="0" * 32)
    source_id = held_by(app, other_boot)
    with pytest.raises(lease.SourceBusy):
        lease.acquire(app.db, source_id, lease.new_owner())
    assert owner_of(app) == other_boot


def test_a_holder_from_another_machine_waits_for_expiry(app: App) -> None:
    pid = dead_pid()
    elsewhere = f"{HOST}:{pid}:abcd1234:{'f' * 32}:{lease.boot_id()}:12345"
    source_id = held_by(app, elsewhere)
    with pytest.raises(lease.SourceBusy):
        lease.acquire(app.db, source_id, lease.new_owner())
    with app.db.session() as s:  # its heartbeat stops: the lease runs out
        s.get(Source, source_id).lease_expires_at = utcnow() - timedelta(seconds=1)
    mine = lease.new_owner()
    lease.acquire(app.db, source_id, mine)
    assert owner_of(app) == mine


def test_an_old_format_owner_is_read_and_only_expires(app: App) -> None:
    old = f"{HOST}:{dead_pid()}:abcd1234"  # what versions before 0.x wrote
    assert lease.Holder.parse(old).pid == old.split(":")[1]
    source_id = held_by(app, old)
    with pytest.raises(lease.SourceBusy, match=f"pid {old.split(':')[1]}"):
        lease.acquire(app.db, source_id, lease.new_owner())


def test_a_held_lease_is_renewed_by_its_heartbeat(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(lease.ENV_TTL, "1.5")
    with app.db.session() as s:
        source_id = sources.get(s, "ap").id
    owner = lease.new_owner()
    with lease.held(app.db, source_id, owner):
        with app.db.session() as s:
            first = s.get(Source, source_id).lease_expires_at
        assert first is not None
        deadline = time.monotonic() + 20
        renewed = first
        while renewed == first and time.monotonic() < deadline:
            time.sleep(0.1)
            with app.db.session() as s:
                renewed = s.get(Source, source_id).lease_expires_at
        assert renewed is not None and renewed > first
    assert owner_of(app) is None
