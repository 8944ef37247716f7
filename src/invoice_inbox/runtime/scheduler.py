"""The embedded scheduler: fetch every active source every N minutes until told to stop.

A source that fails is logged and retried at its next turn; one source's trouble never stops
the others. The lease keeps a source from running twice even with several schedulers.
"""

from __future__ import annotations

import logging
import threading
import time

from invoice_inbox.errors import ConnectorError
from invoice_inbox.runtime import lease
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.runner import fetch
from invoice_inbox.store import sources
from invoice_inbox.store.models import AuthState

log = logging.getLogger(__name__)


def run_due(app: App) -> None:
    with app.db.session() as s:
        active = sources.all_sources(s, active_only=True)
        names = [src.name for src in active if src.auth_state == AuthState.OK]
        waiting = [src.name for src in active if src.auth_state != AuthState.OK]
    for name in waiting:  # asking the provider again would only be refused again
        log.warning("source %s skipped: it needs (re-)authentication", name)
    for name in names:
        try:
            summary = fetch(app, name, trigger="schedule")
            log.info(
                "source %s: %d seen, %d imported, %d not imported, %d documents",
                name,
                summary.messages_seen,
                summary.imported,
                summary.not_imported,
                summary.documents_created,
            )
        except lease.SourceBusy as exc:
            log.info("source %s %s", name, exc)
        except ConnectorError as exc:
            log.warning("source %s failed: %s", name, exc)
        except Exception:  # one broken source must not stop the scheduler
            log.exception("source %s failed unexpectedly", name)


def run_forever(app: App, interval_minutes: float, stop: threading.Event) -> None:
    while not stop.is_set():
        started = time.monotonic()
        run_due(app)
        stop.wait(max(0.0, interval_minutes * 60 - (time.monotonic() - started)))
