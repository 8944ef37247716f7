"""Scale-out ingestion: 20 mailboxes x 500 invoice mails taken in by ``invoice-inbox worker``
processes, on SQLite with one process (the baseline) and on PostgreSQL with 1, 2 and 4.

One run, all on 127.0.0.1 (root, ``dovecot-imapd``, PostgreSQL 15 binaries):

1. the mail: ``ingest.py``'s generated invoice mails (cached in ``benchmarks/.cache``), split
   into one INBOX per mailbox of a private Dovecot with raised limits;
2. floor: a bare ``imaplib`` download of every mailbox, one after another (also warms the
   server's cache for every run after it);
3. for each setup, a fresh database (SQLite in a new data directory, or a new PostgreSQL
   database), one company and one source per mailbox (moving imported mail to ``Imported``),
   then N worker processes started at once; the time runs from their start until every mail
   is in the ledger as disposed (decided, committed, filed on the server). Then the counts are
   checked (ledger, documents, the server's ``Imported`` folders) and the mail is moved back
   to INBOX for the next setup;
4. a table: msg/s, speed-up against the 1-worker PostgreSQL run and against SQLite, CPU of
   the workers, of PostgreSQL and of Dovecot.

    .venv/bin/python benchmarks/scale_ingest.py [--mailboxes 20] [--messages 500]
        [--workers 1,2,4] [--concurrency 2] [--size-kb 50] [--json]

Exit status 1 when a setup did not import and file everything.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import local_dns
import proctree
import scale_common as sc
from ingest import corpus, raw_download
from sqlalchemy import create_engine, text


@dataclass
class Setup:
    db: str
    workers: int
    concurrency: int
    seconds: float = 0.0
    msg_per_s: float = 0.0
    speedup_vs_pg1: float | None = None
    speedup_vs_sqlite: float | None = None
    workers_cpu_s: float = 0.0
    postgres_cpu_s: float = 0.0
    dovecot_cpu_s: float = 0.0
    peak_rss_mb: float = 0.0  # the largest worker tree
    disposed: int = 0
    documents: int = 0
    server_imported: int = 0
    failures: list[str] = field(default_factory=list)


@dataclass
class Report:
    mailboxes: int
    messages: int
    size_kb: float
    cpus: int
    python: str
    worker_flag: str
    floor_seconds: float = 0.0
    floor_msg_per_s: float = 0.0
    setups: list[Setup] = field(default_factory=list)


def user_names(n: int) -> list[str]:
    return [f"mb{i:03d}" for i in range(1, n + 1)]


def counts(url: str) -> tuple[int, int]:
    eng = create_engine(url)
    try:
        with eng.connect() as c:
            disposed = c.scalar(text("SELECT count(*) FROM message WHERE state = 'disposed'"))
            docs = c.scalar(text("SELECT count(*) FROM document"))
        return int(disposed or 0), int(docs or 0)
    finally:
        eng.dispose()


def run_setup(args: argparse.Namespace, st: Setup, srv: sc.ManyUsersDovecot,
              pg: sc.Postgres, root: Path, n: int) -> None:  # fmt: skip
    users = user_names(args.mailboxes)
    total = args.mailboxes * args.messages
    tag = f"{st.db}-{st.workers}w-{n}"
    data = root / f"data-{tag}"
    url = pg.create(f"ingest_{n}") if st.db == "postgresql" else None
    app = sc.open_app(data, url)
    try:
        sc.add_sources(app, users, srv.imap_port)
    finally:
        app.close()
    read_url = url or f"sqlite:///{data / 'invoice-inbox.db'}"
    sc.log(f"{tag}: {len(users)} sources added; starting {st.workers} worker(s)")
    pg_cpu0 = proctree.tree_cpu_seconds(pg.pid)
    dc_cpu0 = proctree.tree_cpu_seconds(srv.pid or 0)
    began = time.perf_counter()
    workers = [
        sc.start_worker(data, url, st.concurrency, root / f"{tag}-w{i}.log")
        for i in range(st.workers)
    ]
    cpu: dict[int, float] = {}
    last_note = [began]

    def done() -> bool:
        disposed, _ = counts(read_url)
        for w in workers:
            cpu[w.pid] = proctree.tree_cpu_seconds(w.pid)
            st.peak_rss_mb = max(st.peak_rss_mb, sc.tree_rss_mb(w.pid))
        if time.perf_counter() - last_note[0] > 5:
            last_note[0] = time.perf_counter()
            sc.log(f"{tag}: {disposed}/{total} disposed after {last_note[0] - began:.0f} s")
        return disposed >= total

    try:
        sc.wait_for(f"{total} mails disposed", done, args.timeout, every=0.25, workers=workers)
        st.seconds = time.perf_counter() - began
    finally:
        sc.stop_workers(workers)
    st.workers_cpu_s = sum(cpu.values())
    st.postgres_cpu_s = proctree.tree_cpu_seconds(pg.pid) - pg_cpu0
    st.dovecot_cpu_s = proctree.tree_cpu_seconds(srv.pid or 0) - dc_cpu0
    st.msg_per_s = total / st.seconds
    st.disposed, st.documents = counts(read_url)
    st.server_imported = sum(srv.folder_count(u, "Imported") for u in users)
    if st.documents != total:
        st.failures.append(f"{st.documents} documents, expected {total}")
    if st.server_imported != total:
        st.failures.append(f"Imported folders hold {st.server_imported}, expected {total}")
    for w in workers:
        if tb := w.traceback():
            st.failures.append(f"traceback in {w.log_path.name}:\n{tb}")
    sc.log(f"{tag}: {st.msg_per_s:.0f} msg/s ({st.seconds:.1f} s); moving the mail back")
    for u in users:  # the next setup starts from a full INBOX again
        srv.doveadm("move", "-u", u, "INBOX", "mailbox", "Imported", "all")
    shutil.rmtree(data, ignore_errors=True)


def run(args: argparse.Namespace) -> Report:
    users = user_names(args.mailboxes)
    total = args.mailboxes * args.messages
    maildir, cached, secs = corpus(total, args.size_kb)
    sc.log(f"corpus: {maildir} ({'reused' if cached else 'generated'} in {secs:.0f} s)")
    files = sorted(p for sub in ("cur", "new") for p in (maildir / sub).iterdir())
    root = sc.tmp_root("invoice-inbox-scale-")
    report = Report(
        mailboxes=args.mailboxes, messages=args.messages, size_kb=args.size_kb,
        cpus=len(os.sched_getaffinity(0)), python=sys.version.split()[0],
        worker_flag=sc.concurrency_flag(),
    )  # fmt: skip
    srv = sc.start_dovecot(root, users)
    pg = sc.Postgres(root / "pg")
    try:
        per = args.messages
        sc.fill_maildirs(srv, {u: files[i * per : (i + 1) * per] for i, u in enumerate(users)})
        pg.start()
        sc.log(f"dovecot on {srv.imap_port}, postgresql on {pg.port}; floor download")
        began = time.perf_counter()
        got = sum(raw_download(srv.imap_port, None, u, sc.SECRET).messages for u in users)
        report.floor_seconds = time.perf_counter() - began
        report.floor_msg_per_s = got / report.floor_seconds
        setups = [Setup("sqlite", 1, args.concurrency)]
        setups += [Setup("postgresql", n, args.concurrency) for n in args.workers]
        for n, st in enumerate(setups):
            run_setup(args, st, srv, pg, root, n)
            report.setups.append(st)
    finally:
        pg.stop()
        srv.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    sqlite = report.setups[0].msg_per_s
    pg1 = next((s.msg_per_s for s in report.setups if s.db == "postgresql" and s.workers == 1), 0)
    for s in report.setups:
        s.speedup_vs_sqlite = round(s.msg_per_s / sqlite, 2) if sqlite else None
        s.speedup_vs_pg1 = round(s.msg_per_s / pg1, 2) if pg1 else None
    return report


def print_report(r: Report) -> None:
    print(
        f"scale ingestion: {r.mailboxes} mailboxes x {r.messages} mails (~{r.size_kb:g} KB), "
        f"{r.cpus} CPUs, Python {r.python}, worker {r.worker_flag} N"
    )
    print(
        f"floor: bare imaplib download of every mailbox, one after another: "
        f"{r.floor_msg_per_s:,.0f} msg/s ({r.floor_seconds:.1f} s)\n"
    )
    print("| database | worker processes x concurrency | time | msg/s | vs PostgreSQL 1 worker "
          "| vs SQLite | CPU workers / PostgreSQL / Dovecot | peak RSS per worker |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for s in r.setups:
        vs_pg = f"{s.speedup_vs_pg1:.2f}x" if s.speedup_vs_pg1 is not None else "-"
        vs_sq = f"{s.speedup_vs_sqlite:.2f}x" if s.speedup_vs_sqlite is not None else "-"
        print(
            f"| {s.db} | {s.workers} x {s.concurrency} | {s.seconds:.1f} s | {s.msg_per_s:,.0f} "
            f"| {vs_pg} | {vs_sq} | {s.workers_cpu_s:.0f} / {s.postgres_cpu_s:.0f} / "
            f"{s.dovecot_cpu_s:.0f} s | {s.peak_rss_mb:.0f} MB |"
        )
    for s in r.setups:
        for f in s.failures:
            print(f"FAILED ({s.db}, {s.workers} workers): {f}")


def main(argv: list[str] | None = None) -> int:
    local_dns.use_empty_dns()  # senders are authenticated: never the machine's DNS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--mailboxes", type=int, default=20)
    p.add_argument("--messages", type=int, default=500, help="mails per mailbox (500)")
    p.add_argument("--size-kb", type=float, default=50, help="approximate size per mail (50)")
    p.add_argument("--workers", default="1,2,4", help="PostgreSQL worker counts (1,2,4)")
    p.add_argument("--concurrency", type=int, default=2, help="sources at once per worker (2)")
    p.add_argument("--timeout", type=float, default=1800, help="per setup, seconds (1800)")
    p.add_argument("--keep", action="store_true", help="keep the temp folder (logs)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    try:
        args.workers = [int(x) for x in args.workers.split(",")]
    except ValueError:
        p.error("--workers must look like 1,2,4")
    if args.mailboxes < 1 or args.messages < 1 or min(args.workers) < 1:
        p.error("--mailboxes, --messages and --workers must be positive")
    report = run(args)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print_report(report)
    return 1 if any(s.failures for s in report.setups) else 0


if __name__ == "__main__":
    sys.exit(main())
