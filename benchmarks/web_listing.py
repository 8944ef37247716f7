"""Documents-queue listing benchmark: how fast do the REST API and the web admin list the queue
when it holds many documents, compared with the raw SQLite query for the same page?

One run, all in this process and on 127.0.0.1:

1. a fresh data directory in a temporary directory (``App.open``, so the real schema and its
   migrations), filled with SQLAlchemy Core bulk inserts: one company "ACME", one source, one run,
   N ledger rows (``message``) and N documents, every 5th an ``einvoice_pdf`` with e-invoice
   fields (no blobs: listing never reads a file); an admin with an API token and a clerk of ACME
   with an API token;
2. baseline: the app's own queue query (``store.queue.queue_query``: document JOIN message,
   source and company, newest first, the same columns), compiled once to SQL and run with the
   standard library's ``sqlite3`` on the same database file, rows fetched as tuples;
3. the product, through two transports: in-process with ``fastapi.testclient.TestClient`` and
   over real HTTP (``web.server.WebServer`` on a free port, uvicorn on a thread of this process,
   an ``httpx.Client`` with keep-alive); an API call's time includes ``response.json()``:
   - ``GET /api/v1/documents?status=all&limit=50``: the first page, as admin and as clerk, with
     ``kind=einvoice_pdf``, and a deep page (the ``next_cursor`` met while walking the queue
     that leads to its last 200 documents);
   - the whole queue walked with ``limit=200``, following ``next_cursor``: seconds and
     documents per second;
   - the HTML queue ``GET /documents?status=all`` signed in as the clerk (first page, the
     e-invoice filter, and the same deep page via ``before=``);
4. print median and p95 of ``--runs`` repetitions after ``--warmup`` ones, the ratio to the
   baseline, ``GET /healthz`` as the floor of each transport (a small answer, no listing), and
   the peak RSS of the process (``getrusage``) after each stage.

Run it from the repository root::

    .venv/bin/python benchmarks/web_listing.py [--documents 20000] [--runs 50] [--json]

The server shares this process (and its GIL) with the client, as it shares ``serve`` with the
scheduler; a separate client machine would see a little less time per request and network
latency on top. Exit status 1 when a listing does not return what was inserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

# Starlette's TestClient warns that it will move to "httpx2"; the figures are unaffected
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Select, bindparam, insert  # noqa: E402
from sqlalchemy.dialects import sqlite as sqlite_dialect  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from invoice_inbox.runtime.context import App  # noqa: E402
from invoice_inbox.store import queue, users  # noqa: E402
from invoice_inbox.store.models import Company, Document, Message, Role, Run, Source  # noqa: E402
from invoice_inbox.web.app import create_app  # noqa: E402
from invoice_inbox.web.server import WebServer  # noqa: E402

PASSWORD = "correct horse battery"
ADMIN, CLERK = "admin@bench.example", "clerk@bench.example"
PAGE, WALK_PAGE = 50, 200
EINVOICE_EVERY = 5
KIND = "einvoice_pdf"
SELLERS = ("Papierfabrik Müller KG", "Nordwind Logistik GmbH", "Blue River Hosting")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
MB = 1024 * 1024


# -- data ---------------------------------------------------------------------------------


def _fill(app: App, n: int) -> None:
    """One company, source and run; *n* ledger rows and *n* documents, in one transaction."""
    t0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
    messages, documents = [], []
    for i in range(1, n + 1):
        when = t0 + timedelta(minutes=7 * i)
        messages.append(
            {
                "id": i,
                "source_id": 1,
                "run_id": 1,
                "folder": "INBOX",
                "uidvalidity": 1,
                "uid": i,
                "raw_sha256": hashlib.sha256(f"mail {i}".encode()).hexdigest(),
                "raw_size": 48_000 + i % 4096,
                "message_id": f"<{i}.bench@supplier.example>",
                "sender": "billing@supplier.example",
                "subject": f"Invoice {i}",
                "sent_at": when - timedelta(minutes=1),
                "received_at": when,
                "decision": "import",
                "reason": "a PDF attachment from an allowed sender",
                "hits": [],
                "state": "disposed",
                "filed_to": "Imported",
            }
        )
        einvoice = None
        if i % EINVOICE_EVERY == 0:
            einvoice = {
                "number": f"RE-2025-{i:06d}",
                "seller_name": SELLERS[i % len(SELLERS)],
                "total": f"{100 + i % 900}.{i % 100:02d}",
                "currency": "EUR",
            }
        documents.append(
            {
                "id": i,
                "company_id": 1,
                "message_id": i,
                "sha256": hashlib.sha256(f"document {i}".encode()).hexdigest(),
                "size": 45_000 + i % 4096,
                "media_type": "application/pdf",
                "filename": f"invoice-{i}.pdf",
                "kind": KIND if einvoice else "pdf",
                "einvoice": einvoice,
                "created_at": when,
            }
        )
    with app.db.engine.begin() as conn:
        conn.execute(insert(Company.__table__), [{"id": 1, "name": "ACME", "notify_emails": []}])
        conn.execute(
            insert(Source.__table__),
            [
                {
                    "id": 1,
                    "name": "bench",
                    "company_id": 1,
                    "host": "imap.bench.example",
                    "port": 993,
                    "username": "ap@bench.example",
                    "schedule": "manual",
                }
            ],
        )
        conn.execute(
            insert(Run.__table__),
            [{"id": 1, "source_id": 1, "trigger": "manual", "status": "succeeded"}],
        )
        conn.execute(insert(Message.__table__), messages)
        conn.execute(insert(Document.__table__), documents)


def _people(app: App) -> tuple[str, str]:
    """The admin and the clerk (of ACME); their API tokens."""
    with app.db.session() as s:
        admin = users.create(s, ADMIN, PASSWORD, Role.ADMIN)
        clerk = users.create(s, CLERK, PASSWORD, Role.CLERK, users.companies_named(s, ["ACME"]))
        return users.create_token(s, admin, "bench")[1], users.create_token(s, clerk, "bench")[1]


# -- baseline: the same SQL through the standard library -----------------------------------


class RawQueue:
    """The app's queue query, compiled once, run with ``sqlite3`` on the same file."""

    def __init__(self, db_file: Path) -> None:
        self.conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, check_same_thread=False)
        self.dialect = sqlite_dialect.dialect(paramstyle="named")

    def prepare(
        self, *, kind: str | None = None, company_ids: list[int] | None = None, size: int = PAGE
    ) -> Callable[[int | None], list[tuple[Any, ...]]]:
        """A function: the page of ids below *before* (None: the first page)."""
        base = queue.queue_query(queue.QueueFilter(status=queue.ALL, kind=kind))
        if company_ids is not None:
            base = base.where(Document.company_id.in_(company_ids))
        first, after = (
            self._sql(base.limit(size)),
            self._sql(base.where(Document.id < bindparam("before", 0)).limit(size)),
        )

        def page(before: int | None) -> list[tuple[Any, ...]]:
            if before is None:
                return self.conn.execute(first[0], first[1]).fetchall()
            return self.conn.execute(after[0], {**after[1], "before": before}).fetchall()

        return page

    def _sql(self, q: Select[Any]) -> tuple[str, dict[str, Any]]:
        c = q.compile(dialect=self.dialect, compile_kwargs={"render_postcompile": True})
        return str(c), {k: v for k, v in c.params.items() if k != "before"}

    def walk(self) -> int:
        page, seen, before = self.prepare(size=WALK_PAGE), 0, None
        while True:
            rows = page(before)
            seen += len(rows)
            if len(rows) < WALK_PAGE:
                return seen
            before = rows[-1][0]  # document.id is the first column


# -- measuring ----------------------------------------------------------------------------


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB  # KiB on Linux


@dataclass
class Timing:
    median_ms: float = 0.0
    p95_ms: float = 0.0


def _time(fn: Callable[[], object], runs: int, warmup: int) -> Timing:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        out.append(time.perf_counter() - began)
    return Timing(statistics.median(out) * 1000, _p95(out) * 1000)


@dataclass
class Walk:
    seconds: float = 0.0
    docs_per_s: float = 0.0
    pages: int = 0


@dataclass
class Case:
    name: str
    baseline: Timing
    in_process: Timing | None = None
    http: Timing | None = None


@dataclass
class Report:
    documents: int
    einvoices: int
    runs: int
    warmup: int
    walks: int
    nproc: int
    python: str
    platform: str
    sqlite: str
    build_s: float = 0.0
    db_mb: float = 0.0
    cases: list[Case] = field(default_factory=list)
    walk: dict[str, Walk] = field(default_factory=dict)
    floor: dict[str, Timing] = field(default_factory=dict)  # GET /healthz: the transport alone
    rss_mb: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class Transport:
    """One way to reach the app: an admin API client, a clerk API client, a clerk browser."""

    def __init__(
        self, name: str, make: Callable[..., httpx.Client], admin_token: str, clerk_token: str
    ) -> None:
        self.name = name
        self.admin = make(headers={"Authorization": f"Bearer {admin_token}"})
        self.clerk_api = make(headers={"Authorization": f"Bearer {clerk_token}"})
        self.browser = make()
        r = self.browser.get("/login")
        r.raise_for_status()
        found = _CSRF.search(r.text)
        if found is None:
            raise SystemExit("the sign-in page has no CSRF token")
        r = self.browser.post(
            "/login", data={"email": CLERK, "password": PASSWORD, "csrf_token": found.group(1)}
        )
        if r.status_code != 303:
            raise SystemExit(f"signing in as the clerk failed: {r.status_code}")

    def api(self, client: httpx.Client, **params: Any) -> dict[str, Any]:
        r = client.get("/api/v1/documents", params={"status": "all", **params})
        r.raise_for_status()
        data: dict[str, Any] = r.json()
        return data

    def html(self, **params: Any) -> str:
        r = self.browser.get("/documents", params={"status": "all", **params})
        r.raise_for_status()
        return r.text

    def walk(self) -> tuple[int, int, list[str]]:
        """(documents, pages, the cursors met) of the whole queue, ``limit=200`` pages."""
        seen, pages, cursors, cursor = 0, 0, [], None
        while True:
            params: dict[str, Any] = {"limit": WALK_PAGE}
            if cursor:
                params["cursor"] = cursor
            page = self.api(self.admin, **params)
            seen += len(page["items"])
            pages += 1
            cursor = page["next_cursor"]
            if not cursor:
                return seen, pages, cursors
            cursors.append(cursor)

    def close(self) -> None:
        for c in (self.admin, self.clerk_api, self.browser):
            c.close()


def _check(report: Report, what: str, ok: bool) -> None:
    if not ok:
        report.problems.append(what)


def measure(report: Report, t: Transport, raw: RawQueue, runs: int, warmup: int) -> None:
    n = report.documents
    # the walk: once untimed for the deep page's cursor and to check the count, then timed
    seen, pages, cursors = t.walk()
    _check(report, f"{t.name}: walked {seen} of {n} documents", seen == n)
    deep_cursor = cursors[-1] if cursors else None
    deep = t.api(t.admin, limit=PAGE, **({"cursor": deep_cursor} if deep_cursor else {}))
    deep_before = deep["items"][0]["id"] + 1 if deep["items"] else None
    times = []
    for _ in range(report.walks):
        began = time.perf_counter()
        seen, pages, _ = t.walk()
        times.append(time.perf_counter() - began)
    seconds = statistics.median(times)
    report.walk[t.name] = Walk(seconds, n / seconds, pages)

    first = t.api(t.admin, limit=PAGE)
    _check(
        report,
        f"{t.name}: the first page does not start with the newest document",
        len(first["items"]) == min(PAGE, n) and first["items"][0]["id"] == n,
    )
    einv = t.api(t.admin, limit=PAGE, kind=KIND)
    _check(
        report,
        f"{t.name}: the kind filter let other kinds through",
        bool(einv["items"]) and all(d["kind"] == KIND for d in einv["items"]),
    )
    _check(
        report,
        f"{t.name}: the clerk does not see the queue",
        len(t.api(t.clerk_api, limit=PAGE)["items"]) == min(PAGE, n),
    )
    _check(report, f"{t.name}: the HTML queue lacks the newest", f"invoice-{n}.pdf" in t.html())

    cursor = {"cursor": deep_cursor} if deep_cursor else {}
    before = {"before": deep_before} if deep_before else {}
    timed: list[tuple[str, Callable[[], object]]] = [
        ("API first page", lambda: t.api(t.admin, limit=PAGE)),
        ("API first page, clerk", lambda: t.api(t.clerk_api, limit=PAGE)),
        (f"API kind={KIND}", lambda: t.api(t.admin, limit=PAGE, kind=KIND)),
        ("API deep page (cursor)", lambda: t.api(t.admin, limit=PAGE, **cursor)),
        ("HTML first page, clerk", lambda: t.html()),
        (f"HTML kind={KIND}", lambda: t.html(kind=KIND)),
        ("HTML deep page (before=)", lambda: t.html(**before)),
    ]
    report.floor[t.name] = _time(lambda: t.admin.get("/healthz").raise_for_status(), runs, warmup)
    by_name = {c.name: c for c in report.cases}
    for name, fn in timed:
        if name not in by_name:
            page = _baseline_for(name, raw, deep_before)
            by_name[name] = Case(name, _time(page, runs, warmup))
            report.cases.append(by_name[name])
        setattr(by_name[name], t.name, _time(fn, runs, warmup))


def _baseline_for(name: str, raw: RawQueue, deep_before: int | None) -> Callable[[], object]:
    """The raw query for the same page as the case *name*."""
    if "clerk" in name:
        page = raw.prepare(company_ids=[1])
    elif KIND in name:
        page = raw.prepare(kind=KIND)
    else:
        page = raw.prepare()
    before = deep_before if "deep" in name else None
    return lambda: page(before)


def run(n: int, runs: int, warmup: int, walks: int, http: bool) -> Report:
    report = Report(
        documents=n,
        einvoices=n // EINVOICE_EVERY,
        runs=runs,
        warmup=warmup,
        walks=walks,
        nproc=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0,
        python=platform.python_version(),
        platform=f"{platform.system()} {platform.release()} {platform.machine()}",
        sqlite=sqlite3.sqlite_version,
    )
    report.rss_mb["after imports"] = _rss_mb()
    with tempfile.TemporaryDirectory(prefix="ii-bench-") as tmp:
        app = App.open(Path(tmp) / "data")
        try:
            began = time.perf_counter()
            _fill(app, n)
            report.build_s = time.perf_counter() - began
            admin_token, clerk_token = _people(app)
            db_file = Path(tmp) / "data" / "invoice-inbox.db"
            report.db_mb = sum(
                p.stat().st_size for p in db_file.parent.glob("invoice-inbox.db*")
            ) / (1024 * 1024)
            report.rss_mb["after building"] = _rss_mb()

            raw = RawQueue(db_file)
            began = time.perf_counter()
            for _ in range(walks):
                seen = raw.walk()
            seconds = (time.perf_counter() - began) / walks
            _check(report, f"sqlite3: walked {seen} of {n} documents", seen == n)
            report.walk["baseline"] = Walk(seconds, n / seconds, -(-n // WALK_PAGE))

            asgi = create_app(app)

            def in_process(**kw: Any) -> httpx.Client:
                return TestClient(asgi, follow_redirects=False, **kw)

            t = Transport("in_process", in_process, admin_token, clerk_token)
            try:
                measure(report, t, raw, runs, warmup)
            finally:
                t.close()
            report.rss_mb["after in-process"] = _rss_mb()

            if http:
                server = WebServer(asgi, "127.0.0.1", 0)
                server.start()
                try:

                    def over_http(**kw: Any) -> httpx.Client:
                        return httpx.Client(base_url=server.url, timeout=30, **kw)

                    t = Transport("http", over_http, admin_token, clerk_token)
                    try:
                        measure(report, t, raw, runs, warmup)
                    finally:
                        t.close()
                finally:
                    server.stop()
                report.rss_mb["after real HTTP"] = _rss_mb()
            raw.conn.close()
        finally:
            app.close()
    return report


# -- report -------------------------------------------------------------------------------


def _cell(t: Timing | None) -> str:
    return f"{t.median_ms:7.2f} / {t.p95_ms:7.2f}" if t else f"{'-':>17}"


def print_report(r: Report) -> None:
    shown = "http" if any(c.http for c in r.cases) else "in_process"
    lines = [
        "invoice-inbox documents-queue listing benchmark",
        f"machine  : {r.nproc} CPUs, Python {r.python}, {r.platform}, SQLite {r.sqlite}",
        f"data     : {r.documents:,} documents ({r.einvoices:,} {KIND}), 1 company, 1 source; "
        f"bulk insert {r.build_s:.1f} s, database {r.db_mb:.1f} MB",
        f"runs     : {r.runs} per figure after {r.warmup} warm-up; ms, median / p95; "
        f"pages of {PAGE}; ratio = {'real HTTP' if shown == 'http' else 'in-process'} "
        "median / baseline median",
        "baseline : the app's queue SQL (document JOIN message, source, company) with stdlib "
        "sqlite3, same file",
        "",
        f"{'':26} {'sqlite3 baseline':>17}   {'in-process':>17}   {'real HTTP':>17}   ratio",
    ]
    for c in r.cases:
        best = getattr(c, shown)
        ratio = f"{best.median_ms / c.baseline.median_ms:5.0f}x" if best else ""
        lines.append(
            f"{c.name:<26} {_cell(c.baseline)}   {_cell(c.in_process)}   {_cell(c.http)}   {ratio}"
        )
    floor = "   ".join(
        f"{label} {r.floor[k].median_ms:.2f} / {r.floor[k].p95_ms:.2f} ms"
        for k, label in (("in_process", "in-process"), ("http", "real HTTP"))
        if k in r.floor
    )
    lines += [f"{'GET /healthz (floor)':<26} {floor}", ""]
    base = r.walk["baseline"]
    lines.append(f"whole queue, limit={WALK_PAGE} ({base.pages} pages, median of {r.walks} walks):")
    for key, label in (("baseline", "sqlite3"), ("in_process", "in-process"), ("http", "HTTP")):
        w = r.walk.get(key)
        if w is not None:
            ratio = f", {w.seconds / base.seconds:.0f}x the baseline" if key != "baseline" else ""
            lines.append(
                f"  {label:<11}: {w.seconds:7.3f} s, {w.docs_per_s:9,.0f} documents/s{ratio}"
            )
    lines.append(
        "peak RSS : " + ", ".join(f"{mb:.0f} MB {stage}" for stage, mb in r.rss_mb.items())
    )
    for p in r.problems:
        lines.append(f"PROBLEM  : {p}")
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--documents", type=int, default=20_000, help="documents in the queue (20000)")
    p.add_argument("--runs", type=int, default=50, help="timed requests per figure (50)")
    p.add_argument("--warmup", type=int, default=5, help="untimed requests first (5)")
    p.add_argument("--walks", type=int, default=3, help="timed walks of the whole queue (3)")
    p.add_argument("--no-http", action="store_true", help="in-process (TestClient) only")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    if args.documents < 1 or args.runs < 2 or args.walks < 1 or args.warmup < 0:
        p.error("--documents and --walks must be at least 1, --runs at least 2")
    report = run(args.documents, args.runs, args.warmup, args.walks, not args.no_http)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print_report(report)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
