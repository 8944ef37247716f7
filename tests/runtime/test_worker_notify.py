"""Scaled out, the workers deliver the notifications outbox, so a worker takes the same
notification channels as ``serve`` (``--notify-smtp``, ``--notify-from``, ``--notify-webhook``,
or their environment variables): a notification made anywhere reaches its people through it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from fakes.receivers import SmtpSink, WebhookReceiver
from invoice_inbox.runtime.context import App
from invoice_inbox.store import notifications, sources, users
from invoice_inbox.store.models import utcnow
from invoice_inbox.store.models_events import Notification


def _states(app: App) -> tuple[str, str] | None:
    with app.db.session() as s:
        n = s.scalars(select(Notification)).one()
        return n.email_state, n.webhook_state


def test_a_worker_sends_the_notifications_through_its_channels(tmp_path: Path) -> None:
    app = App.open(tmp_path / "data")
    with app.db.session() as s:
        sources.company(s, "ACME", create=True)
        users.create(s, "boss@hq.example", "correct horse battery", "admin")
        src = sources.add(
            s, name="ap", company_name="ACME", host="127.0.0.1", port=1, username="ap"
        )
        notifications.create(s, src, "source_deactivated", "switched off", "...", now=utcnow())
    with SmtpSink() as sink, WebhookReceiver() as hook:
        env = {
            **os.environ,
            "INVOICE_INBOX_NOTIFY_WEBHOOK": hook.url,
            "INVOICE_INBOX_ALLOW_PRIVATE_WEBHOOKS": "1",
        }
        worker = subprocess.Popen(
            [
                *(sys.executable, "-m", "invoice_inbox", "--data-dir", str(app.data_dir)),
                *("worker", "--notify-smtp", f"127.0.0.1:{sink.port}"),
                *("--notify-from", "ap-robot@acme.example"),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while _states(app) != ("sent", "sent") and time.monotonic() < deadline:
                assert worker.poll() is None, worker.communicate()
                time.sleep(0.2)
        finally:
            worker.send_signal(signal.SIGTERM)
            _, err = worker.communicate(timeout=60)
        assert _states(app) == ("sent", "sent"), err
        [mail] = sink.mails
        assert mail.rcpt_tos == ["boss@hq.example"]
        assert mail.message["From"] == "ap-robot@acme.example"
        assert len(hook.requests) == 1
    app.close()
