"""A sweep of 1,000 mailboxes in which nothing changed: how long until every source has run
once, when all are due at the same moment? Target: under 30 s on 2 cores.

One run, all on 127.0.0.1 (root, ``dovecot-imapd``, PostgreSQL 15 binaries for the default
``--db postgresql``):

1. a private Dovecot with 1,000 users (limits raised), a few invoice mails each;
2. one company and one source per mailbox (schedule every 60 minutes, imported mail moved to
   ``Imported``); worker processes take the mail in (the first sweep, timed as well) and file
   it, so afterwards nothing is new anywhere;
3. baseline, in the same run: a bare ``imaplib`` loop over the same mailboxes, one after
   another: connect, LOGIN, SELECT INBOX, UID SEARCH, LOGOUT;
4. for each setup (worker processes x sources each runs at once), once its workers are up:
   every source is set due now (``next_run_at``) in one commit, and the time runs until each
   has a finished run that started after that commit; CPU of the workers, PostgreSQL and
   Dovecot over the sweep, divided by the sources = per-source cost.

    .venv/bin/python benchmarks/sweep.py [--mailboxes 1000] [--messages 3]
        [--setups 1x2,1x8,2x4] [--db postgresql|sqlite] [--json]
"""

from __future__ import annotations

import argparse
import imaplib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import local_dns
import proctree
import scale_common as sc
import spy
from ingest import _messages
from sqlalchemy import func, select, text, update

TARGET_SECONDS = 30.0


@dataclass
class Sweep:
    workers: int
    concurrency: int
    seconds: float = 0.0  # due commit -> every source has a finished run
    pickup_seconds: float = 0.0  # due commit -> first run started
    span_seconds: float = 0.0  # first run started -> last run finished
    per_source_ms: float = 0.0
    runs: dict[str, int] = field(default_factory=dict)  # status -> count
    workers_cpu_ms_per_source: float = 0.0
    postgres_cpu_ms_per_source: float = 0.0
    db_commits_per_source: float = 0.0  # PostgreSQL only: pg_stat_database.xact_commit
    dovecot_cpu_ms_per_source: float = 0.0
    target_met: bool = False
    profile: list[str] = field(default_factory=list)  # with --py-spy: where the time went


@dataclass
class Report:
    mailboxes: int
    messages: int
    db: str
    cpus: int
    python: str
    worker_flag: str
    first_sweep_seconds: float = 0.0
    baseline_seconds: float = 0.0
    baseline_per_source_ms: float = 0.0
    sweeps: list[Sweep] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def baseline(port: int, users: list[str]) -> float:
    """One bare session per mailbox, one after another."""
    began = time.perf_counter()
    for u in users:
        conn = imaplib.IMAP4(sc.HOST, port, timeout=30)
        conn.login(u, sc.SECRET)
        conn.select("INBOX")
        conn.uid("SEARCH", "UID", "1:*")
        conn.logout()
    return time.perf_counter() - began


def finished_since(app, mark: datetime) -> tuple[int, datetime | None, datetime | None]:  # type: ignore[no-untyped-def]
    from invoice_inbox.store.models import Run

    with app.db.session() as s:
        q = select(func.count(func.distinct(Run.source_id)), func.min(Run.started_at),
                   func.max(Run.finished_at))  # fmt: skip
        n, first, last = s.execute(
            q.where(Run.started_at >= mark, Run.finished_at.is_not(None))
        ).one()
    return int(n), first, last


def xact_commits(app) -> int:  # type: ignore[no-untyped-def]
    """Transactions committed in this database so far (PostgreSQL's statistics, which lag
    up to half a second: read after the sweep has settled)."""
    time.sleep(1.0)
    with app.db.session() as s:
        return int(s.scalar(text(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )))  # fmt: skip


def statuses(app, mark: datetime) -> dict[str, int]:  # type: ignore[no-untyped-def]
    from invoice_inbox.store.models import Run

    with app.db.session() as s:
        rows = s.execute(
            select(Run.status, func.count()).where(Run.started_at >= mark).group_by(Run.status)
        ).all()
    return {str(k): int(v) for k, v in rows}


def sweep_once(args: argparse.Namespace, app, sw: Sweep, workers: list[sc.Worker],
               srv: sc.ManyUsersDovecot, pg: sc.Postgres | None) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    from invoice_inbox.store.models import Source

    n = args.mailboxes
    cpu0 = {w.pid: proctree.tree_cpu_seconds(w.pid) for w in workers}
    pg0 = proctree.tree_cpu_seconds(pg.pid) if pg else 0.0
    dc0 = proctree.tree_cpu_seconds(srv.pid or 0)
    spies = [
        spy.record(args.py_spy, w.pid, args.profile_dir, f"sweep-{sw.workers}x{sw.concurrency}-{i}",
               wall=args.profile == "wall")
        for i, w in enumerate(workers) if args.py_spy
    ]  # fmt: skip
    commits0 = xact_commits(app) if pg else 0
    mark = datetime.now(UTC)
    with app.db.session() as s:
        s.execute(update(Source).values(next_run_at=mark))
    t0 = time.perf_counter()
    cpu: dict[int, float] = {}
    note = [t0]

    def done() -> bool:
        got, _, _ = finished_since(app, mark)
        for w in workers:
            cpu[w.pid] = proctree.tree_cpu_seconds(w.pid)
        if time.perf_counter() - note[0] > 5:
            note[0] = time.perf_counter()
            sc.log(f"sweep {sw.workers}x{sw.concurrency}: {got}/{n} sources ran")
        return got >= n

    sc.wait_for("every source to run once", done, args.timeout, every=0.25, workers=workers)
    sw.seconds = time.perf_counter() - t0
    for rec in spies:
        sw.profile.extend(spy.stop(*rec))
    _, first, last = finished_since(app, mark)
    sw.pickup_seconds = (first - mark).total_seconds() if first else 0.0
    sw.span_seconds = (last - first).total_seconds() if first and last else 0.0
    sw.per_source_ms = 1000 * sw.seconds / n
    sw.runs = statuses(app, mark)
    if pg:
        sw.db_commits_per_source = (xact_commits(app) - commits0) / n
    sw.workers_cpu_ms_per_source = 1000 * sum(cpu[p] - cpu0[p] for p in cpu) / n
    if pg:
        sw.postgres_cpu_ms_per_source = 1000 * (proctree.tree_cpu_seconds(pg.pid) - pg0) / n
    sw.dovecot_cpu_ms_per_source = 1000 * (proctree.tree_cpu_seconds(srv.pid or 0) - dc0) / n
    sw.target_met = sw.seconds < TARGET_SECONDS
    sc.log(f"sweep {sw.workers}x{sw.concurrency}: {sw.seconds:.1f} s, runs {sw.runs}")


def run(args: argparse.Namespace) -> Report:
    users = [f"sw{i:04d}" for i in range(1, args.mailboxes + 1)]
    total = args.mailboxes * args.messages
    root = sc.tmp_root("invoice-inbox-sweep-")
    report = Report(
        mailboxes=args.mailboxes, messages=args.messages, db=args.db,
        cpus=len(os.sched_getaffinity(0)), python=sys.version.split()[0],
        worker_flag=sc.concurrency_flag(),
    )  # fmt: skip
    srv = sc.start_dovecot(root, users)
    pg = sc.Postgres(root / "pg") if args.db == "postgresql" else None
    app = None
    workers: list[sc.Worker] = []
    try:
        mails = iter(_messages(total, args.size_kb))
        sc.fill_maildirs(srv, {u: [next(mails) for _ in range(args.messages)] for u in users})
        url = None
        if pg:
            pg.start()
            url = pg.create("sweep")
        data = root / "data"
        app = sc.open_app(data, url)
        sc.add_sources(app, users, srv.imap_port)
        sc.log(f"{len(users)} mailboxes and sources ready; first sweep imports {total} mails")
        from invoice_inbox.store.models import Message, MessageState, Run

        for k, (n, conc) in enumerate(args.setups):
            workers = [
                sc.start_worker(data, url, conc, root / f"w{n}x{conc}-{i}.log") for i in range(n)
            ]
            if k == 0:
                began = time.perf_counter()

                def imported() -> bool:
                    with app.db.session() as s:
                        done = s.scalar(select(func.count()).where(
                            Message.state == MessageState.DISPOSED))  # fmt: skip
                        ran = s.scalar(select(func.count(func.distinct(Run.source_id))).where(
                            Run.finished_at.is_not(None)))  # fmt: skip
                    return done == total and ran == len(users)

                sc.wait_for("the first sweep", imported, args.timeout, workers=workers)
                report.first_sweep_seconds = time.perf_counter() - began
                sc.log(f"first sweep: {report.first_sweep_seconds:.1f} s; baseline loop")
                report.baseline_seconds = baseline(srv.imap_port, users)
                report.baseline_per_source_ms = 1000 * report.baseline_seconds / len(users)
                sc.log(f"baseline: {report.baseline_seconds:.1f} s")
            else:  # the new workers are up and idle
                sc.wait_registered(app, workers, args.timeout, args.settle)
            sw = Sweep(n, conc)
            sweep_once(args, app, sw, workers, srv, pg)
            report.sweeps.append(sw)
            sc.stop_workers(workers)
            for w in workers:
                if tb := w.traceback():
                    report.failures.append(f"traceback in {w.log_path.name}:\n{tb}")
            workers = []
    finally:
        sc.stop_workers(workers)
        if app is not None:
            app.close()
        if pg:
            pg.stop()
        srv.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return report


def print_report(r: Report) -> None:
    print(
        f"sweep: {r.mailboxes} mailboxes, nothing new ({r.messages} mails each already "
        f"imported), {r.db}, {r.cpus} CPUs, Python {r.python}, worker {r.worker_flag} N"
    )
    print(
        f"first sweep (importing {r.mailboxes * r.messages} mails): {r.first_sweep_seconds:.1f} s"
    )
    print()
    print("| run | sweep (due -> all ran) | per source | first run started after "
          "| first start -> last finish | CPU per source: workers / PostgreSQL / Dovecot "
          "| DB commits per source | runs | < 30 s |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| baseline: bare imaplib, one mailbox after another | {r.baseline_seconds:.1f} s "
          f"| {r.baseline_per_source_ms:.1f} ms | - | - | - | - | - | - |")  # fmt: skip
    for s in r.sweeps:
        runs = ", ".join(f"{v} {k}" for k, v in sorted(s.runs.items()))
        print(
            f"| {s.workers} worker(s) x {s.concurrency} | {s.seconds:.1f} s "
            f"| {s.per_source_ms:.1f} ms | {s.pickup_seconds:.1f} s | {s.span_seconds:.1f} s "
            f"| {s.workers_cpu_ms_per_source:.1f} / {s.postgres_cpu_ms_per_source:.1f} / "
            f"{s.dovecot_cpu_ms_per_source:.1f} ms | {s.db_commits_per_source:.1f} | {runs} "
            f"| {'yes' if s.target_met else 'NO'} |"
        )
    for s in r.sweeps:
        if s.profile:
            print(f"\nwhere the time went, {s.workers} worker(s) (py-spy):")
            print("\n".join(s.profile))
    for f in r.failures:
        print(f"FAILED: {f}")


def main(argv: list[str] | None = None) -> int:
    local_dns.use_empty_dns()  # senders are authenticated: never the machine's DNS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--mailboxes", type=int, default=1000)
    p.add_argument("--messages", type=int, default=3, help="mails per mailbox (3)")
    p.add_argument("--size-kb", type=float, default=20, help="approximate size per mail (20)")
    p.add_argument("--setups", default="1x2,1x8,2x4",
                   help="one sweep each: workers x sources at once (1x2,1x8,2x4)")  # fmt: skip
    p.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    p.add_argument("--settle", type=float, default=5.0, help="seconds for new workers to start")
    p.add_argument("--timeout", type=float, default=1200, help="per wait, seconds (1200)")
    p.add_argument("--py-spy", metavar="PATH", help="profile the workers with this py-spy")
    p.add_argument("--profile", choices=("wall", "cpu"), default="wall",
                   help="wall: where busy sync threads wait or run; cpu: what runs")  # fmt: skip
    p.add_argument("--profile-dir", default="/tmp", help="where py-spy writes (/tmp)")
    p.add_argument("--keep", action="store_true", help="keep the temp folder (logs)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    try:
        args.setups = [tuple(int(x) for x in v.split("x", 1)) for v in args.setups.split(",")]
    except ValueError:
        p.error("--setups must look like 1x2,2x4")
    if args.mailboxes < 1 or args.messages < 0 or min(min(v) for v in args.setups) < 1:
        p.error("--mailboxes and --setups must be positive")
    report = run(args)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print_report(report)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
