"""Ingestion benchmark: how fast does ``invoice-inbox fetch`` take mail off an IMAP server,
compared with a bare download of the same mail, and how much memory does it need?

One run does everything on 127.0.0.1 with a private Dovecot from the test harness
(``tests/harness/dovecot.py``; needs root and ``dovecot-imapd``):

1. generate N invoice-like messages (multipart/mixed: a short text body plus a random
   ``%PDF-1.4`` attachment, about ``--size-kb`` each) as a Maildir, cached under
   ``benchmarks/.cache/`` so later runs skip this step;
2. ``doveadm import`` it into two users: ``base`` (baseline) and ``bench`` (ingestion);
3. baseline: plain ``imaplib``, SELECT INBOX read-only, UID SEARCH ALL, ``UID FETCH`` of
   100 uids at a time with ``BODY.PEEK[]``; run twice, the better (warm cache) run counts;
4. ingestion: the real product in a separate process: ``python -m invoice_inbox source add``,
   then ``python -m invoice_inbox fetch bench --json`` timed from spawn to exit (start-up
   included), with the peak RSS of exactly that process (``os.wait4``);
5. check that every message was imported and moved to "Imported", and print a report with the
   targets: ingestion >= 25 % of the raw download rate, peak RSS < 300 MB.

Run it from the repository root::

    .venv/bin/python benchmarks/ingest.py [--messages 10000] [--size-kb 50] [--tls] [--json]

``--tls`` uses IMAPS (verified against the harness's self-signed CA) for both baseline and
ingestion. ``--profile OUT`` runs the fetch under cProfile (the figures are then distorted).
Exit status 1 when the ingestion did not import everything.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import email.utils
import imaplib
import json
import os
import platform
import random
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO / "benchmarks" / ".cache"
sys.path.insert(0, str(REPO / "tests"))

import local_dns  # noqa: E402

from harness.dovecot import DovecotServer, write_maildir  # noqa: E402

HOST = "127.0.0.1"
BENCH_USER, BENCH_PW = "bench", "benchpw"
BASE_USER, BASE_PW = "base", "basepw"
FETCH_BATCH = 100
IMPORTED_FOLDER = "Imported"
NOT_IMPORTED_FOLDER = "Not imported"
TARGET_RATIO = 25.0  # percent of the raw download rate
TARGET_RSS_MB = 300.0
MB = 1024 * 1024

SUPPLIERS = (
    ("Acme Office Supplies", "billing@acme-office.example"),
    ("Nordwind Logistik GmbH", "rechnung@nordwind-logistik.example"),
    ("Blue River Hosting", "invoices@blueriver-hosting.example"),
    ("Café Lumière SARL", "factures@cafe-lumiere.example"),
    ("Stadtwerke Beispielstadt", "kundenservice@stadtwerke-beispiel.example"),
    ("Papierfabrik Müller KG", "buchhaltung@papier-mueller.example"),
)

_HEAD = """\
From: "{name}" <{addr}>
To: Accounts Payable <ap@bench-company.example>
Subject: Invoice {number}
Date: {date}
Message-ID: <{number}.{token}@{domain}>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="{boundary}"

This is a multi-part message in MIME format.

--{boundary}
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

Dear customer,

please find attached our invoice {number} dated {day}.
The amount is due within 30 days. Thank you for your business.

Kind regards
{addr}

--{boundary}
Content-Type: application/pdf; name="{number}.pdf"
Content-Disposition: attachment; filename="{number}.pdf"
Content-Transfer-Encoding: base64

"""
_TAIL = "--{boundary}--\n"


# -- corpus -------------------------------------------------------------------------------


def _render(i: int, rng: random.Random, pdf_len: int) -> bytes:
    name, addr = SUPPLIERS[i % len(SUPPLIERS)]
    when = datetime(2025, 1, 1, 8, 0, tzinfo=UTC) + timedelta(minutes=37 * i)
    fields = {
        "name": name,
        "addr": addr,
        "domain": addr.split("@", 1)[1],
        "number": f"INV-2025-{i + 1:06d}",
        "token": f"{rng.getrandbits(64):016x}",
        "boundary": f"=_bench_{rng.getrandbits(64):016x}",
        "date": email.utils.format_datetime(when),
        "day": when.date().isoformat(),
    }
    pdf = b"%PDF-1.4\n" + rng.randbytes(max(pdf_len - 9, 0))
    return b"".join(
        (
            _HEAD.format(**fields).encode("utf-8"),
            base64.encodebytes(pdf),
            _TAIL.format(**fields).encode("ascii"),
        )
    )


def _pdf_len_for(size_kb: float) -> int:
    """PDF size so that the whole message (LF line ends) is about ``size_kb`` KiB."""
    target = int(size_kb * 1024)
    overhead = len(_render(0, random.Random(0), 0))
    # base64 with 76-character lines: 57 input bytes become 77 output bytes
    return max(int((target - overhead) * 57 / 77), 16)


def _messages(count: int, size_kb: float) -> Iterator[bytes]:
    rng = random.Random(20250101)
    pdf_len = _pdf_len_for(size_kb)
    for i in range(count):
        yield _render(i, rng, pdf_len)


def _maildir_count(path: Path) -> int:
    return sum(len(os.listdir(path / sub)) for sub in ("cur", "new") if (path / sub).is_dir())


def corpus(count: int, size_kb: float) -> tuple[Path, bool, float]:
    """The cached Maildir for (count, size); returns (path, reused, seconds spent)."""
    began = time.perf_counter()
    path = CACHE_DIR / f"maildir-{count}x{size_kb:g}k"
    if path.is_dir() and _maildir_count(path) == count:
        return path, True, time.perf_counter() - began
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(path, ignore_errors=True)
    tmp = CACHE_DIR / f"{path.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write_maildir(tmp, _messages(count, size_kb))
        for d in (tmp, tmp / "cur", tmp / "new", tmp / "tmp"):
            d.chmod(0o755)  # doveadm import reads it as the mail user
        tmp.rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path, False, time.perf_counter() - began


# -- baseline -----------------------------------------------------------------------------


@dataclass
class Download:
    messages: int
    bytes: int
    seconds: float


def raw_download(port: int, tls: ssl.SSLContext | None, user: str, password: str) -> Download:
    """Download every INBOX message with plain imaplib, 100 uids per UID FETCH."""
    began = time.perf_counter()
    conn: imaplib.IMAP4
    if tls is not None:
        conn = imaplib.IMAP4_SSL(HOST, port, ssl_context=tls, timeout=120)
    else:
        conn = imaplib.IMAP4(HOST, port, timeout=120)
    count = size = 0
    try:
        conn.login(user, password)
        typ, data = conn.select("INBOX", readonly=True)
        if typ != "OK":
            raise RuntimeError(f"SELECT INBOX failed: {data!r}")
        typ, data = conn.uid("SEARCH", "ALL")
        if typ != "OK":
            raise RuntimeError(f"UID SEARCH failed: {data!r}")
        uids = (data[0] or b"").split()
        for i in range(0, len(uids), FETCH_BATCH):
            chunk = b",".join(uids[i : i + FETCH_BATCH]).decode()
            typ, data = conn.uid("FETCH", chunk, "(BODY.PEEK[])")
            if typ != "OK":
                raise RuntimeError(f"UID FETCH failed: {data!r}")
            for item in data:
                if isinstance(item, tuple):
                    count += 1
                    size += len(item[1])
    finally:
        with contextlib.suppress(Exception):
            conn.logout()
    return Download(count, size, time.perf_counter() - began)


# -- ingestion ----------------------------------------------------------------------------


@dataclass
class ChildRun:
    returncode: int
    seconds: float
    max_rss_mb: float
    cpu_user: float
    cpu_sys: float
    stdout: str
    stderr: str


def run_child(argv: list[str], env: dict[str, str], cwd: Path) -> ChildRun:
    """Run one process and measure exactly it: wall time, peak RSS, CPU (via os.wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped: tell Popen
        out.seek(0)
        err.seek(0)
        return ChildRun(
            returncode=proc.returncode,
            seconds=seconds,
            max_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
            cpu_user=usage.ru_utime,
            cpu_sys=usage.ru_stime,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def _cli(data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "invoice_inbox", "--data-dir", str(data_dir), *args]


def _dir_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


# -- report -------------------------------------------------------------------------------


@dataclass
class Report:
    messages: int
    size_kb: float
    transport: str
    nproc: int
    python: str
    platform: str
    corpus_cached: bool
    corpus_seconds: float
    dovecot_start_seconds: float
    import_seconds: dict[str, float]
    total_bytes: int = 0
    baseline_runs_seconds: list[float] = field(default_factory=list)
    baseline_seconds: float = 0.0
    baseline_msg_per_s: float = 0.0
    baseline_mb_per_s: float = 0.0
    source_add_seconds: float = 0.0
    ingestion_seconds: float = 0.0
    ingestion_msg_per_s: float = 0.0
    ingestion_mb_per_s: float = 0.0
    ingestion_cpu_seconds: float = 0.0
    ingestion_peak_rss_mb: float = 0.0
    ratio_percent: float = 0.0
    fetch_summary: dict[str, object] = field(default_factory=dict)
    server_imported: int = -1
    server_inbox: int = -1
    data_dir_mb: float = 0.0
    profile: str | None = None
    target_ratio_met: bool = False
    target_rss_met: bool = False
    failures: list[str] = field(default_factory=list)


def _yes(ok: bool) -> str:
    return "yes" if ok else "no"


def print_report(r: Report) -> None:
    total_mb = r.total_bytes / MB
    avg_kb = r.total_bytes / max(r.messages, 1) / 1024
    imports = " + ".join(f"{s:.1f} s" for s in r.import_seconds.values())
    runs = ", ".join(f"{s:.2f} s" for s in r.baseline_runs_seconds)
    s = r.fetch_summary
    lines = [
        "invoice-inbox ingestion benchmark",
        f"machine    : {r.nproc} CPUs (nproc), Python {r.python}, {r.platform}",
        f"mailbox    : {r.messages} messages, {total_mb:.1f} MB (avg {avg_kb:.1f} KB as served), "
        f"{r.transport} on {HOST}",
        f"generation : {r.corpus_seconds:.1f} s"
        + (" (reused cache)" if r.corpus_cached else " (written to benchmarks/.cache)"),
        f"import     : {imports} (doveadm import into users base, bench); "
        f"dovecot start {r.dovecot_start_seconds:.1f} s",
        f"baseline   : {r.baseline_msg_per_s:,.0f} msg/s, {r.baseline_mb_per_s:.1f} MB/s "
        f"(imaplib UID FETCH x{FETCH_BATCH} BODY.PEEK[]; best of {len(r.baseline_runs_seconds)}"
        f" runs: {runs}; warm cache)",
        f"ingestion  : {r.ingestion_msg_per_s:,.0f} msg/s, {r.ingestion_mb_per_s:.1f} MB/s "
        f"({r.ingestion_seconds:.2f} s wall incl. start-up, "
        f"CPU {r.ingestion_cpu_seconds:.1f} s; source add {r.source_add_seconds:.2f} s)",
        f"fetch      : seen {s.get('messages_seen')}, imported {s.get('imported')}, "
        f"not imported {s.get('not_imported')}, quarantined {s.get('quarantined')}, "
        f"documents {s.get('documents_created')}, status {s.get('status')}",
        f"server     : {IMPORTED_FOLDER} {r.server_imported}, INBOX {r.server_inbox}; "
        f"data dir {r.data_dir_mb:.1f} MB",
        f"ratio      : ingestion = {r.ratio_percent:.1f} % of raw download",
        f"peak RSS   : {r.ingestion_peak_rss_mb:.1f} MB (ingestion process)",
    ]
    if r.profile:
        lines.append(f"profile    : {r.profile} (under cProfile: figures are distorted)")
    lines += [
        f"target: ingestion >= {TARGET_RATIO:g}% of raw download: {_yes(r.target_ratio_met)}",
        f"target: peak RSS < {TARGET_RSS_MB:g} MB: {_yes(r.target_rss_met)}",
    ]
    lines += [f"FAILED: {f}" for f in r.failures]
    print("\n".join(lines), flush=True)


# -- main ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> Report:
    count, size_kb = args.messages, args.size_kb
    maildir, cached, corpus_seconds = corpus(count, size_kb)
    log = (lambda msg: None) if args.json else (lambda msg: print(msg, file=sys.stderr))
    log(f"corpus: {maildir} ({'reused' if cached else 'generated'} in {corpus_seconds:.1f} s)")

    tmp_root = Path(tempfile.mkdtemp(prefix="invoice-inbox-bench-", dir="/tmp"))
    tmp_root.chmod(0o755)  # Dovecot's unprivileged processes must traverse it
    srv = DovecotServer(
        tmp_root / "dovecot", users={BENCH_USER: BENCH_PW, BASE_USER: BASE_PW}, pool_size=0
    )
    try:
        srv.start()
        log(f"dovecot: imap {srv.imap_port}, imaps {srv.imaps_port}")
        import_seconds: dict[str, float] = {}
        for user in (BASE_USER, BENCH_USER):
            began = time.perf_counter()
            srv.import_maildir(user, maildir)
            import_seconds[user] = time.perf_counter() - began
            got = srv.folder_count(user, "INBOX")
            if got != count:
                raise RuntimeError(f"import into {user}: INBOX holds {got}, expected {count}")
        log("imported: " + ", ".join(f"{u} {s:.1f} s" for u, s in import_seconds.items()))

        report = Report(
            messages=count,
            size_kb=size_kb,
            transport="IMAPS (TLS)" if args.tls else "plain IMAP",
            nproc=os.cpu_count() or 0,
            python=platform.python_version(),
            platform=f"{platform.system()} {platform.release()} {platform.machine()}",
            corpus_cached=cached,
            corpus_seconds=corpus_seconds,
            dovecot_start_seconds=srv.start_seconds or 0.0,
            import_seconds=import_seconds,
        )
        with contextlib.suppress(AttributeError):
            report.nproc = len(os.sched_getaffinity(0))

        # baseline, on its own copy of the mailbox (ingestion moves the mail away)
        port = srv.imaps_port if args.tls else srv.imap_port
        tls = srv.tls_context() if args.tls else None
        downloads = []
        for _ in range(args.baseline_runs):
            d = raw_download(port, tls, BASE_USER, BASE_PW)
            log(f"baseline: {d.messages} messages, {d.bytes / MB:.1f} MB in {d.seconds:.2f} s")
            if d.messages != count:
                raise RuntimeError(f"baseline downloaded {d.messages} messages, not {count}")
            downloads.append(d)
        best = min(downloads, key=lambda d: d.seconds)
        report.total_bytes = best.bytes
        report.baseline_runs_seconds = [d.seconds for d in downloads]
        report.baseline_seconds = best.seconds
        report.baseline_msg_per_s = best.messages / best.seconds
        report.baseline_mb_per_s = best.bytes / MB / best.seconds

        # ingestion: the product's CLI in its own process
        data_dir = tmp_root / "data"
        env = dict(os.environ, BENCH_PW=BENCH_PW)
        env.pop("INVOICE_INBOX_DATABASE_URL", None)
        if args.tls:
            security = ["--security", "ssl", "--ca-file", str(srv.ca_file)]
        else:
            security = ["--security", "none"]
        add_args = [
            "source", "add", "bench",
            "--company", "Bench",
            "--host", HOST,
            "--port", str(port),
            *security,
            "--username", BENCH_USER,
            "--password-env", "BENCH_PW",
            "--move-imported-to", IMPORTED_FOLDER,
            "--move-not-imported-to", NOT_IMPORTED_FOLDER,
        ]  # fmt: skip
        add = run_child(_cli(data_dir, *add_args), env, tmp_root)
        if add.returncode != 0:
            raise RuntimeError(f"source add failed ({add.returncode}): {add.stderr.strip()}")
        report.source_add_seconds = add.seconds

        fetch_args = ["fetch", "bench", "--json"]
        argv = _cli(data_dir, *fetch_args)
        if args.profile:
            report.profile = str(Path(args.profile).resolve())
            argv = [sys.executable, "-m", "cProfile", "-o", report.profile, "-m",
                    "invoice_inbox", "--data-dir", str(data_dir), *fetch_args]  # fmt: skip
        log(f"ingestion: {' '.join(argv[1:])}")
        fetch = run_child(argv, env, tmp_root)
        report.ingestion_seconds = fetch.seconds
        report.ingestion_peak_rss_mb = fetch.max_rss_mb
        report.ingestion_cpu_seconds = fetch.cpu_user + fetch.cpu_sys
        report.ingestion_msg_per_s = count / fetch.seconds
        report.ingestion_mb_per_s = report.total_bytes / MB / fetch.seconds
        report.ratio_percent = 100.0 * report.ingestion_msg_per_s / report.baseline_msg_per_s
        report.target_ratio_met = report.ratio_percent >= TARGET_RATIO
        report.target_rss_met = report.ingestion_peak_rss_mb < TARGET_RSS_MB
        report.data_dir_mb = _dir_size(data_dir) / MB

        if fetch.returncode != 0:
            report.failures.append(
                f"fetch exited {fetch.returncode}: {fetch.stderr.strip()[-2000:]}"
            )
        try:
            report.fetch_summary = json.loads(fetch.stdout)
        except json.JSONDecodeError:
            report.failures.append(f"fetch printed no JSON: {fetch.stdout.strip()[-500:]!r}")
        s = report.fetch_summary
        if s and s.get("imported") != count:
            report.failures.append(f"imported {s.get('imported')} of {count} messages")
        if s and s.get("documents_created") != count:
            report.failures.append(f"{s.get('documents_created')} documents, expected {count}")
        report.server_imported = srv.folder_count(BENCH_USER, IMPORTED_FOLDER)
        report.server_inbox = srv.folder_count(BENCH_USER, "INBOX")
        if report.server_imported != count:
            report.failures.append(
                f'"{IMPORTED_FOLDER}" holds {report.server_imported} messages, expected {count}'
            )
        if report.server_inbox != 0:
            report.failures.append(f"INBOX still holds {report.server_inbox} messages")
        return report
    finally:
        srv.stop()
        shutil.rmtree(tmp_root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    local_dns.use_empty_dns()  # senders are authenticated: never the machine's DNS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--messages", type=int, default=10_000, help="how many mails (10000)")
    p.add_argument("--size-kb", type=float, default=50, help="approximate size per mail (50)")
    p.add_argument("--tls", action="store_true", help="IMAPS instead of plain IMAP")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--baseline-runs", type=int, default=2, help="baseline runs, best counts (2)")
    p.add_argument("--profile", metavar="OUT", help="run the fetch under cProfile, stats to OUT")
    args = p.parse_args(argv)
    if args.messages < 1 or args.size_kb <= 0 or args.baseline_runs < 1:
        p.error("--messages, --size-kb and --baseline-runs must be positive")
    report = run(args)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
        for f in report.failures:
            print(f"FAILED: {f}", file=sys.stderr)
    else:
        print_report(report)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
