"""Webhooks end to end: a fetch from Dovecot writes its ``document.created`` events in the
document's own transaction (a process killed right after the commit leaves them), the service's
fan-out and delivery POST them signed to a real HTTP receiver on 127.0.0.1, a failing receiver
is retried with growing waits and given up on after a day (time moved with ``now=``), and only
the kinds a subscription asked for, of its own company, reach it. The receivers listen on
127.0.0.1, so these tests run with the operator's allowance for private addresses (refusals:
``test_webhook_egress``)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from builders import Attachment, make_mail, make_pdf
from fakes.receivers import WebhookReceiver
from harness.dovecot import DovecotServer, Mailbox, free_ports
from invoice_inbox.delivery import webhook_subscriptions, webhooks
from invoice_inbox.errors import ConnectFailed, LoginFailed
from invoice_inbox.runtime import health, runner
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.recheck import recheck
from invoice_inbox.runtime.service import Service, ServiceConfig
from invoice_inbox.store import events, sources
from invoice_inbox.store.models import Document, utcnow
from invoice_inbox.store.models_events import Event, Notification, Webhook, WebhookDelivery

HELPER = str(Path(__file__).parents[1] / "sync" / "fetch_with_observer.py")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    a = App.open(tmp_path / "data")
    try:
        yield a
    finally:
        a.close()


def add_source(app: App, name: str, mailbox: Mailbox, company: str, password: str = "") -> None:
    with app.db.session() as s:
        sources.add(
            s,
            name=name,
            company_name=company,
            host="127.0.0.1",
            port=mailbox.server.imap_port,
            security="none",
            username=mailbox.user,
            secret=app.secrets.encrypt(password or mailbox.password),
            move_imported_to="Imported",
        )


def subscribe(app: App, company: str, url: str, kinds: list[str], active: bool = True) -> str:
    """A subscription made as the screens make it; its signing secret."""
    with app.db.session() as s:
        _, secret = webhook_subscriptions.create(
            s, app.secrets, sources.company(s, company, create=True), url, kinds, active=active
        )
    return secret


def invoice(subject: str, *files: tuple[str, bytes]) -> bytes:
    return make_mail(subject=subject, attachments=[Attachment(n, data) for n, data in files])


def kill_after_commit(app: App, source: str) -> subprocess.CompletedProcess[str]:
    """Fetch in a process of its own that is SIGKILLed right after its first commit."""
    return subprocess.run(
        [sys.executable, HELPER, str(app.data_dir), source, "kill", "committed", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def all_events(app: App) -> list[Event]:
    with app.db.session() as s:
        return list(s.scalars(select(Event).order_by(Event.id)))


def delivery_rows(app: App) -> list[WebhookDelivery]:
    with app.db.session() as s:
        return list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_each_queued_document_has_its_event_committed_with_it(app: App, mailbox: Mailbox) -> None:
    a, b, c = make_pdf("invoice A"), make_pdf("invoice B"), make_pdf("invoice C")
    mailbox.append("INBOX", invoice("Two invoices", ("A.pdf", a), ("B.pdf", b)))
    mailbox.append("INBOX", invoice("A again, and C", ("A-copy.pdf", a), ("C.pdf", c)))
    mailbox.append("INBOX", make_mail(subject="Lunch?"))  # no document: not imported
    add_source(app, "ap", mailbox, "ACME")

    crashed = kill_after_commit(app, "ap")
    assert crashed.returncode == -9, crashed.stderr
    assert mailbox.count("INBOX") == 3  # killed after the commit, before any mail was filed

    with app.db.session() as s:
        docs = list(s.scalars(select(Document).order_by(Document.id)))
        received = {d.id: d.message.received_at.isoformat() for d in docs}
    queued = [d for d in docs if d.duplicate_kind != "exact"]
    assert [d.filename for d in docs] == ["A.pdf", "B.pdf", "A-copy.pdf", "C.pdf"]
    assert [d.filename for d in queued] == ["A.pdf", "B.pdf", "C.pdf"]  # A-copy: same bytes
    found = all_events(app)
    assert len(found) == len(queued) == 3
    assert {e.kind for e in found} == {events.DOCUMENT_CREATED}
    assert not any(e.dispatched for e in found)  # nothing has read the outbox yet
    payloads = [e.payload["document"] for e in found]
    assert [p["id"] for p in payloads] == [d.id for d in queued]
    first = payloads[0]
    assert first["filename"] == "A.pdf" and first["company"] == "ACME" and first["source"] == "ap"
    assert first["sha256"] == docs[0].sha256 and first["size"] == len(a)
    assert first["media_type"] == "application/pdf" and first["subject"] == "Two invoices"
    assert first["sender"] == "billing@supplier.example"
    assert first["received_at"] == received[first["id"]]
    assert first["download_url"] == f"/api/v1/documents/{docs[0].id}/file"
    assert found[0].payload["event"] == "document.created"

    runner.fetch(app, "ap")  # the re-run files the mail and imports nothing twice
    assert (mailbox.count("Imported"), mailbox.count("INBOX")) == (2, 1)
    assert len(all_events(app)) == 3
    assert webhooks.dispatch(app.db) == 0  # no subscriptions: nothing to send ...
    assert all(e.dispatched for e in all_events(app))  # ... and the events are done with


@pytest.mark.usefixtures("allow_private")  # the receiver is on 127.0.0.1
def test_only_subscribed_kinds_of_the_own_company_are_sent_signed(
    app: App, dovecot: DovecotServer, mailbox: Mailbox
) -> None:
    user, password = dovecot.new_user()
    other = Mailbox(user=user, password=password, server=dovecot)
    mailbox.append("INBOX", invoice("ACME invoice", ("acme.pdf", make_pdf("acme 1"))))
    other.append("INBOX", invoice("Beta invoice", ("beta.pdf", make_pdf("beta 1"))))
    add_source(app, "acme-ap", mailbox, "ACME")
    add_source(app, "beta-ap", other, "Beta")
    add_source(app, "acme-old", mailbox, "ACME", password="not the password")
    with WebhookReceiver() as acme, WebhookReceiver() as beta, WebhookReceiver() as off:
        secret = subscribe(app, "ACME", acme.url, [events.DOCUMENT_CREATED])
        subscribe(app, "Beta", beta.url, [events.SOURCE_NEEDS_ATTENTION])
        subscribe(app, "ACME", off.url, list(events.KINDS), active=False)
        runner.fetch(app, "acme-ap")
        runner.fetch(app, "beta-ap")
        with pytest.raises(LoginFailed):
            runner.fetch(app, "acme-old")  # ACME: source.needs_attention
        with app.db.session() as s:
            acme_id, beta_id = sources.company(s, "ACME").id, sources.company(s, "Beta").id
        assert sorted((e.company_id, e.kind) for e in all_events(app)) == sorted(
            [
                (acme_id, "document.created"),
                (beta_id, "document.created"),
                (acme_id, "source.needs_attention"),
            ]
        )

        assert webhooks.dispatch(app.db) == 1
        assert webhooks.deliver_due(app.db, app.secrets) == 1
        assert webhooks.deliver_due(app.db, app.secrets) == 0  # delivered once
        assert beta.requests == [] and off.requests == []
        [req] = acme.requests
        [row] = delivery_rows(app)

    h = {k.lower(): v for k, v in req.headers.items()}
    assert h["content-type"] == "application/json"
    assert h["user-agent"].startswith("invoice-inbox/")
    assert h["x-invoice-inbox-event"] == "document.created"
    assert h["x-invoice-inbox-delivery"] == str(row.id)
    stamp, signed = h["x-invoice-inbox-timestamp"], h["x-invoice-inbox-signature"]
    assert signed.startswith("v1=")
    assert webhooks.verify(secret, stamp, req.body, signed)
    assert not webhooks.verify(secret, stamp, req.body + b" ", signed)  # the bytes, exactly
    assert not webhooks.verify("whsec_guessed", stamp, req.body, signed)
    assert not webhooks.verify(secret, stamp, req.body, signed, now=int(stamp) + 301)  # replayed
    body = json.loads(req.body)
    assert body["id"] == row.event_id and body["type"] == "document.created"
    assert body["company"] == "ACME" and body["created_at"]
    assert body["data"]["document"]["filename"] == "acme.pdf"
    assert (row.state, row.attempts, row.last_status) == ("delivered", 1, 204)
    assert row.delivered_at is not None and row.last_error is None


@pytest.mark.usefixtures("allow_private")  # the receiver is on 127.0.0.1
def test_a_failing_receiver_is_retried_with_growing_waits_until_it_answers(app: App) -> None:
    with WebhookReceiver() as receiver:
        subscribe(app, "ACME", receiver.url, [events.SOURCE_DEACTIVATED])
        with app.db.session() as s:
            company_id = sources.company(s, "ACME").id
            events.emit(s, company_id, events.SOURCE_DEACTIVATED, {"reason": "five failures"})
        receiver.answer(500, 502, 503)  # then 204
        now = utcnow()
        assert webhooks.dispatch(app.db, now=now) == 1
        waits = []
        for expected_status in (500, 502, 503):
            assert webhooks.deliver_due(app.db, app.secrets, now=now) == 0
            [row] = delivery_rows(app)
            assert (row.state, row.last_status) == ("pending", expected_status)
            assert row.last_error == f"answered {expected_status}"
            assert row.next_attempt_at is not None
            waits.append(row.next_attempt_at - now)
            sent = len(receiver.requests)
            webhooks.deliver_due(app.db, app.secrets, now=now + waits[-1] / 2)  # not due yet
            assert len(receiver.requests) == sent
            now = row.next_attempt_at
        assert waits == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
        assert webhooks.deliver_due(app.db, app.secrets, now=now) == 1
        [row] = delivery_rows(app)
        assert (row.state, row.attempts, row.last_status, row.last_error) == (
            "delivered",
            4,
            204,
            None,
        )
        assert row.delivered_at == now
        assert len({r.body for r in receiver.requests}) == 1  # the same event every time
        assert {r.headers["X-Invoice-Inbox-Delivery"] for r in receiver.requests} == {str(row.id)}


@pytest.mark.usefixtures("allow_private")  # the receiver is on 127.0.0.1
def test_a_delivery_is_given_up_24_hours_after_it_was_made(app: App) -> None:
    with WebhookReceiver(status=500) as receiver:
        subscribe(app, "ACME", receiver.url, [events.DOCUMENT_CREATED])
        with app.db.session() as s:
            events.emit(s, sources.company(s, "ACME").id, events.DOCUMENT_CREATED, {"n": 1})
        start = utcnow()
        webhooks.dispatch(app.db, now=start)
        now, attempts_at = start, []
        while True:
            webhooks.deliver_due(app.db, app.secrets, now=now)
            attempts_at.append(now)
            [row] = delivery_rows(app)
            if row.state != "pending":
                break
            assert row.next_attempt_at is not None
            now = row.next_attempt_at
        assert row.state == "failed" and row.next_attempt_at is None
        assert row.attempts == len(attempts_at) == len(receiver.requests)
        gaps = [b - a for a, b in itertools.pairwise(attempts_at)]
        assert gaps[:3] == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
        assert max(gaps) == timedelta(hours=1)  # capped
        assert attempts_at[-1] == start + timedelta(hours=24)  # one last try at the deadline
        sent = len(receiver.requests)
        webhooks.deliver_due(app.db, app.secrets, now=start + timedelta(days=3))
        assert len(receiver.requests) == sent  # given up: never sent again


@pytest.mark.usefixtures("allow_private")  # the receiver is on 127.0.0.1
def test_an_unreachable_receiver_is_a_failed_attempt_with_the_reason(app: App) -> None:
    port = free_ports(1)[0]  # nothing listens there
    subscribe(app, "ACME", f"http://127.0.0.1:{port}/hook", [events.DOCUMENT_CREATED])
    with app.db.session() as s:
        events.emit(s, sources.company(s, "ACME").id, events.DOCUMENT_CREATED, {"n": 1})
    webhooks.dispatch(app.db)
    assert webhooks.deliver_due(app.db, app.secrets) == 0
    [row] = delivery_rows(app)
    assert row.state == "pending" and row.attempts == 1 and row.last_status is None
    assert row.last_error == "connection refused"


@pytest.mark.usefixtures("allow_private")  # the receiver is on 127.0.0.1
def test_a_test_event_goes_to_that_subscription_only_even_when_off(app: App) -> None:
    with WebhookReceiver() as tried, WebhookReceiver() as other:
        secret = subscribe(app, "ACME", tried.url, [events.DOCUMENT_CREATED], active=False)
        other_secret = subscribe(app, "ACME", other.url, list(events.KINDS))
        with app.db.session() as s:
            hook_id = s.scalar(select(Webhook.id).where(Webhook.url == tried.url))
        assert hook_id is not None
        delivery_id = webhooks.ping(app.db, hook_id)
        assert webhooks.dispatch(app.db) == 0  # not fanned out to the other subscription
        assert webhooks.deliver_due(app.db, app.secrets) == 1
        assert other.requests == []
        [req] = tried.requests
    assert req.headers["X-Invoice-Inbox-Event"] == "webhook.test"
    assert req.headers["X-Invoice-Inbox-Delivery"] == str(delivery_id)
    stamp, signed = (
        req.headers["X-Invoice-Inbox-Timestamp"],
        req.headers["X-Invoice-Inbox-Signature"],
    )
    assert webhooks.verify(secret, stamp, req.body, signed)
    assert not webhooks.verify(other_secret, stamp, req.body, signed)  # each has its own
    assert json.loads(req.body)["data"]["webhook"]["url"] == tried.url


@pytest.mark.parametrize(
    ("url", "kinds", "problem"),
    [
        ("ftp://erp.example/hook", ["document.created"], "http:// or https://"),
        ("erp.example/hook", ["document.created"], "http:// or https://"),
        ("https://u:p@erp.example/hook", ["document.created"], "user name or password"),
        ("https://erp.example/hook", [], "at least one event"),
        ("https://erp.example/hook", ["document.deleted"], "unknown event"),
    ],
)
def test_a_subscription_needs_a_web_url_and_known_events(
    app: App, url: str, kinds: list[str], problem: str
) -> None:
    with pytest.raises(webhook_subscriptions.WebhookProblem, match=problem):
        subscribe(app, "ACME", url, kinds)


@pytest.mark.usefixtures("allow_private")  # the receiver is on 127.0.0.1
def test_the_service_fans_out_and_delivers_until_it_is_stopped(app: App) -> None:
    with WebhookReceiver() as receiver:
        subscribe(app, "ACME", receiver.url, [events.SOURCE_NEEDS_ATTENTION])
        service = Service(app, ServiceConfig(webhook_every=0.05, notify_every=3600))
        service.start()
        try:
            with app.db.session() as s:
                company_id = sources.company(s, "ACME").id
                events.emit(s, company_id, events.SOURCE_NEEDS_ATTENTION, {"reason": "refused"})
            deadline = time.monotonic() + 30
            while not receiver.requests and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            service.stop()
        assert [r.headers["X-Invoice-Inbox-Event"] for r in receiver.requests] == [
            "source.needs_attention"
        ]
    assert not any(t.name == "webhooks" and t.is_alive() for t in service._threads)


def test_switching_a_source_off_writes_its_event_with_the_notification(app: App) -> None:
    with app.db.session() as s:
        sources.add(
            s,
            name="ap",
            company_name="ACME",
            host="127.0.0.1",
            port=1,
            username="ap",
            max_failures=2,
        )
    when = utcnow()
    health.record_failure(app, "ap", ConnectFailed("cannot connect"), now=when)
    assert all_events(app) == []  # one failure: a warning on the source, nobody is told yet
    outcome = health.record_failure(app, "ap", ConnectFailed("cannot connect"), now=when)
    assert outcome.deactivated
    [event] = all_events(app)
    with app.db.session() as s:
        [note] = s.scalars(select(Notification)).all()
    assert (event.kind, event.company_id, event.created_at) == (
        "source.deactivated",
        note.company_id,
        note.created_at,
    )
    assert event.payload["source"]["name"] == "ap"
    assert event.payload["source"]["company"] == "ACME"
    assert event.payload["source"]["active"] is False
    assert "switched off after 2 failed runs" in event.payload["reason"]
    assert event.payload["time"] == when.isoformat()


def test_a_recheck_that_imports_mail_writes_its_events(app: App, mailbox: Mailbox) -> None:
    mailbox.append("INBOX", invoice("Invoice 7", ("seven.pdf", make_pdf("seven"))))
    add_source(app, "ap", mailbox, "ACME")
    with app.db.session() as s:
        sources.get(s, "ap").allowed_senders = ["*@someone-else.example"]
    runner.fetch(app, "ap")
    assert all_events(app) == []  # not imported: the sender is not allowed
    with app.db.session() as s:
        sources.get(s, "ap").allowed_senders = ["*@supplier.example"]
    assert recheck(app, "ap").documents_created == 1
    [event] = all_events(app)
    assert event.kind == "document.created"
    assert event.payload["document"]["filename"] == "seven.pdf"
    assert recheck(app, "ap").documents_created == 0
    assert len(all_events(app)) == 1
