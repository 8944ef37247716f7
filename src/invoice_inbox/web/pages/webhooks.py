"""Pages: webhook subscriptions (administrators only): list, create, change, delete, send a test
event, and each subscription's delivery log.

A subscription's signing secret is made here and shown once, on the page that answers the form
that made it; the database keeps it encrypted and no page or API answer shows it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, TypedDict

from fastapi import APIRouter, Form, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from invoice_inbox.delivery import webhook_subscriptions, webhooks
from invoice_inbox.i18n import N_
from invoice_inbox.i18n import gettext as _
from invoice_inbox.store import events
from invoice_inbox.store.models import Company
from invoice_inbox.store.models_events import Webhook, WebhookDelivery
from invoice_inbox.web.access import NotFound
from invoice_inbox.web.security import Page, PageUser, context
from invoice_inbox.web.templating import redirect, render

router = APIRouter()

Text = Annotated[str, Form()]
Kinds = Annotated[list[str] | None, Form(alias="events")]  # the checkboxes
STATE_BADGES = {webhooks.DELIVERED: "ok", webhooks.PENDING: "warn", webhooks.FAILED: "bad"}
# what each event kind means (``store.events.KINDS``' sentences, marked here for the catalogues)
KIND_MEANINGS = {
    events.DOCUMENT_CREATED: N_("a document joined the queue"),
    events.SOURCE_DEACTIVATED: N_("a source was switched off after failing again and again"),
    events.SOURCE_NEEDS_ATTENTION: N_("a source cannot sign in and waits for someone to fix it"),
    events.BANK_DETAILS_CHANGED: N_("a document asks payment to an IBAN its supplier never used"),
}


def kind_meanings() -> dict[str, str]:
    """Every event kind with what it means, in the reader's language."""
    return {kind: _(KIND_MEANINGS.get(kind, meaning)) for kind, meaning in events.KINDS.items()}


@dataclass
class HookForm:
    """What the subscription form was sent with, and what is wrong with it (by field)."""

    company_id: int | None = None
    url: str = ""
    description: str = ""
    kinds: list[str] = field(default_factory=lambda: [events.DOCUMENT_CREATED])
    active: bool = True
    errors: dict[str, str] = field(default_factory=dict)


def _sentence(problem: Exception) -> str:
    text = str(problem).strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


def _check(form: HookForm) -> None:
    """Fill ``form.errors`` for the URL and the events, in plain words."""
    try:
        form.url = webhook_subscriptions.check_url(form.url)
    except webhook_subscriptions.WebhookProblem as exc:
        form.errors["url"] = _sentence(exc)
    try:
        form.kinds = webhook_subscriptions.check_events(form.kinds)
    except webhook_subscriptions.WebhookProblem as exc:
        form.errors["events"] = _sentence(exc)


def _hook(s: Session, webhook_id: int) -> Webhook:
    hook = s.get(Webhook, webhook_id)
    if hook is None:
        raise NotFound(_("no such webhook"))
    return hook


class _Summary(TypedDict):
    hook: Webhook
    counts: dict[str, int]  # deliveries by state
    last: WebhookDelivery | None


def _summary(s: Session, hook: Webhook) -> _Summary:
    counts = dict(
        s.execute(
            select(WebhookDelivery.state, func.count(WebhookDelivery.id))
            .where(WebhookDelivery.webhook_id == hook.id)
            .group_by(WebhookDelivery.state)
        ).all()
    )
    last = s.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == hook.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(1)
    )
    return {"hook": hook, "counts": counts, "last": last}


@router.get("/webhooks")
def webhooks_page(request: Request, page: PageUser) -> Response:
    page.access.require_admin()
    with context(request).app.db.session() as s:
        groups: dict[str, list[_Summary]] = {}
        for hook in webhook_subscriptions.of_companies(s, None):
            groups.setdefault(hook.company.name, []).append(_summary(s, hook))
        has_companies = s.scalar(select(func.count(Company.id))) or 0
        return render(
            request,
            "webhooks.html",
            page,
            nav="webhooks",
            groups=groups,
            has_companies=has_companies,
            kinds=kind_meanings(),
            badges=STATE_BADGES,
        )


def _new_form(request: Request, page: Page, form: HookForm, status_code: int = 200) -> Response:
    with context(request).app.db.session() as s:
        companies = page.access.companies(s)
        return render(
            request,
            "webhooks_new.html",
            page,
            status_code=status_code,
            nav="webhooks",
            form=form,
            companies=companies,
            kinds=kind_meanings(),
        )


@router.get("/webhooks/new")
def new_webhook_form(request: Request, page: PageUser, company: int | None = None) -> Response:
    page.access.require_admin()
    return _new_form(request, page, HookForm(company_id=company))


@router.post("/webhooks")
def create_webhook(
    request: Request,
    page: PageUser,
    company_id: Text = "",  # "" while "Choose…" is selected
    url: Text = "",
    description: Text = "",
    events_: Kinds = None,
) -> Response:
    page.access.require_admin()
    chosen = int(company_id) if company_id.strip().isdigit() else None
    form = HookForm(chosen, url.strip(), description.strip(), list(events_ or []))
    _check(form)
    app = context(request).app
    with app.db.session() as s:
        company = s.get(Company, chosen) if chosen is not None else None
        if company is None:
            form.errors["company"] = _("Choose the company whose events are sent.")
        if company is not None and not form.errors:
            hook, secret = webhook_subscriptions.create(
                s, app.secrets, company, form.url, form.kinds, description=form.description
            )
            shown = {"id": hook.id, "url": hook.url, "company": company.name}
    if form.errors:
        return _new_form(request, page, form, status_code=422)
    # Shown here and never again: the database keeps it encrypted, and no page shows it.
    return render(
        request,
        "webhooks_created.html",
        page,
        status_code=201,
        nav="webhooks",
        hook=shown,
        secret=secret,
    )


def _detail(
    request: Request, page: Page, webhook_id: int, form: HookForm | None = None
) -> Response:
    with context(request).app.db.session() as s:
        hook = _hook(s, webhook_id)
        if form is None:
            form = HookForm(hook.company_id, hook.url, hook.description, list(hook.events or []))
            form.active = hook.active
        return render(
            request,
            "webhooks_detail.html",
            page,
            status_code=422 if form.errors else 200,
            nav="webhooks",
            hook=hook,
            company=hook.company.name,
            form=form,
            kinds=kind_meanings(),
            deliveries=[webhooks.view(d) for d in webhooks.deliveries(s, hook.id)],
            badges=STATE_BADGES,
        )


@router.get("/webhooks/{webhook_id}")
def webhook_page(request: Request, page: PageUser, webhook_id: int) -> Response:
    page.access.require_admin()
    return _detail(request, page, webhook_id)


@router.post("/webhooks/{webhook_id}")
def change_webhook(
    request: Request,
    page: PageUser,
    webhook_id: int,
    url: Text = "",
    description: Text = "",
    events_: Kinds = None,
    active: Text = "",
) -> Response:
    page.access.require_admin()
    form = HookForm(None, url.strip(), description.strip(), list(events_ or []), bool(active))
    _check(form)
    if form.errors:
        return _detail(request, page, webhook_id, form)
    with context(request).app.db.session() as s:
        hook = _hook(s, webhook_id)
        webhook_subscriptions.change(
            hook, url=form.url, kinds=form.kinds, description=form.description, active=form.active
        )
    flash = (
        _("The webhook is saved; it is on.")
        if form.active
        else _("The webhook is saved; it is off (events wait until it is switched on).")
    )
    return redirect(f"/webhooks/{webhook_id}", flash=flash, request=request)


@router.post("/webhooks/{webhook_id}/test")
def test_webhook(request: Request, page: PageUser, webhook_id: int) -> Response:
    page.access.require_admin()
    try:
        webhooks.ping(context(request).app.db, webhook_id)
    except webhook_subscriptions.WebhookProblem:
        raise NotFound(_("no such webhook")) from None
    return redirect(
        f"/webhooks/{webhook_id}",
        flash=_(
            "A test event is on its way; it is sent within seconds. "
            "Reload this page to see how it went in the delivery log."
        ),
        request=request,
    )


@router.post("/webhooks/{webhook_id}/delete")
def delete_webhook(request: Request, page: PageUser, webhook_id: int) -> Response:
    page.access.require_admin()
    with context(request).app.db.session() as s:
        hook = _hook(s, webhook_id)
        url = hook.url
        s.delete(hook)
    return redirect(
        "/webhooks",
        flash=_("The webhook to %(url)s is deleted; nothing more is sent there.") % {"url": url},
        request=request,
    )
