"""What sender authentication adds to a run: one batch of N DKIM-signed invoice mails through the
sync's decide step (``runtime.batch_decide.decide_batch``: attempts recorded, deciding in the
limited workers), without and with the run's ``SenderCheck`` (authentication on its thread pool
while the workers decide, then the source's policy), in the same process and run.

A DNS server on 127.0.0.1 (the tests' ``DnsServer``) publishes supplier.test's DKIM key (2048-bit
RSA) and DMARC; the cases take turns, round after round, so a change in the machine's load hits
them alike:

1. ``baseline``: ``decide_batch`` without sender authentication (what a batch cost before);
2. ``cached``: with it, DNS answers cached (the resolver of a long-running service);
3. ``cold``: with it, a fresh resolver per batch (every key and DMARC record asked once).

The first round warms the workers and is left out. Prints the median milliseconds per batch and
per mail, and what authentication adds.

Then the CPU that sender authentication costs the fetch process for each mail (``--cpu``, the
stage's own measure; ``--cpu-only`` runs only this): batches of unsigned invoice mails from six
senders, as the ingest benchmark's (DNS: no DMARC record, answered at once and cached),
through ``SenderCheck.begin`` and ``Pending.apply`` with their decisions made beforehand; the
process's CPU time (every thread: the pool's too) per mail, the best of the rounds, for a
company that knows two of the senders (the others are compared for look-alikes) and for one
that knows them all (after the first batches of a run have taught them). Run it from the
repository root::

    .venv/bin/python benchmarks/sender_check_batch.py [--mails 100] [--rounds 6] [--kb 100]
        [--cpu-only] [--cpu-mails 2000]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from builders import Attachment, make_mail, make_sized_pdf  # noqa: E402
from harness.dkim_keys import DkimKey  # noqa: E402
from harness.dns_server import DnsServer  # noqa: E402
from invoice_inbox.connectors.dns import Resolver  # noqa: E402
from invoice_inbox.pipeline.decide import Decision, decide  # noqa: E402
from invoice_inbox.runtime import configure  # noqa: E402
from invoice_inbox.runtime.batch_decide import decide_batch  # noqa: E402
from invoice_inbox.runtime.context import App  # noqa: E402
from invoice_inbox.runtime.decider import Decider  # noqa: E402
from invoice_inbox.runtime.sender_check import Breaker, Mail, SenderCheck  # noqa: E402
from invoice_inbox.runtime.source_plan import SourcePlan  # noqa: E402
from invoice_inbox.store import sources  # noqa: E402

SENDERS = (
    '"Acme Office Supplies" <billing@acme-office.example>',
    '"Nordwind Logistik GmbH" <rechnung@nordwind-logistik.example>',
    '"Café Lumière SARL" <factures@cafe-lumiere.example>',
    '"Blue River Hosting" <invoices@blueriver-hosting.example>',
    '"Stadtwerke Beispielstadt" <kundenservice@stadtwerke-beispiel.example>',
    '"Papierfabrik Müller KG" <buchhaltung@papier-mueller.example>',
)


def fetch_cpu(args: argparse.Namespace) -> None:
    """Sender authentication's CPU per mail in the fetch process (see the module docstring)."""
    raws = [
        make_mail(
            from_=SENDERS[i % len(SENDERS)],
            subject=f"Invoice INV-{i:06d}",
            message_id=f"<INV-{i:06d}@bench.example>",
            attachments=[Attachment(f"INV-{i:06d}.pdf", make_sized_pdf(args.kb * 1024, seed=i))],
        )
        for i in range(args.cpu_mails)
    ]
    batch = args.mails
    with DnsServer() as dns, tempfile.TemporaryDirectory() as tmp:
        app = App.open(Path(tmp) / "data")
        print(f"\nfetch-process CPU of sender authentication, {len(raws)} unsigned mails")
        for known in (2, len(SENDERS)):
            allowed = [f"*@{s.rpartition('@')[2].rstrip('>')}" for s in SENDERS[:known]]
            name = f"ap{known}"
            with app.db.session() as s:
                configure.create(
                    app,
                    s,
                    {
                        "name": name,
                        "company": f"Company {known}",
                        "host": "imap.example",
                        "username": name,
                        "password": "pw",
                        "allowed_senders": allowed,
                    },
                )
            with app.db.session() as s:
                plan = SourcePlan.of(sources.get(s, name))
            decisions = [decide(raw, plan.policy) for raw in raws]
            check = SenderCheck(plan, lookup=Breaker(Resolver(dns.address).lookup))

            def run(check: SenderCheck, decisions: list[Decision]) -> None:
                for i in range(0, len(raws), batch):
                    mails = [Mail(k, raw) for k, raw in enumerate(raws[i : i + batch])]
                    check.begin(app.db, mails).apply(decisions[i : i + batch])

            run(check, decisions)  # the pool's threads, the DNS cache, the public suffix list
            took = []
            for _ in range(args.rounds):
                began = time.process_time()
                run(check, decisions)
                took.append(time.process_time() - began)
            check.close()
            per_mail = min(took) / len(raws) * 1000
            print(
                f"  company knows {known} of {len(SENDERS)} senders: {per_mail:.4f} ms CPU per mail"
                f" (best of {args.rounds}; median {statistics.median(took) / len(raws) * 1000:.4f})"
            )
        app.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mails", type=int, default=100, help="mails per batch (100)")
    p.add_argument("--rounds", type=int, default=6, help="rounds of the three cases (6)")
    p.add_argument("--kb", type=int, default=100, help="size of each PDF attachment (100)")
    p.add_argument("--cpu-only", action="store_true", help="only the fetch-process CPU part")
    p.add_argument("--cpu-mails", type=int, default=2000, help="mails of the CPU part (2000)")
    args = p.parse_args()
    if args.cpu_only:
        fetch_cpu(args)
        return
    key = DkimKey.generate("supplier.test", bits=2048)
    raws = [
        key.sign(
            make_mail(
                from_="billing@supplier.test",
                subject=f"Invoice {i}",
                attachments=[Attachment(f"{i}.pdf", make_sized_pdf(args.kb * 1024, seed=i))],
            )
        )
        for i in range(args.mails)
    ]
    fetched = [(i, raw, hashlib.sha256(raw).hexdigest()) for i, raw in enumerate(raws)]
    with DnsServer() as dns, tempfile.TemporaryDirectory() as tmp:
        key.publish(dns)
        dns.add("_dmarc.supplier.test", "TXT", "v=DMARC1; p=reject")
        app = App.open(Path(tmp) / "data")
        with app.db.session() as s:
            configure.create(
                app,
                s,
                {
                    "name": "ap",
                    "company": "ACME",
                    "host": "imap.example",
                    "username": "ap",
                    "password": "pw",
                },
            )
        with app.db.session() as s:
            plan = SourcePlan.of(sources.get(s, "ap"))
        decider = Decider(plan.policy)
        warm = Resolver(dns.address)

        def batch(case: str) -> float:
            senders = None
            if case == "cached":
                senders = SenderCheck(plan, lookup=Breaker(warm.lookup))
            elif case == "cold":
                senders = SenderCheck(plan, lookup=Breaker(Resolver(dns.address).lookup))
            began = time.perf_counter()
            items = decide_batch(
                app.db, plan, decider, fetched, deciding=lambda keys: None, senders=senders
            )
            took = time.perf_counter() - began
            if senders is not None:
                assert all(it.sender_auth and it.sender_auth.passed for it in items)
            return took * 1000

        cases = ("baseline", "cached", "cold")
        times: dict[str, list[float]] = {c: [] for c in cases}
        for round_ in range(args.rounds + 1):
            for case in cases:
                ms = batch(case)
                if round_:  # the first round starts the workers and fills the cache
                    times[case].append(ms)
        app.close()
    base = statistics.median(times["baseline"])
    print(f"{args.mails} DKIM-signed mails per batch, {args.kb} KB PDF each, {args.rounds} rounds")
    for case in cases:
        med = statistics.median(times[case])
        extra = (
            f"  (+{med - base:.0f} ms, +{(med - base) / base:.0%})" if case != "baseline" else ""
        )
        print(f"{case:>9}: {med:8.0f} ms per batch, {med / args.mails:6.2f} ms per mail{extra}")
    fetch_cpu(args)


if __name__ == "__main__":
    main()
