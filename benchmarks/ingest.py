"""Ingestion benchmark: how fast does ``invoice-inbox fetch`` take mail off an IMAP server,
compared with a bare download, a mail copier and a parsing client on the same mailbox, and
how much CPU and memory does it need?

One run does everything on 127.0.0.1 with a private Dovecot from the test harness
(``tests/harness/dovecot.py``; needs root and ``dovecot-imapd``):

1. generate N invoice-like messages (multipart/mixed: a short text body plus a random
   ``%PDF-1.4`` attachment, about ``--size-kb`` each) as a Maildir, cached under
   ``benchmarks/.cache/`` so later runs skip this step (``ingest_corpus.py``);
2. ``doveadm import`` it into one user per client run (fetch moves its mail away, so each
   fetch gets a full mailbox of its own; the copiers only read and share ``base``);
3. each client in its own process, so that wall time, CPU and peak RSS (``os.wait4``) are
   exactly its own (``ingest_peers.py``):
   - raw ``imaplib`` download, ``UID FETCH`` of 100 uids with ``BODY.PEEK[]`` (best of
     ``--baseline-runs``, warm cache);
   - ``mbsync`` (Debian's isync) copying INBOX to a Maildir with its default ``FSync yes``;
     **installed with ``apt-get install isync`` when missing (the script runs as root)**;
   - imap-tools download + parse, from a throw-away venv under ``benchmarks/.cache`` (``pip
     install imap-tools`` on first use, reused later);
   - ``invoice-inbox fetch`` end to end (``source add`` then ``fetch --json``, timed from spawn
     to exit), over plain IMAP and over IMAPS;
4. CPU: the fetch's CPU time (user + sys from ``wait4``, its decide workers included) per
   mail, and its split from one more fetch run under cProfile with a per-thread CPU clock,
   the decide workers profiled too, grouped by module (``ingest_profile.py``), scaled to the
   unprofiled run's CPU of the process and of its workers;
5. check that every fetch imported every message and moved it to "Imported", and print one table
   with every figure and the ratios fetch / mbsync and fetch / raw.

Run it from the repository root::

    .venv/bin/python benchmarks/ingest.py [--messages 10000] [--size-kb 50] [--tls] [--json]

``--tls`` makes IMAPS the primary transport (the raw baseline, the copiers and the headline
ingestion); the fetch over the other transport is measured as well unless ``--fetch-only``.
``--fetch-only`` skips mbsync, imap-tools, the second fetch and the profile. ``--profile OUT``
keeps the profiled run's stats in OUT. Exit status 1 when a fetch did not import everything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import fs_probe  # noqa: E402
import ingest_peers as peers  # noqa: E402
import ingest_profile  # noqa: E402
import local_dns  # noqa: E402
import proctree  # noqa: E402
from ingest_corpus import _messages, corpus  # noqa: E402, F401  (used by sweep.py)
from ingest_peers import ChildRun, run_child  # noqa: E402
from ingest_report import Report, Row, print_report  # noqa: E402

from harness.dovecot import DovecotServer  # noqa: E402

HOST = "127.0.0.1"
BASE_USER, BASE_PW = "base", "basepw"
FETCH_USERS = {"bench": "benchpw", "other": "otherpw", "prof": "profpw"}
FETCH_BATCH = peers.BATCH
IMPORTED_FOLDER = "Imported"
NOT_IMPORTED_FOLDER = "Not imported"
TARGET_RATIO = 25.0  # percent of the raw download rate
TARGET_RSS_MB = 300.0
MB = 1024 * 1024
T = TypeVar("T")


@dataclass
class Download:
    messages: int
    bytes: int
    seconds: float


def raw_download(port: int, tls: ssl.SSLContext | None, user: str, password: str) -> Download:
    """Download every INBOX message with plain imaplib, 100 uids per UID FETCH."""
    got = peers.raw_download(HOST, port, tls, user, password)
    return Download(int(got["messages"]), int(got["bytes"]), got["seconds"])


def served(srv: DovecotServer, client: Callable[[], T]) -> tuple[T, float]:
    """*client*'s result and the CPU seconds Dovecot's processes used meanwhile (its imap
    processes exit at logout and are counted once the master has reaped them)."""
    assert srv.pid is not None
    before = proctree.tree_cpu_seconds(srv.pid)
    result = client()
    time.sleep(0.2)  # the master reaps the client's imap processes
    return result, proctree.tree_cpu_seconds(srv.pid) - before


def _cli(data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "invoice_inbox", "--data-dir", str(data_dir), *args]


def _dir_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


@dataclass
class FetchRun:
    child: ChildRun
    summary: dict[str, object]
    server_imported: int
    server_inbox: int
    data_dir_mb: float
    failures: list[str]
    rusage: dict[str, float]  # CPU seconds of the fetch process itself and of its workers
    server_cpu: float  # the mail server's CPU seconds while it ran (``served``)


PYCACHE = REPO / "benchmarks" / ".cache" / "pycache"


def _compiled(env: dict[str, str]) -> None:
    """Let the fetch and its workers load compiled modules, as an installed package does (pip
    compiles on install; a checkout run with PYTHONDONTWRITEBYTECODE=1 compiles our modules
    from source in every process, the fetch and each worker): they are compiled once into
    benchmarks/.cache/pycache, outside the source tree."""
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "src" / "invoice_inbox")],
        env=env,
        check=True,
    )


def fetch_run(
    srv: DovecotServer, root: Path, user: str, tls: bool, count: int, profile: str | None = None
) -> FetchRun:
    """``source add`` + ``fetch --json`` for *user* in a fresh data dir under *root*."""
    data_dir = root / f"data-{user}"
    env = dict(os.environ, BENCH_PW=FETCH_USERS.get(user, f"{user}pw"))  # pairN: pairNpw
    env.pop("INVOICE_INBOX_DATABASE_URL", None)
    _compiled(env)
    port = srv.imaps_port if tls else srv.imap_port
    security = (
        ["--security", "ssl", "--ca-file", str(srv.ca_file)] if tls else ["--security", "none"]
    )
    add_args = [
        "source", "add", user, "--company", "Bench", "--host", HOST, "--port", str(port),
        *security, "--username", user, "--password-env", "BENCH_PW",
        "--move-imported-to", IMPORTED_FOLDER, "--move-not-imported-to", NOT_IMPORTED_FOLDER,
    ]  # fmt: skip
    add = run_child(_cli(data_dir, *add_args), env, root)
    if add.returncode != 0:
        raise RuntimeError(f"source add failed ({add.returncode}): {add.stderr.strip()}")
    fetch_args = ["--data-dir", str(data_dir), "fetch", user, "--json"]
    # the CLI through ingest_profile.py (runpy, as ``-m invoice_inbox``), which also reports
    # the CPU of the process and of its decide workers apart
    out = profile or str(root / f"fetch-{user}")
    mode = [out] if profile else ["--no-profile", out]
    argv = [sys.executable, ingest_profile.__file__, *mode, "--", *fetch_args]
    if profile:  # the workers profile themselves through ingest_site/sitecustomize.py
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ingest_profile.SITE), env.get("PYTHONPATH")) if p
        )
    child, server_cpu = served(srv, lambda: run_child(argv, env, root))
    failures = []
    if child.returncode != 0:
        failures.append(f"fetch exited {child.returncode}: {child.stderr.strip()[-2000:]}")
    summary: dict[str, object] = {}
    try:
        summary = json.loads(child.stdout)
    except json.JSONDecodeError:
        failures.append(f"fetch printed no JSON: {child.stdout.strip()[-500:]!r}")
    if summary and summary.get("imported") != count:
        failures.append(f"imported {summary.get('imported')} of {count} messages")
    if summary and summary.get("documents_created") != count:
        failures.append(f"{summary.get('documents_created')} documents, expected {count}")
    imported = srv.folder_count(user, IMPORTED_FOLDER)
    inbox = srv.folder_count(user, "INBOX")
    if imported != count:
        failures.append(f'"{IMPORTED_FOLDER}" holds {imported} messages, expected {count}')
    if inbox != 0:
        failures.append(f"INBOX still holds {inbox} messages")
    size = _dir_size(data_dir) / MB
    shutil.rmtree(data_dir, ignore_errors=True)  # 10,000 mails leave about 500 MB of blobs
    usage = {}
    with contextlib.suppress(OSError, ValueError):
        usage = ingest_profile.rusage(out)
    failures = [f"{user}: {f}" for f in failures]
    return FetchRun(child, summary, imported, inbox, size, failures, usage, server_cpu)


def _fetch_row(name: str, transport: str, f: FetchRun, count: int, total: int) -> Row:
    c = f.child
    return Row(
        name, transport, count, total, c.seconds, c.seconds, c.cpu, c.max_rss_mb, f.server_cpu
    )  # fmt: skip


def _peer_row(p: peers.PeerRun, transport: str, server_cpu: float) -> Row:
    return Row(
        p.name, transport, p.messages, p.bytes, p.seconds, p.process_seconds, p.cpu_seconds,
        p.max_rss_mb, server_cpu,
    )  # fmt: skip


def run(args: argparse.Namespace) -> Report:
    count, size_kb = args.messages, args.size_kb
    maildir, cached, corpus_seconds = corpus(count, size_kb, args.pdf == "valid")
    log = (lambda msg: None) if args.json else (lambda msg: print(msg, file=sys.stderr))
    log(f"corpus: {maildir} ({'reused' if cached else 'generated'} in {corpus_seconds:.1f} s)")
    full = not args.fetch_only
    fetch_users = ["bench", "other", "prof"] if full else ["bench"]
    pair_users = [f"pair{k}" for k in range(args.pairs)] if full else []

    tmp_root = Path(tempfile.mkdtemp(prefix="invoice-inbox-bench-", dir=args.work_dir))
    tmp_root.chmod(0o755)  # Dovecot's unprivileged processes must traverse it
    users = {BASE_USER: BASE_PW, **{u: FETCH_USERS[u] for u in fetch_users}}
    users.update((u, f"{u}pw") for u in pair_users)
    srv = DovecotServer(tmp_root / "dovecot", users=users, pool_size=0)
    try:
        srv.start()
        log(f"dovecot: imap {srv.imap_port}, imaps {srv.imaps_port}")
        file_ms = {"before": fs_probe.file_cost(tmp_root / "fs-probe-before")}
        import_seconds: dict[str, float] = {}
        for user in users:
            began = time.perf_counter()
            srv.import_maildir(user, maildir)
            import_seconds[user] = time.perf_counter() - began
            got = srv.folder_count(user, "INBOX")
            if got != count:
                raise RuntimeError(f"import into {user}: INBOX holds {got}, expected {count}")
        log("imported: " + ", ".join(f"{u} {s:.1f} s" for u, s in import_seconds.items()))

        report = Report(
            pdf=args.pdf,
            messages=count,
            size_kb=size_kb,
            transport="IMAPS (TLS)" if args.tls else "plain IMAP",
            nproc=len(os.sched_getaffinity(0)),
            python=platform.python_version(),
            platform=f"{platform.system()} {platform.release()} {platform.machine()}",
            corpus_cached=cached,
            corpus_seconds=corpus_seconds,
            dovecot_start_seconds=srv.start_seconds or 0.0,
            import_seconds=import_seconds,
            target_ratio=TARGET_RATIO,
            target_rss_mb=TARGET_RSS_MB,
            file_ms=file_ms,
        )
        port = srv.imaps_port if args.tls else srv.imap_port
        ca_file = str(srv.ca_file) if args.tls else None
        base = peers.Server(HOST, port, BASE_USER, BASE_PW, ca_file)
        transport = "IMAPS" if args.tls else "plain"

        raws = []
        for _ in range(args.baseline_runs):
            d, d_server = served(srv, lambda: peers.raw_client(base))
            log(f"raw: {d.messages} messages, {d.bytes / MB:.1f} MB in {d.seconds:.2f} s")
            if d.messages != count:
                raise RuntimeError(f"raw download got {d.messages} messages, not {count}")
            raws.append((d, d_server))
        best, best_server = min(raws, key=lambda d: d[0].seconds)
        report.total_bytes = best.bytes
        report.baseline_runs_seconds = [d.seconds for d, _ in raws]
        report.rows.append(_peer_row(best, transport, best_server))

        if full:
            m, m_server = served(srv, lambda: peers.mbsync_client(base, tmp_root, log))
            log(f"mbsync: {m.messages} messages in {m.seconds:.2f} s")
            if m.messages != count:
                report.failures.append(f"mbsync copied {m.messages} messages, not {count}")
            report.rows.append(_peer_row(m, transport, m_server))
            t, t_server = served(srv, lambda: peers.imaptools_client(base, log))
            log(f"imap-tools: {t.messages} messages in {t.seconds:.2f} s")
            if t.messages != count:
                report.failures.append(f"imap-tools read {t.messages} messages, not {count}")
            report.rows.append(_peer_row(t, transport, t_server))

        log("fetch: invoice-inbox fetch bench --json")
        main = fetch_run(srv, tmp_root, "bench", args.tls, count)
        report.rows.append(_fetch_row("fetch", transport, main, count, report.total_bytes))
        report.fetch_summary = main.summary
        report.server_imported, report.server_inbox = main.server_imported, main.server_inbox
        report.data_dir_mb = main.data_dir_mb
        report.failures += main.failures
        report.fetch_rusage = main.rusage
        if full:
            other = "plain" if args.tls else "IMAPS"
            log(f"fetch over {other}")
            o = fetch_run(srv, tmp_root, "other", not args.tls, count)
            report.rows.append(_fetch_row("fetch", other, o, count, report.total_bytes))
            report.failures += o.failures
            prof_out = args.profile or str(tmp_root / "fetch.prof")
            log("fetch under cProfile (per-thread CPU clock)")
            p = fetch_run(srv, tmp_root, "prof", args.tls, count, profile=prof_out)
            report.failures += p.failures
            if args.profile:
                report.profile = str(Path(args.profile).resolve())
            report.cpu_split_profiled_s = ingest_profile.split(prof_out)
            report.worker_split_profiled_s = ingest_profile.worker_split(prof_out)
            report.profiled_cpu_s = p.child.cpu
        for user in pair_users:  # mbsync and fetch again, in turns, for a median
            m = peers.mbsync_client(base, tmp_root, log)
            f = fetch_run(srv, tmp_root, user, args.tls, count)
            log(f"pair {user}: mbsync {m.seconds:.2f} s, fetch {f.child.seconds:.2f} s")
            report.failures += f.failures
            report.pairs.append((m.messages / m.seconds, count / f.child.seconds))
        report.file_ms["after"] = fs_probe.file_cost(tmp_root / "fs-probe-after")
        return report
    finally:
        srv.stop()
        shutil.rmtree(tmp_root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    local_dns.use_empty_dns()  # senders are authenticated: never the machine's DNS
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Runs as root: it installs Debian's isync with apt-get when mbsync is missing, "
        "and imap-tools with pip into benchmarks/.cache/imaptools-venv.",
    )
    p.add_argument("--messages", type=int, default=10_000, help="how many mails (10000)")
    p.add_argument("--size-kb", type=float, default=50, help="approximate size per mail (50)")
    p.add_argument("--tls", action="store_true", help="IMAPS as the primary transport")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument(
        "--pdf",
        choices=("random", "valid"),
        default="random",
        help="the attachment: random bytes behind a PDF header (default) or a well-formed PDF",
    )
    p.add_argument(
        "--baseline-runs", type=int, default=2, help="raw download runs, best counts (2)"
    )
    p.add_argument("--fetch-only", action="store_true", help="only the raw download and one fetch")
    p.add_argument("--profile", metavar="OUT", help="keep the profiled fetch's cProfile stats")
    p.add_argument(
        "--pairs",
        type=int,
        default=0,
        help="after the full run, N more runs of mbsync and fetch in turns, each fetch on a "
        "mailbox of its own; the report adds the median fetch / mbsync (0)",
    )
    p.add_argument(
        "--work-dir",
        default="/tmp",
        help="where the mail server's and the clients' files go (/tmp); e.g. a tmpfs such as "
        "/dev/shm takes the file system's own cost out of an A/B comparison of CPU",
    )
    args = p.parse_args(argv)
    if args.messages < 1 or args.size_kb <= 0 or args.baseline_runs < 1 or args.pairs < 0:
        p.error("--messages, --size-kb and --baseline-runs must be positive, --pairs not negative")
    if args.pairs and args.fetch_only:
        p.error("--pairs needs the full run (drop --fetch-only)")
    if args.profile and args.fetch_only:
        p.error("--profile needs the full run (drop --fetch-only)")
    report = run(args)
    report.finish()
    if args.json:
        print(json.dumps(asdict(report), indent=2))
        for f in report.failures:
            print(f"FAILED: {f}", file=sys.stderr)
    else:
        print_report(report)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
