"""How much of a fetch the decide workers sit without a mail, and what the deciding thread does
meanwhile: the timeline that found the pauses between batches and between a batch's groups.

One private Dovecot, the cached mailbox of ``ingest.py`` (N mails of about 50 KB with a PDF) in
one user per run; ``invoice-inbox fetch`` end to end in a child process that records when the
pool hands a mail to a worker and when it takes the answer (``WorkerPool._send`` and
``_answered``), and when the deciding thread prepares and decides each batch. It prints, per run,
msg/s and the seconds with two, one and no worker holding a mail, and the longest spells of no
worker busy with what the deciding thread did in them. The baseline, in turns with it in the
same run: the same fetch without ``Stages.prepare_ahead`` (the next batch prepared between two
batches, as before it existed)::

    .venv/bin/python benchmarks/worker_idle.py [--messages 10000] [--runs 2] [--work-dir /dev/shm]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from ingest_corpus import corpus  # noqa: E402

from harness.dovecot import DovecotServer  # noqa: E402

MODES = ("as is", "no prepare-ahead")


def _child(out: str, mode: str, cli: list[str]) -> None:
    """In the fetch's process: record the pool's hand-outs and answers, then run the CLI."""
    from invoice_inbox.runtime import folder_deciding, pipelined, workers

    flow: list[tuple[float, int, int]] = []  # (time, worker, +1 handed a mail / -1 answered)
    steps: list[tuple[str, float, float]] = []
    send, answered = workers.WorkerPool._send, workers.WorkerPool._answered

    def sending(pool, w, batch, i):  # type: ignore[no-untyped-def]
        flow.append((time.monotonic(), id(w), 1))
        return send(pool, w, batch, i)

    def answering(pool, batch, w, *rest):  # type: ignore[no-untyped-def]
        flow.append((time.monotonic(), id(w), -1))
        return answered(pool, batch, w, *rest)

    def timed(name, fn):  # type: ignore[no-untyped-def]
        def run(*args, **kw):  # type: ignore[no-untyped-def]
            began = time.monotonic()
            try:
                return fn(*args, **kw)
            finally:
                if threading.current_thread() is threading.main_thread():
                    steps.append((name, began, time.monotonic()))

        return run

    workers.WorkerPool._send, workers.WorkerPool._answered = sending, answering  # type: ignore[method-assign]
    for name in ("_prepare", "_decide"):
        method = getattr(folder_deciding.FolderDeciding, name)
        setattr(folder_deciding.FolderDeciding, name, timed(name.strip("_"), method))
    if mode == MODES[1]:
        init = pipelined.Stages.__init__

        def without_ahead(self, *args, **kw):  # type: ignore[no-untyped-def]
            kw["prepare_ahead"] = None
            init(self, *args, **kw)

        pipelined.Stages.__init__ = without_ahead  # type: ignore[method-assign]
    sys.argv = ["invoice-inbox", *cli]
    try:
        runpy.run_module("invoice_inbox", run_name="__main__")
    finally:
        Path(out).write_text(json.dumps({"flow": flow, "steps": steps}))


def _analyse(record: dict[str, list[list[float]]]) -> tuple[dict[int, float], list[str]]:
    """Seconds with 2, 1 and 0 workers holding a mail; the longest spells of none, explained."""
    busy: collections.Counter[int] = collections.Counter()
    held: collections.Counter[int] = collections.Counter()
    spells: list[tuple[float, float]] = []
    last, idle_since = None, None
    for when, worker, change in record["flow"]:
        if last is not None:
            busy[sum(1 for n in held.values() if n > 0)] += when - last
        was = any(n > 0 for n in held.values())
        held[worker] += change
        now = any(n > 0 for n in held.values())
        if was and not now:
            idle_since = when
        if now and not was and idle_since is not None:
            spells.append((idle_since, when))
        last = when
    notes = []
    for a, b in sorted(spells, key=lambda s: s[0] - s[1])[:5]:
        inside = [
            f"{name} {max(s, a) - a:+.3f}..{min(e, b) - a:+.3f}"
            for name, s, e in record["steps"]
            if s < b and e > a
        ]
        notes.append(f"{(b - a) * 1000:5.1f} ms without a mail in any worker: {', '.join(inside)}")
    return dict(busy), notes


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--child"]:
        _child(args[1], args[2], args[4:])
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=2, help="runs of each mode, in turns")
    p.add_argument("--work-dir", default="/tmp", help="the server's and fetch's files")
    a = p.parse_args(args)
    maildir, _, _ = corpus(a.messages, 50)
    root = Path(tempfile.mkdtemp(prefix="worker-idle-", dir=a.work_dir))
    root.chmod(0o755)  # Dovecot's unprivileged processes traverse it
    plan = [(k, mode) for k in range(a.runs) for mode in MODES]
    users = {f"u{i}": f"u{i}pw" for i in range(len(plan))}
    srv = DovecotServer(root / "dovecot", users=users, pool_size=0)
    rates: dict[str, list[float]] = collections.defaultdict(list)
    try:
        srv.start()
        for i, (_, mode) in enumerate(plan):
            user = f"u{i}"
            srv.import_maildir(user, maildir)
            data = root / f"data-{user}"
            env = dict(os.environ, BENCH_PW=users[user])
            env.pop("INVOICE_INBOX_DATABASE_URL", None)
            base = [sys.executable, "-m", "invoice_inbox", "--data-dir", str(data)]
            subprocess.run(
                [*base, "source", "add", user, "--company", "Bench", "--host", "127.0.0.1",
                 "--port", str(srv.imap_port), "--security", "none", "--username", user,
                 "--password-env", "BENCH_PW", "--move-imported-to", "Imported"],
                env=env, check=True, capture_output=True,
            )  # fmt: skip
            out = str(root / f"{user}.json")
            began = time.monotonic()
            subprocess.run(
                [sys.executable, __file__, "--child", out, mode, "--",
                 "--data-dir", str(data), "fetch", user, "--json"],
                env=env, check=True, capture_output=True,
            )  # fmt: skip
            seconds = time.monotonic() - began
            busy, notes = _analyse(json.loads(Path(out).read_text()))
            rates[mode].append(a.messages / seconds)
            print(
                f"{mode:17} {a.messages / seconds:7,.0f} msg/s; workers holding a mail: "
                + ", ".join(f"{n} {busy.get(n, 0.0):.2f} s" for n in (2, 1, 0))
            )
            for note in notes:
                print(f"    {note}")
            shutil.rmtree(data, ignore_errors=True)
    finally:
        srv.stop()
        shutil.rmtree(root, ignore_errors=True)
    for mode in MODES:
        print(f"median {mode}: {statistics.median(rates[mode]):,.0f} msg/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
