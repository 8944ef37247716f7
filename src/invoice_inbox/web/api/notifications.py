"""API: notifications of your companies (a source switched off, a sign-in refused), with how
far their delivery by e-mail and webhook has got; only about the sources you may use
(``Access.limit_notifications``, the same rule as the notifications screen)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from invoice_inbox.store.models import Company, Source
from invoice_inbox.store.models_events import Notification
from invoice_inbox.web.api.schemas import (
    DEFAULT_LIMIT,
    ERRORS,
    NEEDS_TOKEN,
    Cursor,
    Limit,
    Page,
    keyset,
)
from invoice_inbox.web.api.schemas_runs import NotificationOut
from invoice_inbox.web.security import ApiUser, context

router = APIRouter(tags=["notifications"], dependencies=NEEDS_TOKEN, responses=ERRORS)


@router.get("/notifications", response_model=Page[NotificationOut])
def list_notifications(
    request: Request,
    access: ApiUser,
    company_id: int | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[NotificationOut]:
    """Notifications of your companies (or of one), newest first."""
    with context(request).app.db.session() as s:
        q = (
            select(Notification, Company.name, Source.name)
            .join(Company, Notification.company_id == Company.id)
            .outerjoin(Source, Notification.source_id == Source.id)
        )
        if company_id is not None:
            access.company(s, company_id)
            q = q.where(Notification.company_id == company_id)
        q = access.limit_notifications(q)
        rows, after = keyset(
            s, q, Notification.id, listing="notifications", cursor=cursor, limit=limit
        )
        items = [NotificationOut.of(n, company, source) for n, company, source in rows]
        return Page[NotificationOut](items=items, next_cursor=after)
