"""Large-attachment benchmark: how much memory and time does ``decide`` need for a mail with one
big PDF attachment, compared with the standard library only parsing and decoding the same mail?

One run, nothing on the network:

1. for each size (``--sizes-mb``, default 10 and 50), write a mail with one PDF of exactly that
   size (a valid one-page PDF padded with a stream of random bytes, as a scan is) as
   base64 in 76-character CRLF lines, as mail carries it, to a temporary file;
2. baseline, in a fresh process: ``email.message_from_bytes(raw, policy=compat32)``, then
   ``get_payload(decode=True)`` of every part from ``walk()``;
3. decide, in a fresh process: ``decide(raw)``, checked to import one document with the PDF's
   exact size and SHA-256; with ``--tree NAME=DIR`` (another checkout's ``src``, e.g. main
   before a change: ``git archive HEAD src | tar -x -C DIR/..``; repeatable) also with that
   tree (``decide@NAME``), in the same run;
4. each process decides a small mail first (what a running worker has done: lazy imports),
   reads the mail from the file, runs the step ``--runs`` times (3) for the time (the best run
   counts), reports its peak RSS growth over the first run (``VmHWM`` after minus before: what
   the step added on top of the interpreter, the imports and the raw mail), and its whole peak
   RSS, also above the RSS before reading the mail as a multiple of the PDF's size (the raw
   mail included: what handling one such mail costs on top of a running process), then runs it
   once more under ``tracemalloc`` for the peak of Python allocations;
5. end to end (``large_fetch.py``; skipped with ``--no-fetch``, needs root and Dovecot):
   ``invoice-inbox fetch`` of a mailbox holding one such mail, per source tree, the peak RSS of
   the fetch process and of its decide worker above a run with one small mail; with
   ``--dkim [C]`` every fetched mail is DKIM-signed by a key the benchmark's DNS publishes
   (canonicalization *C*, relaxed/simple by default; relaxed/relaxed also rewrites the body's
   white space), so the fetch process also checks the body hash of the whole mail;
6. print tables: time, tracemalloc peak and RSS growth per step, decide / baseline, and the
   end-to-end peaks.

Run it from the repository root::

    .venv/bin/python benchmarks/large_attachment.py [--sizes-mb 10 50] [--runs 3] [--json]
        [--tree base=DIR ...] [--no-fetch] [--dkim [relaxed/relaxed]]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dkim

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import large_fetch  # noqa: E402
import local_dns  # noqa: E402

from builders import make_sized_pdf  # noqa: E402
from harness.dkim_keys import DkimKey  # noqa: E402

MB = 1024 * 1024
STEPS = ("baseline", "decide")
CANONICALIZATIONS = [f"{h}/{b}" for h in ("simple", "relaxed") for b in ("simple", "relaxed")]
SRC = REPO / "src"


# -- the mail -------------------------------------------------------------------------------


def mail_with(pdf: bytes, name: str) -> bytes:
    head = (
        "From: Scanner <scans@supplier.example>\r\n"
        "To: Accounts Payable <ap@buyer.example>\r\n"
        f"Subject: Scanned invoice {name}\r\n"
        "Date: Mon, 04 Mar 2024 10:00:00 +0100\r\n"
        f"Message-ID: <{name}@bench.invoice-inbox.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="=_bench"\r\n'
        "\r\n"
        "--=_bench\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "Please find the scanned invoice attached.\r\n"
        "--=_bench\r\n"
        f'Content-Type: application/pdf; name="{name}"\r\n'
        f'Content-Disposition: attachment; filename="{name}"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
    ).encode()
    body = base64.encodebytes(pdf).replace(b"\n", b"\r\n")
    return head + body + b"--=_bench--\r\n"


# -- one step, in a child process -----------------------------------------------------------


def _baseline(raw: bytes) -> int:
    import email
    from email import policy

    msg = email.message_from_bytes(raw, policy=policy.compat32)
    decoded = 0
    for part in msg.walk():
        data = part.get_payload(decode=True)
        decoded += len(data) if isinstance(data, bytes) else 0
    return decoded


def _decide_step(expect_size: int, expect_sha256: str) -> Callable[[bytes], int]:
    sys.path.insert(0, os.environ.get("BENCH_SRC", str(SRC)))
    from invoice_inbox.pipeline.decide import Verdict, decide

    decide(mail_with(make_sized_pdf(50 * 1024, seed=7), "warm-up.pdf"))  # a running worker's

    def step(raw: bytes) -> int:
        d = decide(raw)
        if d.verdict is not Verdict.IMPORT or len(d.documents) != 1:
            raise SystemExit(f"decide did not import one document: {d.verdict}: {d.reason}")
        doc = d.documents[0]
        if doc.size != expect_size or doc.sha256 != expect_sha256:
            raise SystemExit(f"document is {doc.size} bytes, sha256 {doc.sha256}: wrong")
        return doc.size

    return step


def _max_rss_mb() -> float:
    """This process's peak RSS since its ``exec`` (``VmHWM``): ``ru_maxrss`` would also count
    the parent's memory, which the forked child held until its ``exec``."""
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _timed(step: Callable[[bytes], int], raw: bytes) -> float:
    began = time.perf_counter()
    step(raw)
    return time.perf_counter() - began


def child(step_name: str, mail: Path, runs: int, size: int, sha256: str) -> dict[str, float]:
    """Measure one step on the mail in *mail*, in this (fresh) process."""
    step = _baseline if step_name == "baseline" else _decide_step(size, sha256)
    rss_start = _max_rss_mb()  # interpreter, imports (and a small mail decided), no mail yet
    raw = mail.read_bytes()
    rss_before = _max_rss_mb()
    seconds = [_timed(step, raw)]
    rss_after = _max_rss_mb()  # the first run only: later runs reuse freed memory
    seconds += [_timed(step, raw) for _ in range(runs - 1)]
    tracemalloc.start()
    step(raw)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "seconds": min(seconds),
        "seconds_runs": seconds,
        "tracemalloc_peak_mb": peak / MB,
        "rss_before_mb": rss_before,
        "rss_delta_mb": rss_after - rss_before,
        "rss_start_mb": rss_start,
        "rss_peak_mb": rss_after,
    }


def run_child(
    step_name: str, mail: Path, runs: int, size: int, sha256: str, src: Path = SRC
) -> dict[str, float]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", step_name]
    argv += ["--mail", str(mail), "--runs", str(runs), "--size", str(size), "--sha256", sha256]
    env = dict(os.environ, BENCH_SRC=str(src))
    out = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{step_name} failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout)


# -- report ---------------------------------------------------------------------------------


@dataclass
class Row:
    pdf_mb: float
    mail_mb: float
    step: str
    seconds: float
    seconds_runs: list[float]
    tracemalloc_peak_mb: float
    rss_before_mb: float
    rss_delta_mb: float
    rss_start_mb: float
    rss_peak_mb: float

    @property
    def peak_over_start_per_size(self) -> float:
        """Peak RSS above the interpreter and imports, as a multiple of the PDF's size: the
        raw mail read from the file included, as a fetch holds it."""
        return (self.rss_peak_mb - self.rss_start_mb) / self.pdf_mb


@dataclass
class Report:
    python: str
    platform: str
    nproc: int
    runs: int
    trees: dict[str, str] = field(default_factory=dict)
    dkim: str = ""  # the fetched mails' DKIM canonicalization ("": not signed)
    rows: list[Row] = field(default_factory=list)
    fetch: list[large_fetch.FetchPeak] = field(default_factory=list)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b > 0 else "-"


def print_report(r: Report) -> None:
    print("invoice-inbox large-attachment benchmark: decide vs. stdlib parse + decode")
    print(f"machine : {r.nproc} CPUs, Python {r.python}, {r.platform}; best of {r.runs} runs")
    header = (
        f"{'PDF MB':>7} {'mail MB':>8}  {'step':<12} {'time s':>7} "
        f"{'tracemalloc peak MB':>20} {'RSS delta MB':>13} {'peak / mail':>12}"
        f" {'peak RSS MB':>12} {'(peak-start)/PDF':>17}"
    )
    for name, src in r.trees.items():
        print(f"{name}: the source tree {src}")
    print(header)
    print("-" * len(header))
    for row in r.rows:
        print(
            f"{row.pdf_mb:>7.1f} {row.mail_mb:>8.1f}  {row.step:<12} {row.seconds:>7.2f} "
            f"{row.tracemalloc_peak_mb:>20.1f} {row.rss_delta_mb:>13.1f} "
            f"{_ratio(row.tracemalloc_peak_mb, row.mail_mb):>12}"
            f" {row.rss_peak_mb:>12.1f} {row.peak_over_start_per_size:>16.2f}x"
        )
    print(
        "peak RSS: the step's process (VmHWM) after the first run; start: the same process "
        "after its imports, before reading the mail; (peak-start)/PDF counts the raw mail too"
    )
    for size in sorted({row.pdf_mb for row in r.rows}):
        base, dec = (next(x for x in r.rows if x.pdf_mb == size and x.step == s) for s in STEPS)
        print(
            f"{size:g} MB PDF: decide / baseline = time {_ratio(dec.seconds, base.seconds)}, "
            f"tracemalloc peak {_ratio(dec.tracemalloc_peak_mb, base.tracemalloc_peak_mb)}, "
            f"RSS delta {_ratio(dec.rss_delta_mb, base.rss_delta_mb)}"
        )
    if r.fetch:
        large_fetch.print_rows(r.fetch)
        print(f"fetched mail DKIM-signed, c={r.dkim}" if r.dkim else "fetched mail not signed")


def run(args: argparse.Namespace) -> Report:
    nproc = os.cpu_count() or 0
    if hasattr(os, "sched_getaffinity"):
        nproc = len(os.sched_getaffinity(0))
    report = Report(
        python=platform.python_version(),
        platform=f"{platform.system()} {platform.release()} {platform.machine()}",
        nproc=nproc,
        runs=args.runs,
        trees={"this": str(args.src), **{n: str(d) for n, d in args.tree}},
        dkim=args.dkim or "",
    )
    log = (lambda msg: None) if args.json else (lambda msg: print(msg, file=sys.stderr))
    trees = {"this": args.src, **dict(args.tree)}
    mails: list[large_fetch.Mail] = []
    signed = _signer(args.dkim)
    if not args.no_fetch:
        small = make_sized_pdf(50 * 1024, seed=7)
        small_sha = hashlib.sha256(small).hexdigest()
        small_mail = signed(mail_with(small, "small.pdf"))
        mails.append(large_fetch.Mail("small", small_mail, len(small), small_sha))
    with tempfile.TemporaryDirectory(prefix="invoice-inbox-bench-") as tmp:
        for size_mb in args.sizes_mb:
            size = int(size_mb * MB)
            pdf = make_sized_pdf(size, seed=2024)
            sha256 = hashlib.sha256(pdf).hexdigest()
            mail = Path(tmp) / f"mail-{size_mb:g}mb.eml"
            mail.write_bytes(mail_with(pdf, f"scan-{size_mb:g}mb.pdf"))
            mail_mb = mail.stat().st_size / MB
            del pdf
            steps = [("baseline", args.src), ("decide", args.src)]
            steps += [(f"decide@{name}", src) for name, src in args.tree]
            for step, src in steps:
                log(f"{size_mb:g} MB PDF ({mail_mb:.1f} MB mail): {step} ...")
                figures = run_child(step.split("@")[0], mail, args.runs, size, sha256, src)
                report.rows.append(Row(size / MB, mail_mb, step, **figures))
            if not args.no_fetch:
                raw = signed(mail.read_bytes())
                mails.append(large_fetch.Mail(f"{size_mb:g}MB", raw, size, sha256))
    if mails:
        report.fetch = large_fetch.measure(trees, mails, log)
    return report


def _signer(c: str | None) -> Callable[[bytes], bytes]:
    """Each fetched mail as it is fetched: signed with canonicalization *c* (a key published
    on the benchmark's DNS), or as is."""
    if c is None:
        return lambda raw: raw
    key = DkimKey.generate("supplier.example", "s1")
    key.publish(local_dns.use_empty_dns())
    head, body = (part.encode() for part in c.split("/"))

    def sign(raw: bytes) -> bytes:
        pem, domain = key.private_pem, key.domain.encode()
        return bytes(dkim.sign(raw, b"s1", domain, pem, canonicalize=(head, body))) + raw

    return sign


def _tree(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not Path(path, "invoice_inbox").is_dir():
        raise argparse.ArgumentTypeError(f"{text}: give NAME=DIR, DIR holding invoice_inbox/")
    return name, Path(path)


def main(argv: list[str] | None = None) -> int:
    local_dns.use_empty_dns()  # senders are authenticated: never the machine's DNS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--sizes-mb", type=float, nargs="+", default=[10, 50], help="PDF sizes (10 50)")
    p.add_argument("--runs", type=int, default=3, help="timed runs per step, best counts (3)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--src", type=Path, default=SRC, help="the source tree measured (src)")
    p.add_argument(
        "--tree", type=_tree, action="append", default=[], metavar="NAME=DIR",
        help="another source tree to measure alike (repeatable)",
    )  # fmt: skip
    p.add_argument("--no-fetch", action="store_true", help="skip the end-to-end fetch runs")
    p.add_argument(
        "--dkim", nargs="?", const="relaxed/simple", choices=CANONICALIZATIONS, metavar="C",
        help="fetch DKIM-signed mail (key in DNS), canonicalization C (relaxed/simple)",
    )  # fmt: skip
    p.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    p.add_argument("--mail", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--sha256", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.runs < 1 or any(s <= 0 for s in args.sizes_mb):
        p.error("--runs and --sizes-mb must be positive")
    if args.child:
        print(json.dumps(child(args.child, args.mail, args.runs, args.size, args.sha256)))
        return 0
    report = run(args)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
