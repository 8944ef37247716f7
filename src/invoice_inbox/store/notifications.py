"""Notifications: what people must know about a source, kept as an outbox until delivered."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from invoice_inbox.store.models import Company, Notification, Source

PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"


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
