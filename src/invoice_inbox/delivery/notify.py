"""Deliver notifications: by e-mail through an SMTP relay and as a JSON POST to a webhook.

The e-mail goes to the company's recipients (``store.notifications.recipients``): everyone with
access to the company (its users and all admins) and the company's extra addresses, each in
their language (a user's, else the company's, else English): one e-mail per language.

Notifications are an outbox (``store.notifications``): whoever creates one only writes a row;
``deliver_due`` sends what is due, records each channel's result, and retries a failed channel
with exponential backoff until it gives up after ``MAX_ATTEMPTS``. Any number of workers may
deliver at once: each notification is claimed before it is sent (a conditional UPDATE that
moves its next attempt ``CLAIM`` ahead), so one worker sends it; when that worker dies, the
claim runs out and another sends it (at least once). A channel that is not
configured (no relay, no recipients, no webhook URL) is marked "skipped", not failed.

The webhook URL is the operator's (``serve --notify-webhook``), so it may be a private address;
it is often a secret of its own (a chat service's incoming hook), so errors and logs name only
its scheme and host, and what the receiver answered is never read.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from invoice_inbox.delivery import egress
from invoice_inbox.i18n import DEFAULT_LOCALE
from invoice_inbox.store import notification_texts, notifications
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import Company, Source, utcnow
from invoice_inbox.store.models_events import Notification
from invoice_inbox.store.rowcount import rowcount

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=2)
CLAIM = timedelta(minutes=2)  # a notification being sent is not picked up by another worker


@dataclass(frozen=True, kw_only=True)
class Channels:
    """Where notifications go. ``smtp_host`` None: no e-mail; ``webhook_url`` None: no webhook."""

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    sender: str = "invoice-inbox@localhost"
    webhook_url: str | None = None
    timeout: float = 30.0


class DeliveryFailed(Exception):
    pass


def send_email(channels: Channels, recipients: list[str], subject: str, body: str) -> None:
    assert channels.smtp_host is not None
    msg = EmailMessage()
    msg["From"] = channels.sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain="invoice-inbox")
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    msg.set_content(body)
    try:
        with smtplib.SMTP(channels.smtp_host, channels.smtp_port, timeout=channels.timeout) as c:
            if channels.smtp_starttls:
                c.starttls(context=ssl.create_default_context())
            if channels.smtp_username:
                c.login(channels.smtp_username, channels.smtp_password or "")
            c.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(
            f"e-mail via {channels.smtp_host}:{channels.smtp_port} failed: {exc}"
        ) from exc


def post_webhook(channels: Channels, payload: dict[str, object]) -> None:
    assert channels.webhook_url is not None
    shown = notifications.redact_urls(channels.webhook_url)
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    try:
        with egress.Poster(timeout=channels.timeout, allow_private=True) as poster:
            status = poster.post(channels.webhook_url, body, headers)
    except egress.Unsent as exc:
        raise DeliveryFailed(f"webhook {shown} failed: {exc}") from None
    if not 200 <= status < 300:
        raise DeliveryFailed(f"webhook {shown} answered {status}")


def payload(n: Notification, company: str, source: str | None) -> dict[str, object]:
    return {
        "event": "notification",
        "id": n.id,
        "kind": n.kind,
        "company": company,
        "source": source,
        "subject": n.subject,
        "body": n.body,
        "created_at": n.created_at.isoformat(),
    }


def deliver_due(db: Database, channels: Channels, *, now: datetime | None = None) -> int:
    """Deliver every notification that is due; returns how many channels were delivered."""
    now = now or utcnow()
    delivered = 0
    _record_channels(db, channels)
    with db.session() as s:
        due = [
            (n.id, n.email_state, n.webhook_state, payload(n, *_names(s, n)), _mails(s, n))
            for n in notifications.due(s, now)
        ]
    for nid, email_state, webhook_state, body, mails in due:
        if not _claim(db, nid, now):
            continue  # another worker is sending it
        results: dict[str, str] = {}
        errors: list[str] = []
        if email_state == notifications.PENDING:
            if channels.smtp_host is None or not mails:
                results["email_state"] = notifications.SKIPPED
            else:
                try:
                    for mail in mails:  # one per language (a retry sends each again)
                        send_email(channels, mail.recipients, mail.subject, mail.body)
                    results["email_state"] = notifications.SENT
                except DeliveryFailed as exc:
                    errors.append(str(exc))
        if webhook_state == notifications.PENDING:
            if channels.webhook_url is None:
                results["webhook_state"] = notifications.SKIPPED
            else:
                try:
                    post_webhook(channels, body)
                    results["webhook_state"] = notifications.SENT
                except DeliveryFailed as exc:
                    errors.append(str(exc))
        delivered += sum(1 for v in results.values() if v == notifications.SENT)
        _record(db, nid, results, errors, now)
    return delivered


def _record_channels(db: Database, channels: Channels) -> None:
    """Say which channels the service has; two workers writing the setting's first row at
    once: the loser writes again, as an update."""
    for tries_left in (1, 0):
        try:
            with db.session() as s:
                notifications.record_channels(
                    s,
                    email=channels.smtp_host is not None,
                    webhook=channels.webhook_url is not None,
                )
            return
        except IntegrityError:
            if not tries_left:
                raise


def _claim(db: Database, nid: int, now: datetime) -> bool:
    """Take the notification for sending; False: another worker has it, or it is not due."""
    with db.session() as s:
        taken = rowcount(
            s.execute(
                update(Notification)
                .where(
                    Notification.id == nid,
                    or_(
                        Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now
                    ),
                )
                .values(next_attempt_at=now + CLAIM)
                .execution_options(synchronize_session=False)
            )
        )
    return taken == 1


def _record(
    db: Database, nid: int, results: dict[str, str], errors: list[str], now: datetime
) -> None:
    with db.session() as s:
        n = s.get(Notification, nid)
        if n is None:
            return
        for key, value in results.items():
            setattr(n, key, value)
        if not errors:
            n.last_error = None
            return
        n.attempts += 1
        n.last_error = notifications.redact_urls("; ".join(errors))
        log.warning("notification %d not delivered (attempt %d): %s", nid, n.attempts, n.last_error)
        if n.attempts >= MAX_ATTEMPTS:
            for key in ("email_state", "webhook_state"):
                if getattr(n, key) == notifications.PENDING:
                    setattr(n, key, notifications.FAILED)
            return
        n.next_attempt_at = now + min(RETRY_CAP, RETRY_BASE * 2 ** (n.attempts - 1))


def _names(s: Session, n: Notification) -> tuple[str, str | None]:
    company = s.get(Company, n.company_id)
    source = s.get(Source, n.source_id) if n.source_id else None
    return (company.name if company else "?", source.name if source else None)


@dataclass(frozen=True)
class _Mail:
    """The notification's e-mail in one language, and who gets it."""

    recipients: list[str]
    subject: str
    body: str


def _mails(s: Session, n: Notification) -> list[_Mail]:
    """The e-mails of *n*: one per language of its recipients (``store.notifications.
    recipients``: a user's language, else the company's, else English). A notification of an
    older version, without its texts kept as codes: its English to everyone."""
    company = s.get(Company, n.company_id)
    if company is None:
        return []
    texts = notification_texts.of(n.texts)
    by_locale: dict[str, list[str]] = {}
    for r in notifications.recipients(s, company):
        locale = (r.locale or DEFAULT_LOCALE) if texts is not None else DEFAULT_LOCALE
        by_locale.setdefault(locale, []).append(r.address)
    mails = []
    for locale, addresses in by_locale.items():
        subject, body = texts.written(locale) if texts is not None else (n.subject, n.body)
        mails.append(_Mail(addresses, subject, body))
    return mails
