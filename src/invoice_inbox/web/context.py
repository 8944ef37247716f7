"""What the web application needs from the service: the data, fetch-now, health, metrics."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from invoice_inbox.errors import ConnectorError
from invoice_inbox.runtime import runner
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.lease import SourceBusy
from invoice_inbox.runtime.status_http import Status
from invoice_inbox.web.ratelimit import LoginLimiter
from invoice_inbox.web.setup_token import SetupToken

log = logging.getLogger(__name__)


def fetch_in_background(app: App) -> Callable[[str], None]:
    """Fetch-now without a scheduler (tests, a web process of its own): one thread per run;
    the lease keeps a source from running twice, the run and its error land in the log."""

    def start(name: str) -> None:
        def work() -> None:
            try:
                runner.fetch(app, name, trigger="manual")
            except (ConnectorError, SourceBusy) as exc:
                log.warning("source %s: fetch now failed: %s", name, exc)
            except Exception:
                log.exception("source %s: fetch now failed", name)

        threading.Thread(target=work, name=f"fetch:{name}", daemon=True).start()

    return start


@dataclass
class WebContext:
    app: App
    fetch_now: Callable[[str], None]  # start a run of the source named soon; returns at once
    status: Status
    limiter: LoginLimiter  # in the database: shared by every web process
    setup: SetupToken  # what /setup needs, also in the database
