"""Source health: what the outcome of a run means for its source.

- A run that succeeds (importing nothing is a success) clears the failure count and warnings.
- A refused login (a wrong password, a revoked token) puts the source into "needs attention":
  it is not tried again until someone fixes its sign-in, and its company is notified once.
- Any other failure is counted. The first one shows on the source as "connection lost" with the
  server's words; after ``max_failures`` failed runs in a row the source is switched off and its
  company is notified. Switching it on again (``source activate``) resets the count.
- A partial run (it imported mail, then met an error such as a missing folder) is counted and
  shown the same way, so someone sees the error, but it never switches the source off by itself:
  that would stop the mail that does arrive. A later run that gets nothing done is a failure and
  the rule above applies, counting the partial runs before it.

Each notification comes with a webhook event (``source.needs_attention``,
``source.deactivated``) in the same transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from invoice_inbox.errors import ConnectorError, LoginFailed
from invoice_inbox.i18n import _, ngettext
from invoice_inbox.runtime.context import App
from invoice_inbox.store import events, notifications, sources
from invoice_inbox.store.blobs import BlobStoreError
from invoice_inbox.store.models import AuthState, Source, utcnow
from invoice_inbox.store.notification_texts import Texts, since

DEACTIVATED = "source_deactivated"
NEEDS_ATTENTION = "needs_attention"

# stored in English (events and webhooks carry it), shown through inactive_words
SWITCHED_OFF = "switched off after %(n)s failed runs in a row; last error: %(error)s"
_SWITCHED_OFF = re.compile(
    r"switched off after (?P<n>[0-9]+) failed runs in a row; last error: (?P<error>.*)", re.S
)


@dataclass(frozen=True)
class Outcome:
    failures: int  # consecutive failed runs, this one included
    transient: bool  # retrying soon may help
    deactivated: bool = False
    needs_attention: bool = False


def record_success(app: App, source_name: str) -> None:
    with app.db.session() as s:
        src = sources.get(s, source_name)
        src.failures, src.failing_since, src.last_error = 0, None, None


def _consent_missing(exc: LoginFailed) -> bool:
    """An OAuth2 refusal for want of an administrator's consent (not the source's sign-in).
    OAuth2 (httpx) is imported here, on a failed login, not by every run that imports this."""
    from invoice_inbox.auth.oauth import ConsentMissing

    return isinstance(exc, ConsentMissing)


def record_failure(
    app: App,
    source_name: str,
    exc: ConnectorError | BlobStoreError,
    *,
    now: datetime | None = None,
    partial: bool = False,
) -> Outcome:
    """Count a failed run (or, with *partial*, a run that imported mail before *exc*)."""
    now = now or utcnow()
    with app.db.session() as s:
        src = sources.get(s, source_name)
        if isinstance(exc, LoginFailed) and not _consent_missing(exc):
            if src.auth == "password" and src.auth_state == AuthState.OK:
                src.auth_state, src.auth_error = AuthState.LOGIN_REFUSED, str(exc)
            # a refused token was marked by runner.signed_in already; other refusals over
            # OAuth2 (a mailbox permission missing) are fixed elsewhere and simply counted
            if src.auth_state != AuthState.OK:
                notifications.create_written(s, src, NEEDS_ATTENTION, _attention(src, exc), now=now)
                events.source_changed(s, events.SOURCE_NEEDS_ATTENTION, src, str(exc), now=now)
                return Outcome(src.failures, transient=False, needs_attention=True)
        src.failures += 1
        src.last_error = str(exc)
        if src.failing_since is None:
            src.failing_since = now
        if partial or src.failures < src.max_failures or not src.active:
            return Outcome(src.failures, transient=exc.transient)
        src.active = False
        src.inactive_reason = SWITCHED_OFF % {"n": src.failures, "error": exc}
        notifications.create_written(s, src, DEACTIVATED, _deactivated(src, exc), now=now)
        events.source_changed(s, events.SOURCE_DEACTIVATED, src, src.inactive_reason, now=now)
        return Outcome(src.failures, transient=exc.transient, deactivated=True)


def inactive_words(reason: str) -> str:
    """A stored ``inactive_reason`` in the reader's language (itself when not ours: it is
    stored in English, as events and webhooks carry it)."""
    found = _SWITCHED_OFF.fullmatch(reason)
    if found is None:
        return reason
    n = int(found["n"])
    return ngettext(
        "switched off after %(n)s failed run in a row; last error: %(error)s",
        "switched off after %(n)s failed runs in a row; last error: %(error)s",
        n,
    ) % {"n": n, "error": found["error"]}


def reactivate(src: Source) -> None:
    """Switch a source on with a clean slate: the failure count starts again from zero (a
    draft is started)."""
    src.active, src.draft = True, False
    src.failures, src.failing_since, src.last_error, src.inactive_reason = 0, None, None, None
    src.next_run_at = None


def warnings(src: Source) -> list[str]:
    """The health warnings a person sees on the source."""
    found = []
    if not src.active and src.inactive_reason:
        found.append(
            _("inactive: %(why)s; switch it on with: %(command)s")
            % {
                "why": inactive_words(src.inactive_reason),
                "command": f"invoice-inbox source activate {src.name}",
            }
        )
    elif src.failures:
        since = _failing_since(src)
        found.append(
            ngettext(
                "connection lost: %(n)s failed run since %(since)s: %(error)s",
                "connection lost: %(n)s failed runs since %(since)s: %(error)s",
                src.failures,
            )
            % {"n": src.failures, "since": since, "error": src.last_error}
        )
    if src.auth_state == AuthState.LOGIN_REFUSED:
        found.append(
            _("needs attention: the login was refused (%(why)s)") % {"why": src.auth_error}
        )
    return found


def _failing_since(src: Source) -> str:
    return src.failing_since.strftime("%Y-%m-%d %H:%M UTC") if src.failing_since else "?"


def _attention(src: Source, exc: ConnectorError | BlobStoreError) -> Texts:
    return Texts(
        "attention_subject",
        "attention_body",
        {"source": src.name, "company": src.company.name, "error": str(exc)},
    )


def _deactivated(src: Source, exc: ConnectorError | BlobStoreError) -> Texts:
    return Texts(
        "deactivated_subject",
        "deactivated_body",
        {
            "source": src.name,
            "company": src.company.name,
            "failures": src.failures,
            "since": since(src.failing_since),
            "error": str(exc),
        },
    )
