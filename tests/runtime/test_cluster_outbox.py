"""The outboxes delivered by several workers at once: each webhook delivery and each
notification is sent by one of them (claimed first), with the same delivery id on a retry; a
claim of a worker that died runs out and another sends it. Also ``invoice-inbox status``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from invoice_inbox.cli import app as cli
from invoice_inbox.delivery import notify, webhook_subscriptions, webhooks
from invoice_inbox.runtime import lease
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.registry import Registry
from invoice_inbox.runtime.watches import WatchShare
from invoice_inbox.store import events, notifications, sources
from invoice_inbox.store.models import utcnow
from invoice_inbox.store.models_events import Notification, WebhookDelivery


class SlowReceiver:
    """An HTTP receiver on 127.0.0.1 that takes a moment to answer (so two senders overlap)
    and records each request's headers and body."""

    def __init__(self, delay: float = 0.3) -> None:
        self.got: list[tuple[dict[str, str], dict[str, Any]]] = []
        lock = threading.Lock()
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(delay)
                with lock:
                    got.append((dict(self.headers), json.loads(raw)))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[SlowReceiver]:
    r = SlowReceiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> App:
    monkeypatch.setenv("INVOICE_INBOX_ALLOW_PRIVATE_WEBHOOKS", "1")  # the receiver: 127.0.0.1
    a = App.open(tmp_path / "data")
    with a.db.session() as s:
        sources.add(s, name="ap", company_name="ACME", host="127.0.0.1", port=1, username="u")
    return a


def at_once(*jobs: Any) -> None:
    """Run the jobs in threads started together; any job's exception fails the test."""
    start = threading.Barrier(len(jobs))
    failed: list[BaseException] = []

    def run(job: Any) -> None:
        start.wait()
        try:
            job()
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failed == []


def test_two_workers_send_each_webhook_delivery_once(app: App, receiver: SlowReceiver) -> None:
    with app.db.session() as s:
        company = sources.company(s, "ACME")
        webhook_subscriptions.create(
            s, app.secrets, company, receiver.url, [events.DOCUMENT_CREATED]
        )
        for i in range(4):
            events.emit(s, company.id, events.DOCUMENT_CREATED, {"n": i})
    webhooks.dispatch(app.db)
    at_once(
        lambda: webhooks.deliver_due(app.db, app.secrets),
        lambda: webhooks.deliver_due(app.db, app.secrets),
    )
    ids = [h["X-Invoice-Inbox-Delivery"] for h, _ in receiver.got]
    assert len(ids) == 4 and len(set(ids)) == 4
    with app.db.session() as s:
        assert {d.state for d in s.scalars(select(WebhookDelivery))} == {webhooks.DELIVERED}


def test_two_workers_dispatching_at_once_make_each_delivery_once(app: App) -> None:
    with app.db.session() as s:
        company = sources.company(s, "ACME")
        webhook_subscriptions.create(
            s, app.secrets, company, "http://127.0.0.1:9/h", ["document.created"]
        )
        for i in range(50):
            events.emit(s, company.id, events.DOCUMENT_CREATED, {"n": i})
    for _ in range(3):
        at_once(lambda: webhooks.dispatch(app.db), lambda: webhooks.dispatch(app.db))
    with app.db.session() as s:
        assert len(list(s.scalars(select(WebhookDelivery)))) == 50


def test_a_dead_senders_webhook_claim_runs_out_and_the_same_delivery_is_sent(
    app: App, receiver: SlowReceiver
) -> None:
    with app.db.session() as s:
        company = sources.company(s, "ACME")
        webhook_subscriptions.create(
            s, app.secrets, company, receiver.url, [events.DOCUMENT_CREATED]
        )
        events.emit(s, company.id, events.DOCUMENT_CREATED, {"n": 1})
    webhooks.dispatch(app.db)
    now = utcnow()
    with app.db.session() as s:
        delivery_id = s.scalars(select(WebhookDelivery.id)).one()
    assert webhooks._claim(app.db, app.secrets, delivery_id, now) is not None  # then it died
    assert webhooks.deliver_due(app.db, app.secrets, now=now) == 0  # still claimed
    later = now + webhooks.CLAIM + timedelta(seconds=1)
    assert webhooks.deliver_due(app.db, app.secrets, now=later) == 1
    assert [h["X-Invoice-Inbox-Delivery"] for h, _ in receiver.got] == [str(delivery_id)]


def test_two_workers_send_each_notification_once(app: App, receiver: SlowReceiver) -> None:
    with app.db.session() as s:
        src = sources.get(s, "ap")
        for i in range(3):
            notifications.create(s, src, "source_deactivated", f"off {i}", "why", now=utcnow())
        notifications.record_channels(s, email=False, webhook=True)  # as a round before did
    channels = notify.Channels(webhook_url=receiver.url)
    at_once(
        lambda: notify.deliver_due(app.db, channels), lambda: notify.deliver_due(app.db, channels)
    )
    sent = sorted(body["id"] for _, body in receiver.got)
    assert len(sent) == 3 and len(set(sent)) == 3
    with app.db.session() as s:
        assert {n.webhook_state for n in s.scalars(select(Notification))} == {"sent"}


def test_two_workers_starting_their_first_notification_round_at_once(
    app: App, receiver: SlowReceiver
) -> None:
    channels = notify.Channels(webhook_url=receiver.url)  # both write the channels setting
    at_once(
        lambda: notify.deliver_due(app.db, channels), lambda: notify.deliver_due(app.db, channels)
    )


def test_status_shows_workers_sources_watches_and_backlog(app: App) -> None:
    data = app.data_dir
    worker = Registry(app.db, concurrency=3)
    worker.join()
    with app.db.session() as s:
        src = sources.get(s, "ap")
        src.instant = True
        src.lease_owner = lease.new_owner()  # this process runs it
        src.lease_expires_at = utcnow() + timedelta(minutes=1)
        sources.add(s, name="due", company_name="ACME", host="127.0.0.1", port=1, username="u")
        sources.get(s, "due").next_run_at = utcnow() - timedelta(minutes=1)
        notifications.create(s, src, "source_deactivated", "off", "why", now=utcnow())
    WatchShare(app.db, worker.owner).refresh()

    r = CliRunner().invoke(cli, ["--data-dir", str(data), "status", "--json"])
    assert r.exit_code == 0, r.stderr
    st = json.loads(r.stdout)
    (w,) = st["workers"]
    assert (w["concurrency"], w["alive"], w["running"], w["watches"]) == (3, True, ["ap"], 1)
    assert w["heartbeat_age"] < 60
    assert (st["sources_due"], st["sources_running"], st["watches_total"]) == (1, 1, 1)
    assert st["notifications_pending"] == 1 and st["webhooks_pending"] == 0

    r = CliRunner().invoke(cli, ["--data-dir", str(data), "status"])
    assert r.exit_code == 0, r.stderr
    assert "Workers: 1 alive" in r.stdout
    assert "1 due and waiting for a worker, 1 running" in r.stdout
    assert "1 notifications pending" in r.stdout
