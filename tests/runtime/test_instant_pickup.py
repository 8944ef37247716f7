"""Instant pickup by the service (runtime.service with its IDLE watches) against Dovecot: mail
that came while the service was down is fetched as soon as the watch is up, and a server that
does not announce new mail during IDLE (Dovecot behind harness.tcp_proxy.Withholding) is
polled, so its mail is still imported long before the hourly schedule."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from builders import Attachment, make_mail, make_pdf
from harness.dovecot import Mailbox
from harness.tcp_proxy import Withholding
from invoice_inbox.connectors.idle_push import POLL, SETTLE
from invoice_inbox.runtime import runner
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.service import Service, ServiceConfig
from invoice_inbox.store import sources
from invoice_inbox.store.models import Document, Run


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def invoice(subject: str) -> bytes:
    return make_mail(subject=subject, attachments=[Attachment(f"{subject}.pdf", make_pdf(subject))])


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    a = App.open(tmp_path / "data")
    yield a
    a.close()


def add_source(app: App, mailbox: Mailbox, port: int) -> None:
    """An hourly instant source that has run once (so its next scheduled run is an hour away)."""
    with app.db.session() as s:
        sources.add(
            s,
            name="ap",
            company_name="ACME",
            host="127.0.0.1",
            port=port,
            security="none",
            username=mailbox.user,
            secret=app.secrets.encrypt(mailbox.password),
            schedule="every 60m",
            instant=True,
        )
    runner.fetch(app, "ap", trigger="schedule")


def documents(app: App) -> int:
    with app.db.session() as s:
        return s.scalar(select(func.count()).select_from(Document)) or 0


def triggers(app: App) -> list[str]:
    with app.db.session() as s:
        return list(s.scalars(select(Run.trigger).order_by(Run.id)))


@pytest.fixture
def start() -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def go(app: App, **config: Any) -> Service:
        service = Service(
            app,
            ServiceConfig(
                poll=0.1,
                watch_refresh=0.2,
                notify_every=3600,
                webhook_every=3600,
                recheck_every=3600,
                **config,
            ),
        )
        service.start()
        started.append(service)
        return service

    yield go
    for service in started:
        service.stop()


def test_mail_that_came_while_the_service_was_down_is_fetched_once_the_watch_is_up(
    app: App, mailbox: Mailbox, start: Callable[..., Service]
) -> None:
    add_source(app, mailbox, mailbox.server.imap_port)
    mailbox.append("INBOX", invoice("while-down"))  # nobody is watching
    start(app)
    wait_for("the mail that came while the service was down", lambda: documents(app) == 1)
    assert triggers(app) == ["schedule", "instant"]


def test_a_server_that_does_not_push_is_polled_and_its_mail_imported(
    app: App, mailbox: Mailbox, start: Callable[..., Service]
) -> None:
    proxy = Withholding(mailbox.server.imap_port)
    try:
        add_source(app, mailbox, proxy.port)
        service = start(app, idle_poll=1.0)  # the IDLE re-issue stays at 9 minutes
        wait_for("the run when the watch is up", lambda: len(triggers(app)) == 2)
        time.sleep(SETTLE)
        mailbox.append("INBOX", invoice("unpushed"))
        wait_for("the mail the server did not announce", lambda: documents(app) == 1)
        assert triggers(app)[-1] == "instant"
        assert service.watch_modes() == {"ap/INBOX": POLL}
        _healthy, details = service.scheduler.health()
        assert details["idle_watches"] == {"ap/INBOX": POLL}
    finally:
        proxy.close()
