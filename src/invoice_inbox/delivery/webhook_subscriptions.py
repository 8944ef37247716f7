"""A company's webhook subscriptions: made and changed only when their URL and events are right
(``check_url``: http or https, a host, no credentials, a public address unless the operator
allows private ones, ``delivery.egress``; ``check_events``: kinds of ``store.events.KINDS``),
and listed by company. Sending what they asked for is ``delivery.webhooks``."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from invoice_inbox.auth.secrets import SecretBox
from invoice_inbox.delivery import egress
from invoice_inbox.delivery.signing import new_secret
from invoice_inbox.i18n import _
from invoice_inbox.store import events
from invoice_inbox.store.models import Company
from invoice_inbox.store.models_events import Webhook


class WebhookProblem(ValueError):
    """A mistake in a subscription (its URL, its events), in one plain sentence in the reader's
    language; ``field`` names what is wrong ("url", "events"), whatever the language."""

    def __init__(self, message: str, field: str = "url") -> None:
        super().__init__(message)
        self.field = field


def check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookProblem(_("the URL must start with http:// or https:// and name a host"))
    if parts.username or parts.password:
        raise WebhookProblem(_("the URL must not contain a user name or password"))
    refused = egress.check_url_host(url)
    if refused is not None:
        raise WebhookProblem(
            _(
                "the URL's host is refused: %(refused)s; webhooks go to public addresses only "
                "(the operator may allow private ones: serve --allow-private-webhooks)"
            )
            % {"refused": refused}
        )
    return url


def check_events(kinds: list[str]) -> list[str]:
    unknown = [k for k in kinds if k not in events.KINDS]
    if unknown:
        raise WebhookProblem(
            _("unknown event %(event)s; choose from %(events)s")
            % {"event": repr(unknown[0]), "events": ", ".join(events.KINDS)},
            field="events",
        )
    if not kinds:
        raise WebhookProblem(_("choose at least one event"), field="events")
    return [k for k in events.KINDS if k in kinds]  # a fixed order, no repeats


def create(
    s: Session,
    box: SecretBox,
    company: Company,
    url: str,
    kinds: list[str],
    *,
    description: str = "",
    active: bool = True,
) -> tuple[Webhook, str]:
    """A new subscription: (its row, its signing secret, which is shown this once)."""
    secret = new_secret()
    hook = Webhook(
        company_id=company.id,
        url=check_url(url),
        events=check_events(kinds),
        secret=box.encrypt(secret),
        description=description.strip(),
        active=active,
    )
    s.add(hook)
    s.flush()
    return hook, secret


def change(
    hook: Webhook,
    *,
    url: str | None = None,
    kinds: list[str] | None = None,
    description: str | None = None,
    active: bool | None = None,
) -> None:
    """Change what is given; nothing is changed when any of it is wrong."""
    url = check_url(url) if url is not None else None
    kinds = check_events(kinds) if kinds is not None else None
    if url is not None:
        hook.url = url
    if kinds is not None:
        hook.events = kinds
    if description is not None:
        hook.description = description.strip()
    if active is not None:
        hook.active = active


def of_companies(s: Session, company_ids: set[int] | None) -> list[Webhook]:
    """Subscriptions by company name, then id; *company_ids* None: every company's."""
    q = select(Webhook).join(Company, Webhook.company_id == Company.id)
    if company_ids is not None:
        q = q.where(Webhook.company_id.in_(company_ids))
    return list(s.scalars(q.order_by(Company.name, Webhook.id)))
