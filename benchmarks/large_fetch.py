"""The end-to-end part of ``large_attachment.py``: peak memory of ``invoice-inbox fetch`` taking
one mail with a big PDF off an IMAP server, per process (the fetch process and its decide
worker), for one or more source trees in the same run.

On a private Dovecot from the test harness (needs root and ``dovecot-imapd``), for each source
tree and each mail (a small reference mail, then one per size) a user of its own holds that one
mail; ``source add`` and ``fetch --json`` run in a fresh data directory with ``PYTHONPATH`` set
to the tree's ``src`` (its decide workers inherit it), while ``proctree.TreeWatch`` keeps each
process's ``VmHWM``. A run counts only if it imported the mail with one document of the PDF's
exact SHA-256 in the blob store. The cost of the big mail is its run's peak minus the small
mail's run's peak of the same kind of process (the interpreter, the imports, the database and
one decided mail), as a multiple of the PDF's size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from proctree import TreeWatch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from harness.dovecot import DovecotServer  # noqa: E402

HOST = "127.0.0.1"
MB = 1024 * 1024
MAIN, WORKER = "fetch (main process)", "decide worker"


@dataclass
class Mail:
    label: str  # "small" or the PDF's size in MB
    raw: bytes
    pdf_size: int
    pdf_sha256: str


@dataclass
class FetchPeak:
    tree: str
    mail: str
    pdf_mb: float
    mail_mb: float
    seconds: float
    main_peak_mb: float
    worker_peak_mb: float
    sender_auth: str = ""  # what the fetch found the sender proves (dkim: "pass")
    main_over_small: float = 0.0  # (peak - the small mail's peak) / PDF size
    worker_over_small: float = 0.0


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str, TreeWatch]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd
        )
        watch = TreeWatch(proc.pid, interval=0.01)
        watch.start()
        code = proc.wait()
        watch.done.set()
        watch.join()
        out.seek(0)
        err.seek(0)
        return code, out.read().decode(errors="replace"), err.read().decode(errors="replace"), watch


def _fetch(
    srv: DovecotServer, root: Path, tree: str, src: Path, user: str, mail: Mail
) -> FetchPeak:
    data_dir = root / f"data-{user}"
    env = {k: v for k, v in os.environ.items() if k != "INVOICE_INBOX_DATABASE_URL"}
    env["PYTHONPATH"] = str(src)
    env["BENCH_PW"] = srv.password(user)
    cli = [sys.executable, "-m", "invoice_inbox", "--data-dir", str(data_dir)]
    add = [
        *cli, "source", "add", user, "--company", "Bench", "--host", HOST, "--port",
        str(srv.imap_port), "--security", "none", "--username", user, "--password-env",
        "BENCH_PW", "--move-imported-to", "Imported", "--move-not-imported-to", "Not imported",
    ]  # fmt: skip
    code, _out, err, _ = _run(add, env, root)
    if code != 0:
        raise RuntimeError(f"{tree}: source add failed ({code}): {err.strip()[-1000:]}")
    began = time.perf_counter()
    code, out, err, watch = _run([*cli, "fetch", user, "--json"], env, root)
    seconds = time.perf_counter() - began
    if code != 0:
        raise RuntimeError(f"{tree}: fetch of the {mail.label} mail exited {code}: {err[-2000:]}")
    summary = json.loads(out)
    blob = data_dir / "blobs" / mail.pdf_sha256[:2] / mail.pdf_sha256
    if summary.get("imported") != 1 or summary.get("documents_created") != 1:
        raise RuntimeError(f"{tree}: the {mail.label} mail was not imported once: {summary}")
    if not blob.is_file() or blob.stat().st_size != mail.pdf_size:
        raise RuntimeError(f"{tree}: the {mail.label} mail's PDF is not in the blob store")
    code, out, err, _ = _run([*cli, "messages", "--json"], env, root)
    auth = (json.loads(out)[0].get("sender_auth") or {}) if code == 0 else {}
    peaks: dict[str, float] = {}
    for role, kb in watch.peaks.values():
        peaks[role] = max(peaks.get(role, 0.0), kb / 1024)
    return FetchPeak(
        tree=tree,
        mail=mail.label,
        pdf_mb=mail.pdf_size / MB,
        mail_mb=len(mail.raw) / MB,
        seconds=seconds,
        main_peak_mb=peaks.get(MAIN, 0.0),
        worker_peak_mb=peaks.get(WORKER, 0.0),
        sender_auth=str(auth.get("status", "")),
    )


def measure(trees: dict[str, Path], mails: list[Mail], log=print) -> list[FetchPeak]:  # type: ignore[no-untyped-def]
    """Fetch each mail (the first is the small reference) with each source tree."""
    users = {f"u{t}m{m}": f"pw{t}{m}" for t in range(len(trees)) for m in range(len(mails))}
    root = Path(tempfile.mkdtemp(prefix="invoice-inbox-bench-large-", dir="/tmp"))
    root.chmod(0o755)  # Dovecot's unprivileged processes must traverse it
    srv = DovecotServer(root / "dovecot", users=users, pool_size=0)
    rows: list[FetchPeak] = []
    try:
        srv.start()
        for t in range(len(trees)):
            for m, mail in enumerate(mails):
                srv.append(f"u{t}m{m}", "INBOX", mail.raw)
        for m, mail in enumerate(mails):  # sizes outside, trees inside: alike conditions
            for t, (tree, src) in enumerate(trees.items()):
                log(f"fetch: {tree}, {mail.label} mail ({len(mail.raw) / MB:.1f} MB) ...")
                rows.append(_fetch(srv, root, tree, src, f"u{t}m{m}", mail))
    finally:
        srv.stop()
        subprocess.run(["rm", "-rf", str(root)], check=False)
    for row in rows:
        small = next(r for r in rows if r.tree == row.tree and r.mail == mails[0].label)
        if row is not small:
            row.main_over_small = (row.main_peak_mb - small.main_peak_mb) / row.pdf_mb
            row.worker_over_small = (row.worker_peak_mb - small.worker_peak_mb) / row.pdf_mb
    return rows


def print_rows(rows: list[FetchPeak]) -> None:
    print()
    print("end to end: invoice-inbox fetch of one mail over plain IMAP, peak RSS per process")
    header = (
        f"{'tree':<10} {'mail':>6} {'mail MB':>8} {'time s':>7} {'fetch peak MB':>14}"
        f" {'(-small)/PDF':>13} {'worker peak MB':>15} {'(-small)/PDF':>13} {'sender':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        small = r.main_over_small == 0.0 and r.worker_over_small == 0.0
        main_x = "" if small else f"{r.main_over_small:.2f}x"
        worker_x = "" if small else f"{r.worker_over_small:.2f}x"
        print(
            f"{r.tree:<10} {r.mail:>6} {r.mail_mb:>8.1f} {r.seconds:>7.2f} {r.main_peak_mb:>14.1f}"
            f" {main_x:>13} {r.worker_peak_mb:>15.1f} {worker_x:>13} {r.sender_auth:>8}"
        )
    print(
        "(-small)/PDF: the process's peak above its peak for the small reference mail, as a "
        "multiple of the PDF's size (the raw mail included)"
    )
