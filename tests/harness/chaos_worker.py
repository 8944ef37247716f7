"""``invoice-inbox worker`` for the fault-injection rig: the real CLI command, with the
service's waits shortened so that a run of a few minutes reaches quiescence.

    python tests/harness/chaos_worker.py --concurrency 2

Shortened (the rest is exactly ``invoice-inbox worker --allow-private-webhooks``): due sources
looked up every 0.5 s (5 s), a failed run retried after about 1 s (300 s base backoff), new
webhook events fanned out and sent every 0.5 s (5 s), a webhook delivery whose sender died
taken over after 5 s (2 min) and a failed one retried after 1 s (30 s); an IDLE watcher
looks at its stop flag every second (30 s), so a clean stop is quick. The cluster's own
knobs (``runtime.registry``) are set the same way unless the environment has them: heartbeat
1 s (5), a silent worker dead after 4 s (20), a dead worker's watches taken after 6 s (30),
leases 10 s (45); a lease whose holder is gone from this machine is taken at once anyway.
Environment as for the CLI (``INVOICE_INBOX_HOME``, ``INVOICE_INBOX_DATABASE_URL``, ...).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from datetime import timedelta
from typing import Any

SHORT = {
    "poll": 0.5,
    "retry_base": 1.0,
    "webhook_every": 0.5,
    "notify_every": 2.0,
    "idle_check": 1.0,
}
CLUSTER = {
    "INVOICE_INBOX_HEARTBEAT": "1",
    "INVOICE_INBOX_WORKER_TIMEOUT": "4",
    "INVOICE_INBOX_WATCH_TTL": "6",
    "INVOICE_INBOX_LEASE_TTL": "10",
    "INVOICE_INBOX_POLL": "0.5",
}


def main(argv: list[str]) -> None:
    for name, value in CLUSTER.items():
        os.environ.setdefault(name, value)
    from invoice_inbox.cli import main as cli_main
    from invoice_inbox.cli import serve
    from invoice_inbox.delivery import webhooks
    from invoice_inbox.runtime.service import ServiceConfig

    known = {f.name for f in dataclasses.fields(ServiceConfig)}

    def short_config(**given: Any) -> ServiceConfig:
        return ServiceConfig(**({k: v for k, v in SHORT.items() if k in known} | given))

    serve.ServiceConfig = short_config  # type: ignore[assignment,misc]
    webhooks.CLAIM = timedelta(seconds=5)
    webhooks.RETRY_BASE = timedelta(seconds=1)
    concurrency = "2"
    if "--concurrency" in argv:
        concurrency = argv[argv.index("--concurrency") + 1]
    sys.argv = ["invoice-inbox", "worker", "--concurrency", concurrency, "--allow-private-webhooks"]
    cli_main()


if __name__ == "__main__":
    main(sys.argv[1:])
