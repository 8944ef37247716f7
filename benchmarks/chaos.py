"""Fault injection at full size: nothing lost, nothing twice, nothing unfiled (issue 15).

4 ``invoice-inbox worker`` processes on a private PostgreSQL, reading 20 Dovecot mailboxes of
50 invoice mails each (plus not-invoice mail and repeats) through a TCP proxy that resets
connections at random; a killer SIGKILLs a random worker every 0.5-2 s and restarts it, 100
times; PostgreSQL is restarted once mid-run and Dovecot once. Then the faults stop and the
script waits until every invoice is in the queue exactly once per company (by SHA-256), every
mail is filed, no ledger row is undisposed, no run is "running" and every ``document.created``
event reached the local webhook receiver; it prints those counts and the time to quiescence.
The mail arrives in waves while the faults go on. The baseline, run first, is the same mail at
the same times with no kill, restart or cut: its time to quiescence is what the system needs
anyway to catch up with the last wave.

    .venv/bin/python benchmarks/chaos.py [--workers 4] [--mailboxes 20] [--invoices 50]
        [--kills 100] [--folder-blobs] [--no-baseline] [--json]

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
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import local_dns  # noqa: E402

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


def _print(base: Outcome | None, chaos: Outcome, plan: Plan) -> None:
    blobs = plan.blob_env.get("INVOICE_INBOX_BLOB_URL", "the data directory's folder")
    print()
    print(
        f"fault injection: {plan.workers} workers x {plan.concurrency}, {plan.mailboxes} "
        f"mailboxes x {plan.invoices} invoice mails (+{plan.extra} other, +1 repeat each) "
        f"arriving in {plan.waves} waves, PostgreSQL, blobs in {blobs}"
    )
    runs = [("baseline (no faults)", base), ("fault injection", chaos)]
    runs = [(name, o) for name, o in runs if o is not None]

    def row(label: str, values: list[object]) -> None:
        print(f"  {label:26}" + "".join(f"{v!s:>22}" for v in values))

    def seconds(v: float | None) -> str:
        return "never" if v is None else f"{v:.1f} s"

    row("", [name for name, _ in runs])
    row("SIGKILLs", [o.kills for _, o in runs])
    row("proxy cuts", [o.cuts for _, o in runs])
    row("proxied connections", [o.proxy_connections for _, o in runs])
    restarts = f"{int(plan.restart_postgres)} + {int(plan.restart_dovecot)}"
    row("PostgreSQL + Dovecot restarts", ["0 + 0", restarts][-len(runs) :])
    row("workers that ended alone", [len(o.worker_exits) for _, o in runs])
    row("mail arriving phase", [seconds(o.chaos_seconds) for _, o in runs])
    row("time to quiescence", [seconds(o.quiescence) for _, o in runs])
    print()
    reports = [o.report.as_dict() for _, o in runs]
    for key in reports[-1]:
        if key not in ("wrong", "ok"):
            row(key, [r[key] for r in reports])
    for name, o in runs:
        for problem in o.report.wrong:
            print(f"  {name}: {problem}")
    print()
    ok = all(o.ok for _, o in runs)
    print("RESULT: " + ("0 lost, 0 duplicated, 0 unfiled" if ok else "FAILED"))


def _as_json(outcome: Outcome) -> dict[str, Any]:
    return {
        "report": outcome.report.as_dict(),
        "quiescence_seconds": outcome.quiescence,
        "arriving_seconds": outcome.chaos_seconds,
        "kills": outcome.kills,
        "cuts": outcome.cuts,
        "worker_exits": outcome.worker_exits,
        "events": outcome.events,
        "ok": outcome.ok,
    }


def main() -> int:
    local_dns.use_empty_dns()  # senders are authenticated: never the machine's DNS
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
    ap.add_argument("--no-baseline", action="store_true", help="skip the run without faults")
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
    base: Outcome | None = None
    try:
        with (
            PostgresServer.start(work / "pg") as pg,
            DovecotServer(work / "dovecot", {}, pool_size=2 * plan.mailboxes + 2) as dovecot,
            _blob_env(args.folder_blobs) as plan.blob_env,
        ):
            if not args.no_baseline:
                say("-- baseline: the same mail at the same times, no faults")
                base_plan = replace(plan, faults=False)
                base = run(base_plan, pg=pg, dovecot=dovecot, work_dir=work / "base", say=say)
            say("-- fault injection")
            chaos = run(plan, pg=pg, dovecot=dovecot, work_dir=work / "chaos", say=say)
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        both = {"fault_injection": _as_json(chaos)}
        if base is not None:
            both["baseline"] = _as_json(base)
        print(json.dumps(both, indent=2))
    else:
        _print(base, chaos, plan)
    return 0 if chaos.ok and (base is None or base.ok) else 1


if __name__ == "__main__":
    sys.exit(main())
