"""Webhooks: a company's subscriptions, and the delivery of outbox events to them, signed.

``dispatch`` turns new outbox events (``store.events``) into one delivery per active subscription
of the event's company that asked for its kind. ``deliver_due`` POSTs each due delivery and keeps
the log: a 2xx answer delivers it; any other answer, a redirect or a network error is a failed
attempt, retried after 30 s, 1 min, 2 min, ... (at most 1 h apart) until 24 hours after the
delivery was made; then it is marked failed. The subscriptions themselves (made, changed, checked,
listed) are ``delivery.webhook_subscriptions``. A delivery is sent at least once: a receiver may get
one twice (a crash right after sending) and should skip a ``X-Invoice-Inbox-Delivery`` it knows.

What a receiver gets::

    POST <url>
    Content-Type: application/json
    User-Agent: invoice-inbox/<version>
    X-Invoice-Inbox-Event: document.created
    X-Invoice-Inbox-Delivery: 812
    X-Invoice-Inbox-Timestamp: 1767225600
    X-Invoice-Inbox-Signature: v1=5257a869...

    {"id": 97, "type": "document.created", "created_at": "...", "company": "ACME", "data": {...}}

The types a subscription may ask for are ``store.events.KINDS``: ``document.created``
(``data``: the document, with its trust fields), ``source.deactivated``,
``source.needs_attention`` and ``supplier.bank_details_changed`` (``data``: the alert's sentence,
the supplier, and the document with its new IBAN and the known ones; ``store.supplier_alerts``).

How it is signed and checked: ``delivery.signing`` (``verify`` is here too). Where it may go:
public addresses only, checked when saved and at every connection (``delivery.egress``). The log
keeps the status and a short reason, never what the receiver answered.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import invoice_inbox
from invoice_inbox.auth.secrets import SecretBox, SecretError
from invoice_inbox.delivery import egress
from invoice_inbox.delivery.signing import TOLERANCE, new_secret, signature, verify
from invoice_inbox.delivery.webhook_subscriptions import WebhookProblem
from invoice_inbox.i18n import _
from invoice_inbox.json_types import JsonObject
from invoice_inbox.store import events
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import utcnow
from invoice_inbox.store.models_events import Event, Webhook, WebhookDelivery
from invoice_inbox.store.rowcount import rowcount

__all__ = ["TOLERANCE", "new_secret", "signature", "verify"]

log = logging.getLogger(__name__)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(hours=24)
CLAIM = timedelta(minutes=2)  # a delivery being sent is not picked up by another worker meanwhile
TIMEOUT = 10.0


# -- a subscription's log (the subscriptions themselves: ``delivery.webhook_subscriptions``) -----


def deliveries(s: Session, webhook_id: int, limit: int = 100) -> list[WebhookDelivery]:
    """The delivery log of a subscription, newest first."""
    return list(
        s.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def ping(db: Database, webhook_id: int, *, now: datetime | None = None) -> int:
    """Queue a ``webhook.test`` event for this one subscription (active or not); returns the
    delivery's id. It goes out with the next ``deliver_due``."""
    now = now or utcnow()
    with db.session() as s:
        hook = s.get(Webhook, webhook_id)
        if hook is None:
            raise WebhookProblem(_("there is no webhook %(id)s") % {"id": webhook_id}, field="id")
        event = events.emit(
            s,
            hook.company_id,
            events.WEBHOOK_TEST,
            {
                "event": events.WEBHOOK_TEST,
                "webhook": {"id": hook.id, "url": hook.url},
                "message": "This is a test event from invoice-inbox.",
            },
            now=now,
            dispatched=True,  # for this subscription only, never fanned out
        )
        s.flush()
        delivery = _delivery(hook.id, event.id, now)
        s.add(delivery)
        s.flush()
        return delivery.id


# -- the outbox --------------------------------------------------------------------------------


def _delivery(webhook_id: int, event_id: int, now: datetime) -> WebhookDelivery:
    return WebhookDelivery(
        webhook_id=webhook_id,
        event_id=event_id,
        state=PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


def dispatch(db: Database, *, now: datetime | None = None, limit: int = 500) -> int:
    """One delivery per new event and subscription that wants it; the events are marked
    dispatched in the same transaction. Returns how many deliveries were made. Two workers
    dispatching at once take different events on PostgreSQL (SKIP LOCKED); on SQLite both may
    read the same events, and the second to write finds the deliveries made: it makes none."""
    try:
        return _dispatch(db, now or utcnow(), limit)
    except IntegrityError:
        log.info("these events were just dispatched by another worker")
        return 0


def _dispatch(db: Database, now: datetime, limit: int) -> int:
    made = 0
    with db.session() as s:
        new = list(
            s.scalars(
                select(Event)
                .where(Event.dispatched.is_(False))
                .order_by(Event.id)
                .limit(limit)
                .with_for_update(skip_locked=True)  # PostgreSQL: workers take different events
            )
        )
        if not new:
            return 0
        hooks: dict[int, list[Webhook]] = {}
        for hook in s.scalars(
            select(Webhook).where(
                Webhook.active.is_(True), Webhook.company_id.in_({e.company_id for e in new})
            )
        ):
            hooks.setdefault(hook.company_id, []).append(hook)
        for event in new:
            for hook in hooks.get(event.company_id, []):
                if event.kind in (hook.events or []):
                    s.add(_delivery(hook.id, event.id, now))
                    made += 1
            event.dispatched = True
    return made


@dataclass(frozen=True)
class _Request:
    delivery_id: int
    url: str
    kind: str
    body: bytes
    secret: str | None  # None: it could not be decrypted
    deadline: datetime


def _body(event: Event, company: str) -> bytes:
    document = {
        "id": event.id,
        "type": event.kind,
        "created_at": event.created_at.isoformat(),
        "company": company,
        "data": event.payload,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _due_ids(db: Database, now: datetime, limit: int) -> list[int]:
    with db.session() as s:
        return list(
            s.scalars(
                select(WebhookDelivery.id)
                .join(Webhook, WebhookDelivery.webhook_id == Webhook.id)
                .join(Event, WebhookDelivery.event_id == Event.id)
                .where(
                    WebhookDelivery.state == PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                    or_(Webhook.active.is_(True), Event.kind == events.WEBHOOK_TEST),
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
            )
        )


def _claim(db: Database, box: SecretBox, delivery_id: int, now: datetime) -> _Request | None:
    """Take the delivery for sending (None: another worker has it, or it is no longer due)."""
    with db.session() as s:
        taken = s.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.state == PENDING,
                WebhookDelivery.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + CLAIM)
        )
        if rowcount(taken) != 1:
            return None
        row = s.get(WebhookDelivery, delivery_id)
        assert row is not None
        hook = s.get(Webhook, row.webhook_id)
        assert hook is not None
        try:
            secret: str | None = box.decrypt(hook.secret)
        except SecretError:
            secret = None
        return _Request(
            delivery_id=row.id,
            url=hook.url,
            kind=row.event.kind,
            body=_body(row.event, hook.company.name),
            secret=secret,
            deadline=row.created_at + GIVE_UP_AFTER,
        )


def _send(poster: egress.Poster, req: _Request) -> tuple[int | None, str | None]:
    """POST one delivery: (the HTTP status or None, an error sentence or None if delivered).
    The answer's body is never read, so nothing the receiver says is kept."""
    if req.secret is None:
        return None, "the signing secret cannot be decrypted: the secret key has changed"
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"invoice-inbox/{invoice_inbox.__version__}",
        "X-Invoice-Inbox-Event": req.kind,
        "X-Invoice-Inbox-Delivery": str(req.delivery_id),
        "X-Invoice-Inbox-Timestamp": str(timestamp),
        "X-Invoice-Inbox-Signature": signature(req.secret, timestamp, req.body),
    }
    try:
        status = poster.post(req.url, req.body, headers)
    except egress.Unsent as exc:
        return None, str(exc)
    if 200 <= status < 300:
        return status, None
    if 300 <= status < 400:
        return status, f"answered {status} (redirects are not followed)"
    return status, f"answered {status}"


def _record(
    db: Database, req: _Request, status: int | None, error: str | None, now: datetime
) -> bool:
    with db.session() as s:
        row = s.get(WebhookDelivery, req.delivery_id)
        if row is None:  # its subscription was deleted meanwhile
            return False
        row.attempts += 1
        row.last_status, row.last_error = status, error
        if error is None:
            row.state, row.delivered_at, row.next_attempt_at = DELIVERED, now, None
            return True
        if now >= req.deadline:
            row.state, row.next_attempt_at = FAILED, None
            log.warning(
                "webhook delivery %d given up after %d attempts: %s",
                row.id,
                row.attempts,
                error,
            )
            return False
        wait = min(RETRY_CAP, RETRY_BASE * 2 ** (row.attempts - 1))
        row.next_attempt_at = min(now + wait, req.deadline)  # one last try at the deadline
        log.info("webhook delivery %d failed (attempt %d): %s", row.id, row.attempts, error)
        return False


def deliver_due(
    db: Database,
    box: SecretBox,
    *,
    now: datetime | None = None,
    limit: int = 100,
    stop: threading.Event | None = None,
    allow_private: bool | None = None,
) -> int:
    """Send every due delivery (oldest first, one at a time); returns how many were delivered.

    Deliveries of a switched-off subscription wait (a test event is sent all the same). Each
    connection goes to a public address only, checked when it is made (``delivery.egress``),
    unless *allow_private* (None: as the operator said for this process)."""
    now = now or utcnow()
    delivered = 0
    with egress.Poster(timeout=TIMEOUT, allow_private=allow_private) as poster:
        for delivery_id in _due_ids(db, now, limit):
            if stop is not None and stop.is_set():
                break
            req = _claim(db, box, delivery_id, now)
            if req is None:
                continue
            status, error = _send(poster, req)
            delivered += _record(db, req, status, error, now)
    return delivered


def view(row: WebhookDelivery) -> JsonObject:
    """A delivery as the log shows it (screens and API)."""
    return {
        "id": row.id,
        "event_id": row.event_id,
        "event": row.event.kind,
        "state": row.state,
        "attempts": row.attempts,
        "last_status": row.last_status,
        "last_error": _shown_error(row.last_error),
        "created_at": row.created_at,
        "next_attempt_at": row.next_attempt_at if row.state == PENDING else None,
        "delivered_at": row.delivered_at,
    }


def _shown_error(error: str | None) -> str | None:
    """A logged error as shown: what older versions kept of an answer ("answered 500: ...")
    is left out."""
    return error.split(":", 1)[0] if error and error.startswith("answered ") else error
