"""The instant sources' IDLE watches, spread over the live workers as leased rows.

Every folder of every active, signed-in instant IMAP source is one ``watch`` row (any worker
adds missing rows and deletes unwanted ones: ``sync_rows``). A worker keeps its share
(``WatchShare.refresh``, every heartbeat):

- target = ceil(watches / live workers) (``runtime.registry``);
- it renews the rows it holds (``expires_at`` = now + ``INVOICE_INBOX_WATCH_TTL``, 30 s);
- under target, it claims unowned or expired rows (``FOR UPDATE SKIP LOCKED``, then a
  conditional UPDATE, so two workers never take the same row);
- over target, it gives back at most ``RELEASE_STEP`` rows per refresh, which the workers under
  target then claim. Since each target is rounded up, a balanced cluster has nobody over target,
  so nothing moves until a worker joins or leaves: no thrashing.

A worker that dies stops renewing; its rows expire and the others take them within the TTL plus
one refresh (the worker timeout is shorter than the TTL, so by then the dead one no longer counts).
A worker that stops cleanly gives its rows back at once (``release_all``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from invoice_inbox.runtime import registry
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import AuthState, Source, utcnow
from invoice_inbox.store.models_cluster import Watch, Worker

log = logging.getLogger(__name__)

ENV_TTL = "INVOICE_INBOX_WATCH_TTL"
RELEASE_STEP = 2


def ttl() -> timedelta:
    return timedelta(seconds=registry.seconds(ENV_TTL, 30.0))


@dataclass(frozen=True, order=True)
class Held:
    """A watch this worker holds: the source's name and id, and the folder."""

    source: str
    folder: str
    source_id: int


def wanted(db: Database) -> set[tuple[int, str]]:
    """(source id, folder) of every folder that should be watched."""
    with db.session() as s:
        rows = s.execute(
            select(Source.id, Source.folders).where(
                Source.active.is_(True),
                Source.instant.is_(True),
                Source.protocol == "imap",
                Source.auth_state == AuthState.OK,
            )
        ).all()
    return {(source_id, folder) for source_id, folders in rows for folder in folders or []}


def sync_rows(db: Database) -> None:
    """Add a row for each wanted watch and delete the rows nobody wants any more."""
    want = wanted(db)
    with db.session() as s:
        have = {(w.source_id, w.folder): w.id for w in s.scalars(select(Watch))}
        gone = [wid for key, wid in have.items() if key not in want]
        if gone:
            s.execute(delete(Watch).where(Watch.id.in_(gone)))
    for source_id, folder in sorted(want - set(have)):
        try:
            with db.session() as s:
                s.add(Watch(source_id=source_id, folder=folder))
        except IntegrityError:  # another worker added it at the same moment
            pass


class WatchShare:
    """One worker's share of the watches (``owner``: its registry owner string)."""

    def __init__(self, db: Database, owner: str) -> None:
        self.db, self.owner = db, owner

    def refresh(self, now: datetime | None = None) -> set[Held]:
        """Renew, claim or give back rows as the target says; returns the watches held."""
        now = now or utcnow()
        sync_rows(self.db)
        life = ttl()
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(Watch)) or 0
            workers = s.scalar(
                select(func.count()).select_from(Worker).where(*registry.live_filter(now))
            )
            target = math.ceil(total / max(workers or 0, 1))
            s.execute(
                update(Watch)
                .where(Watch.owner == self.owner)
                .values(heartbeat_at=now, expires_at=now + life)
            )
            mine = list(
                s.scalars(select(Watch.id).where(Watch.owner == self.owner).order_by(Watch.id))
            )
            if len(mine) > target:
                extra = mine[-min(len(mine) - target, RELEASE_STEP) :]
                s.execute(
                    update(Watch)
                    .where(Watch.id.in_(extra), Watch.owner == self.owner)
                    .values(owner=None, heartbeat_at=None, expires_at=None)
                )
                log.info(
                    "gave back %d IDLE watches (holding %d, target %d)",
                    len(extra),
                    len(mine) - len(extra),
                    target,
                )
            elif len(mine) < target:
                free = list(
                    s.scalars(
                        select(Watch.id)
                        .where(or_(Watch.owner.is_(None), Watch.expires_at < now))
                        .order_by(Watch.id)
                        .limit(target - len(mine))
                        .with_for_update(skip_locked=True)
                    )
                )
                if free:
                    s.execute(
                        update(Watch)
                        .where(
                            Watch.id.in_(free),
                            or_(Watch.owner.is_(None), Watch.expires_at < now),
                        )
                        .values(owner=self.owner, heartbeat_at=now, expires_at=now + life)
                        .execution_options(synchronize_session=False)
                    )
        return self.held()

    def held(self) -> set[Held]:
        with self.db.session() as s:
            rows = s.execute(
                select(Source.name, Watch.folder, Watch.source_id)
                .join(Source, Source.id == Watch.source_id)
                .where(Watch.owner == self.owner)
            ).all()
        return {Held(name, folder, source_id) for name, folder, source_id in rows}

    def release_all(self) -> None:
        with self.db.session() as s:
            s.execute(
                update(Watch)
                .where(Watch.owner == self.owner)
                .values(owner=None, heartbeat_at=None, expires_at=None)
            )
