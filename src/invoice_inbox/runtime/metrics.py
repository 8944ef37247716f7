"""Prometheus metrics read from the database on every scrape.

Nothing is counted in memory: every figure is a query, so it is right with several ``serve``
processes, after restarts and for work done by CLI commands. Counters are ``GROUP BY`` queries
(the message table can hold millions of rows); the run-duration histogram is aggregated in SQL
over every finished run, so its counts only grow, as Prometheus expects of a histogram.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy import Float, case, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from invoice_inbox.runtime import cluster_status
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import (
    AuthState,
    Company,
    Document,
    Message,
    Run,
    RunStatus,
    Source,
    utcnow,
)
from invoice_inbox.store.models_events import Notification

# upper bounds of the run-duration buckets in seconds; the +Inf bucket is the count
DURATION_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800)


class _seconds_between(FunctionElement[float]):
    """``end - start`` in seconds; each database spells it differently."""

    type = Float()
    name = "seconds_between"
    inherit_cache = True


# kw, here and below: SQLAlchemy's compile options, which its API types as Any
def _operands(element: _seconds_between, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    start, end = element.clauses
    return compiler.process(start, **kw), compiler.process(end, **kw)


@compiles(_seconds_between, "sqlite")
def _seconds_sqlite(element: _seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _operands(element, compiler, **kw)
    # julianday keeps milliseconds but its float arithmetic is off by ~50µs: round to ms so a
    # run of exactly 2 s lands in the le="2" bucket
    return f"ROUND((julianday({end}) - julianday({start})) * 86400.0, 3)"


@compiles(_seconds_between, "mysql")
@compiles(_seconds_between, "mariadb")
def _seconds_mysql(element: _seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _operands(element, compiler, **kw)
    return f"(TIMESTAMPDIFF(MICROSECOND, {start}, {end}) / 1000000.0)"


@compiles(_seconds_between)
def _seconds_default(element: _seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _operands(element, compiler, **kw)  # PostgreSQL
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


# the rows of a Result of several aggregates: SQLAlchemy types them as Any
def _named(rows: Iterable[Sequence[Any]], names: Mapping[int, str]) -> Iterator[list[Any]]:
    """Rows with their leading id replaced by its name. Ids not in ``names`` are skipped: on
    PostgreSQL each query sees its own snapshot, so a source created mid-scrape may show up."""
    for key, *rest in rows:
        if key in names:
            yield [names[key], *rest]


def _midnight_utc(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def _counter(name: str, doc: str, *labels: str) -> Callable[[], CounterMetricFamily]:
    return lambda: CounterMetricFamily(name, doc, labels=list(labels))


def _gauge(name: str, doc: str, *labels: str) -> Callable[[], GaugeMetricFamily]:
    return lambda: GaugeMetricFamily(name, doc, labels=list(labels))


@dataclass
class _Families:
    """One scrape's metric families, empty until filled."""

    runs: CounterMetricFamily = field(
        default_factory=_counter(
            "invoice_inbox_runs",
            "Fetch runs by source, trigger and status (running, succeeded, partial, failed).",
            "source",
            "trigger",
            "status",
        )
    )
    messages: CounterMetricFamily = field(
        default_factory=_counter(
            "invoice_inbox_messages",
            "Messages in the ledger by source and decision.",
            "source",
            "decision",
        )
    )
    documents: CounterMetricFamily = field(
        default_factory=_counter(
            "invoice_inbox_documents", "Documents extracted, by company.", "company"
        )
    )
    durations: HistogramMetricFamily = field(
        default_factory=lambda: HistogramMetricFamily(
            "invoice_inbox_run_duration_seconds",
            "Duration of finished runs (succeeded, partial or failed).",
            labels=["source"],
        )
    )
    last_success: GaugeMetricFamily = field(
        default_factory=_gauge(
            "invoice_inbox_source_last_success_timestamp_seconds",
            "Unix time the newest successful run of the source finished.",
            "source",
        )
    )
    since_success: GaugeMetricFamily = field(
        default_factory=_gauge(
            "invoice_inbox_source_seconds_since_last_success",
            "Seconds since the newest successful run of the source finished.",
            "source",
        )
    )
    up: GaugeMetricFamily = field(
        default_factory=_gauge(
            "invoice_inbox_source_up",
            "1 if the source is active, has no failed run since its last success and its "
            "sign-in works; else 0.",
            "source",
        )
    )
    active: GaugeMetricFamily = field(
        default_factory=_gauge(
            "invoice_inbox_source_active", "1 if the source is active, else 0.", "source"
        )
    )
    failures: GaugeMetricFamily = field(
        default_factory=_gauge(
            "invoice_inbox_source_consecutive_failures",
            "Failed runs of the source since its last success.",
            "source",
        )
    )
    secret_expiry: GaugeMetricFamily = field(
        default_factory=_gauge(
            "invoice_inbox_client_secret_expiry_timestamp_seconds",
            "Unix time (midnight UTC of the day) the source's OAuth client secret expires.",
            "source",
        )
    )
    pending: GaugeMetricFamily = field(
        default_factory=_gauge(
            "invoice_inbox_notifications_pending",
            "Notifications still to be delivered by e-mail or webhook.",
        )
    )

    def all(self) -> list[Metric]:
        return [getattr(self, f.name) for f in fields(self)]


class DatabaseCollector(Collector):
    """Every ``invoice_inbox_*`` metric, computed from the tables when Prometheus scrapes."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = db
        self._clock = clock

    def describe(self) -> list[Metric]:
        """The families without samples: registering the collector does not query."""
        return _Families().all() + cluster_status.families(None)

    def collect(self) -> list[Metric]:
        out = _Families()
        with self._db.session() as s:
            self._read(s, out)
            cluster = cluster_status.read(s, self._clock())  # workers, sources, outboxes
        return out.all() + cluster_status.families(cluster)

    def _read(self, s: Session, out: _Families) -> None:
        sources = s.execute(
            select(
                Source.id,
                Source.name,
                Source.active,
                Source.failures,
                Source.auth_state,
                Source.secret_expires,
            )
        ).all()
        name = {src.id: src.name for src in sources}

        for source, trigger, status, count in _named(
            s.execute(
                select(Run.source_id, Run.trigger, Run.status, func.count()).group_by(
                    Run.source_id, Run.trigger, Run.status
                )
            ),
            name,
        ):
            out.runs.add_metric([source, trigger, status], count)

        for source, decision, count in _named(
            s.execute(
                select(Message.source_id, Message.decision, func.count()).group_by(
                    Message.source_id, Message.decision
                )
            ),
            name,
        ):
            out.messages.add_metric([source, decision], count)

        companies: dict[int, str] = dict(s.execute(select(Company.id, Company.name)).all())
        for company, count in _named(
            s.execute(select(Document.company_id, func.count()).group_by(Document.company_id)),
            companies,
        ):
            out.documents.add_metric([company], count)

        _durations(s, name, out.durations)

        now = self._clock()
        for source, finished in _named(
            s.execute(
                select(Run.source_id, func.max(Run.finished_at))
                .where(Run.status == RunStatus.SUCCEEDED, Run.finished_at.is_not(None))
                .group_by(Run.source_id)
            ),
            name,
        ):
            out.last_success.add_metric([source], finished.timestamp())
            out.since_success.add_metric([source], (now - finished).total_seconds())

        for src in sources:
            working = src.active and src.failures == 0 and src.auth_state == AuthState.OK
            out.up.add_metric([src.name], 1 if working else 0)
            out.active.add_metric([src.name], 1 if src.active else 0)
            out.failures.add_metric([src.name], src.failures)
            if src.secret_expires is not None:
                out.secret_expiry.add_metric([src.name], _midnight_utc(src.secret_expires))

        pending = s.scalar(
            select(func.count()).where(
                or_(Notification.email_state == "pending", Notification.webhook_state == "pending")
            )
        )
        out.pending.add_metric([], pending or 0)


def _durations(s: Session, name: dict[int, str], family: HistogramMetricFamily) -> None:
    """Cumulative bucket counts and the sum per source, in one aggregate over finished runs."""
    finished = (
        select(
            Run.source_id.label("source_id"),
            _seconds_between(Run.started_at, Run.finished_at).label("seconds"),
        )
        .where(Run.finished_at.is_not(None))
        .subquery()
    )
    seconds = finished.c.seconds
    query = select(
        finished.c.source_id,
        func.count(),
        func.coalesce(func.sum(seconds), 0.0),
        *(func.sum(case((seconds <= bound, 1), else_=0)) for bound in DURATION_BUCKETS),
    ).group_by(finished.c.source_id)
    for source, count, total, *cumulative in _named(s.execute(query), name):
        buckets = [
            (floatToGoString(bound), value)  # type: ignore[no-untyped-call]  # unannotated
            for bound, value in zip(DURATION_BUCKETS, cumulative, strict=True)
        ]
        buckets.append(("+Inf", count))
        family.add_metric([source], buckets, float(total))
