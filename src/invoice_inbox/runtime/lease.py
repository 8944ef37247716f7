"""The lease: at most one worker syncs a source at a time (DESIGN invariant 7).

A lease is a row-level claim on the source: ``lease_owner`` and ``lease_expires_at``. It is taken
with one conditional UPDATE, so two processes racing for it cannot both win. While it is held a
heartbeat thread renews it every third of its time to live (``held``), so a worker that dies
loses its sources to the others once the lease expires: within ``ttl()`` (45 s by default,
``INVOICE_INBOX_LEASE_TTL`` seconds).

The owner string names the holding process: ``host:pid:random:machine:boot-id:start``, where
*machine* is ``/etc/machine-id`` plus the pid namespace (containers made from one image may
share a machine id, never a pid namespace) and *start* is the process's start time in clock
ticks since boot (``/proc/<pid>/stat`` field 22). A lease is taken over at once, without waiting
for it to expire, only when its holder is certainly gone: the same machine *and* the same boot
id as ours, and either no process with that pid or one with another start time (the pid was
reused). Containers may share a hostname and pids are reused, so neither alone ever decides; a
live holder's lease is never taken. Without a machine id, leases only expire.
Owners written by older versions (``host:pid:random``) are read (for messages) but only expire.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path

from sqlalchemy import or_, select, update

from invoice_inbox.store.db import Database
from invoice_inbox.store.models import Source, utcnow
from invoice_inbox.store.rowcount import rowcount

ENV_TTL = "INVOICE_INBOX_LEASE_TTL"
DEFAULT_TTL = timedelta(seconds=45)
_HOST = socket.gethostname()[:60]

log = logging.getLogger(__name__)


class SourceBusy(Exception):
    """Another worker holds the source's lease."""


class LeaseLost(Exception):
    """Our lease expired and another worker took the source."""


def ttl() -> timedelta:
    """How long a lease lives without renewal (``INVOICE_INBOX_LEASE_TTL`` seconds)."""
    raw = os.environ.get(ENV_TTL, "").strip()
    try:
        seconds = float(raw) if raw else DEFAULT_TTL.total_seconds()
    except ValueError:
        seconds = DEFAULT_TTL.total_seconds()
    return timedelta(seconds=max(seconds, 1.0))


# -- who holds it ----------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip().replace("-", "")[:40]
    except OSError:
        return ""


@cache
def machine_id() -> str:
    """This machine and pid namespace: ``<machine-id>-<pid namespace inode>`` ("" if unknown)."""
    mid = _read("/etc/machine-id") or _read("/var/lib/dbus/machine-id")
    try:
        ns = os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        ns = ""
    return f"{mid}-{ns}" if mid and ns else ""


@cache
def boot_id() -> str:
    return _read("/proc/sys/kernel/random/boot_id")


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot; None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return ""  # it exists, but cannot be read
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": field 3 on
    return fields[19] if len(fields) > 19 else ""


@dataclass(frozen=True)
class Holder:
    """A lease owner string, read. ``machine``/``boot``/``start`` are empty for old owners."""

    host: str
    pid: str
    machine: str = ""
    boot: str = ""
    start: str = ""

    @classmethod
    def parse(cls, owner: str) -> Holder:
        parts = owner.split(":")
        if len(parts) >= 6:
            return cls(parts[0], parts[1], parts[3], parts[4], parts[5])
        return cls(parts[0], parts[1] if len(parts) > 1 else "?")

    @property
    def process(self) -> str:
        """The process identity (as ``process_identity`` writes it), without the random part."""
        return f"{self.host}:{self.pid}:{self.machine}:{self.boot}:{self.start}"

    def is_gone(self) -> bool:
        """Certainly dead: on this machine, since this boot, and its pid is free or reused."""
        if not (self.machine and self.boot and self.pid.isdigit()):
            return False  # an old owner, or unknown identity: only expiry frees it
        if self.machine != machine_id() or self.boot != boot_id() or not machine_id():
            return False
        now = start_time(int(self.pid))
        if now is None:
            return True
        return now != "" and now != self.start


def process_identity() -> str:
    """This process: ``host:pid:machine-id:boot-id:start`` (the worker registry's key)."""
    pid = os.getpid()
    return f"{_HOST}:{pid}:{machine_id()}:{boot_id()}:{start_time(pid) or ''}"


def new_owner() -> str:
    """A new owner string for one lease held by this process."""
    pid = os.getpid()
    rand = uuid.uuid4().hex[:8]
    return f"{_HOST}:{pid}:{rand}:{machine_id()}:{boot_id()}:{start_time(pid) or ''}"


def process_of(owner: str) -> str:
    return Holder.parse(owner).process


# -- taking, keeping, giving back ----------------------------------------------------------


def acquire(db: Database, source_id: int, owner: str, ttl_: timedelta | None = None) -> None:
    """Take the lease or raise SourceBusy naming the holder."""
    life = ttl_ or ttl()
    now = utcnow()
    with db.session() as s:
        taken = rowcount(
            s.execute(
                update(Source)
                .where(
                    Source.id == source_id,
                    or_(Source.lease_owner.is_(None), Source.lease_expires_at < now),
                )
                .values(lease_owner=owner, lease_expires_at=now + life)
            )
        )
        if taken == 1:
            return
        holder = s.scalar(select(Source.lease_owner).where(Source.id == source_id))
    if holder and Holder.parse(holder).is_gone():
        with db.session() as s:
            taken = rowcount(
                s.execute(
                    update(Source)
                    .where(Source.id == source_id, Source.lease_owner == holder)
                    .values(lease_owner=owner, lease_expires_at=now + life)
                )
            )
        if taken == 1:
            log.info("source %d: took over the lease of a stopped process (%s)", source_id, holder)
            return
    pid = Holder.parse(holder).pid if holder else "?"
    raise SourceBusy(f"is being fetched by another process (pid {pid}); try again later")


def renew(db: Database, source_id: int, owner: str, ttl_: timedelta | None = None) -> None:
    with db.session(durable=False) as s:  # lost in a power cut: the lease just ends sooner
        kept = rowcount(
            s.execute(
                update(Source)
                .where(Source.id == source_id, Source.lease_owner == owner)
                .values(lease_expires_at=utcnow() + (ttl_ or ttl()))
            )
        )
    if kept != 1:
        raise LeaseLost("the lease on the source was lost to another worker")


def release(db: Database, source_id: int, owner: str) -> None:
    with db.session() as s:
        s.execute(
            update(Source)
            .where(Source.id == source_id, Source.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )


@contextlib.contextmanager
def held(db: Database, source_id: int, owner: str, *, taken: bool = False) -> Iterator[None]:
    """Hold the lease for the block: take it (or, *taken*, check that a claim still holds it),
    renew it every third of its time to live from a heartbeat thread, give it back at the end.
    A lost lease stops the heartbeat; the next ``renew`` of the block raises ``LeaseLost``."""
    if taken:
        try:
            renew(db, source_id, owner)
        except LeaseLost:
            raise SourceBusy("was claimed, but its lease expired before the run began") from None
    else:
        acquire(db, source_id, owner)
    stop = threading.Event()
    beat = threading.Thread(
        target=_heartbeat, args=(db, source_id, owner, stop), name="lease", daemon=True
    )
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join(timeout=5)
        release(db, source_id, owner)


def _heartbeat(db: Database, source_id: int, owner: str, stop: threading.Event) -> None:
    while not stop.wait(ttl().total_seconds() / 3):
        try:
            renew(db, source_id, owner)
        except LeaseLost:
            log.warning("source %d: lease lost to another worker", source_id)
            return
        except Exception:  # the database may be restarting: try again at the next beat
            log.warning("source %d: could not renew the lease", source_id, exc_info=True)
