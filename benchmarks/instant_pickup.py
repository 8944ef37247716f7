"""Instant pickup benchmark: how long from the APPEND of a mail to its document being committed,
for a source with instant pickup (IMAP IDLE) in a running ``invoice-inbox serve``?

One run, all on 127.0.0.1, with a private Dovecot from the test harness (root and
``dovecot-imapd``):

1. baseline: a bare IMAPClient session in IDLE on a second user; for each of N mails the time
   from the start of the APPEND (another connection) to the untagged ``EXISTS`` it receives —
   the floor set by the server's push, before any work of ours;
2. the product: ``python -m invoice_inbox serve`` in its own process with one ``--instant``
   source (schedule ``manual``, so only IDLE can bring the mail in); for each of N mails the
   time from the start of the APPEND to the moment its ledger row and document are visible in
   the database (polled every 5 ms), one mail at a time;
3. a report with median, p95 and max of both, and the target: median under 2 s.

    .venv/bin/python benchmarks/instant_pickup.py [--mails 100] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from imapclient import IMAPClient

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import local_dns  # noqa: E402

from builders import Attachment, make_mail, make_pdf  # noqa: E402
from harness.dovecot import DovecotServer, free_ports  # noqa: E402

TARGET_MEDIAN = 2.0


def invoice(n: int) -> bytes:
    return make_mail(
        subject=f"Invoice {n}",
        message_id=f"<bench-{n}-{time.time_ns()}@supplier.example>",
        attachments=[Attachment(f"inv-{n}.pdf", make_pdf(f"Invoice {n}"))],
    )


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def baseline(srv: DovecotServer, user: str, password: str, n: int) -> list[float]:
    """APPEND → untagged EXISTS on a bare IDLE session."""
    idler = IMAPClient("127.0.0.1", port=srv.imap_port, ssl=False, timeout=30)
    idler.login(user, password)
    idler.select_folder("INBOX", readonly=True)
    appender = IMAPClient("127.0.0.1", port=srv.imap_port, ssl=False, timeout=30)
    appender.login(user, password)
    latencies = []
    try:
        for i in range(n):
            idler.idle()
            raw = invoice(i)
            started = time.perf_counter()
            appender.append("INBOX", raw)
            while True:
                if any(r[1] == b"EXISTS" for r in idler.idle_check(timeout=10)):
                    break
            latencies.append(time.perf_counter() - started)
            idler.idle_done()
    finally:
        appender.logout()
        idler.logout()
    return latencies


def committed(db: Path, message_id: str) -> bool:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        row = conn.execute(
            "SELECT count(*) FROM message m JOIN document d ON d.message_id = m.id"
            " WHERE m.message_id = ?",
            (message_id,),
        ).fetchone()
    return bool(row and row[0])


def product(srv: DovecotServer, user: str, password: str, n: int, tmp: Path) -> list[float]:
    data = tmp / "data"
    env = dict(os.environ, PW=password)
    base = [sys.executable, "-m", "invoice_inbox", "--data-dir", str(data)]
    subprocess.run(
        [
            *base,
            *("source", "add", "bench", "--company", "Bench", "--host", "127.0.0.1"),
            *("--port", str(srv.imap_port), "--security", "none", "--username", user),
            *("--password-env", "PW", "--instant", "--schedule", "manual"),
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    (http_port,) = free_ports(1)
    serve = subprocess.Popen(
        [*base, "serve", "--http", f"127.0.0.1:{http_port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log: list[str] = []
    threading.Thread(target=lambda: log.extend(serve.stderr or []), daemon=True).start()
    db = data / "invoice-inbox.db"
    appender = IMAPClient("127.0.0.1", port=srv.imap_port, ssl=False, timeout=30)
    appender.login(user, password)
    latencies = []
    try:
        deadline = time.monotonic() + 30
        while not any("watching INBOX" in line for line in log):
            if time.monotonic() > deadline or serve.poll() is not None:
                raise SystemExit("serve did not start watching:\n" + "".join(log))
            time.sleep(0.05)
        time.sleep(0.5)  # the watcher is in IDLE
        for i in range(n):
            raw = invoice(i)
            mid = raw.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0].decode()
            started = time.perf_counter()
            appender.append("INBOX", raw)
            while not committed(db, mid):
                if time.perf_counter() - started > 60:
                    raise SystemExit(f"mail {i} was not imported within 60 s")
                time.sleep(0.005)
            latencies.append(time.perf_counter() - started)
    finally:
        appender.logout()
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
    return latencies


def main() -> None:
    local_dns.use_empty_dns()  # senders are authenticated: never the machine's DNS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mails", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        tmp.chmod(0o755)
        srv = DovecotServer(tmp / "dovecot", {"base": "basepw", "bench": "benchpw"})
        srv.start()
        try:
            floor = baseline(srv, "base", "basepw", args.mails)
            ours = product(srv, "bench", "benchpw", args.mails, tmp)
        finally:
            srv.stop()
    report = {
        "mails": args.mails,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "baseline_append_to_idle_exists": stats(floor),
        "append_to_document_committed": stats(ours),
        "target_median_ms": TARGET_MEDIAN * 1000,
        "target_met": statistics.median(ours) < TARGET_MEDIAN,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    b, o = report["baseline_append_to_idle_exists"], report["append_to_document_committed"]
    print(f"instant pickup, {args.mails} mails, one at a time (Python {report['python']})")
    print(
        f"  baseline  APPEND -> IDLE EXISTS:        median {b['median_ms']} ms,"  # type: ignore[index]
        f" p95 {b['p95_ms']} ms, max {b['max_ms']} ms"
    )  # type: ignore[index]
    print(
        f"  product   APPEND -> document committed: median {o['median_ms']} ms,"  # type: ignore[index]
        f" p95 {o['p95_ms']} ms, max {o['max_ms']} ms"
    )  # type: ignore[index]
    print(f"  target: median < {TARGET_MEDIAN:g} s: {'met' if report['target_met'] else 'MISSED'}")


if __name__ == "__main__":
    main()
