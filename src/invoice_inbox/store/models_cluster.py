"""Tables of the cluster: the worker processes of a deployment and the instant sources' IDLE
watches they share (``runtime.registry``, ``runtime.watches``).

They sit beside ``store.models`` (same ``Base``), imported by ``invoice_inbox.store`` so the
metadata always holds them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from invoice_inbox.store.models import Base, UTCDateTime, utcnow


class Worker(Base):
    """A running worker process (``serve`` or ``worker``): its heartbeat tells the others it is
    alive (``runtime.registry``); ``owner`` is its process identity (``runtime.lease``)."""

    __tablename__ = "worker"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20), default="worker")  # worker | serve
    concurrency: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    stopping: Mapped[bool] = mapped_column(Boolean, default=False)


class Watch(Base):
    """One IDLE watch (a folder of an instant source), leased by the worker that keeps its
    connection open (``runtime.watches``); a lease that is not renewed expires and another
    worker takes the watch."""

    __tablename__ = "watch"
    __table_args__ = (UniqueConstraint("source_id", "folder", name="uq_watch_source_folder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(255))
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
