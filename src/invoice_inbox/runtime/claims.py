"""Claiming due sources in the database, so that any number of workers share them.

A worker with free slots asks for at most that many due sources, oldest ``next_run_at`` first,
with ``SELECT … FOR UPDATE SKIP LOCKED`` (on PostgreSQL two workers asking at once get
disjoint rows; on SQLite the clause is left out and the conditional UPDATE alone decides), and
takes each one's lease in the same transaction. A source is due when its time has come or when
someone asked for a run (``wake_requested``, set by ``request_wake``: an IDLE watcher on any
worker, "fetch now" on any web process); the claim clears the request, so a wake-up that
arrives while the source runs is kept for one more run after it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select, update
from sqlalchemy.orm import Session

from invoice_inbox.runtime import lease
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import AuthState, Source, utcnow
from invoice_inbox.store.rowcount import rowcount

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    """A source this worker now holds the lease of, and why it runs."""

    source_id: int
    name: str
    trigger: str
    owner: str


def runnable() -> ColumnElement[bool]:
    """Sources the scheduler runs at all: active, fetchable, signed in."""
    return and_(
        Source.active.is_(True),
        Source.protocol != "smtp",
        Source.auth_state == AuthState.OK,
    )


MANUAL = "manual"  # the trigger of "fetch now": any source but an import address, even one
# switched off or not started yet (a draft), runs when someone asks for it


def due_now(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(runnable(), or_(Source.next_run_at <= now, Source.wake_requested.is_not(None))),
        and_(Source.protocol != "smtp", Source.wake_requested == MANUAL),
    )


def _free(now: datetime) -> ColumnElement[bool]:
    return or_(Source.lease_owner.is_(None), Source.lease_expires_at < now)


def fill_due_times(
    db: Database, now: datetime, next_run: Callable[[Session, Source, datetime], datetime | None]
) -> None:
    """Give scheduled sources without a due time one (a new source, a changed schedule)."""
    with db.session() as s:
        for src in s.scalars(
            select(Source).where(
                runnable(), Source.next_run_at.is_(None), Source.schedule != "manual"
            )
        ):
            src.next_run_at = next_run(s, src, now)


def claim(db: Database, now: datetime, limit: int, *, exclude: Collection[int] = ()) -> list[Claim]:
    """Take the leases of at most *limit* due sources (not in *exclude*), oldest due first."""
    if limit <= 0:
        return []
    lease_now = utcnow()
    life = lease.ttl()
    claims: list[Claim] = []
    with db.session() as s:
        q = select(Source.id, Source.name, Source.failures, Source.wake_requested).where(
            due_now(now), _free(lease_now)
        )
        if exclude:
            q = q.where(Source.id.not_in(list(exclude)))
        rows = s.execute(
            q.order_by(Source.next_run_at, Source.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=Source)
        ).all()
        for source_id, name, failures, woken in rows:
            owner = lease.new_owner()
            taken = rowcount(
                s.execute(
                    update(Source)
                    .where(Source.id == source_id, _free(lease_now))
                    .values(
                        lease_owner=owner, lease_expires_at=lease_now + life, wake_requested=None
                    )
                    .execution_options(synchronize_session=False)
                )
            )
            if taken == 1:
                trigger = woken or ("retry" if failures else "schedule")
                claims.append(Claim(source_id, name, trigger, owner))
    if len(claims) < limit:
        claims += _take_from_stopped(db, now, limit - len(claims), exclude)
    return claims


def _take_from_stopped(
    db: Database, now: datetime, limit: int, exclude: Collection[int]
) -> list[Claim]:
    """Due sources whose lease holder is certainly gone (a process on this machine that
    stopped; ``lease.Holder.is_gone``): taken at once instead of after the lease expires."""
    with db.session() as s:
        rows = s.execute(
            select(Source.id, Source.name, Source.failures, Source.lease_owner)
            .where(due_now(now), Source.lease_owner.is_not(None))
            .order_by(Source.next_run_at, Source.id)
            .limit(50)
        ).all()
    claims: list[Claim] = []
    for source_id, name, failures, holder in rows:
        if len(claims) >= limit:
            break
        assert holder is not None  # selected where lease_owner is not null
        if source_id in exclude or not lease.Holder.parse(holder).is_gone():
            continue
        owner = lease.new_owner()
        try:
            lease.acquire(db, source_id, owner)
        except lease.SourceBusy:
            continue
        with db.session() as s:
            src = s.get(Source, source_id)
            woken = src.wake_requested if src is not None else None
            if src is not None:
                src.wake_requested = None
        trigger = woken or ("retry" if failures else "schedule")
        claims.append(Claim(source_id, name, trigger, owner))
    return claims


def request_wake(db: Database, name: str, trigger: str, now: datetime) -> bool:
    """Ask for a run of *name* by whichever worker claims it next; False: no such source."""
    at = literal(now, Source.next_run_at.type)
    with db.session() as s:
        changed = rowcount(
            s.execute(
                update(Source)
                .where(Source.name == name)
                .values(
                    wake_requested=func.coalesce(Source.wake_requested, trigger),
                    next_run_at=case(
                        (Source.next_run_at.is_(None), at),
                        (Source.next_run_at > now, at),
                        else_=Source.next_run_at,
                    ),
                )
                .execution_options(synchronize_session=False)
            )
        )
    return changed == 1
