"""The lease: at most one worker syncs a source at a time (DESIGN invariant 7).

A lease is a row-level claim on the source: ``lease_owner`` and ``lease_expires_at``. It is taken
with one conditional UPDATE, so two processes racing for it cannot both win. A worker renews it
while it runs. A lease whose owner died is free once it expires — or at once, when the owner was a
process on this same machine that no longer exists (so a crash is followed by a clean re-run).
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import or_, select, update

from invoice_inbox.store.db import Database
from invoice_inbox.store.models import Source, utcnow

DEFAULT_TTL = timedelta(minutes=10)
_HOST = socket.gethostname()


class SourceBusy(Exception):
    """Another worker holds the source's lease."""


class LeaseLost(Exception):
    """Our lease expired and another worker took the source."""


def new_owner() -> str:
    return f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_is_dead(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _HOST or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def acquire(db: Database, source_id: int, owner: str, ttl: timedelta = DEFAULT_TTL) -> None:
    """Take the lease or raise SourceBusy naming the holder."""
    now = utcnow()
    with db.session() as s:
        taken = s.execute(
            update(Source)
            .where(
                Source.id == source_id,
                or_(Source.lease_owner.is_(None), Source.lease_expires_at < now),
            )
            .values(lease_owner=owner, lease_expires_at=now + ttl)
        ).rowcount
        if taken == 1:
            return
        holder = s.scalar(select(Source.lease_owner).where(Source.id == source_id))
    if holder and _owner_is_dead(holder):
        with db.session() as s:
            taken = s.execute(
                update(Source)
                .where(Source.id == source_id, Source.lease_owner == holder)
                .values(lease_owner=owner, lease_expires_at=now + ttl)
            ).rowcount
        if taken == 1:
            return
    pid = (holder or "?:?").split(":")[1]
    raise SourceBusy(f"is being fetched by another process (pid {pid}); try again later")


def renew(db: Database, source_id: int, owner: str, ttl: timedelta = DEFAULT_TTL) -> None:
    with db.session() as s:
        kept = s.execute(
            update(Source)
            .where(Source.id == source_id, Source.lease_owner == owner)
            .values(lease_expires_at=utcnow() + ttl)
        ).rowcount
    if kept != 1:
        raise LeaseLost("the lease on the source was lost to another worker")


def release(db: Database, source_id: int, owner: str) -> None:
    with db.session() as s:
        s.execute(
            update(Source)
            .where(Source.id == source_id, Source.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )
