"""The notification webhook's URL is a secret of its own (a chat service's incoming hook): a
failed delivery names only its scheme and host, in the stored error, on the notifications
screen, in the API and in the log; errors kept by older versions are cut when the service
starts. The receiver here is the operator's, on 127.0.0.1 (no allowance needed)."""

from __future__ import annotations

import logging
import time

import pytest
from sqlalchemy import select

from fakes.receivers import WebhookReceiver
from harness.dovecot import free_ports
from invoice_inbox.delivery.notify import Channels, deliver_due
from invoice_inbox.runtime.service import Service, ServiceConfig
from invoice_inbox.store import notifications, sources
from invoice_inbox.store.models import utcnow
from invoice_inbox.store.models_events import Notification
from web.conftest import Web

HOOK_PATH = "/services/T0AAAA/B0BBBB/xoxb-hook-secret-3f9a"
SECRET = "xoxb-hook-secret-3f9a"


def notify_once(w: Web) -> int:
    """One pending notification of ACME's source; its id."""
    w.user("boss@x.test")
    with w.app.db.session() as s:
        src = sources.add(s, name="ap", company_name="ACME", host="127.0.0.1", port=1, username="u")
        n = notifications.create(s, src, "source_deactivated", "ap is off", "why", now=utcnow())
        return n.id


def shown_everywhere(w: Web) -> str:
    """The stored error, the notifications screen and the API answer, together."""
    with w.app.db.session() as s:
        stored = s.scalars(select(Notification.last_error)).one() or ""
    page = w.browser("boss@x.test").get("/notifications").text
    api = w.api("boss@x.test").get("/api/v1/notifications").text
    return "\n".join([stored, page, api])


@pytest.mark.parametrize("answer", [500, None], ids=["answered-500", "nothing-listens"])
def test_a_failed_notification_webhook_names_scheme_and_host_only(
    web: Web, caplog: pytest.LogCaptureFixture, answer: int | None
) -> None:
    notify_once(web)
    caplog.set_level(logging.DEBUG)
    with WebhookReceiver(status=answer or 500, text=SECRET.encode()) as receiver:
        port = int(receiver.url.split(":")[2].split("/")[0]) if answer else free_ports(1)[0]
        url = f"http://127.0.0.1:{port}{HOOK_PATH}?token={SECRET}"
        assert deliver_due(web.app.db, Channels(webhook_url=url)) == 0
        assert len(receiver.requests) == (1 if answer else 0)
    everything = shown_everywhere(web)
    expected = "answered 500" if answer else "failed: connection refused"
    assert f"webhook http://127.0.0.1 {expected}" in everything
    assert SECRET not in everything and "B0BBBB" not in everything
    assert SECRET not in caplog.text and "B0BBBB" not in caplog.text
    assert "webhook http://127.0.0.1" in caplog.text  # the log line is there, cut


def test_errors_kept_by_an_older_version_are_cut_when_the_service_starts(web: Web) -> None:
    nid = notify_once(web)
    old = f"webhook https://hooks.chat.example{HOOK_PATH} failed: [Errno 111] refused"
    with web.app.db.session() as s:
        n = s.get(Notification, nid)
        assert n is not None
        n.email_state, n.webhook_state, n.last_error = "sent", "failed", old
    service = Service(web.app, ServiceConfig(notify_every=3600, webhook_every=3600))
    service.start()
    try:
        deadline = time.monotonic() + 30
        while SECRET in shown_everywhere(web) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        service.stop()
    everything = shown_everywhere(web)
    assert SECRET not in everything
    assert "webhook https://hooks.chat.example failed" in everything
