"""Pages: what needs attention now (sources switched off, refused or failing sign-ins, failing
fetches, client secrets about to expire) and the notifications sent about it, with their
e-mail and webhook delivery; only for the sources the user may use.

A channel the service has no configuration for reads "not sent: no e-mail relay configured"
(or "no webhook configured"), never "pending", with a link to ``/help/notifications``, which
says how to configure one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from invoice_inbox.auth.expiry import secret_expiry_warning
from invoice_inbox.i18n import N_
from invoice_inbox.i18n import gettext as _
from invoice_inbox.runtime import health, secret_scope
from invoice_inbox.store import notifications as outbox
from invoice_inbox.store.models import AuthState, Company, Source
from invoice_inbox.store.models_events import Notification
from invoice_inbox.web.access import Access
from invoice_inbox.web.security import PageUser, context
from invoice_inbox.web.templating import render

router = APIRouter()

LIMIT = 100  # notifications shown, newest first


@dataclass(frozen=True)
class Attention:
    """One source with what is wrong with it now, each a sentence a person can act on."""

    source_id: int
    source: str
    company: str
    problems: list[str]
    stopped: bool  # no mail arrives from it until someone acts


def source_problems(src: Source, today: date) -> list[str]:
    """What is wrong with *src* now: its health warnings, a sign-in it waits for, a client
    secret that expires within 30 days or has expired."""
    found = health.warnings(src)
    if not src.active and not src.inactive_reason:
        found.append(_("inactive: it was switched off, so no mail is fetched from it"))
    cleared = secret_scope.cleared(src)  # the server changed, so its secret is asked again
    if cleared:
        found.append(_("needs attention: %(why)s") % {"why": cleared})
    elif src.auth_state == AuthState.NEEDS_AUTHENTICATION:
        found.append(_("needs sign-in: nobody has signed in to this mailbox yet"))
    elif src.auth_state == AuthState.NEEDS_REAUTHENTICATION:
        found.append(
            _("needs sign-in again: the provider refused the saved sign-in (%(why)s)")
            % {"why": src.auth_error}
            if src.auth_error
            else _("needs sign-in again: the provider refused the saved sign-in")
        )
    expiry = secret_expiry_warning(src.secret_expires, today)
    if expiry:
        found.append(expiry)
    return found


def attention(s: Session, access: Access, today: date) -> list[Attention]:
    q = access.limit_sources(select(Source).order_by(Source.name))
    found = []
    for src in s.scalars(q):
        problems = source_problems(src, today)
        if problems:
            stopped = not src.active or src.auth_state != AuthState.OK
            found.append(Attention(src.id, src.name, src.company.name, problems, stopped))
    return found


def sent(
    s: Session, access: Access, limit: int = LIMIT
) -> list[tuple[Notification, str, Source | None]]:
    """The notifications about sources the user may use (and company-wide ones of their
    companies), newest first: (notification, company name, source or None)."""
    q = (
        select(Notification, Company.name, Source)
        .join(Company, Notification.company_id == Company.id)
        .outerjoin(Source, Notification.source_id == Source.id)
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    q = access.limit_notifications(q)
    return [(n, company, src) for n, company, src in s.execute(q)]


@dataclass(frozen=True)
class Delivery:
    """How one channel of a notification fared, in words; *help* links to how to fix it."""

    words: str
    tone: str  # a badge class
    help: str | None = None


NO_CHANNEL = {
    "email": N_("not sent: no e-mail relay configured"),
    "webhook": N_("not sent: no webhook configured"),
}


def delivery(state: str, channel: str, configured: bool, company_id: int) -> Delivery:
    """The words for *state* of *channel* ("email" or "webhook"), knowing whether the service
    has that channel configured."""
    if state == outbox.SENT:
        return Delivery(_("sent"), "ok")
    if state == outbox.FAILED:
        return Delivery(_("failed"), "bad")
    if not configured:  # pending forever, or skipped for want of a channel
        return Delivery(_(NO_CHANNEL[channel]), "warn", "/help/notifications")
    if state == outbox.SKIPPED:  # a channel, but no address to send to
        return Delivery(_("not sent: nobody to send it to"), "warn", f"/companies/{company_id}")
    return Delivery(_("waiting to be sent"), "info")


@router.get("/notifications")
def notifications_page(request: Request, page: PageUser) -> Response:
    today = datetime.now(UTC).date()
    with context(request).app.db.session() as s:
        have = outbox.channels(s)
        rows = [
            (
                n,
                company,
                src,
                delivery(n.email_state, "email", have["email"], n.company_id),
                delivery(n.webhook_state, "webhook", have["webhook"], n.company_id),
            )
            for n, company, src in sent(s, page.access)
        ]
        return render(
            request,
            "notifications.html",
            page,
            nav="notifications",
            attention=attention(s, page.access, today),
            notifications=rows,
            channels=have,
        )


@router.get("/help/notifications")
def notifications_help(request: Request, page: PageUser) -> Response:
    with context(request).app.db.session() as s:
        have = outbox.channels(s)
    return render(request, "notifications_help.html", page, nav="notifications", channels=have)
