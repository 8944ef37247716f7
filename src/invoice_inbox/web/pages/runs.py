"""Pages: the log of a source (its runs, newest first) and one run with every message it
decided: the decision, the reason, the rule, where the mail was filed and its documents."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from invoice_inbox.store import queue
from invoice_inbox.store.models import Run
from invoice_inbox.web.access import NotFound
from invoice_inbox.web.security import PageUser, context
from invoice_inbox.web.templating import render

router = APIRouter()


def duration(started: datetime, finished: datetime | None) -> str:
    """``4.2 s``, ``3 min 5 s``, ``1 h 2 min``; ``–`` while running."""
    if finished is None:
        return "–"
    seconds = max(0.0, (finished - started).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@router.get("/sources/{source_id}/log")
def source_log(request: Request, page: PageUser, source_id: int, before: str = "") -> Response:
    before = before.strip()
    cursor = int(before) if before.isascii() and before.isdigit() and len(before) <= 18 else None
    with context(request).app.db.session() as s:
        src = page.access.source(s, source_id)
        runs, older = queue.runs_page(s, src.id, before=cursor)
        return render(
            request,
            "runs.html",
            page,
            nav="sources",
            source=src,
            runs=runs,
            duration=duration,
            older_url=f"/sources/{src.id}/log?{urlencode({'before': older})}" if older else None,
            newest_url=f"/sources/{src.id}/log" if cursor is not None else None,
        )


@router.get("/runs/{run_id}")
def run_page(request: Request, page: PageUser, run_id: int) -> Response:
    with context(request).app.db.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise NotFound("no such run")
        src = page.access.source(s, run.source_id)
        return render(
            request,
            "run.html",
            page,
            nav="sources",
            source=src,
            run=run,
            messages=queue.run_messages(s, run.id),
            duration=duration(run.started_at, run.finished_at),
        )
