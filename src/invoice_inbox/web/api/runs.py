"""API: the run log (every fetch of a source) and the ledger (every mail seen, with its
decision and reason), of the sources you may use."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from invoice_inbox.i18n import _
from invoice_inbox.store.models import Message, Run, Source
from invoice_inbox.web.access import Access, NotFound
from invoice_inbox.web.api.schemas import (
    DEFAULT_LIMIT,
    ERRORS,
    NEEDS_TOKEN,
    Cursor,
    Limit,
    Page,
    keyset,
)
from invoice_inbox.web.api.schemas_runs import Decision, MessageOut, RunOut
from invoice_inbox.web.security import ApiUser, context

router = APIRouter(tags=["runs"], dependencies=NEEDS_TOKEN, responses=ERRORS)


def _visible_source(s: Session, access: Access, source_id: int, what: str) -> Source:
    src = s.get(Source, source_id)
    if src is None or not access.uses_source(src):
        raise NotFound(what)
    return src


def _run(s: Session, access: Access, run_id: int) -> tuple[Run, Source]:
    run = s.get(Run, run_id)
    if run is None:
        raise NotFound(_("no such run"))
    return run, _visible_source(s, access, run.source_id, _("no such run"))


def _messages_query(access: Access) -> Select[Message, str]:
    return access.limit_sources(
        select(Message, Source.name)
        .join(Source, Message.source_id == Source.id)
        .options(selectinload(Message.documents))
    )


@router.get("/runs", response_model=Page[RunOut])
def list_runs(
    request: Request,
    access: ApiUser,
    source_id: int | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[RunOut]:
    """Runs of the sources you may use (or of one), newest first."""
    with context(request).app.db.session() as s:
        q = access.limit_sources(select(Run, Source.name).join(Source, Run.source_id == Source.id))
        if source_id is not None:
            access.source(s, source_id)
            q = q.where(Run.source_id == source_id)
        rows, after = keyset(s, q, Run.id, listing="runs", cursor=cursor, limit=limit)
        return Page[RunOut](items=[RunOut.of(r, name) for r, name in rows], next_cursor=after)


@router.get("/runs/{run_id}", response_model=RunOut)
def get_run(request: Request, access: ApiUser, run_id: int) -> RunOut:
    with context(request).app.db.session() as s:
        run, src = _run(s, access, run_id)
        return RunOut.of(run, src.name)


@router.get("/runs/{run_id}/messages", response_model=Page[MessageOut])
def run_messages(
    request: Request,
    access: ApiUser,
    run_id: int,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[MessageOut]:
    """The mails a run decided, in the order it saw them (oldest first)."""
    with context(request).app.db.session() as s:
        _run(s, access, run_id)
        q = _messages_query(access).where(Message.run_id == run_id)
        rows, after = keyset(
            s, q, Message.id, listing="runmessages", cursor=cursor, limit=limit, newest_first=False
        )
        return Page[MessageOut](
            items=[MessageOut.of(m, name) for m, name in rows], next_cursor=after
        )


@router.get("/messages", response_model=Page[MessageOut])
def list_messages(
    request: Request,
    access: ApiUser,
    source_id: int | None = None,
    decision: Decision | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[MessageOut]:
    """The ledger: every mail seen by the sources you may use (or by one), newest first."""
    with context(request).app.db.session() as s:
        q = _messages_query(access)
        if source_id is not None:
            access.source(s, source_id)
            q = q.where(Message.source_id == source_id)
        if decision is not None:
            q = q.where(Message.decision == decision)
        rows, after = keyset(s, q, Message.id, listing="messages", cursor=cursor, limit=limit)
        return Page[MessageOut](
            items=[MessageOut.of(m, name) for m, name in rows], next_cursor=after
        )


@router.get("/messages/{message_id}", response_model=MessageOut)
def get_message(request: Request, access: ApiUser, message_id: int) -> MessageOut:
    with context(request).app.db.session() as s:
        m = s.get(Message, message_id)
        if m is None:
            raise NotFound(_("no such message"))
        src = _visible_source(s, access, m.source_id, _("no such message"))
        return MessageOut.of(m, src.name)
