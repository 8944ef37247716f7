"""Hostile-mail benchmark: does ``invoice-inbox fetch`` take 100 good invoices off an IMAP server
while the same mailbox holds mail built to exhaust it, and how much memory does every process
need for that?

One run does everything on 127.0.0.1 with a private Dovecot from the test harness
(``tests/harness/dovecot.py``; needs root and ``dovecot-imapd``):

1. build 100 good invoice mails (each with its own one-page PDF) and the hostile set
   (``tests/pipeline/hostile_samples.py``):

   - PDF bomb: a PDF with 24 embedded "invoice-N.xml" files of 70 MB zeros each, ~1.6 MB;
   - page bomb: 12 KB of HTML with 3,000 forced page breaks, from a sender whose import rule
     says "the body is the invoice", so it is rendered;
   - ZIP bomb: one 1 GiB entry of zeros in a ~1 MB archive;
   - MIME nested 1,000 levels deep;
   - a 50 MB PDF attachment (legitimate, only big);
   - XXE: a UBL invoice whose number is an external entity naming /etc/passwd;

2. ``doveadm import`` them into two users: ``base`` gets the 100 good mails alone (the
   baseline), ``hostile`` the same 100 with the hostile set mixed in;
3. for each user, in its own data directory: ``source add``, for ``hostile`` also the import
   rule, then ``python -m invoice_inbox fetch SOURCE --json`` in a separate process, timed from
   spawn to exit. A thread polls /proc every 20 ms for the process tree under it (decide
   workers included) and keeps each process's VmHWM (its peak RSS); ``os.wait4`` gives the
   largest peak in the tree, reaped children included;
4. read the ledger (``messages --json``) and print: good invoices imported (must be 100/100),
   each hostile mail's decision and reason, peak RSS of every process (target: under 400 MB),
   wall time of both runs.

Run it from the repository root::

    .venv/bin/python benchmarks/hostile.py [--good 100] [--skip NAME ...] [--json]

Exit status 1 when a good invoice was not imported, a hostile mail was imported where it must
not be, or the fetch failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests"), str(REPO / "tests" / "pipeline")]

import local_dns  # noqa: E402
from einvoice_samples import xxe  # noqa: E402
from hostile_samples import MIB, deep_mime, page_bomb_html, pdf_bomb, zip_bomb  # noqa: E402
from proctree import Proc, TreeWatch  # noqa: E402

from builders import Attachment, make_mail, make_pdf, make_sized_pdf  # noqa: E402
from harness.dovecot import DovecotServer, write_maildir  # noqa: E402
from invoice_inbox.pipeline.limits import DEFAULT_LIMITS  # noqa: E402

HOST = "127.0.0.1"
BASE_USER, HOSTILE_USER, PASSWORD = "base", "hostile", "benchpw"
SUPPLIER = "billing@supplier.example"
HOSTER = "billing@hoster.example"
TARGET_RSS_MB = 400.0
# the hostile mails that may be imported: the 50 MB PDF is big, not malformed
MAY_IMPORT = frozenset({"50 MB attachment"})


# -- the mail -------------------------------------------------------------------------------


def good_mails(count: int) -> list[bytes]:
    return [
        make_mail(
            from_=f"Supplier <{SUPPLIER}>",
            subject=f"Invoice GOOD-{i:04d}",
            message_id=f"<good-{i:04d}@supplier.example>",
            attachments=[Attachment(f"GOOD-{i:04d}.pdf", make_pdf(f"Invoice GOOD-{i:04d}"))],
        )
        for i in range(count)
    ]


def _hostile_mail(name: str, **kw: object) -> bytes:
    return make_mail(
        subject=f"hostile: {name}",
        message_id=f"<hostile-{name.replace(' ', '-')}@attacker.example>",
        **kw,  # type: ignore[arg-type]
    )


HOSTILE: dict[str, Callable[[], bytes]] = {
    "PDF bomb": lambda: _hostile_mail(
        "PDF bomb",
        from_=f"Supplier <{SUPPLIER}>",
        attachments=[Attachment("invoice.pdf", pdf_bomb(files=24, size=70 * MIB))],
    ),
    "page bomb": lambda: _hostile_mail(
        "page bomb - your bill",
        from_=f"Hoster <{HOSTER}>",
        body="",
        html=page_bomb_html(3000),
    ),
    "ZIP bomb": lambda: _hostile_mail(
        "ZIP bomb",
        from_=f"Supplier <{SUPPLIER}>",
        attachments=[Attachment("invoices.zip", zip_bomb(1024 * MIB), "application/zip")],
    ),
    "MIME 1,000 deep": lambda: deep_mime(1000, make_pdf("deep")).replace(
        b"Subject: deep", b"Subject: hostile: MIME 1,000 deep", 1
    ),
    "50 MB attachment": lambda: _hostile_mail(
        "50 MB attachment",
        from_=f"Scanner <{SUPPLIER}>",
        attachments=[Attachment("scan.pdf", make_sized_pdf(50 * MIB))],
    ),
    "XXE": lambda: _hostile_mail(
        "XXE",
        from_=f"Supplier <{SUPPLIER}>",
        attachments=[Attachment("invoice.xml", xxe("file:///etc/passwd"), "application/xml")],
    ),
}


def maildir(path: Path, messages: list[bytes]) -> Path:
    write_maildir(path, messages)
    for d in (path, path / "cur", path / "new", path / "tmp"):
        d.chmod(0o755)  # doveadm import reads it as the mail user
    return path


# -- one fetch, measured ------------------------------------------------------------------


@dataclass
class Run:
    label: str
    returncode: int
    seconds: float
    tree_peak_rss_mb: float  # os.wait4: the main process and the children it reaped
    processes: list[Proc]
    summary: dict[str, object]
    ledger: list[dict[str, object]]
    stderr: str


def run_fetch(label: str, argv: list[str], env: dict[str, str], cwd: Path) -> Run:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                                cwd=cwd)  # fmt: skip
        watch = TreeWatch(proc.pid)
        watch.start()
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        watch.done.set()
        watch.join()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    try:
        summary = json.loads(stdout)
    except json.JSONDecodeError:
        summary = {"unreadable output": stdout[-500:]}
    processes = [Proc(pid, role, kb / 1024) for pid, (role, kb) in sorted(watch.peaks.items())]
    return Run(label, proc.returncode, seconds, usage.ru_maxrss / 1024, processes,
               summary if isinstance(summary, dict) else {"runs": summary}, [], stderr)  # fmt: skip


def _cli(data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "invoice_inbox", "--data-dir", str(data_dir), *args]


def _check(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[3:6])} failed: {done.stderr.strip()[-1000:]}")
    return done.stdout


def fetch_user(srv: DovecotServer, user: str, root: Path, *, body_rule: bool) -> Run:
    data_dir = root / f"data-{user}"
    env = dict(os.environ, BENCH_PW=PASSWORD)
    env.pop("INVOICE_INBOX_DATABASE_URL", None)
    add = [
        "source", "add", user,
        "--company", "Bench",
        "--host", HOST,
        "--port", str(srv.imap_port),
        "--security", "none",
        "--username", user,
        "--password-env", "BENCH_PW",
        "--move-imported-to", "Imported",
        "--move-not-imported-to", "Not imported",
        "--schedule", "manual",
    ]  # fmt: skip
    _check(_cli(data_dir, *add), env, root)
    if body_rule:
        rule = ["rule", "add", user, "hoster-body", "--sender", HOSTER, "--keyword", "your bill",
                "--action", "body"]  # fmt: skip
        _check(_cli(data_dir, *rule), env, root)
    run = run_fetch(user, _cli(data_dir, "fetch", user, "--json"), env, root)
    ledger = json.loads(_check(_cli(data_dir, "messages", "--limit", "10000", "--json"), env, root))
    run.ledger = ledger if isinstance(ledger, list) else []
    return run


# -- report ---------------------------------------------------------------------------------


@dataclass
class Report:
    python: str
    platform: str
    nproc: int
    good: int
    generation_seconds: float
    hostile_sizes_mb: dict[str, float]
    limits: dict[str, float]
    baseline: Run | None = None
    hostile: Run | None = None
    good_imported_baseline: int = 0
    good_imported: int = 0
    hostile_decisions: dict[str, tuple[str, str]] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    target_rss_met: bool = False
    failures: list[str] = field(default_factory=list)


def _good_imported(run: Run) -> int:
    return sum(
        1
        for m in run.ledger
        if str(m.get("subject", "")).startswith("Invoice GOOD-")
        and m.get("decision") == "import"
        and m.get("documents") == 1
    )


def evaluate(r: Report) -> None:
    assert r.baseline is not None and r.hostile is not None
    r.good_imported_baseline = _good_imported(r.baseline)
    r.good_imported = _good_imported(r.hostile)
    by_subject = {str(m.get("subject", "")): m for m in r.hostile.ledger}
    for name in r.hostile_sizes_mb:
        subject = "hostile: page bomb - your bill" if name == "page bomb" else f"hostile: {name}"
        m = by_subject.get(subject)
        if m is None:
            r.hostile_decisions[name] = ("(not in the ledger)", "")
            r.failures.append(f"{name}: no decision recorded")
            continue
        r.hostile_decisions[name] = (str(m.get("decision")), str(m.get("reason")))
        if m.get("decision") == "import" and name not in MAY_IMPORT:
            r.failures.append(f"{name} was imported")
    for run in (r.baseline, r.hostile):
        if run.returncode != 0:
            r.failures.append(f"fetch {run.label} exited {run.returncode}: {run.stderr[-500:]}")
    if r.good_imported != r.good:
        r.failures.append(f"{r.good_imported} of {r.good} good invoices imported")
    peaks = [p.peak_rss_mb for p in r.hostile.processes] + [r.hostile.tree_peak_rss_mb]
    r.peak_rss_mb = max(peaks)
    r.target_rss_met = r.peak_rss_mb < TARGET_RSS_MB


def _limit(name: str, value: float) -> str:
    return f"{name}={value / MIB:g} MB" if name.endswith("_bytes") else f"{name}={value:g}"


def print_report(r: Report) -> None:
    assert r.baseline is not None and r.hostile is not None
    sizes = ", ".join(f"{k} {v:.1f} MB" for k, v in r.hostile_sizes_mb.items())
    lines = [
        "invoice-inbox hostile-mail benchmark",
        f"machine   : {r.nproc} CPUs, Python {r.python}, {r.platform}",
        f"mail      : {r.good} good invoice mails; hostile (as served): {sizes}; "
        f"built in {r.generation_seconds:.1f} s",
        f"good      : {r.good_imported}/{r.good} imported with the hostile set "
        f"(baseline alone: {r.good_imported_baseline}/{r.good})",
        "limits    : " + ", ".join(_limit(k, v) for k, v in r.limits.items()) + " (defaults)",
        "hostile   :",
    ]
    for name, (decision, reason) in r.hostile_decisions.items():
        lines.append(f"  {name:<17} {decision:<13} {reason}")
    for run in (r.baseline, r.hostile):
        what = "good mails alone" if run is r.baseline else "good + hostile"
        s = run.summary
        lines.append(
            f"fetch {run.label:<8}: {run.seconds:6.1f} s wall ({what}); exit {run.returncode}; "
            f"seen {s.get('messages_seen')}, imported {s.get('imported')}, not imported "
            f"{s.get('not_imported')}, quarantined {s.get('quarantined')}, status {s.get('status')}"
        )
        lines.append(
            f"  peak RSS (wait4: the main process and the children it reaped): "
            f"{run.tree_peak_rss_mb:.1f} MB; per process (VmHWM, polled):"
        )
        for p in run.processes:
            lines.append(f"  pid {p.pid:>7} {p.role:<22} peak RSS {p.peak_rss_mb:7.1f} MB")
    lines += [
        f"peak RSS of any process (hostile run): {r.peak_rss_mb:.1f} MB",
        f"target: peak RSS < {TARGET_RSS_MB:g} MB: {'yes' if r.target_rss_met else 'no'}",
        f"target: {r.good}/{r.good} good invoices imported: "
        f"{'yes' if r.good_imported == r.good else 'no'}",
    ]
    lines += [f"FAILED: {f}" for f in r.failures]
    print("\n".join(lines), flush=True)


# -- main ---------------------------------------------------------------------------------


def write_maildirs(root: Path, good_count: int, skip: list[str]) -> dict[str, float]:
    """The two Maildirs under *root*; returns the hostile mails' sizes in MB. Runs in a child
    process, so that this one stays small: a process forked from it would otherwise start with
    its pages and report them as its own peak (``wait4``)."""
    good = good_mails(good_count)
    hostile = {name: build() for name, build in HOSTILE.items() if name not in skip}
    mixed = list(good)  # the hostile mails spread between the good ones, as they would arrive
    for index, raw in enumerate(hostile.values()):
        mixed.insert((index + 1) * len(good) // (len(hostile) + 1) + index, raw)
    maildir(root / "maildir-base", good)
    maildir(root / "maildir-hostile", mixed)
    return {name: len(raw) / MIB for name, raw in hostile.items()}


def run(args: argparse.Namespace) -> Report:
    log = (lambda msg: None) if args.json else (lambda msg: print(msg, file=sys.stderr))
    root = Path(tempfile.mkdtemp(prefix="invoice-inbox-hostile-", dir="/tmp"))
    root.chmod(0o755)  # Dovecot's unprivileged processes must traverse it
    began = time.perf_counter()
    build = [sys.executable, __file__, "--write-maildirs", str(root), "--good", str(args.good)]
    build += [f"--skip={name}" for name in args.skip]
    sizes = json.loads(subprocess.run(build, capture_output=True, text=True, check=True).stdout)
    generation = time.perf_counter() - began
    log(f"built {args.good} good and {len(sizes)} hostile mails in {generation:.1f} s")
    report = Report(
        python=platform.python_version(),
        platform=f"{platform.system()} {platform.release()} {platform.machine()}",
        nproc=len(os.sched_getaffinity(0)),
        good=args.good,
        generation_seconds=generation,
        hostile_sizes_mb=sizes,
        limits=asdict(DEFAULT_LIMITS),
    )
    srv = DovecotServer(root / "dovecot", users={BASE_USER: PASSWORD, HOSTILE_USER: PASSWORD},
                        pool_size=0)  # fmt: skip
    try:
        base_dir, mixed_dir = root / "maildir-base", root / "maildir-hostile"
        srv.start()
        srv.import_maildir(BASE_USER, base_dir)
        srv.import_maildir(HOSTILE_USER, mixed_dir)
        log(f"dovecot: imap {srv.imap_port}; INBOX base {srv.folder_count(BASE_USER, 'INBOX')}, "
            f"hostile {srv.folder_count(HOSTILE_USER, 'INBOX')}")  # fmt: skip
        report.baseline = fetch_user(srv, BASE_USER, root, body_rule=False)
        log(f"baseline fetch: {report.baseline.seconds:.1f} s")
        report.hostile = fetch_user(srv, HOSTILE_USER, root, body_rule=True)
        log(f"hostile fetch: {report.hostile.seconds:.1f} s")
        evaluate(report)
        return report
    finally:
        srv.stop()
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    local_dns.use_empty_dns()  # senders are authenticated: never the machine's DNS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--good", type=int, default=100, help="good invoice mails (100)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument(
        "--skip", action="append", default=[], choices=list(HOSTILE), metavar="NAME",
        help="leave this hostile mail out (repeatable), e.g. to see its share of the peak",
    )  # fmt: skip
    p.add_argument("--write-maildirs", metavar="DIR", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.good < 1:
        p.error("--good must be positive")
    if args.write_maildirs:
        print(json.dumps(write_maildirs(Path(args.write_maildirs), args.good, args.skip)))
        return 0
    report = run(args)
    if args.json:
        data = asdict(report)
        for key in ("baseline", "hostile"):
            if data.get(key):
                data[key].pop("ledger", None)
        print(json.dumps(data, indent=2))
    else:
        print_report(report)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
