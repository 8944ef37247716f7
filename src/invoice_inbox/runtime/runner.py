"""Fetch a source end to end: decrypt its credentials, open its connector, sync, close."""

from __future__ import annotations

from collections.abc import Callable

from invoice_inbox.connectors.base import Connector
from invoice_inbox.connectors.registry import open_connector
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.sync import BATCH, Observer, RunSummary, sync_source
from invoice_inbox.store import sources


def connector_for(app: App, source_name: str) -> Connector:
    with app.db.session() as s:
        src = sources.get(s, source_name)
        return open_connector(
            provider=src.provider,
            host=src.host,
            port=src.port,
            security=src.security,
            ca_file=src.ca_file,
            username=src.username,
            password=app.secrets.decrypt(src.secret),
        )


def fetch(
    app: App,
    source_name: str,
    *,
    trigger: str = "manual",
    observer: Observer | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = BATCH,
) -> RunSummary:
    conn = connector_for(app, source_name)
    try:
        return sync_source(
            app,
            source_name,
            conn,
            trigger=trigger,
            observer=observer,
            progress=progress,
            batch_size=batch_size,
        )
    finally:
        conn.close()
