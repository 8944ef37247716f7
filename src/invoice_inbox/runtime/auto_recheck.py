"""Re-check a source's not-imported mail in the background after its deciding settings change.

A change of a source's allowed senders, import rules or filters, made anywhere, bumps its
``recheck_wanted`` generation in the same transaction (``store.recheck_marks``). ``tick``
re-checks each source whose wanted generation is ahead of the one last re-checked: once per
change (changes made before a recheck starts are covered by it together), under the source's
lease (``runtime.recheck``), so never beside a fetch or on two workers at once. A source that
is busy is tried at the next tick; one whose recheck failed (its run on the log says why) is
tried again after *retry_after* seconds, not at every tick.

Mail a source did not import because DNS failed while its sender was authenticated (the
``temperror`` of a ``require`` source) is re-checked too, without a change: every *dns_retry*
seconds, only that mail, until DNS answers. Mail imported with such a DNS failure (under
``flag``) is authenticated again at the same time (``runtime.auth_refresh``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import select

from invoice_inbox.pipeline.decide import Verdict
from invoice_inbox.pipeline.trust.result import AuthStatus
from invoice_inbox.runtime import lease
from invoice_inbox.runtime.auth_refresh import refresh_imported
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.logs import log_context
from invoice_inbox.runtime.recheck import recheck_dns_failures, recheck_if_wanted
from invoice_inbox.store.errors import NotFound
from invoice_inbox.store.models import Message, Source

log = logging.getLogger(__name__)


def wanted(app: App) -> list[str]:
    """The names of the sources whose not-imported mail waits to be re-checked."""
    with app.db.session() as s:
        q = select(Source.name).where(Source.recheck_wanted > Source.recheck_done)
        return list(s.scalars(q.order_by(Source.id)))


def dns_failures(app: App) -> list[str]:
    """The names of the sources with mail not imported because DNS failed."""
    with app.db.session() as s:
        q = (
            select(Source.name)
            .join(Message, Message.source_id == Source.id)
            .where(
                Message.decision == Verdict.NOT_IMPORTED,
                Message.sender_auth == AuthStatus.TEMPERROR,
            )
            .distinct()
        )
        return sorted(s.scalars(q))


class Rechecker:
    """Runs the wanted rechecks; the service calls ``tick`` every few seconds."""

    def __init__(
        self,
        app: App,
        *,
        retry_after: float = 600.0,
        dns_retry: float = 600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app, self.retry_after, self.monotonic = app, retry_after, monotonic
        self.dns_retry = dns_retry
        self._failed: dict[str, float] = {}  # source -> when its recheck last failed
        self._dns_tried: float | None = None  # when mail refused for DNS was last re-checked

    def tick(self) -> list[str]:
        """Re-check every source that waits for it, and now and then the mail refused because
        DNS failed; the names of those re-checked."""
        done = self._wanted()
        now = self.monotonic()
        if self._dns_tried is None or now - self._dns_tried >= self.dns_retry:
            self._dns_tried = now
            done += [name for name in dns_failures(self.app) if self._dns_retry(name)]
            try:
                refresh_imported(self.app)
            except Exception:
                log.exception("authenticating again the mail imported while DNS failed")
        return done

    def _wanted(self) -> list[str]:
        done = []
        for name in wanted(self.app):
            failed = self._failed.get(name)
            if failed is not None and self.monotonic() - failed < self.retry_after:
                continue
            with log_context(source=name):
                try:
                    summary = recheck_if_wanted(self.app, name)
                except (lease.SourceBusy, NotFound):
                    continue  # fetched right now (next tick), or removed meanwhile
                except Exception:
                    self._failed[name] = self.monotonic()
                    log.exception("re-checking the not-imported mail failed")
                    continue
            self._failed.pop(name, None)
            if summary is None:
                continue
            done.append(name)
            log.info(
                "source %s: %d not-imported mails re-checked after a change, %d imported now"
                " (run %d)",
                name,
                summary.checked,
                summary.imported,
                summary.run_id,
            )
        return done

    def _dns_retry(self, name: str) -> bool:
        """Re-check the source's mail refused because DNS failed; True when some was."""
        with log_context(source=name):
            try:
                summary = recheck_dns_failures(self.app, name)
            except (lease.SourceBusy, NotFound):
                return False  # the next try comes after dns_retry
            except Exception:
                log.exception("re-checking the mail refused because DNS failed did not work")
                return False
        if summary is None:
            return False
        log.info(
            "source %s: %d mails refused because DNS failed re-checked, %d imported now (run %d)",
            name,
            summary.checked,
            summary.imported,
            summary.run_id,
        )
        return True
