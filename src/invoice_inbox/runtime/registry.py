"""The worker registry: every ``serve`` and ``worker`` process has a row that it heartbeats.

A worker writes its row when it starts (``join``), renews ``heartbeat_at`` every few seconds
(``beat``; a row that was cleaned up meanwhile is written again) and deletes it on a clean stop
(``leave``). A row whose heartbeat is older than the worker timeout counts as dead: the others
stop counting it when they share the IDLE watches (``runtime.watches``), and ``status`` shows
its age; rows dead for ten minutes are deleted by whichever worker looks.

The intervals can be shortened for tests and fault injection, in seconds, by environment:
``INVOICE_INBOX_HEARTBEAT`` (5), ``INVOICE_INBOX_WORKER_TIMEOUT`` (20),
``INVOICE_INBOX_WATCH_TTL`` (30, ``runtime.watches``), ``INVOICE_INBOX_LEASE_TTL`` (45,
``runtime.lease``), ``INVOICE_INBOX_POLL`` (1, how often due sources are looked up).
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session

from invoice_inbox.runtime import lease
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import utcnow
from invoice_inbox.store.models_cluster import Worker
from invoice_inbox.store.rowcount import rowcount

ENV_HEARTBEAT = "INVOICE_INBOX_HEARTBEAT"
ENV_TIMEOUT = "INVOICE_INBOX_WORKER_TIMEOUT"
ENV_POLL = "INVOICE_INBOX_POLL"
FORGET_AFTER = timedelta(minutes=10)


def seconds(env: str, default: float) -> float:
    """A positive number of seconds from the environment, else *default*."""
    try:
        value = float(os.environ.get(env, "").strip() or default)
    except ValueError:
        return default
    return value if value > 0 else default


def heartbeat_every() -> float:
    return seconds(ENV_HEARTBEAT, 5.0)


def timeout() -> timedelta:
    return timedelta(seconds=seconds(ENV_TIMEOUT, 20.0))


def poll_every(default: float = 1.0) -> float:
    return seconds(ENV_POLL, default)


def live_filter(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Where-clauses of the live workers: a recent heartbeat, not stopping."""
    return (Worker.heartbeat_at >= now - timeout(), Worker.stopping.is_(False))


def live(s: Session, now: datetime | None = None) -> list[Worker]:
    """Workers with a recent heartbeat that are not stopping, oldest first."""
    now = now or utcnow()
    return list(s.scalars(select(Worker).where(*live_filter(now)).order_by(Worker.id)))


def every(s: Session) -> list[Worker]:
    return list(s.scalars(select(Worker).order_by(Worker.id)))


class Registry:
    """This process's row (one per ``Service``: tests run several in one process)."""

    def __init__(self, db: Database, *, kind: str = "worker", concurrency: int = 1) -> None:
        self.db, self.kind, self.concurrency = db, kind, concurrency
        self.owner = f"{lease.process_identity()}#{uuid.uuid4().hex[:8]}"

    def join(self, now: datetime | None = None) -> None:
        now = now or utcnow()
        with self.db.session() as s:
            s.add(
                Worker(
                    owner=self.owner,
                    host=socket.gethostname()[:255],
                    pid=os.getpid(),
                    kind=self.kind,
                    concurrency=self.concurrency,
                    started_at=now,
                    heartbeat_at=now,
                    stopping=False,
                )
            )

    def beat(self, now: datetime | None = None) -> None:
        """Renew the heartbeat (write the row again if someone cleaned it up); forget workers
        that have been dead for a long time."""
        now = now or utcnow()
        with self.db.session() as s:
            kept = rowcount(
                s.execute(update(Worker).where(Worker.owner == self.owner).values(heartbeat_at=now))
            )
            s.execute(delete(Worker).where(Worker.heartbeat_at < now - FORGET_AFTER))
        if kept == 0:
            self.join(now)

    def stopping(self) -> None:
        with self.db.session() as s:
            s.execute(update(Worker).where(Worker.owner == self.owner).values(stopping=True))

    def leave(self) -> None:
        with self.db.session() as s:
            s.execute(delete(Worker).where(Worker.owner == self.owner))
