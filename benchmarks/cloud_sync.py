"""Cloud-mailbox benchmark: how fast does a fetch import from Microsoft Graph and the Gmail API,
compared with only downloading the same raw messages over the same HTTP API?

One run, all on 127.0.0.1, against the local stand-ins the tests use (tests/fakes):

1. start the stand-in authorization server, Graph and Gmail API servers; fill one Graph mailbox
   (app-only sign-in) and one Gmail mailbox (delegated sign-in) with ``--messages`` invoice
   mails of about ``--kib`` KiB each (a PDF attachment);
2. baseline, per service: list the ids and download every raw message once, one request per
   message (Graph ``/messages/{id}/$value``, Gmail ``messages/{id}?format=raw``) with httpx;
3. ingestion, per service: ``invoice-inbox fetch`` in this process (delta / history listing,
   raw download, decision, blobs with fsync, ledger, move to "Imported"), timed end to end;
4. print messages per second for both and the ratio, and check every mail was imported once.

Run it from the repository root::

    .venv/bin/python benchmarks/cloud_sync.py [--messages 300] [--kib 60] [--json]

The stand-ins answer from memory, so the figures show our own overhead per message, not a real
service's latency (Graph and Gmail answer in tens of milliseconds and throttle).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import local_dns  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from builders import Attachment, make_mail, make_sized_pdf  # noqa: E402
from fakes.gmail import FakeGmail  # noqa: E402
from fakes.graph import FakeGraph  # noqa: E402
from fakes.oauth import FakeIdentityProvider  # noqa: E402
from invoice_inbox.auth.oauth import Token  # noqa: E402
from invoice_inbox.cli import app as cli  # noqa: E402
from invoice_inbox.runtime import runner  # noqa: E402
from invoice_inbox.runtime.context import App  # noqa: E402
from invoice_inbox.store import sources  # noqa: E402

SECRET = "bench-client-secret"


def mails(count: int, kib: int) -> list[bytes]:
    return [
        make_mail(
            from_="billing@supplier.example",
            subject=f"Invoice {i}",
            attachments=[Attachment(f"INV-{i}.pdf", make_sized_pdf(kib * 1024, seed=i))],
        )
        for i in range(count)
    ]


def run_cli(data_dir: Path, *args: str) -> str:
    r = CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args], env={"CS": SECRET})
    if r.exit_code != 0:
        raise SystemExit(f"invoice-inbox {' '.join(args)} failed: {r.stdout}{r.stderr}")
    return r.stdout


def timed_fetch(data_dir: Path, name: str) -> tuple[float, int]:
    app = App.open(data_dir)
    try:
        started = time.perf_counter()
        summary = runner.fetch(app, name)
        return time.perf_counter() - started, summary.imported
    finally:
        app.close()


def baseline(urls: list[str], token: str) -> float:
    started = time.perf_counter()
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as http:
        for url in urls:
            http.get(url).raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    local_dns.use_empty_dns()  # senders are authenticated: never the machine's DNS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--kib", type=int, default=60)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    raw = mails(args.messages, args.kib)
    size = sum(len(m) for m in raw)
    report: dict[str, object] = {
        "messages": args.messages,
        "mail_kib": round(size / len(raw) / 1024, 1),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    with (
        FakeIdentityProvider() as idp,
        FakeGraph(authorize=idp.may_open) as graph,
        FakeGmail(
            authorize=idp.may_open, who=lambda t: (p := idp.principal(t)) and p.subject
        ) as gmail,
        tempfile.TemporaryDirectory() as tmp,
    ):
        os.environ["INVOICE_INBOX_MICROSOFT_LOGIN_URL"] = idp.microsoft_base()
        (
            os.environ["INVOICE_INBOX_GOOGLE_AUTH_URL"],
            os.environ["INVOICE_INBOX_GOOGLE_TOKEN_URL"],
        ) = idp.google_urls()
        os.environ["INVOICE_INBOX_GRAPH_URL"] = graph.url
        os.environ["INVOICE_INBOX_GMAIL_URL"] = gmail.url
        data_dir = Path(tmp) / "data"
        idp.register_client("bench-app", secret=SECRET, tenant="bench")
        idp.grant_consent("bench", "bench-app")
        idp.app_mailbox("bench-app", "ap@contoso.example")
        idp.register_client("bench-google", secret=SECRET)
        idp.add_user("ap@gmail.example")
        graph_box = graph.mailbox("ap@contoso.example")
        gmail_box = gmail.mailbox("ap@gmail.example")
        for m in raw:
            graph_box.append("INBOX", m)
            gmail_box.append("INBOX", m)

        app_token = idp.mint_app_token(
            "bench-app", "https://graph.microsoft.com/.default", tenant="bench"
        )
        user_token = idp.mint_user_token(
            "ap@gmail.example",
            "bench-google",
            ["https://www.googleapis.com/auth/gmail.modify"],
            provider="google",
        )
        base_graph = baseline(
            [f"{graph.url}/users/ap@contoso.example/messages/{i}/$value" for i in graph_box.ids()],
            app_token["access_token"],
        )
        base_gmail = baseline(
            [f"{gmail.url}/gmail/v1/users/me/messages/{i}?format=raw" for i in gmail_box.ids()],
            user_token["access_token"],
        )

        common = ("--company", "ACME", "--move-imported-to", "Imported")
        run_cli(
            data_dir,
            *("source", "add", "graph", "--provider", "microsoft365", "--auth", "app"),
            *("--tenant-id", "bench", "--client-id", "bench-app", "--client-secret-env", "CS"),
            *("--username", "ap@contoso.example", *common),
        )
        run_cli(
            data_dir,
            *("source", "add", "gmail", "--provider", "gmail", "--client-id", "bench-google"),
            *("--client-secret-env", "CS", "--username", "ap@gmail.example", *common),
        )
        bench_app = App.open(data_dir)
        with bench_app.db.session() as s:
            gmail_id = sources.get(s, "gmail").id
        runner.store_token(
            bench_app,
            gmail_id,
            Token(
                access_token=user_token["access_token"],
                expires_at=time.time() + 3600,
                refresh_token=user_token.get("refresh_token"),
                scope=user_token["scope"],
            ),
        )
        bench_app.close()
        for name, base, box in (
            ("graph", base_graph, graph_box),
            ("gmail", base_gmail, gmail_box),
        ):
            seconds, imported = timed_fetch(data_dir, name)
            ok = imported == args.messages and box.count("Imported") == args.messages
            report[name] = {
                "baseline_msg_per_s": round(args.messages / base, 1),
                "fetch_msg_per_s": round(args.messages / seconds, 1),
                "fetch_mb_per_s": round(size / seconds / 1e6, 1),
                "fetch_vs_baseline_pct": round(100 * base / seconds, 1),
                "all_imported_once": ok,
            }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{args.messages} mails of {report['mail_kib']} KiB, Python {report['python']}")
        for name in ("graph", "gmail"):
            r = report[name]
            assert isinstance(r, dict)
            print(
                f"{name:6} raw download {r['baseline_msg_per_s']:7.1f} msg/s   fetch"
                f" {r['fetch_msg_per_s']:6.1f} msg/s ({r['fetch_mb_per_s']} MB/s,"
                f" {r['fetch_vs_baseline_pct']} % of raw)   imported once: {r['all_imported_once']}"
            )
    if not all(report[n]["all_imported_once"] for n in ("graph", "gmail")):  # type: ignore[index]
        sys.exit(1)


if __name__ == "__main__":
    main()
