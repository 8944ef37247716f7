"""Notifications: what people must know about a source, kept as an outbox until delivered.

A delivery error is kept without the URLs in it (``redact_urls``): a webhook URL is often its
own secret (a chat service's incoming hook), so only its scheme and host are kept.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from invoice_inbox.store.models import Company, Notification, Source

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


def create(
    s: Session, src: Source, kind: str, subject: str, body: str, *, now: datetime
) -> Notification:
    n = Notification(
        company_id=src.company_id,
        source_id=src.id,
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
