"""``/metrics`` shows what the tables say, scraped over real HTTP; ``/healthz`` says 200 or 503
with the reason."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from invoice_inbox.runtime.status_http import HealthCheck, StatusServer
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import AuthState, Company, Document, Message, Run, RunStatus, Source
from invoice_inbox.store.models_events import Notification

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=1)  # the injected clock
BOUNDS = ("0.1", "0.5", "1.0", "2.0", "5.0", "10.0", "30.0", "60.0", "300.0", "1800.0", "+Inf")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
_uid = itertools.count(1)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.in_data_dir(tmp_path)  # on a --db=postgresql run: the test's database
    yield database
    database.close()


def serve(db: Database, health: HealthCheck | None = None) -> StatusServer:
    server = StatusServer("127.0.0.1", 0, db, health=health, clock=lambda: NOW)
    server.start()
    return server


@pytest.fixture
def server(db: Database) -> Iterator[StatusServer]:
    s = serve(db)
    yield s
    s.stop()


def get(server: StatusServer, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{server.port}{path}", timeout=10)


def scrape(server: StatusServer) -> tuple[Samples, dict[str, str]]:
    """Every sample by (name, sorted labels), and every family's type by name."""
    response = get(server, "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(response.text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, types


def of(samples: Samples, name: str) -> dict[tuple[str, ...], float]:
    """The samples called ``name``, keyed by their label values in label-name order."""
    return {
        tuple(value for _, value in labels): v for (n, labels), v in samples.items() if n == name
    }


# ---------------------------------------------------------------------- the data


def run(source: Source, trigger: str, status: str, start: datetime, seconds: float | None) -> Run:
    finished = None if seconds is None else start + timedelta(seconds=seconds)
    return Run(
        source_id=source.id, trigger=trigger, status=status, started_at=start, finished_at=finished
    )


def message(source: Source, decision: str) -> Message:
    uid = next(_uid)
    return Message(
        source_id=source.id,
        folder="INBOX",
        uidvalidity=1,
        uid=uid,
        raw_sha256=f"{uid:064x}",
        raw_size=100,
        decision=decision,
        reason="test",
    )


def document(msg: Message, company: Company) -> Document:
    return Document(
        message_id=msg.id,
        company_id=company.id,
        sha256=f"{next(_uid):064x}",
        size=10,
        media_type="application/pdf",
        filename="invoice.pdf",
        kind="pdf",
    )


def seed(db: Database) -> None:
    """Two companies, three sources: a working one, a deactivated Graph one whose client secret
    expires, and one whose sign-in was refused; runs, ledger rows, documents, notifications."""
    with db.session() as s:
        acme, globex = Company(name="Acme"), Company(name="Globex")
        s.add_all([acme, globex])
        s.flush()

        def source(name: str, company: Company, **fields: object) -> Source:
            return Source(
                name=name, company_id=company.id, host="mail.test", port=993, username="u", **fields
            )

        imap = source("acme-imap", acme)
        graph = source(
            "acme-graph",
            acme,
            protocol="graph",
            active=False,
            failures=3,
            secret_expires=date(2026, 3, 31),
        )
        refused = source("globex-mail", globex, auth_state=AuthState.NEEDS_REAUTHENTICATION)
        s.add_all([imap, graph, refused])
        s.flush()

        ok, failed, running = RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.RUNNING
        hour = timedelta(hours=1)
        s.add_all(
            [
                run(imap, "schedule", ok, T0, 0.3),
                run(imap, "schedule", ok, T0 + hour, 4),
                run(imap, "manual", ok, T0 + 2 * hour, 45),  # the newest success
                run(imap, "schedule", failed, T0 + 3 * hour, 1.5),  # newer, but failed
                run(imap, "schedule", running, T0 + 4 * hour, None),  # not in the histogram
                run(graph, "schedule", failed, T0, 12),
                run(graph, "schedule", failed, T0 + hour, 0.05),
                run(graph, "schedule", failed, T0 + 2 * hour, 2000),  # beyond the last bound
                run(refused, "manual", ok, T0 + 5 * hour, 2),  # exactly on a bound
            ]
        )

        decisions = [
            (imap, "import", 3),
            (imap, "not_imported", 2),
            (imap, "quarantined", 1),
            (imap, "duplicate", 1),
            (graph, "import", 1),
            (refused, "import", 1),
        ]
        messages = {
            (src.name, decision): [message(src, decision) for _ in range(count)]
            for src, decision, count in decisions
        }
        s.add_all([m for group in messages.values() for m in group])
        s.flush()
        acme_imports = messages[("acme-imap", "import")]
        s.add_all(
            [
                *(document(m, acme) for m in acme_imports),
                document(acme_imports[0], acme),  # a second attachment
                document(messages[("acme-graph", "import")][0], acme),
                document(messages[("globex-mail", "import")][0], globex),
            ]
        )

        def notification(email: str, webhook: str) -> Notification:
            return Notification(
                company_id=acme.id,
                source_id=graph.id,
                kind="source_deactivated",
                subject="s",
                body="b",
                email_state=email,
                webhook_state=webhook,
            )

        s.add_all(
            [
                notification("pending", "sent"),
                notification("sent", "pending"),
                notification("pending", "pending"),
                notification("sent", "skipped"),
                notification("failed", "sent"),
            ]
        )


# ---------------------------------------------------------------------- /metrics


def test_counters_count_rows_per_label_set(db: Database, server: StatusServer) -> None:
    seed(db)
    samples, types = scrape(server)

    assert types["invoice_inbox_runs"] == "counter"
    assert of(samples, "invoice_inbox_runs_total") == {
        ("acme-imap", "succeeded", "schedule"): 2,
        ("acme-imap", "succeeded", "manual"): 1,
        ("acme-imap", "failed", "schedule"): 1,
        ("acme-imap", "running", "schedule"): 1,
        ("acme-graph", "failed", "schedule"): 3,
        ("globex-mail", "succeeded", "manual"): 1,
    }  # labels sorted by name: source, status, trigger
    assert of(samples, "invoice_inbox_messages_total") == {
        ("import", "acme-imap"): 3,
        ("not_imported", "acme-imap"): 2,
        ("quarantined", "acme-imap"): 1,
        ("duplicate", "acme-imap"): 1,
        ("import", "acme-graph"): 1,
        ("import", "globex-mail"): 1,
    }  # decision, source
    assert of(samples, "invoice_inbox_documents_total") == {("Acme",): 5, ("Globex",): 1}
    assert types["invoice_inbox_messages"] == types["invoice_inbox_documents"] == "counter"


def test_run_duration_histogram(db: Database, server: StatusServer) -> None:
    seed(db)
    samples, types = scrape(server)

    assert types["invoice_inbox_run_duration_seconds"] == "histogram"
    buckets = of(samples, "invoice_inbox_run_duration_seconds_bucket")  # (le, source)
    expected = {
        # finished runs of 0.3, 4, 45 and 1.5 s; the running one is left out
        "acme-imap": [0, 1, 1, 2, 3, 3, 3, 4, 4, 4, 4],
        "acme-graph": [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3],  # 0.05, 12 and 2000 s
        "globex-mail": [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1],  # 2 s is "le 2"
    }
    for source, counts in expected.items():
        assert [buckets[(le, source)] for le in BOUNDS] == counts, source
    counts = of(samples, "invoice_inbox_run_duration_seconds_count")
    sums = of(samples, "invoice_inbox_run_duration_seconds_sum")
    assert counts == {("acme-imap",): 4, ("acme-graph",): 3, ("globex-mail",): 1}
    assert sums[("acme-imap",)] == pytest.approx(50.8)
    assert sums[("acme-graph",)] == pytest.approx(2012.05)
    assert sums[("globex-mail",)] == pytest.approx(2.0)


def test_source_gauges(db: Database, server: StatusServer) -> None:
    seed(db)
    samples, types = scrape(server)

    last_success = T0 + timedelta(hours=2, seconds=45)  # the manual run; the later one failed
    assert of(samples, "invoice_inbox_source_last_success_timestamp_seconds") == {
        ("acme-imap",): last_success.timestamp(),
        ("globex-mail",): (T0 + timedelta(hours=5, seconds=2)).timestamp(),
    }  # acme-graph never succeeded: no sample
    since = of(samples, "invoice_inbox_source_seconds_since_last_success")
    assert since[("acme-imap",)] == pytest.approx(86400 - 2 * 3600 - 45)
    assert ("acme-graph",) not in since

    assert of(samples, "invoice_inbox_source_up") == {
        ("acme-imap",): 1,
        ("acme-graph",): 0,  # deactivated after 3 failures
        ("globex-mail",): 0,  # needs re-authentication
    }
    assert of(samples, "invoice_inbox_source_active") == {
        ("acme-imap",): 1,
        ("acme-graph",): 0,
        ("globex-mail",): 1,
    }
    assert of(samples, "invoice_inbox_source_consecutive_failures") == {
        ("acme-imap",): 0,
        ("acme-graph",): 3,
        ("globex-mail",): 0,
    }
    assert of(samples, "invoice_inbox_client_secret_expiry_timestamp_seconds") == {
        ("acme-graph",): datetime(2026, 3, 31, tzinfo=UTC).timestamp()
    }
    assert of(samples, "invoice_inbox_notifications_pending") == {(): 3}
    gauges = {name for name, kind in types.items() if kind == "gauge"}
    assert gauges == {
        "invoice_inbox_source_last_success_timestamp_seconds",
        "invoice_inbox_source_seconds_since_last_success",
        "invoice_inbox_source_up",
        "invoice_inbox_source_active",
        "invoice_inbox_source_consecutive_failures",
        "invoice_inbox_client_secret_expiry_timestamp_seconds",
        "invoice_inbox_notifications_pending",
        # the cluster (runtime.cluster_status)
        "invoice_inbox_workers",
        "invoice_inbox_worker_heartbeat_age_seconds",
        "invoice_inbox_sources_due",
        "invoice_inbox_sources_running",
        "invoice_inbox_watches",
        "invoice_inbox_outbox_backlog",
    }


def test_every_scrape_reads_the_database_again(
    db: Database, server: StatusServer, tmp_path: Path
) -> None:
    samples, types = scrape(server)
    assert of(samples, "invoice_inbox_notifications_pending") == {(): 0}
    assert of(samples, "invoice_inbox_runs_total") == {}
    assert all(name.startswith("invoice_inbox_") for name in types)  # no process_/python_

    seed(db)
    other_process = Database.in_data_dir(tmp_path)
    with other_process.session() as s:
        graph = s.query(Source).filter_by(name="acme-graph").one()
        s.add(run(graph, "retry", RunStatus.SUCCEEDED, T0 + timedelta(hours=6), 1))
    other_process.close()

    samples, _ = scrape(server)
    assert of(samples, "invoice_inbox_runs_total")[("acme-graph", "succeeded", "retry")] == 1
    assert of(samples, "invoice_inbox_run_duration_seconds_count")[("acme-graph",)] == 4


def test_unknown_path_is_404_and_requests_are_not_logged_to_stderr(
    server: StatusServer, capfd: pytest.CaptureFixture[str]
) -> None:
    assert get(server, "/").status_code == 404
    assert get(server, "/metrics/extra").status_code == 404
    assert get(server, "/metrics?x=1").status_code == 200
    assert capfd.readouterr().err == ""


# ---------------------------------------------------------------------- /healthz


def test_healthz_ok(server: StatusServer) -> None:
    response = get(server, "/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_includes_the_scheduler_report(db: Database) -> None:
    tick = datetime(2025, 6, 2, 11, 59, tzinfo=UTC)
    server = serve(db, health=lambda: (True, {"scheduler": "running", "last_tick": tick}))
    try:
        response = get(server, "/healthz")
    finally:
        server.stop()
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "scheduler": "running",
        "last_tick": str(tick),
    }


def test_healthz_503_when_the_health_callback_says_so(db: Database) -> None:
    server = serve(db, health=lambda: (False, {"scheduler": "stopped"}))
    try:
        response = get(server, "/healthz")
    finally:
        server.stop()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["scheduler"] == "stopped"
    assert body["reason"]


def test_healthz_503_when_the_health_callback_raises(db: Database) -> None:
    def broken() -> tuple[bool, dict[str, object]]:
        raise RuntimeError("scheduler thread died")

    server = serve(db, health=broken)
    try:
        response = get(server, "/healthz")
    finally:
        server.stop()
    assert response.status_code == 503
    assert "scheduler thread died" in response.json()["reason"]


@pytest.mark.sqlite_only  # the database made unopenable the SQLite way (a directory)
def test_healthz_and_metrics_503_when_the_database_is_gone(
    db: Database, server: StatusServer, tmp_path: Path
) -> None:
    path = tmp_path / "invoice-inbox.db"
    db.engine.dispose()  # no pooled connection to the old file survives
    for leftover in tmp_path.glob("invoice-inbox.db*"):
        leftover.unlink()
    path.mkdir()  # SQLite cannot open (nor re-create) a directory, even as root

    response = get(server, "/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "reason": "database: unable to open database file",
    }
    metrics = get(server, "/metrics")
    assert metrics.status_code == 503
    assert "unable to open database file" in metrics.text

    shutil.rmtree(path)  # back: SQLite creates an empty file, the probe passes again
    assert get(server, "/healthz").status_code == 200


def test_stop_releases_the_port(db: Database) -> None:
    server = serve(db)
    port = server.port
    assert port != 0
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    server.stop()  # twice is harmless
