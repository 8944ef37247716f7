"""``invoice-inbox status``: the cluster as the database sees it.

The workers (``serve`` and ``worker`` processes) with the age of their last heartbeat, their
concurrency, the sources each is fetching and the IDLE watches each holds; the sources due and
not yet claimed; the outbox backlog. The same figures are in ``/metrics``
(``runtime.cluster_status``).
"""

from __future__ import annotations

from rich.table import Table

from invoice_inbox.cli.base import JsonOpt, app, out, print_json, state
from invoice_inbox.runtime import cluster_status


@app.command("status")
def status(as_json: JsonOpt = False) -> None:
    """Workers and their heartbeats, sources due and running, watches, outbox backlog."""
    a = state.open()
    with a.db.session() as s:
        st = cluster_status.read(s)
    if as_json:
        print_json(st.as_dict())
        return
    alive = sum(1 for w in st.workers if w.alive)
    out.print(f"Workers: {alive} alive, {len(st.workers) - alive} not answering or stopping.")
    if st.workers:
        table = Table("worker", "kind", "heartbeat", "concurrency", "running", "watches")
        for w in st.workers:
            beat = f"{w.heartbeat_age:.0f} s ago" + ("" if w.alive else " (dead)")
            if w.stopping:
                beat += " (stopping)"
            table.add_row(
                f"{w.host} pid {w.pid}",
                w.kind,
                beat,
                str(w.concurrency),
                ", ".join(w.running) or "-",
                str(w.watches),
            )
        out.print(table)
    out.print(
        f"Sources: {st.sources_due} due and waiting for a worker, {st.sources_running} running"
        + (
            f" ({len(st.running_elsewhere)} by no worker: a fetch command)"
            if st.running_elsewhere
            else ""
        )
        + "."
    )
    out.print(f"Watches: {st.watches_total}, {st.watches_unowned} held by no live worker.")
    out.print(
        f"Outbox: {st.webhooks_pending} webhook deliveries pending, {st.webhooks_failing} "
        f"failing and retried, {st.webhooks_failed} given up; "
        f"{st.notifications_pending} notifications pending."
    )
