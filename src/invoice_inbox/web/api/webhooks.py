"""API: webhook subscriptions and their delivery logs.

Users see the subscriptions of their companies; only administrators make, change, delete and
test them. The signing secret is in the answer to the POST that makes a subscription and in no
other answer. A URL whose host is or resolves to a non-public address is a 422 on ``url``; the
delivery log holds a status and a short reason, never what the receiver answered. How
deliveries are signed and retried: ``delivery.webhooks``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from invoice_inbox.delivery import webhook_subscriptions, webhooks
from invoice_inbox.store import events
from invoice_inbox.store.models import Company
from invoice_inbox.store.models_events import Webhook, WebhookDelivery
from invoice_inbox.web.access import Access, NotFound
from invoice_inbox.web.api.schemas import ERRORS, FORBIDDEN, NEEDS_TOKEN
from invoice_inbox.web.security import ApiUser, context

router = APIRouter(
    prefix="/webhooks",
    tags=["webhooks"],
    dependencies=NEEDS_TOKEN,
    responses=ERRORS | FORBIDDEN,
)

KINDS_TEXT = ", ".join(events.KINDS)


class WebhookIn(BaseModel):
    """A new subscription; name the company by ``company_id`` or by ``company``."""

    company_id: int | None = None
    company: str | None = Field(None, description="The company's name (instead of company_id).")
    url: str = Field(
        description="Where events are POSTed: an http:// or https:// URL at a public address "
        "(loopback, private and link-local ones are refused unless the operator allows them)."
    )
    events: list[str] = Field(description=f"What to send, at least one of: {KINDS_TEXT}.")
    description: str = ""
    active: bool = True


class WebhookPatch(BaseModel):
    """What to change; fields left out stay as they are."""

    url: str | None = None
    events: list[str] | None = None
    description: str | None = None
    active: bool | None = None


class WebhookOut(BaseModel):
    id: int
    company_id: int
    company: str
    url: str
    events: list[str]
    description: str
    active: bool
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="The signing secret of X-Invoice-Inbox-Signature; in this answer only."
    )


class DeliveryOut(BaseModel):
    id: int
    event_id: int
    event: str
    state: str = Field(description="pending, delivered or failed (given up after 24 hours)")
    attempts: int
    last_status: int | None = Field(description="The receiver's last HTTP status, if any.")
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None


class TestQueued(BaseModel):
    delivery_id: int = Field(description="The test event's delivery, in the delivery log.")


def _out(hook: Webhook) -> WebhookOut:
    return WebhookOut(
        id=hook.id,
        company_id=hook.company_id,
        company=hook.company.name,
        url=hook.url,
        events=list(hook.events or []),
        description=hook.description,
        active=hook.active,
        created_at=hook.created_at,
    )


def _hook(s: Session, access: Access, webhook_id: int) -> Webhook:
    hook = s.get(Webhook, webhook_id)
    if hook is None or not access.sees_company(hook.company_id):
        raise NotFound("no such webhook")
    return hook


def _invalid(field: str, problem: webhook_subscriptions.WebhookProblem) -> JSONResponse:
    return JSONResponse(
        {"detail": str(problem), "problems": [{"field": field, "problem": str(problem)}]},
        status_code=422,
    )


def _field(problem: webhook_subscriptions.WebhookProblem) -> str:
    return problem.field


@router.get("", response_model=list[WebhookOut])
def list_webhooks(request: Request, access: ApiUser) -> list[WebhookOut]:
    """The subscriptions of your companies (all, for administrators)."""
    with context(request).app.db.session() as s:
        seen = None if access.is_admin else set(access.company_ids)
        return [_out(h) for h in webhook_subscriptions.of_companies(s, seen)]


@router.post("", response_model=WebhookCreated, status_code=201)
def create_webhook(request: Request, access: ApiUser, body: WebhookIn) -> Response | WebhookOut:
    """Make a subscription (administrators). The answer holds its signing secret, once."""
    access.require_admin()
    app = context(request).app
    with app.db.session() as s:
        company: Company | None
        if body.company_id is not None:
            company = access.company(s, body.company_id)
        elif body.company:
            company = s.scalar(select(Company).where(Company.name == body.company))
            if company is None:
                raise NotFound("no such company")
        else:
            return _invalid(
                "company_id",
                webhook_subscriptions.WebhookProblem(
                    "name the company: company_id or company", field="company_id"
                ),
            )
        try:
            hook, secret = webhook_subscriptions.create(
                s,
                app.secrets,
                company,
                body.url,
                body.events,
                description=body.description,
                active=body.active,
            )
        except webhook_subscriptions.WebhookProblem as exc:
            return _invalid(_field(exc), exc)
        return WebhookCreated(**_out(hook).model_dump(), secret=secret)


@router.get("/{webhook_id}", response_model=WebhookOut)
def get_webhook(request: Request, access: ApiUser, webhook_id: int) -> WebhookOut:
    with context(request).app.db.session() as s:
        return _out(_hook(s, access, webhook_id))


@router.patch("/{webhook_id}", response_model=WebhookOut)
def change_webhook(
    request: Request, access: ApiUser, webhook_id: int, body: WebhookPatch
) -> Response | WebhookOut:
    """Change the URL, the events, the description, or switch it on or off (administrators)."""
    with context(request).app.db.session() as s:
        hook = _hook(s, access, webhook_id)
        access.require_admin()
        try:
            webhook_subscriptions.change(
                hook,
                url=body.url,
                kinds=body.events,
                description=body.description,
                active=body.active,
            )
        except webhook_subscriptions.WebhookProblem as exc:
            return _invalid(_field(exc), exc)
        s.flush()
        return _out(hook)


@router.delete("/{webhook_id}", status_code=204)
def delete_webhook(request: Request, access: ApiUser, webhook_id: int) -> Response:
    """Delete a subscription and its delivery log (administrators)."""
    with context(request).app.db.session() as s:
        hook = _hook(s, access, webhook_id)
        access.require_admin()
        s.delete(hook)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=list[DeliveryOut])
def list_deliveries(
    request: Request,
    access: ApiUser,
    webhook_id: int,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(description="Only deliveries older than this id.")] = None,
) -> list[DeliveryOut]:
    """The delivery log, newest first; page back with ``before`` = the last id you got."""
    with context(request).app.db.session() as s:
        hook = _hook(s, access, webhook_id)
        q = (
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == hook.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
        if before is not None:
            q = q.where(WebhookDelivery.id < before)
        return [DeliveryOut(**webhooks.view(d)) for d in s.scalars(q)]


@router.post("/{webhook_id}/test", response_model=TestQueued, status_code=202)
def test_webhook(request: Request, access: ApiUser, webhook_id: int) -> TestQueued:
    """Send a ``webhook.test`` event to this subscription (administrators); it goes out within
    seconds, and its outcome is in the delivery log."""
    db = context(request).app.db
    with db.session() as s:
        _hook(s, access, webhook_id)
    access.require_admin()
    return TestQueued(delivery_id=webhooks.ping(db, webhook_id))
