"""What deciding in limited workers costs a run: N generated invoice mails decided by a fresh
``Decider`` per run, as the service's runs do, in one long-lived process.

The first run starts the workers (a child interpreter each, importing the pipeline); later
runs find them warm and pay only the round trips. ``--in-process`` decides in this process
instead, without limits, which is what runs of fewer than 32 mails did before every decision
went to a worker::

    .venv/bin/python benchmarks/decide_workers.py --mails 1
    .venv/bin/python benchmarks/decide_workers.py --mails 100 --runs 10
    .venv/bin/python benchmarks/decide_workers.py --mails 100 --in-process
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import local_dns

from builders import Attachment, make_mail, make_pdf
from invoice_inbox.pipeline.decide import Policy, decide
from invoice_inbox.runtime.decider import Decider


def main() -> None:
    local_dns.use_empty_dns()  # senders are authenticated: never the machine's DNS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mails", type=int, default=100, help="mails per run (100)")
    p.add_argument("--runs", type=int, default=8, help="runs (8)")
    p.add_argument("--in-process", action="store_true", help="no workers, no limits")
    args = p.parse_args()
    raws = [
        make_mail(subject=f"Invoice {i}", attachments=[Attachment(f"{i}.pdf", make_pdf(str(i)))])
        for i in range(args.mails)
    ]
    policy = Policy(allowed_senders=("*@supplier.example",))
    times = []
    for _ in range(args.runs):
        began = time.perf_counter()
        if args.in_process:
            [decide(raw, policy) for raw in raws]
        else:
            decider = Decider(policy)
            decider.decide_many(raws)
            decider.close()
        times.append(time.perf_counter() - began)
    how = "in this process" if args.in_process else "in workers"
    later = times[1:] or times
    print(
        f"{args.mails} mails per run, {how}: first run {times[0] * 1000:.0f} ms; "
        f"later runs median {statistics.median(later) * 1000:.1f} ms, "
        f"min {min(later) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
