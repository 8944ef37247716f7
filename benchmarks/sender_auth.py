"""Sender authentication per mail (``pipeline.trust.authenticate``) with DNS cached, next to the
decide time of the same mails, measured in the same run.

A DNS server on 127.0.0.1 (the tests' ``DnsServer``) publishes supplier.test's DKIM key (2048-bit
RSA), SPF and DMARC; one ``connectors.dns.Resolver`` asks it and keeps the answers (the first
mail of each case fills the cache; its time is left out). The mail is an invoice with a PDF
attachment of ``--kb`` kilobytes. Cases, each timed over ``--mails`` runs:

1. ``decide(raw)`` (the baseline: what every fetched mail costs already);
2. a mailbox source's mail, DKIM-signed: DKIM + DMARC, no provider header;
3. a forward whose signature broke on the way, ARC-sealed by a trusted server whose
   ARC-Authentication-Results says DKIM pass: DKIM (fails) + ARC + DMARC (ARC is only checked
   when nothing else proves the sender, so this is the dearest path);
4. the import address: SPF (from 127.0.0.2) + DKIM + DMARC with the envelope;
5. an unsigned mail (DMARC lookup only, the cheapest path).

Prints the mean and median milliseconds per mail and each case as a share of decide.
Run it from the repository root::

    .venv/bin/python benchmarks/sender_auth.py [--mails 200] [--kb 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from builders import Attachment, make_mail, make_pdf  # noqa: E402
from harness.dkim_keys import DkimKey  # noqa: E402
from harness.dns_server import DnsServer  # noqa: E402
from invoice_inbox.connectors.dns import Resolver  # noqa: E402
from invoice_inbox.pipeline.decide import decide  # noqa: E402
from invoice_inbox.pipeline.trust.authenticate import authenticate  # noqa: E402
from invoice_inbox.pipeline.trust.result import AuthStatus, Envelope  # noqa: E402

GMAIL_AR = (
    b"Authentication-Results: mx.google.com;\r\n"
    b"       dkim=pass header.i=@supplier.test header.s=s1;\r\n"
    b"       spf=pass smtp.mailfrom=billing@supplier.test;\r\n"
    b"       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=supplier.test\r\n"
)

PROVIDER_FAIL = (
    b"Authentication-Results: mx.google.com; dkim=fail header.i=@supplier.test;"
    b" arc=pass (i=1); dmarc=fail (p=REJECT) header.from=supplier.test\r\n"
)


def timed_ms(cases: list[tuple[str, Callable[[], object]]], runs: int) -> dict[str, list[float]]:
    """Milliseconds per run of each case. The cases take turns, round after round, so a change
    in the machine's load (its cores are shared) falls on all of them alike."""
    times: dict[str, list[float]] = {label: [] for label, _ in cases}
    for _ in range(runs):
        for label, fn in cases:
            start = time.perf_counter()
            fn()
            times[label].append((time.perf_counter() - start) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=200)
    parser.add_argument("--kb", type=int, default=200, help="size of the PDF attachment")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    pdf = make_pdf("Invoice 4711\nTotal 1,190.00 EUR")
    pdf += b"\n%" + b"0" * max(0, args.kb * 1024 - len(pdf)) + b"\n"
    raw = make_mail(
        from_="Billing <billing@supplier.test>",
        to="ap@buyer.test",
        subject="Invoice 4711",
        attachments=[Attachment("INV-4711.pdf", pdf)],
    )
    key = DkimKey.generate("supplier.test", "s1", bits=2048)
    sealer = DkimKey.generate("forwarder.test", "arc", bits=2048)
    signed = key.sign(raw)
    # a forwarder checks the mail, adds a footer (the supplier's signature breaks) and seals it
    # with ARC; the mailbox provider then finds DKIM and DMARC failing
    footer = GMAIL_AR.replace(b"mx.google.com", b"mx.forwarder.test") + signed + b"-- \r\nlist\r\n"
    forwarded = PROVIDER_FAIL + sealer.arc_seal(footer, "mx.forwarder.test")
    envelope = Envelope("127.0.0.2", "mx.supplier.test", "billing@supplier.test")
    results: dict[str, Any] = {"mails": args.mails, "mail_kb": len(raw) // 1024, "cases": {}}

    with DnsServer() as dns:
        key.publish(dns)
        sealer.publish(dns)
        dns.add("supplier.test", "TXT", "v=spf1 ip4:127.0.0.2 -all")
        dns.add("_dmarc.supplier.test", "TXT", "v=DMARC1; p=reject")
        lookup = Resolver(dns.address)

        def auth(mail: bytes, **kw: Any) -> Callable[[], object]:
            def run() -> object:
                found = authenticate(mail, lookup=lookup, **kw)
                assert found.status is (AuthStatus.PASS if mail is not raw else AuthStatus.FAIL)
                return found

            return run

        cases: list[tuple[str, Callable[[], object]]] = [
            ("1. decide (baseline)", lambda: decide(signed)),
            ("2. mailbox: DKIM + DMARC", auth(signed)),
            (
                "3. ARC forward: DKIM (broken) + ARC + DMARC",
                auth(forwarded, trusted_authserv_ids=("mx.google.com", "mx.forwarder.test")),
            ),
            ("4. import address: SPF + DKIM + DMARC", auth(signed, envelope=envelope)),
            ("5. unsigned: DMARC lookup only", auth(raw)),
        ]
        for _, fn in cases:  # warm-up: fills the DNS cache and Python's own caches
            fn()
        before = dns.count()
        timed = timed_ms(cases, args.mails)
        results["dns_queries_after_warmup"] = dns.count() - before
        for label, times in timed.items():
            results["cases"][label] = {
                "mean_ms": round(statistics.fmean(times), 3),
                "median_ms": round(statistics.median(times), 3),
            }

    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    base = results["cases"]["1. decide (baseline)"]["mean_ms"]
    print(f"{args.mails} runs per case, mail {results['mail_kb']} KB (PDF attachment), DNS cached")
    for label, r in results["cases"].items():
        share = "" if label.startswith("1.") else f"  = {r['mean_ms'] / base:6.1%} of decide"
        print(f"{label:<46} mean {r['mean_ms']:8.3f} ms  median {r['median_ms']:8.3f} ms{share}")
    print(f"DNS queries after the warm-up: {results['dns_queries_after_warmup']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
