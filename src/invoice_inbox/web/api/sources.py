"""API: sources (mailbox connections): list, add, change and remove them (administrators);
check a connection and fetch now (administrators and clerks).

Settings are validated by ``runtime.configure`` exactly as the web form's, every problem named
by its field. Secrets (``password``, ``client_secret``) are accepted and never returned.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from starlette.responses import Response

from invoice_inbox.errors import ConnectorError
from invoice_inbox.i18n import N_, _
from invoice_inbox.runtime import configure, connection_check, runner, source_trust
from invoice_inbox.runtime.lease import SourceBusy
from invoice_inbox.runtime.run_summary import RunPartial
from invoice_inbox.store.companies import IMPORT_PROTOCOL
from invoice_inbox.store.models import Source
from invoice_inbox.web.api.schemas import (
    ERRORS,
    FORBIDDEN,
    NEEDS_TOKEN,
    ConnectionProblem,
    Error,
    Invalid,
    Responses,
    connection_problem,
    invalid_source,
)
from invoice_inbox.web.api.schemas_runs import RunSummaryOut
from invoice_inbox.web.api.schemas_sources import CheckOut, SourceIn, SourceOut, Started
from invoice_inbox.web.security import ApiUser, context

router = APIRouter(tags=["sources"], dependencies=NEEDS_TOKEN, responses=ERRORS)

INVALID_SOURCE: Responses = {
    422: {"model": Invalid, "description": "Invalid settings, field by field."}
}
REFUSED: Responses = {
    422: {"model": ConnectionProblem, "description": "The server or its sign-in refused."}
}
NOTHING_TO_FETCH = N_(
    'source "%(name)s" receives mail at its company\'s import address; there is nothing to fetch'
)


def _out(src: Source) -> SourceOut:
    return SourceOut.model_validate(configure.view(src))


@router.get("/sources", response_model=list[SourceOut])
def list_sources(
    request: Request, access: ApiUser, company_id: int | None = None
) -> list[SourceOut]:
    """The sources you may use, by name; *company_id* narrows to one company."""
    with context(request).app.db.session() as s:
        q = select(Source).options(selectinload(Source.company)).order_by(Source.name)
        if company_id is not None:
            access.company(s, company_id)
            q = q.where(Source.company_id == company_id)
        return [_out(src) for src in s.scalars(access.limit_sources(q))]


@router.post(
    "/sources",
    response_model=SourceOut,
    status_code=201,
    responses={**FORBIDDEN, **INVALID_SOURCE},
)
def create_source(request: Request, access: ApiUser, body: SourceIn) -> SourceOut | Response:
    """Add a source (administrators). Check it afterwards with ``POST /sources/{id}/check``.
    With ``"draft": true`` it is not fetched on its schedule until it is set ``active``."""
    access.require_admin()
    app = context(request).app
    values = body.values()
    draft = bool(values.pop("draft", False))
    try:
        with app.db.session() as s:
            return _out(configure.create(app, s, values, draft=draft))
    except configure.Invalid as exc:
        return invalid_source(exc)


@router.get("/sources/{source_id}", response_model=SourceOut)
def get_source(request: Request, access: ApiUser, source_id: int) -> SourceOut:
    with context(request).app.db.session() as s:
        return _out(access.source(s, source_id))


@router.patch(
    "/sources/{source_id}",
    response_model=SourceOut,
    responses={**FORBIDDEN, **INVALID_SOURCE},
)
def change_source(
    request: Request, access: ApiUser, source_id: int, body: SourceIn
) -> SourceOut | Response:
    """Change the settings sent (administrators); the others keep their values. A company's
    import address takes only ``sender_auth`` here (it checks senders itself)."""
    app = context(request).app
    try:
        with app.db.session() as s:
            src = access.source(s, source_id)
            access.require_admin()
            values = body.values()
            if values.pop("draft", None) is not None:
                raise configure.Invalid({"draft": 'a source is started by setting "active"'})
            if src.protocol == IMPORT_PROTOCOL and values.keys() == {"sender_auth"}:
                src.sender_auth = source_trust.mode(values["sender_auth"])  # its one setting here
                return _out(src)
            return _out(configure.update(app, s, src, values))
    except configure.Invalid as exc:
        return invalid_source(exc)


@router.delete("/sources/{source_id}", status_code=204, responses=FORBIDDEN)
def delete_source(request: Request, access: ApiUser, source_id: int) -> Response:
    """Remove a source with its runs, its ledger and the documents it brought (administrators);
    their files stay in the blob store."""
    with context(request).app.db.session() as s:
        src = access.source(s, source_id)
        access.require_admin()
        s.delete(src)
    return Response(status_code=204)


def _fetchable(request: Request, access: ApiUser, source_id: int) -> Source:
    """The source, for a clerk or an administrator, if it has a mailbox to talk to."""
    with context(request).app.db.session() as s:
        src = access.source(s, source_id)
        access.require_fetch()
    if src.protocol == IMPORT_PROTOCOL:
        raise HTTPException(422, _(NOTHING_TO_FETCH) % {"name": src.name})
    return src


@router.post(
    "/sources/{source_id}/check", response_model=CheckOut, responses={**FORBIDDEN, **REFUSED}
)
def check_source(request: Request, access: ApiUser, source_id: int) -> CheckOut | Response:
    """Connect, sign in and list the mailbox's folders; check its folders and that mail can be
    filed to its move targets (administrators and clerks)."""
    src = _fetchable(request, access, source_id)
    try:
        checked = connection_check.source(context(request).app, src.name)
    except ConnectorError as exc:
        return connection_problem(exc, configure.field_of(exc, src))
    return CheckOut(
        ok=checked.ok,
        folders=checked.folders,
        missing=checked.missing,
        problems=checked.problems,
    )


@router.post(
    "/sources/{source_id}/fetch",
    response_model=Started,
    status_code=202,
    response_description="The run has started in the background.",
    responses={
        **FORBIDDEN,
        **REFUSED,
        200: {"model": RunSummaryOut, "description": "With `wait=true`: what the run did."},
        409: {"model": Error, "description": "The source is being fetched already."},
    },
)
def fetch_source(
    request: Request, access: ApiUser, source_id: int, wait: bool = False
) -> Started | Response:
    """Fetch now (administrators and clerks). By default the run starts in the background and
    the answer is 202 at once (see ``GET /runs?source_id=``); with ``wait=true`` the request
    lasts as long as the run and answers with its summary; a run that imported mail and then
    stopped on an error answers 200 too, with ``status: partial`` and the ``error``."""
    src = _fetchable(request, access, source_id)
    ctx = context(request)
    if not wait:
        ctx.fetch_now(src.name)
        return Started()
    try:
        summary = runner.fetch(ctx.app, src.name, trigger="manual")
    except SourceBusy as exc:
        raise HTTPException(409, f'source "{src.name}" {exc}') from None
    except RunPartial as exc:
        summary = exc.summary
    except ConnectorError as exc:
        return connection_problem(exc, configure.field_of(exc, src))
    body = RunSummaryOut.model_validate(asdict(summary)).model_dump(mode="json")
    return JSONResponse(body, status_code=200)
