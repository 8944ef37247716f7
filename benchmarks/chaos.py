"""Fault injection at full size: nothing lost, nothing twice, nothing unfiled (issue 15).

4 ``invoice-inbox worker`` processes on a private PostgreSQL, reading 20 Dovecot mailboxes of
50 invoice mails each (plus not-invoice mail and repeats) through a TCP proxy that resets
connections at random; a killer SIGKILLs a random worker every 0.5-2 s and restarts it, 100
times; PostgreSQL is restarted once mid-run and Dovecot once. Then the faults stop and the
script waits until every invoice is in the queue exactly once per company (by SHA-256), every
mail is filed, no ledger row is undisposed, no run is "running" and every ``document.created``
event reached the local webhook receiver; it prints those counts and the time to quiescence.

    .venv/bin/python benchmarks/chaos.py [--workers 4] [--mailboxes 20] [--invoices 50]
        [--kills 100] [--folder-blobs] [--json]

Needs root, ``dovecot-imapd``, ``postgresql`` and the s3 extras (as the tests do). The blobs go
to a bucket on a moto S3 server (``tests/harness/s3.py``; ``--folder-blobs``: the data dir's
folder instead). Everything runs on 127.0.0.1. The rig is
``tests/harness/chaos_rig.py``; the workers' short intervals are in ``chaos_worker.py``.
Exit status 1 when anything was lost, doubled or left unfiled, or quiescence never came.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from harness.chaos_rig import Outcome, Plan, run  # noqa: E402
from harness.dovecot import DovecotServer  # noqa: E402
from harness.postgres import PostgresServer  # noqa: E402


@contextlib.contextmanager
def _blob_env(folder: bool) -> Iterator[dict[str, str]]:
    """The workers' blob store: a bucket on a moto S3 server, or (*folder*) the data dir's."""
    if folder:
        yield {}
        return
    from harness.s3 import S3Server

    with S3Server() as s3:
        yield s3.env(s3.make_bucket(), "blobs")


def _print(outcome: Outcome, plan: Plan) -> None:
    r = outcome.report
    blobs = plan.blob_env.get("INVOICE_INBOX_BLOB_URL", "the data directory's folder")
    print()
    print(
        f"fault injection: {plan.workers} workers x {plan.concurrency}, {plan.mailboxes} "
        f"mailboxes x {plan.invoices} invoice mails (+{plan.extra} other, +1 repeat each), "
        f"PostgreSQL, blobs in {blobs}"
    )
    print(
        f"faults: {outcome.kills} SIGKILLs, {outcome.cuts} proxy cuts "
        f"({outcome.proxy_connections} proxied connections), PostgreSQL restarted "
        f"{int(plan.restart_postgres)}x, Dovecot {int(plan.restart_dovecot)}x, "
        f"{len(outcome.worker_exits)} workers ended on their own and were restarted"
    )
    print(f"chaos phase {outcome.chaos_seconds:.1f} s")
    q = outcome.quiescence
    print(f"time to quiescence after the last fault: {'never' if q is None else f'{q:.1f} s'}")
    print()
    for line in r.lines():
        print("  " + line)
    print()
    print("RESULT: " + ("0 lost, 0 duplicated, 0 unfiled" if outcome.ok else "FAILED"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--mailboxes", type=int, default=20)
    ap.add_argument("--invoices", type=int, default=50)
    ap.add_argument("--extra", type=int, default=10)
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--waves", type=int, default=4, help="the mail arrives in this many waves")
    ap.add_argument("--scheduled", action="store_true", help="no IDLE: sources on schedule only")
    ap.add_argument("--folder-blobs", action="store_true", help="no S3: blobs in the data dir")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    plan = Plan(
        workers=args.workers,
        concurrency=args.concurrency,
        mailboxes=args.mailboxes,
        invoices=args.invoices,
        extra=args.extra,
        kills=args.kills,
        waves=args.waves,
        instant=not args.scheduled,
    )
    work = Path(tempfile.mkdtemp(prefix="invoice-inbox-chaos-"))
    work.chmod(0o755)  # Dovecot's unprivileged processes must reach its folder
    say = (lambda text: None) if args.json else (lambda text: print(text, flush=True))
    try:
        with (
            PostgresServer.start(work / "pg") as pg,
            DovecotServer(work / "dovecot", {}, pool_size=plan.mailboxes + 2) as dovecot,
            _blob_env(args.folder_blobs) as plan.blob_env,
        ):
            outcome = run(plan, pg=pg, dovecot=dovecot, work_dir=work, say=say)
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(
            json.dumps(
                {
                    "report": outcome.report.as_dict(),
                    "quiescence_seconds": outcome.quiescence,
                    "chaos_seconds": outcome.chaos_seconds,
                    "kills": outcome.kills,
                    "cuts": outcome.cuts,
                    "worker_exits": outcome.worker_exits,
                    "events": outcome.events,
                    "ok": outcome.ok,
                },
                indent=2,
            )
        )
    else:
        _print(outcome, plan)
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
