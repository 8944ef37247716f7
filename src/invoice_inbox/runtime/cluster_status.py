"""The cluster as the database sees it: workers, due and running sources, watches, outboxes.

``read`` gathers the figures that ``invoice-inbox status`` prints and ``/metrics`` exports
(``families``): each worker with the age of its last heartbeat, its concurrency, the sources it
is running (their leases name its process) and the watches it holds; the sources due and not
yet claimed; the outbox backlog (webhook deliveries pending for a first try or failing and
retried, notifications pending).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from invoice_inbox.json_types import JsonObject
from invoice_inbox.runtime import claims, lease, registry
from invoice_inbox.store.models import Source, utcnow
from invoice_inbox.store.models_cluster import Watch
from invoice_inbox.store.models_events import Notification, WebhookDelivery

OTHER = "(other)"  # a lease or watch of no registered worker: a CLI fetch, a stopped worker


@dataclass
class WorkerView:
    owner: str
    host: str
    pid: int
    kind: str
    concurrency: int
    started_at: str
    heartbeat_age: float  # seconds
    alive: bool
    stopping: bool
    running: list[str] = field(default_factory=list)
    watches: int = 0


@dataclass
class ClusterStatus:
    workers: list[WorkerView]
    sources_due: int  # due now and not running
    sources_running: int
    running_elsewhere: list[str]  # running under a lease of no registered worker
    watches_total: int
    watches_unowned: int  # no live holder (new, given back, or of a dead worker)
    webhooks_pending: int  # waiting for their first attempt
    webhooks_failing: int  # failed at least once, still retried
    webhooks_failed: int  # given up
    notifications_pending: int

    def as_dict(self) -> JsonObject:
        return asdict(self)


def read(s: Session, now: datetime | None = None) -> ClusterStatus:
    now = now or utcnow()
    dead_after = registry.timeout()
    views: list[WorkerView] = []
    by_process: dict[str, WorkerView] = {}
    by_owner: dict[str, WorkerView] = {}
    for w in registry.every(s):
        age = max((now - w.heartbeat_at).total_seconds(), 0.0)
        view = WorkerView(
            owner=w.owner,
            host=w.host,
            pid=w.pid,
            kind=w.kind,
            concurrency=w.concurrency,
            started_at=w.started_at.isoformat(),
            heartbeat_age=round(age, 1),
            alive=age <= dead_after.total_seconds() and not w.stopping,
            stopping=w.stopping,
        )
        views.append(view)
        by_owner[w.owner] = view
        by_process.setdefault(w.owner.partition("#")[0], view)

    running = s.execute(
        select(Source.name, Source.lease_owner)
        .where(Source.lease_owner.is_not(None), Source.lease_expires_at >= now)
        .order_by(Source.name)
    ).all()
    elsewhere: list[str] = []
    for name, owner in running:
        assert owner is not None  # selected where lease_owner is not null
        holder = by_process.get(lease.process_of(owner))
        (holder.running if holder else elsewhere).append(name)

    due = s.scalar(
        select(func.count())
        .select_from(Source)
        .where(
            claims.due_now(now),
            or_(Source.lease_owner.is_(None), Source.lease_expires_at < now),
        )
    )
    total = unowned = 0
    for owner, expires, count in s.execute(
        select(Watch.owner, Watch.expires_at, func.count()).group_by(Watch.owner, Watch.expires_at)
    ):
        total += count
        holder = by_owner.get(owner) if owner and expires and expires >= now else None
        if holder is None:
            unowned += count
        else:
            holder.watches += count

    pending = WebhookDelivery.state == "pending"
    hooks = s.execute(
        select(
            func.count().filter(and_(pending, WebhookDelivery.attempts == 0)),
            func.count().filter(and_(pending, WebhookDelivery.attempts > 0)),
            func.count().filter(WebhookDelivery.state == "failed"),
        )
    ).one()
    notes = s.scalar(
        select(func.count()).where(
            or_(Notification.email_state == "pending", Notification.webhook_state == "pending")
        )
    )
    return ClusterStatus(
        workers=views,
        sources_due=due or 0,
        sources_running=len(running),
        running_elsewhere=elsewhere,
        watches_total=total,
        watches_unowned=unowned,
        webhooks_pending=hooks[0] or 0,
        webhooks_failing=hooks[1] or 0,
        webhooks_failed=hooks[2] or 0,
        notifications_pending=notes or 0,
    )


def _label(view: WorkerView) -> str:
    return f"{view.host}:{view.pid}"


def families(st: ClusterStatus | None) -> list[Metric]:
    """The figures as Prometheus gauges (empty families for ``describe``)."""
    workers = GaugeMetricFamily(
        "invoice_inbox_workers", "Worker processes with a recent heartbeat (not stopping)."
    )
    heartbeat = GaugeMetricFamily(
        "invoice_inbox_worker_heartbeat_age_seconds",
        "Seconds since each registered worker's last heartbeat.",
        labels=["worker"],
    )
    due = GaugeMetricFamily(
        "invoice_inbox_sources_due", "Sources due now and not yet claimed by a worker."
    )
    running = GaugeMetricFamily(
        "invoice_inbox_sources_running", "Sources being fetched, by worker.", labels=["worker"]
    )
    watches = GaugeMetricFamily(
        "invoice_inbox_watches",
        "IDLE watches held, by worker ((other): held by nobody alive).",
        labels=["worker"],
    )
    backlog = GaugeMetricFamily(
        "invoice_inbox_outbox_backlog",
        "Outbox rows still to deliver: webhook deliveries waiting for their first attempt "
        "(webhooks) or failing and retried (webhooks_failing), notifications (notifications).",
        labels=["box"],
    )
    out: list[Metric] = [workers, heartbeat, due, running, watches, backlog]
    if st is None:
        return out
    workers.add_metric([], sum(1 for w in st.workers if w.alive))
    for w in st.workers:
        heartbeat.add_metric([_label(w)], w.heartbeat_age)
        running.add_metric([_label(w)], len(w.running))
        watches.add_metric([_label(w)], w.watches)
    running.add_metric([OTHER], len(st.running_elsewhere))
    watches.add_metric([OTHER], st.watches_unowned)
    due.add_metric([], st.sources_due)
    backlog.add_metric(["webhooks"], st.webhooks_pending)
    backlog.add_metric(["webhooks_failing"], st.webhooks_failing)
    backlog.add_metric(["notifications"], st.notifications_pending)
    return out
