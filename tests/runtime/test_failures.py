"""The failure path against a real Dovecot that goes away and comes back: the "connection lost"
warning, backoff, five failures switching the source off, the notification by e-mail (to a
local aiosmtpd relay) and webhook, re-activation; and a refused login that is not retried."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from builders import Attachment, make_mail, make_pdf
from fakes.receivers import SmtpSink, WebhookReceiver
from harness.dovecot import DovecotServer
from invoice_inbox.cli import app as cli
from invoice_inbox.delivery.notify import Channels, deliver_due
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.scheduler import Scheduler
from invoice_inbox.store import sources
from invoice_inbox.store.models import Run


class Clock:
    """Starts at the real time (runs are stamped with it) and is moved forward by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def cli_ok(data: Path, *args: str, env: dict[str, str] | None = None) -> str:
    r = CliRunner().invoke(cli, ["--data-dir", str(data), *args], env=env)
    assert r.exit_code == 0, r.stdout + r.stderr
    return r.stdout


def invoice(n: int) -> bytes:
    return make_mail(
        subject=f"Invoice {n}", attachments=[Attachment(f"inv-{n}.pdf", make_pdf(f"Inv {n}"))]
    )


def add_source(data: Path, srv: DovecotServer, user: str, password: str) -> None:
    cli_ok(
        data,
        *("source", "add", "ap", "--company", "ACME", "--host", "127.0.0.1"),
        *("--port", str(srv.imap_port), "--security", "none", "--username", user),
        *("--password-env", "PW", "--schedule", "every 10m"),
        env={"PW": password},
    )
    cli_ok(data, "company", "set", "ACME", "--notify", "ap-team@acme.example")


def show(data: Path) -> dict[str, Any]:
    return json.loads(cli_ok(data, "source", "show", "ap", "--json"))


def run_count(a: App) -> int:
    with a.db.session() as s:
        return s.query(Run).count()


def test_server_down_five_times_switches_off_notifies_and_recovers(
    own_dovecot: DovecotServer, tmp_path: Path
) -> None:
    srv = own_dovecot
    user, password = srv.new_user()
    data = tmp_path / "data"
    add_source(data, srv, user, password)
    srv.append(user, "INBOX", invoice(1))
    clock = Clock()
    a = App.open(data)
    sched = Scheduler(a, clock=clock, retry_base=60)
    assert sched.tick() == ["ap"]
    assert len(json.loads(cli_ok(data, "documents", "list", "--json"))) == 1

    srv.stop()
    try:
        clock.now += timedelta(minutes=10)
        assert sched.tick() == ["ap"]
        info = show(data)
        assert info["failures"] == 1 and info["active"] is True
        lost = [w for w in info["warnings"] if w.startswith("connection lost")]
        assert lost and f"cannot connect to 127.0.0.1:{srv.imap_port}" in lost[0]
        assert "refused" in lost[0].lower()
        # retried sooner than the 10-minute schedule, with growing waits
        waits = []
        for _ in range(4):
            with a.db.session() as s:
                nxt = sources.get(s, "ap").next_run_at
            assert nxt is not None
            waits.append(nxt - clock.now)
            clock.now = nxt
            sched.tick()
        assert waits[0] < waits[1] < timedelta(minutes=10)
        info = show(data)
        assert info["active"] is False and info["failures"] == 5
        assert any(
            "switch it on with: invoice-inbox source activate ap" in w for w in info["warnings"]
        )
        clock.now += timedelta(hours=2)
        runs_before = run_count(a)
        assert sched.tick() == []  # switched off: not tried again
        assert run_count(a) == runs_before

        with SmtpSink() as sink, WebhookReceiver() as hook:
            channels = Channels(
                smtp_host="127.0.0.1",
                smtp_port=sink.port,
                sender="invoice-inbox@acme.example",
                webhook_url=hook.url,
            )
            assert deliver_due(a.db, channels) == 2
            assert deliver_due(a.db, channels) == 0  # delivered once
            [mail] = sink.mails
            assert mail.rcpt_tos == ["ap-team@acme.example"]
            assert 'source "ap" was switched off after 5 failed fetches' in mail.message["Subject"]
            text = mail.message.get_payload(decode=True).decode()
            assert "invoice-inbox source activate ap" in text and "cannot connect" in text
            [body] = hook.bodies
            assert body["kind"] == "source_deactivated" and body["source"] == "ap"
            assert body["company"] == "ACME"
        [note] = json.loads(cli_ok(data, "notifications", "--json"))
        assert (note["email"], note["webhook"]) == ("sent", "sent")
    finally:
        srv.start(same_ports=True)
    srv.append(user, "INBOX", invoice(2))  # arrives while the source is switched off
    cli_ok(data, "source", "activate", "ap")
    assert sched.tick() == ["ap"]
    info = show(data)
    assert (info["active"], info["failures"], info["last_error"]) == (True, 0, None)
    assert not [w for w in info["warnings"] if "connection lost" in w or "inactive" in w]
    docs = json.loads(cli_ok(data, "documents", "list", "--json"))
    assert sorted(d["filename"] for d in docs) == [
        "inv-1.pdf",
        "inv-2.pdf",
    ]
    a.close()


def test_a_refused_password_is_not_retried_and_asks_for_attention(
    own_dovecot: DovecotServer, tmp_path: Path
) -> None:
    srv = own_dovecot
    user, password = srv.new_user()
    data = tmp_path / "data"
    add_source(data, srv, user, "wrong-password")
    srv.append(user, "INBOX", invoice(3))
    clock = Clock()
    a = App.open(data)
    sched = Scheduler(a, clock=clock, retry_base=60)
    assert sched.tick() == ["ap"]
    for _ in range(5):
        clock.now += timedelta(minutes=10)
        assert sched.tick() == []
    assert run_count(a) == 1
    info = show(data)
    assert info["auth_state"] == "login_refused" and info["active"] is True
    assert any(w.startswith("needs attention: the login was refused") for w in info["warnings"])
    [note] = json.loads(cli_ok(data, "notifications", "--json"))
    assert note["kind"] == "needs_attention" and "cannot sign in" in note["subject"]
    assert "source set ap --password-env VAR" in note["body"]
    r = CliRunner().invoke(cli, ["--data-dir", str(data), "fetch", "ap"])
    assert r.exit_code == 1 and "source set ap --password-env VAR" in r.stderr
    assert "Traceback" not in r.stderr

    cli_ok(data, "source", "set", "ap", "--password-env", "PW", env={"PW": password})
    assert sched.tick() == ["ap"]
    assert len(json.loads(cli_ok(data, "documents", "list", "--json"))) == 1
    a.close()
