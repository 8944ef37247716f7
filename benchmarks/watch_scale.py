"""1,000 instant sources watched by one worker: memory per IDLE watch, threads and connections,
and the wake-up latency (APPEND -> run started, -> document committed) at that load, next to
the same with one instant source (the baseline, in the same run).

One run, all on 127.0.0.1 (root, ``dovecot-imapd``, PostgreSQL 15 binaries for the default
``--db postgresql``):

1. a private Dovecot with N users (limits raised for N sessions at once), empty INBOXes;
   one company and one source per mailbox, schedule ``manual`` (only a wake-up runs them);
   the floor: APPEND -> untagged EXISTS on a bare IMAPClient IDLE session (the server's push,
   before any work of ours; ``instant_pickup.py``'s baseline), on a user that is no source;
2. baseline: only the first source is instant; one ``invoice-inbox worker`` starts; once its
   IDLE connection is up: RSS, threads, connections; then ``--mails`` times an invoice mail is
   APPENDed (a fresh imaplib session, logged in before the clock starts) and the time until
   its run started and its document is committed is taken from the database (polled every
   10 ms; the run's ``started_at`` is written by the worker, same clock);
3. the same with every source instant (a new worker process): the APPENDs go to random
   mailboxes. Memory per watch = (RSS with N watches - RSS with 1) / (N - 1), the worker's
   own process, measured before any mail was decided.

    .venv/bin/python benchmarks/watch_scale.py [--mailboxes 1000] [--mails 50]
        [--db postgresql|sqlite] [--json]
"""

from __future__ import annotations

import argparse
import imaplib
import json
import os
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import local_dns
import scale_common as sc
from instant_pickup import baseline as idle_floor
from sqlalchemy import delete, func, select, update

from builders import Attachment, make_mail, make_pdf

FLOOR_USER = "floor"  # not a source: the bare IDLE session of the floor


@dataclass
class Phase:
    watches: int
    up_seconds: float = 0.0  # worker start -> every IDLE connection established
    rss_mb: float = 0.0  # the worker process, watches up, nothing decided yet
    threads: int = 0
    imap_connections: int = 0
    db_connections: int = 0
    to_run_started_ms: dict[str, float] = field(default_factory=dict)
    to_document_ms: dict[str, float] = field(default_factory=dict)
    rss_after_mb: float = 0.0  # the worker tree (with its decide workers) after the mails
    startup_runs: int = 0  # runs with no mail before it went quiet (a watch that reconnected)
    quiet_seconds: float = 0.0  # worker start -> watches up and no run going for 3 s
    missed: int = 0


@dataclass
class Report:
    mailboxes: int
    mails: int
    db: str
    cpus: int
    python: str
    phases: list[Phase] = field(default_factory=list)
    rss_per_watch_kb: float = 0.0
    inotify_max_user_instances: int = 0  # the host's, during the run
    floor_ms: dict[str, float] = field(default_factory=dict)  # APPEND -> EXISTS, bare IDLE
    failures: list[str] = field(default_factory=list)


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "median_ms": round(sc.median(values) * 1000, 1),
        "p95_ms": round(sc.pct(values, 0.95) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def invoice(n: int) -> tuple[str, bytes]:
    mid = f"<watch-{n}-{time.time_ns()}@supplier.example>"
    raw = make_mail(subject=f"Invoice {n}", message_id=mid,
                    attachments=[Attachment(f"inv-{n}.pdf", make_pdf(f"Invoice {n}"))])  # fmt: skip
    return mid, raw


def committed(app, mid: str) -> datetime | None:  # type: ignore[no-untyped-def]
    """The start of the run that committed the document of *mid*, once there is one."""
    from invoice_inbox.store.models import Document, Message, Run

    with app.db.session() as s:
        return s.scalar(
            select(Run.started_at)
            .join(Message, Message.run_id == Run.id)
            .join(Document, Document.message_id == Message.id)
            .where(Message.message_id == mid)
            .limit(1)
        )


def wait_quiet(app, timeout: float, worker: sc.Worker) -> int:  # type: ignore[no-untyped-def]
    """Until no run is going and none started for 3 s (watches that had to reconnect at start
    each asked for a run); returns how many runs there were."""
    from invoice_inbox.store.models import Run

    seen: list[tuple[int, int]] = []

    def quiet() -> bool:
        with app.db.session() as s:
            total = s.scalar(select(func.count()).select_from(Run)) or 0
            going = s.scalar(select(func.count()).where(Run.finished_at.is_(None))) or 0
        seen.append((int(total), int(going)))
        return len(seen) >= 3 and seen[-3][0] == seen[-1][0] and not any(g for _, g in seen[-3:])

    sc.wait_for("the runs at start to end", quiet, timeout, every=1.0, workers=[worker])
    return seen[-1][0]


def measure(args: argparse.Namespace, app, ph: Phase, users: list[str],
            srv: sc.ManyUsersDovecot, pg: sc.Postgres | None, worker: sc.Worker) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    began = worker.started
    sc.wait_for(
        f"{ph.watches} IDLE connections",
        lambda: sc.tcp_connections(worker.pid, srv.imap_port) >= ph.watches,
        args.timeout, every=0.5, workers=[worker],
    )  # fmt: skip
    ph.up_seconds = time.perf_counter() - began
    time.sleep(args.settle)  # every watcher has sent IDLE and sits in it
    ph.startup_runs = wait_quiet(app, args.timeout, worker)
    ph.quiet_seconds = time.perf_counter() - began
    ph.rss_mb = sc.status_kb(worker.pid, "VmRSS") / 1024
    ph.threads = sc.threads(worker.pid)
    ph.imap_connections = sc.tcp_connections(worker.pid, srv.imap_port)
    ph.db_connections = sc.tcp_connections(worker.pid, pg.port) if pg else 0
    sc.log(f"{ph.watches} watches up in {ph.up_seconds:.1f} s: RSS {ph.rss_mb:.0f} MB, "
           f"{ph.threads} threads, {ph.imap_connections} IMAP connections")  # fmt: skip
    rng = random.Random(ph.watches)
    to_run: list[float] = []
    to_doc: list[float] = []
    for i in range(args.mails):
        user = rng.choice(users[: ph.watches])
        mid, raw = invoice(i)
        conn = imaplib.IMAP4(sc.HOST, srv.imap_port, timeout=30)
        conn.login(user, sc.SECRET)
        appended_at = datetime.now(UTC)
        t0 = time.perf_counter()
        conn.append("INBOX", None, None, raw)
        started = None
        while started is None and time.perf_counter() - t0 < args.wait:
            started = committed(app, mid)
            if started is None:
                time.sleep(0.01)
        elapsed = time.perf_counter() - t0
        conn.logout()
        if started is None:
            ph.missed += 1
            sc.log(f"mail {i} to {user}: no document after {args.wait:.0f} s")
            continue
        to_doc.append(elapsed)
        to_run.append(max((started - appended_at).total_seconds(), 0.0))
        time.sleep(args.gap)
    ph.to_run_started_ms = summary(to_run)
    ph.to_document_ms = summary(to_doc)
    ph.rss_after_mb = sc.tree_rss_mb(worker.pid)
    sc.log(f"{ph.watches} watches: APPEND -> document {ph.to_document_ms}")


def run(args: argparse.Namespace) -> Report:
    from invoice_inbox.store.models import Run, Source

    users = [f"wa{i:04d}" for i in range(1, args.mailboxes + 1)]
    root = sc.tmp_root("invoice-inbox-watch-")
    report = Report(args.mailboxes, args.mails, args.db, len(os.sched_getaffinity(0)),
                    sys.version.split()[0])  # fmt: skip
    old_inotify = sc.inotify_instances()
    if args.inotify_instances > old_inotify:
        sc.INOTIFY_INSTANCES.write_text(str(args.inotify_instances))
    report.inotify_max_user_instances = sc.inotify_instances()
    srv = sc.start_dovecot(root, [*users, FLOOR_USER])
    pg = sc.Postgres(root / "pg") if args.db == "postgresql" else None
    app = None
    worker: sc.Worker | None = None
    try:
        sc.fill_maildirs(srv, {u: [] for u in users})
        report.floor_ms = summary(idle_floor(srv, FLOOR_USER, sc.SECRET, args.mails))
        sc.log(f"floor: APPEND -> IDLE EXISTS on a bare session {report.floor_ms}")
        url = None
        if pg:
            pg.start()
            url = pg.create("watch")
        data = root / "data"
        app = sc.open_app(data, url)
        sc.add_sources(app, users, srv.imap_port, schedule="manual", instant=False)
        for n in (1, args.mailboxes) if args.mailboxes > 1 else (1,):
            with app.db.session() as s:
                s.execute(delete(Run))  # each phase counts its own runs
                s.execute(update(Source).values(instant=False))
                s.execute(update(Source).where(Source.name.in_(users[:n])).values(instant=True))
            sc.log(f"{n} instant source(s): starting one worker")
            worker = sc.start_worker(data, url, args.concurrency, root / f"worker-{n}.log")
            ph = Phase(n)
            try:
                measure(args, app, ph, users, srv, pg, worker)
            finally:
                sc.stop_workers([worker])
            if ph.missed:
                report.failures.append(f"{ph.missed} mails not imported with {n} watches")
            if tb := worker.traceback():
                report.failures.append(f"traceback in {worker.log_path.name}:\n{tb}")
            worker = None
            report.phases.append(ph)
    finally:
        if worker is not None:
            sc.stop_workers([worker])
        if app is not None:
            app.close()
        if pg:
            pg.stop()
        srv.stop()
        if args.inotify_instances > old_inotify:
            sc.INOTIFY_INSTANCES.write_text(str(old_inotify))
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if len(report.phases) == 2:
        one, many = report.phases
        report.rss_per_watch_kb = 1024 * (many.rss_mb - one.rss_mb) / (many.watches - 1)
    return report


def print_report(r: Report) -> None:
    print(f"IDLE watches in one worker: {r.mailboxes} mailboxes, {r.mails} mails per setup, "
          f"{r.db}, {r.cpus} CPUs, Python {r.python}, fs.inotify.max_user_instances "
          f"{r.inotify_max_user_instances}\n")  # fmt: skip
    print("| instant sources | watches up after | runs at start (no mail) | worker RSS | threads "
          "| IMAP / DB connections "
          "| APPEND -> run started: median / p95 | APPEND -> document committed: median / p95 "
          "/ max |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for p in r.phases:
        run, doc = p.to_run_started_ms, p.to_document_ms
        label = f"{p.watches} (baseline)" if p.watches == 1 else str(p.watches)
        print(
            f"| {label} | {p.up_seconds:.1f} s | {p.startup_runs} | {p.rss_mb:.0f} MB "
            f"| {p.threads} "
            f"| {p.imap_connections} / {p.db_connections} "
            f"| {run.get('median_ms', '-')} / {run.get('p95_ms', '-')} ms "
            f"| {doc.get('median_ms', '-')} / {doc.get('p95_ms', '-')} / {doc.get('max_ms', '-')}"
            " ms |"
        )
    f = r.floor_ms
    print(
        "\nfloor, same run: APPEND -> untagged EXISTS on a bare IMAPClient IDLE session: "
        f"median {f.get('median_ms')} / p95 {f.get('p95_ms')} / max {f.get('max_ms')} ms"
    )
    if r.rss_per_watch_kb:
        print(f"\nmemory per watch: {r.rss_per_watch_kb:.0f} KB of worker RSS")
    for f in r.failures:
        print(f"FAILED: {f}")


def main(argv: list[str] | None = None) -> int:
    local_dns.use_empty_dns()  # senders are authenticated: never the machine's DNS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--mailboxes", type=int, default=1000, help="instant sources (1000)")
    p.add_argument("--mails", type=int, default=50, help="APPENDs per setup (50)")
    p.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    p.add_argument("--concurrency", type=int, default=2, help="sources at once (2)")
    p.add_argument("--settle", type=float, default=5.0, help="seconds after the watches are up")
    p.add_argument("--gap", type=float, default=0.2, help="seconds between mails (0.2)")
    p.add_argument("--wait", type=float, default=60.0, help="give up on a mail after (60 s)")
    p.add_argument("--timeout", type=float, default=600, help="for the watches to come up")
    p.add_argument("--inotify-instances", type=int, default=0, metavar="N",
                   help="raise fs.inotify.max_user_instances to N for the run (root), so "
                   "Dovecot can push to every IDLE session; restored at the end")  # fmt: skip
    p.add_argument("--keep", action="store_true", help="keep the temp folder (logs)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.mailboxes < 1 or args.mails < 1:
        p.error("--mailboxes and --mails must be positive")
    report = run(args)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print_report(report)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
