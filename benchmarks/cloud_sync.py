"""Cloud-mailbox benchmark: how fast does a fetch import from Microsoft Graph and the Gmail API
at a real service's latency, one download at a time and concurrently, next to only downloading
the same raw messages over the same HTTP API?

One run, all on 127.0.0.1, against the local stand-ins the tests use (tests/fakes), which add
``--latency`` seconds (default 0.04) to every answer and refuse more than 4 requests in flight
per mailbox with 429 + Retry-After, as Outlook does:

1. start the stand-in authorization server, Graph and Gmail API servers; fill two Graph
   mailboxes (app-only sign-in) and two Gmail mailboxes (delegated sign-in) with the same
   ``--messages`` invoice mails of about ``--kib`` KiB each (a PDF attachment);
2. baseline, per service: download every raw message once, one request after the other
   (Graph ``/messages/{id}/$value``, Gmail ``messages/{id}?format=raw``) with httpx, then
   again with the connector's ``fetch`` (4 at once), without importing;
3. ingestion, per service: ``invoice-inbox fetch`` in this process (delta / history listing,
   raw download, decision, blobs with fsync, ledger, move to "Imported"), timed end to end,
   once with the connector's downloads one at a time (``concurrency=1``, as before issue 17)
   on the first mailbox and once with its default (4 at once) on the second;
4. print messages per second for each, the speed-up, and check every mail was imported once
   and that the stand-in never had to refuse a request for concurrency.

Run it from the repository root::

    .venv/bin/python benchmarks/cloud_sync.py [--messages 300] [--kib 60] [--latency 0.04] [--json]

With ``--latency 0`` the figures show our own overhead per message instead.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
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
from invoice_inbox.connectors import gmail as gmail_module  # noqa: E402
from invoice_inbox.connectors import graph as graph_module  # noqa: E402
from invoice_inbox.connectors.gmail import GmailConnector, GmailSettings  # noqa: E402
from invoice_inbox.connectors.graph import GraphConnector, GraphSettings  # noqa: E402
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


def connector_download(conn: GraphConnector | GmailConnector, ids: list[str]) -> float:
    """Seconds for the connector to download *ids* (its default concurrency), every one."""
    with contextlib.closing(conn):
        started = time.perf_counter()
        count = sum(1 for _ in conn.fetch(ids))
        seconds = time.perf_counter() - started
    if count != len(ids):
        raise SystemExit(f"the connector downloaded {count} of {len(ids)} messages")
    return seconds


def add_sources(data_dir: Path, idp: FakeIdentityProvider, tag: str) -> str:
    """A Graph and a Gmail source named ``graph-<tag>`` / ``gmail-<tag>``, each with its own
    mailbox; the Gmail user's access token (as the delegated sign-in would store it)."""
    graph_user, gmail_user = f"ap-{tag}@contoso.example", f"ap-{tag}@gmail.example"
    idp.app_mailbox("bench-app", graph_user)
    idp.add_user(gmail_user)
    common = ("--company", "ACME", "--move-imported-to", "Imported")
    run_cli(
        data_dir,
        *("source", "add", f"graph-{tag}", "--provider", "microsoft365", "--auth", "app"),
        *("--tenant-id", "bench", "--client-id", "bench-app", "--client-secret-env", "CS"),
        *("--username", graph_user, *common),
    )
    run_cli(
        data_dir,
        *("source", "add", f"gmail-{tag}", "--provider", "gmail", "--client-id", "bench-google"),
        *("--client-secret-env", "CS", "--username", gmail_user, *common),
    )
    user_token = idp.mint_user_token(
        gmail_user,
        "bench-google",
        ["https://www.googleapis.com/auth/gmail.modify"],
        provider="google",
    )
    bench_app = App.open(data_dir)
    try:
        with bench_app.db.session() as s:
            gmail_id = sources.get(s, f"gmail-{tag}").id
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
    finally:
        bench_app.close()
    return str(user_token["access_token"])


@contextlib.contextmanager
def downloads_at_once(count: int | None) -> Iterator[None]:
    """Fetch with the connectors' downloads limited to *count* at a time (None: default).
    The runner imports the settings from their modules when it makes a connector."""
    if count is None:
        yield
        return
    graph, gmail = graph_module.GraphSettings, gmail_module.GmailSettings
    graph_module.GraphSettings = functools.partial(graph, concurrency=count)  # type: ignore[misc]
    gmail_module.GmailSettings = functools.partial(gmail, concurrency=count)  # type: ignore[misc]
    try:
        yield
    finally:
        graph_module.GraphSettings, gmail_module.GmailSettings = graph, gmail  # type: ignore[misc]


def main() -> None:
    local_dns.use_empty_dns()  # senders are authenticated: never the machine's DNS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--kib", type=int, default=60)
    ap.add_argument("--latency", type=float, default=0.04, help="seconds added per request")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    raw = mails(args.messages, args.kib)
    size = sum(len(m) for m in raw)
    report: dict[str, object] = {
        "messages": args.messages,
        "mail_kib": round(size / len(raw) / 1024, 1),
        "latency_ms": round(args.latency * 1000, 1),
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
        idp.register_client("bench-google", secret=SECRET)
        gmail_tokens = {tag: add_sources(data_dir, idp, tag) for tag in ("seq", "conc")}
        boxes = {}
        for tag in ("seq", "conc"):
            boxes[f"graph-{tag}"] = graph.mailbox(f"ap-{tag}@contoso.example")
            boxes[f"gmail-{tag}"] = gmail.mailbox(f"ap-{tag}@gmail.example")
        for box in boxes.values():
            for m in raw:
                box.append("INBOX", m)
        for fake in (graph, gmail):
            fake.latency = args.latency
            fake.concurrency_limit = 4

        app_token = idp.mint_app_token(
            "bench-app", "https://graph.microsoft.com/.default", tenant="bench"
        )
        base_graph = baseline(
            [
                f"{graph.url}/users/ap-seq@contoso.example/messages/{i}/$value"
                for i in boxes["graph-seq"].ids()
            ],
            app_token["access_token"],
        )
        base_gmail = baseline(
            [
                f"{gmail.url}/gmail/v1/users/me/messages/{i}?format=raw"
                for i in boxes["gmail-seq"].ids()
            ],
            gmail_tokens["seq"],
        )
        graph_conn = GraphConnector(
            GraphSettings(
                mailbox="ap-seq@contoso.example",
                token=lambda renew=False: str(app_token["access_token"]),
                base_url=graph.url,
            )
        )
        gmail_conn = GmailConnector(
            GmailSettings(
                user="ap-seq@gmail.example",
                token=lambda renew=False: gmail_tokens["seq"],
                base_url=gmail.url,
            )
        )
        gmail_conn.open_folder("INBOX")
        downloads = {
            "graph": connector_download(graph_conn, boxes["graph-seq"].ids()),
            "gmail": connector_download(gmail_conn, boxes["gmail-seq"].ids()),
        }
        for name, base, fake in (("graph", base_graph, graph), ("gmail", base_gmail, gmail)):
            result: dict[str, object] = {
                "baseline_msg_per_s": round(args.messages / base, 1),
                "download_concurrent_msg_per_s": round(args.messages / downloads[name], 1),
            }
            ok = True
            for tag, at_once in (("seq", 1), ("conc", None)):
                with downloads_at_once(at_once):
                    seconds, imported = timed_fetch(data_dir, f"{name}-{tag}")
                box = boxes[f"{name}-{tag}"]
                ok = ok and imported == args.messages == box.count("Imported")
                key = "sequential" if tag == "seq" else "concurrent"
                result[f"fetch_{key}_msg_per_s"] = round(args.messages / seconds, 1)
                result[f"fetch_{key}_s"] = round(seconds, 2)
            result["speedup"] = round(
                result["fetch_concurrent_msg_per_s"] / result["fetch_sequential_msg_per_s"],  # type: ignore[operator]
                2,
            )
            result["refused_for_concurrency"] = fake.refused_for_concurrency
            result["all_imported_once"] = ok
            report[name] = result
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{args.messages} mails of {report['mail_kib']} KiB, {report['latency_ms']} ms"
            f" per request, Python {report['python']}, {report['cpus']} CPUs"
        )
        for name in ("graph", "gmail"):
            r = report[name]
            assert isinstance(r, dict)
            print(
                f"{name:6} raw download one at a time {r['baseline_msg_per_s']:6.1f} msg/s,"
                f" 4 at once {r['download_concurrent_msg_per_s']:6.1f} msg/s   fetch"
                f" sequential {r['fetch_sequential_msg_per_s']:6.1f} msg/s   concurrent"
                f" {r['fetch_concurrent_msg_per_s']:6.1f} msg/s (x{r['speedup']})   refused"
                f" {r['refused_for_concurrency']}   imported once: {r['all_imported_once']}"
            )
    if not all(report[n]["all_imported_once"] for n in ("graph", "gmail")):  # type: ignore[index]
        sys.exit(1)


if __name__ == "__main__":
    main()
