"""Runs: the log of every fetch of a source."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from invoice_inbox.store.models import Run, RunStatus, utcnow


def start(s: Session, source_id: int, trigger: str) -> Run:
    """Open a run. Runs of this source still marked running were cut off (the caller holds the
    lease, so nobody else is running it): they are closed as failed."""
    s.execute(
        update(Run)
        .where(Run.source_id == source_id, Run.status == RunStatus.RUNNING)
        .values(
            status=RunStatus.FAILED,
            finished_at=utcnow(),
            error="the run was interrupted (process stopped); the next run resumed its work",
        )
    )
    run = Run(source_id=source_id, trigger=trigger, status=RunStatus.RUNNING)
    s.add(run)
    s.flush()
    return run
