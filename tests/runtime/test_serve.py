"""``invoice-inbox serve`` as a user runs it: a separate process with instant pickup (IMAP
IDLE against Dovecot), the import address (inbound SMTP), /metrics and /healthz, JSON logs,
and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from builders import Attachment, make_mail, make_pdf
from harness.dovecot import Mailbox, free_ports
from invoice_inbox.cli import app as cli


def cli_json(data: Path, *args: str) -> Any:
    r = CliRunner().invoke(cli, ["--data-dir", str(data), *args, "--json"])
    assert r.exit_code == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def invoice(subject: str) -> bytes:
    return make_mail(subject=subject, attachments=[Attachment(f"{subject}.pdf", make_pdf(subject))])


def test_serve_imports_instantly_receives_smtp_reports_and_stops_cleanly(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    data = tmp_path / "data"
    r = CliRunner().invoke(
        cli,
        [
            *("--data-dir", str(data), "source", "add", "ap", "--company", "ACME"),
            *("--host", "127.0.0.1", "--port", str(mailbox.server.imap_port)),
            *("--security", "none", "--username", mailbox.user, "--password-env", "PW"),
            *("--schedule", "every 60m", "--instant"),
        ],
        env={"PW": mailbox.password},
    )
    assert r.exit_code == 0, r.stderr
    http_port, smtp_port = free_ports(2)
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "invoice_inbox", "--data-dir", str(data), "serve"),
            *("--host", "127.0.0.1", "--port", str(http_port), "--smtp-host", "127.0.0.1"),
            *("--smtp-port", str(smtp_port), "--smtp-domain", "invoices.test"),
            *("--log-format", "json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{http_port}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for("/healthz", healthy)
        health = httpx.get(f"{base}/healthz").json()
        assert health["status"] == "ok" and health["scheduler"] == "running"
        # the first scheduled run (the source never ran) finds the mailbox empty
        wait_for("the first run", lambda: cli_json(data, "runs"))

        # instant pickup: a mail appended now is imported long before the hourly poll
        time.sleep(1.0)  # let the IDLE watcher settle in
        mailbox.append("INBOX", invoice("instant-1"))
        docs = wait_for("the instant import", lambda: cli_json(data, "documents", "list"))
        assert [d["filename"] for d in docs] == ["instant-1.pdf"]
        triggers = [run["trigger"] for run in cli_json(data, "runs")]
        assert "instant" in triggers

        # the import address: a supplier's mail over SMTP
        address = cli_json(data, "company", "show", "ACME")["import_address"]
        assert address.endswith("@invoices.test")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
            refused = smtp.sendmail("billing@supplier.example", [address], invoice("smtp-1"))
        assert refused == {}
        names = sorted(d["filename"] for d in cli_json(data, "documents", "list"))
        assert names == ["instant-1.pdf", "smtp-1.pdf"]  # stored before the 250

        metrics = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(httpx.get(f"{base}/metrics").text)
            for s in family.samples
        }
        assert metrics[("invoice_inbox_documents_total", (("company", "ACME"),))] == 2
        assert metrics[("invoice_inbox_source_up", (("source", "ap"),))] == 1
        instant_runs = [
            v
            for (name, labels), v in metrics.items()
            if name == "invoice_inbox_runs_total"
            and ("trigger", "instant") in labels
            and ("status", "succeeded") in labels
        ]
        assert instant_runs and instant_runs[0] >= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped." in out
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert records, err
    assert any(rec.get("source") == "ap" and "1 imported" in rec["msg"] for rec in records), err
    assert "Traceback" not in err
