"""Notifications: what people must know about a source, kept as an outbox until delivered.

Who gets a company's notifications by e-mail (``recipients``): everyone with access to it (its
active users and every active administrator) and the company's extra addresses
(``Company.notify_emails``, set on the company's page or with ``company set --notify``).

Which channels the running service has (``CHANNELS``, a setting written by each delivery round)
lets a screen say why a notification was not sent: "no e-mail relay configured".

A delivery error is kept without the URLs in it (``redact_urls``): a webhook URL is often its
own secret (a chat service's incoming hook), so only its scheme and host are kept.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from invoice_inbox.i18n import DEFAULT_LOCALE
from invoice_inbox.store.models import Company, Role, Source, User
from invoice_inbox.store.models import user_company as _user_company
from invoice_inbox.store.models_events import Notification
from invoice_inbox.store.models_state import Setting
from invoice_inbox.store.notification_texts import Texts

CHANNELS = "notify_channels"  # {"email": bool, "webhook": bool} as the service last had them

PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"

_URL = re.compile(
    r"\b([a-z][a-z0-9+.-]*)://(?:[^\s/?#@]*@)?(\[[^\]\s]*\]|[^\s/?#:\]]*)[^\s]*", re.I
)


def redact_urls(text: str) -> str:
    """*text* with each URL cut to its scheme and host (no user, port, path or query)."""
    return _URL.sub(lambda m: f"{m[1]}://{m[2]}", text)


def redact_stored_errors(s: Session) -> int:
    """Cut the URLs in errors kept by older versions; returns how many were changed."""
    changed = 0
    for n in s.scalars(select(Notification).where(Notification.last_error.contains("://"))):
        shown = redact_urls(n.last_error or "")
        if shown != n.last_error:
            n.last_error = shown
            changed += 1
    return changed


def create_written(
    s: Session,
    src: Source,
    kind: str,
    texts: Texts,
    *,
    now: datetime,
    document_id: int | None = None,
) -> Notification:
    """A notification of *kind* about *src*: its *texts* stored in English, and kept as codes
    to be written in each recipient's language when sent (``store.notification_texts``)."""
    subject, body = texts.written(DEFAULT_LOCALE)
    n = create(s, src, kind, subject, body, now=now, document_id=document_id)
    n.texts = texts.to_json()
    return n


def create(
    s: Session,
    src: Source,
    kind: str,
    subject: str,
    body: str,
    *,
    now: datetime,
    document_id: int | None = None,
) -> Notification:
    """A notification in English only (see ``create_written``)."""
    n = Notification(
        company_id=src.company_id,
        source_id=src.id,
        document_id=document_id,
        kind=kind,
        subject=subject,
        body=body,
        created_at=now,
        email_state=PENDING,
        webhook_state=PENDING,
        attempts=0,
        next_attempt_at=now,
    )
    s.add(n)
    s.flush()
    return n


def due(s: Session, now: datetime, limit: int = 100) -> list[Notification]:
    """Notifications with a channel still to deliver whose next attempt is due."""
    return list(
        s.scalars(
            select(Notification)
            .where(
                or_(Notification.email_state == PENDING, Notification.webhook_state == PENDING),
                or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
            )
            .order_by(Notification.id)
            .limit(limit)
        )
    )


def listing(
    s: Session, *, company: str | None = None, limit: int = 100
) -> list[tuple[Notification, str, str | None]]:
    """Newest first: (notification, company name, source name)."""
    q = (
        select(Notification, Company.name, Source.name)
        .join(Company, Notification.company_id == Company.id)
        .outerjoin(Source, Notification.source_id == Source.id)
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    if company:
        q = q.where(Company.name == company)
    return [(n, c, src) for n, c, src in s.execute(q)]


@dataclass(frozen=True)
class Recipient:
    address: str
    why: str  # "admin" | "user" (has access) | "extra" (one of the company's own addresses)
    # the language they are written in: the user's, else the company's (None: English)
    locale: str | None = None


def recipients(s: Session, company: Company) -> list[Recipient]:
    """Who gets *company*'s notifications by e-mail, each address once: its active users and
    every active admin (by address), then the company's extra addresses; each with the
    language they are written in."""
    members = select(_user_company.c.user_id).where(_user_company.c.company_id == company.id)
    people = s.execute(
        select(User.email, User.role, User.locale)
        .where(User.active.is_(True), or_(User.role == Role.ADMIN, User.id.in_(members)))
        .order_by(User.email)
    )
    found: dict[str, Recipient] = {}
    for address, role, locale in people:
        why = "admin" if role == Role.ADMIN else "user"
        found.setdefault(
            address.strip().lower(), Recipient(address.strip(), why, locale or company.locale)
        )
    for address in company.notify_emails or []:
        found.setdefault(
            address.strip().lower(), Recipient(address.strip(), "extra", company.locale)
        )
    return list(found.values())


def record_channels(s: Session, *, email: bool, webhook: bool) -> None:
    """Keep which channels the service delivers through, for the screens."""
    value = json.dumps({"email": email, "webhook": webhook})
    row = s.get(Setting, CHANNELS)
    if row is None:
        s.add(Setting(key=CHANNELS, value=value))
    elif row.value != value:
        row.value = value


def channels(s: Session) -> dict[str, bool]:
    """The channels the service last delivered through; none before it ever ran."""
    row = s.get(Setting, CHANNELS)
    try:
        found = json.loads(row.value) if row else {}
    except ValueError:
        found = {}
    return {"email": bool(found.get("email")), "webhook": bool(found.get("webhook"))}
