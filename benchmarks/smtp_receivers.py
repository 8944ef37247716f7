"""Two SMTP receivers on one database: what recognising a mail delivered twice costs.

Starts two ``invoice-inbox serve --no-scheduler --smtp-port …`` processes on one fresh data
directory (SQLite, or PostgreSQL when ``INVOICE_INBOX_DATABASE_URL`` is set) and delivers
generated invoice mails (a PDF each) with smtplib, one connection per delivery, all on
127.0.0.1:

1. baseline: N mails, each delivered once to receiver A, one after the other;
2. N other mails, each delivered to A and B at the same moment (two clients): a retrying
   sender at its worst; both must be answered 250, one stored, the other a duplicate;
3. N copies of the mails of step 1 sent again with a new ``Received:`` line (other bytes, the
   same Message-ID and sender), to B: recorded as duplicates without a decision.

Prints mails per second for each step, and checks the ledger at the end (2N documents, 2N
duplicates). Run it from the repository root::

    .venv/bin/python benchmarks/smtp_receivers.py [--mails 50]
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import local_dns  # noqa: E402

from builders import Attachment, make_mail, make_pdf  # noqa: E402
from harness.dovecot import free_ports  # noqa: E402

DOMAIN = "invoices.test"
SENDER = "billing@supplier.example"


def cli(data: Path, *args: str) -> str:
    cmd = [sys.executable, "-m", "invoice_inbox", "--data-dir", str(data), *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


@contextmanager
def receiver(data: Path, smtp_port: int) -> Iterator[None]:
    (http_port,) = free_ports(1)
    cmd = [sys.executable, "-m", "invoice_inbox", "--data-dir", str(data), "serve"]
    cmd += ["--no-scheduler", "--host", "127.0.0.1", "--port", str(http_port)]
    cmd += ["--smtp-host", "127.0.0.1", "--smtp-port", str(smtp_port), "--smtp-domain", DOMAIN]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{http_port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("serve did not come up")
            time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def mail(n: str, received: str | None = None) -> bytes:
    raw = make_mail(
        from_=f"Billing <{SENDER}>",
        subject=f"Invoice {n}",
        message_id=f"<inv-{n}@supplier.example>",
        attachments=[Attachment(f"INV-{n}.pdf", make_pdf(f"Invoice {n}"))],
    )
    if received:
        raw = f"Received: from {received} by relay.supplier.example\r\n".encode() + raw
    return raw


def send(port: int, to: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=300) as smtp:
        smtp.sendmail(SENDER, [to], raw)


def rate(label: str, count: int, seconds: float) -> None:
    print(f"{label:58} {count:4d} mails  {seconds:6.1f} s  {count / seconds:6.2f} mail/s")


def main() -> None:
    local_dns.use_empty_dns()  # senders are authenticated: never the machine's DNS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=50)
    n = parser.parse_args().mails
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        data = Path(tmp) / "data"
        cli(data, "company", "add", "ACME")
        ports = free_ports(2)
        for port in ports:
            stack.enter_context(receiver(data, port))
        to = json.loads(cli(data, "company", "show", "ACME", "--json"))["import_address"]
        db = "postgresql" if os.environ.get("INVOICE_INBOX_DATABASE_URL") else "sqlite"
        print(f"database: {db}; two receivers on one data directory")

        once = [mail(f"a{i}") for i in range(n)]
        start = time.perf_counter()
        for raw in once:
            send(ports[0], to, raw)
        rate("baseline: delivered once, to A", n, time.perf_counter() - start)

        twice = [mail(f"b{i}") for i in range(n)]
        start = time.perf_counter()
        for raw in twice:
            threads = [threading.Thread(target=send, args=(p, to, raw)) for p in ports]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        rate("the same bytes to A and B at once (per mail)", n, time.perf_counter() - start)

        copies = [mail(f"a{i}", received="mx2.supplier.example") for i in range(n)]
        start = time.perf_counter()
        for raw in copies:
            send(ports[1], to, raw)
        rate("a copy sent again (new Received:), to B", n, time.perf_counter() - start)

        messages = json.loads(cli(data, "messages", "--json"))
        documents = json.loads(cli(data, "documents", "list", "--json"))
        duplicates = sum(m["decision"] == "duplicate" for m in messages)
        print(f"documents {len(documents)} (want {2 * n}), duplicates {duplicates} (want {2 * n})")
        if len(documents) != 2 * n or duplicates != 2 * n:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
