"""Tables of the outboxes: webhook events written in the same transaction as what they announce,
the subscriptions (webhooks) and one delivery per event and subscription (``store.events``,
``delivery.webhooks``); notifications people must read, with their delivery state
(``store.notifications``, ``delivery.notify``).

They sit beside ``store.models`` (same ``Base``), imported by ``invoice_inbox.store`` so the
metadata always holds them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from invoice_inbox.store import notification_texts
from invoice_inbox.store.models import Base, Company, UTCDateTime, utcnow


class Event(Base):
    """The outbox of webhook events (``document.created``, ``source.deactivated``,
    ``source.needs_attention``, ``supplier.bank_details_changed``), written in the same
    transaction as what they announce and fanned out to the company's webhook subscriptions by
    the service."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_dispatched", "dispatched"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    dispatched: Mapped[bool] = mapped_column(Boolean, default=False)


class Webhook(Base):
    """A company's subscription: POST these event kinds, signed with HMAC-SHA256, to ``url``."""

    __tablename__ = "webhook"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(Text)  # Fernet: the signing key, shown once
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    company: Mapped[Company] = relationship()


class WebhookDelivery(Base):
    """One event for one subscription: the delivery log, retried with backoff for a day."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id"),
        Index("ix_webhook_delivery_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhook.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    event: Mapped[Event] = relationship()


class Notification(Base):
    """Something people must know about a source (deactivated, sign-in refused), and its delivery
    by e-mail and webhook: an outbox row, delivered and retried by ``serve``."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="CASCADE"))
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("source.id", ondelete="SET NULL"), nullable=True
    )
    kind: Mapped[str] = mapped_column(String(40))  # source_deactivated | needs_attention | ...
    # the document it is about (a bank-detail change, a look-alike sender's invoice)
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("document.id", ondelete="SET NULL"), nullable=True
    )
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    # subject and body as message codes with parameters, built in each recipient's language
    # when sent (store.notification_texts: {"subject": code, "body": code, "params": {...},
    # "tail": text}); None: sent as the English text
    texts: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # delivery: pending | sent | failed (gave up) | skipped (no channel configured)
    email_state: Mapped[str] = mapped_column(String(20), default="pending")
    webhook_state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    def written(self) -> tuple[str, str]:
        """Subject and body in the current reader's language (English for older rows)."""
        texts = notification_texts.of(self.texts)
        return texts.written() if texts is not None else (self.subject, self.body)
