"""Pages: the mailboxes (sources) list — each source's status, last and next run, documents
today — and "Fetch now", whose row asks again (htmx) until the run is done.

Everyone sees the sources they may use (``Access.limit_sources``); admins and clerks may fetch
now. Adding and editing a source is in :mod:`~invoice_inbox.web.pages.source_edit`, its import
rules in :mod:`~invoice_inbox.web.pages.source_rules`, the connection check in
:mod:`~invoice_inbox.web.pages.source_check`, signing in with OAuth2 in
:mod:`~invoice_inbox.web.pages.source_oauth`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from invoice_inbox.connectors import presets
from invoice_inbox.i18n import gettext as _
from invoice_inbox.runtime import configure, schedules
from invoice_inbox.store import companies as company_store
from invoice_inbox.store.documents import in_queue
from invoice_inbox.store.models import AuthState, Document, Message, Run, RunStatus, Source
from invoice_inbox.web.pages import source_oauth
from invoice_inbox.web.security import Page, PageUser, context
from invoice_inbox.web.templating import redirect, render
from invoice_inbox.web.words import preset_label

router = APIRouter()
router.include_router(source_oauth.router)

Text = Annotated[str, Form()]
IMPORT = company_store.IMPORT_PROTOCOL  # the company's central import address
POLL_TRIES = 60  # a row waiting for its run asks again every 2 s, for two minutes at most

BADGES = {
    "active": "ok",
    "draft": "warn",
    "inactive": "",
    "connection_lost": "bad",
    "login_refused": "bad",
    "needs_authentication": "warn",
    "needs_reauthentication": "warn",
    "secret_expiring": "warn",
}


def provider_label(provider: str) -> str:
    if provider == IMPORT:
        return _("Central import address")
    preset = presets.PRESETS.get(provider)
    return preset_label(preset.name, preset.label) if preset else provider


async def _posted(request: Request) -> FormData:
    return await request.form()


Posted = Annotated[FormData, Depends(_posted)]


def _is_htmx(request: Request) -> bool:
    return bool(request.headers.get("hx-request"))


# -- the list ----------------------------------------------------------------------------------


@dataclass
class SourceRow:
    """One line of the sources list."""

    src: Source
    provider: str
    status: str
    status_text: str
    badge: str
    last_run: Run | None
    next_at: datetime | None
    next_word: str
    documents_today: int
    waiting: bool = False  # fetch-now was asked for; the row asks again until the run is done
    after: int = 0
    tries: int = 0


def _last_runs(s: Session, ids: list[int]) -> dict[int, Run]:
    if not ids:
        return {}
    newest = (
        select(func.max(Run.id)).where(Run.source_id.in_(ids)).group_by(Run.source_id)
    ).scalar_subquery()
    return {r.source_id: r for r in s.scalars(select(Run).where(Run.id.in_(newest)))}


def _documents_today(s: Session, ids: list[int], now: datetime) -> dict[int, int]:
    if not ids:
        return {}
    midnight = datetime.combine(now.astimezone(UTC).date(), time(), UTC)
    q = (
        select(Message.source_id, func.count(Document.id))
        .join(Document, Document.message_id == Message.id)
        .where(Message.source_id.in_(ids), Document.created_at >= midnight, in_queue())
        .group_by(Message.source_id)
    )
    return {source_id: n for source_id, n in s.execute(q)}


def _next_run(src: Source, last: Run | None, now: datetime) -> tuple[datetime | None, str]:
    """When the source runs next: a time, or words for why there is none."""
    if src.protocol == IMPORT:
        return None, _("when mail arrives")
    if not src.active:
        return None, "–"
    if src.auth_state != AuthState.OK:
        return None, _("after sign-in")
    nxt = src.next_run_at
    if nxt is None:
        try:
            schedule = schedules.parse(src.schedule)
        except schedules.ScheduleError:
            return None, src.schedule
        nxt = schedules.next_run(schedule, last_started=last.started_at if last else None, now=now)
    if nxt is None:
        return None, _("manual only (and instant)") if src.instant else _("manual only")
    if nxt <= now:
        return None, _("due now")
    return nxt, ""


def _rows(s: Session, srcs: list[Source]) -> list[SourceRow]:
    now = datetime.now(UTC)
    ids = [src.id for src in srcs]
    last, today = _last_runs(s, ids), _documents_today(s, ids, now)
    rows = []
    for src in srcs:
        key, words = configure.status(src)
        next_at, next_word = _next_run(src, last.get(src.id), now)
        rows.append(
            SourceRow(
                src=src,
                provider=provider_label(src.provider),
                status=key,
                status_text=words,
                badge=BADGES.get(key, ""),
                last_run=last.get(src.id),
                next_at=next_at,
                next_word=next_word,
                documents_today=today.get(src.id, 0),
            )
        )
    return rows


@router.get("/sources")
def sources_page(request: Request, page: PageUser) -> Response:
    with context(request).app.db.session() as s:
        q = page.access.limit_sources(select(Source).order_by(Source.name))
        rows = _rows(s, list(s.scalars(q)))
        return render(request, "sources.html", page, nav="sources", rows=rows)


def _row_response(
    request: Request, page: Page, s: Session, src: Source, after: int, tries: int
) -> Response:
    row = _rows(s, [src])[0]
    run = row.last_run
    done = run is not None and run.id > after and run.status != RunStatus.RUNNING
    row.waiting, row.after, row.tries = not done and tries < POLL_TRIES, after, tries
    return render(request, "source_row.html", page, row=row, back="/sources")


@router.get("/sources/{source_id}/row")
def source_row(
    request: Request, page: PageUser, source_id: int, after: int = 0, tries: int = 0
) -> Response:
    """One row of the list (htmx asks for it while a fetch-now runs)."""
    with context(request).app.db.session() as s:
        src = page.access.source(s, source_id)
        return _row_response(request, page, s, src, after, tries)


@router.post("/sources/{source_id}/fetch")
def fetch_now(request: Request, page: PageUser, source_id: int, back: Text = "") -> Response:
    ctx = context(request)
    back = back if back.startswith("/sources") else "/sources"
    with ctx.app.db.session() as s:
        src = page.access.source(s, source_id)
        page.access.require_fetch()
        if src.protocol == IMPORT:
            return redirect(
                back,
                flash=_(
                    "Mail sent to the central import address is imported as it arrives;"
                    " there is nothing to fetch."
                ),
                request=request,
            )
        key, words = configure.status(src)
        if key in ("needs_authentication", "needs_reauthentication", "login_refused"):
            return redirect(
                f"/sources/{src.id}#credentials",
                flash=_('"%(name)s" cannot fetch: %(why)s. Fix its credentials first.')
                % {"name": src.name, "why": words},
                request=request,
            )
        name = src.name
        # the row waits for a run newer than the last finished one (one running now counts)
        after = (
            s.scalar(
                select(func.max(Run.id)).where(
                    Run.source_id == src.id, Run.status != RunStatus.RUNNING
                )
            )
            or 0
        )
    ctx.fetch_now(name)
    if _is_htmx(request) and back == "/sources":
        with ctx.app.db.session() as s:
            src = page.access.source(s, source_id)
            return _row_response(request, page, s, src, after, 0)
    return redirect(
        back,
        flash=_('Fetching "%(name)s" now; the new run appears in its log.') % {"name": name},
        request=request,
    )
