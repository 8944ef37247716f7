"""``invoice-inbox serve``: the service that fetches every active source on schedule."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer

from invoice_inbox.cli.base import UserError, app, out, state
from invoice_inbox.runtime import scheduler
from invoice_inbox.store import sources as sources_store


@app.command("serve")
def serve(
    interval: Annotated[float, typer.Option(help="Minutes between fetches of every source.")] = 60,
    once: Annotated[bool, typer.Option(help="Fetch every active source once, then exit.")] = False,
) -> None:
    """Run the service: fetch every active source on schedule until stopped (Ctrl-C)."""
    if interval <= 0:
        raise UserError("--interval must be a positive number of minutes")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    a = state.open()
    with a.db.session() as s:
        count = len(sources_store.all_sources(s, active_only=True))
    out.print(f"invoice-inbox: data in {a.data_dir}")
    out.print(f"{count} active sources; fetching every {interval:g} minutes.")
    if count == 0:
        out.print(
            "Add a source with: invoice-inbox source add NAME --company C --host H "
            "--username U --password-env VAR"
        )
    if once:
        scheduler.run_due(a)
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    scheduler.run_forever(a, interval, stop)
    out.print("stopped.")
