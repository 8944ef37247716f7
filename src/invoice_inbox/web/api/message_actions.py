"""API: act on a mail that was not imported (administrators and clerks): import it anyway
(its documents once, the mail filed as imported), or allow its sender (the source's
not-imported mail is then re-checked in the background). See ``runtime.message_actions``."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from invoice_inbox.runtime import message_actions
from invoice_inbox.runtime.lease import SourceBusy
from invoice_inbox.store.errors import NotFound as Gone
from invoice_inbox.store.models import Message
from invoice_inbox.web.access import Access, NotFound
from invoice_inbox.web.api.schemas import ERRORS, FORBIDDEN, NEEDS_TOKEN, Error, Responses
from invoice_inbox.web.security import ApiUser, context

router = APIRouter(tags=["runs"], dependencies=NEEDS_TOKEN, responses=ERRORS)

CONFLICT: Responses = {
    409: {"model": Error, "description": "Imported already, or the source is busy."}
}
REFUSED: Responses = {
    422: {"model": Error, "description": "The mail cannot be imported; `detail` says why."}
}


class ImportedOut(BaseModel):
    message_id: int
    reason: str
    documents: list[int]
    documents_created: int
    duplicates: int
    filed_to: str | None
    filing_errors: list[str]


class AllowedOut(BaseModel):
    message_id: int
    allowed_sender: str
    recheck: str = "the source's not-imported mail is re-checked in the background"


def _usable(s: Session, access: Access, message_id: int) -> None:
    row = s.get(Message, message_id)
    if row is None:
        raise NotFound("no such message")
    access.source(s, row.source_id)
    access.require_fetch()


@router.post(
    "/messages/{message_id}/import",
    response_model=ImportedOut,
    responses={**FORBIDDEN, **CONFLICT, **REFUSED},
)
def import_message(request: Request, access: ApiUser, message_id: int) -> ImportedOut:
    """Import a not-imported mail anyway: its PDF and e-invoice attachments (with none, its text
    as a PDF) join the queue exactly once, and the mail is filed as imported. Again: 409."""
    app = context(request).app
    with app.db.session() as s:
        _usable(s, access, message_id)
    try:
        done = message_actions.import_anyway(app, message_id, by=access.email)
    except message_actions.Refused as exc:
        raise HTTPException(409 if exc.conflict else 422, str(exc)) from None
    except SourceBusy as exc:
        raise HTTPException(409, f"the source {exc}") from None
    except Gone:
        raise NotFound("no such message") from None
    return ImportedOut(
        message_id=done.message_id,
        reason=done.reason,
        documents=done.documents,
        documents_created=done.documents_created,
        duplicates=done.duplicates,
        filed_to=done.filed_to,
        filing_errors=done.filing_errors,
    )


@router.post(
    "/messages/{message_id}/allow-sender",
    response_model=AllowedOut,
    responses={**FORBIDDEN, **REFUSED},
)
def allow_message_sender(request: Request, access: ApiUser, message_id: int) -> AllowedOut:
    """Add the mail's sender to its source's allowed senders."""
    app = context(request).app
    with app.db.session() as s:
        _usable(s, access, message_id)
    try:
        pattern = message_actions.allow_sender(app, message_id)
    except message_actions.Refused as exc:
        raise HTTPException(422, str(exc)) from None
    except Gone:
        raise NotFound("no such message") from None
    return AllowedOut(message_id=message_id, allowed_sender=pattern)
