"""The import address's sender checks: what SPF, DKIM and DMARC at DATA add to a mail.

Starts the SMTP receiver in this process (``InboundServer``, a deliver() that only counts, so
the store's cost is left out) and a DNS server on 127.0.0.1 (the tests' ``DnsServer``)
publishing supplier.test's SPF, DKIM key and DMARC, then sends the same invoice-sized mail N
times with smtplib from 127.0.0.2 (SPF pass), one receiver and one connection per case, the
cases taking turns mail by mail:

1. baseline: sender checks off (``check_senders=False``): the SMTP dialogue alone;
2. SPF + DMARC, the mail unsigned, DNS answers cached after the first mail;
3. SPF + DKIM (a 2048-bit RSA signature) + DMARC, DNS cached.

Prints the mean and median milliseconds per mail (MAIL to the DATA reply) for each, and what
2 and 3 add to 1. Run it from the repository root::

    .venv/bin/python benchmarks/smtp_auth.py [--mails 300] [--kb 200]
"""

from __future__ import annotations

import argparse
import smtplib
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from builders import Attachment, make_mail  # noqa: E402
from harness.dkim_keys import DkimKey  # noqa: E402
from harness.dns_server import DnsServer  # noqa: E402
from invoice_inbox.connectors.dns import forget_shared_resolvers  # noqa: E402
from invoice_inbox.connectors.smtp_arrival import Arrival  # noqa: E402
from invoice_inbox.connectors.smtp_inbound import InboundServer, InboundSettings  # noqa: E402

DOMAIN = "invoices.test"
SENDER = "billing@supplier.test"
RCPT = f"acme@{DOMAIN}"


def run(modes: list[tuple[InboundSettings, bytes]], n: int) -> list[list[float]]:
    """Milliseconds per mail for each (settings, mail): one receiver and one connection each,
    the modes taking turns mail by mail (so a busy moment of the machine hits them alike),
    after one warm-up mail each that fills the DNS cache."""
    got: list[Arrival] = []
    servers = [
        InboundServer(settings, lambda a: "acme", lambda k, m: got.append(m))
        for settings, _ in modes
    ]
    times: list[list[float]] = [[] for _ in modes]
    with ExitStack() as stack:
        clients = []
        for server in servers:
            server.start()
            stack.callback(server.stop)
            c = smtplib.SMTP("127.0.0.1", server.port, source_address=("127.0.0.2", 0), timeout=60)
            stack.enter_context(c)
            c.ehlo("mx.supplier.test")
            clients.append(c)
        for i in range(n + 1):
            for j, (c, (_, raw)) in enumerate(zip(clients, modes, strict=True)):
                start = time.perf_counter()
                c.sendmail(SENDER, [RCPT], raw)
                if i:
                    times[j].append((time.perf_counter() - start) * 1000)
    assert len(got) == (n + 1) * len(modes)
    return times


def line(label: str, times: list[float], base: list[float] | None) -> str:
    mean, median = statistics.fmean(times), statistics.median(times)
    text = f"{label:<42} mean {mean:7.2f} ms  median {median:7.2f} ms"
    if base is not None:
        added = mean - statistics.fmean(base), median - statistics.median(base)
        text += f"  ({added[0]:+.2f} ms mean, {added[1]:+.2f} ms median on the baseline)"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=300)
    parser.add_argument("--kb", type=int, default=200, help="size of the PDF attachment")
    args = parser.parse_args()
    raw = make_mail(
        from_=f"Billing <{SENDER}>",
        to=RCPT,
        subject="Invoice 4711",
        attachments=[Attachment("INV-4711.pdf", b"%PDF-1.4\n" + b"0" * (args.kb * 1024))],
    )
    key = DkimKey.generate("supplier.test", "s1", bits=2048)
    signed = key.sign(raw)
    with DnsServer() as dns:
        dns.add("supplier.test", "TXT", "v=spf1 ip4:127.0.0.2 -all")
        dns.add("_dmarc.supplier.test", "TXT", "v=DMARC1; p=reject")
        key.publish(dns)
        common = {"port": 0, "domain": DOMAIN, "mails_per_client": 1_000_000}
        off = InboundSettings(**common, check_senders=False)  # type: ignore[arg-type]
        on = InboundSettings(**common, dns_server=dns.address)  # type: ignore[arg-type]
        forget_shared_resolvers()
        base, unsigned, dkim = run([(off, raw), (on, raw), (on, signed)], args.mails)
        queries = dns.count()
    print(f"{args.mails} mails of {len(raw) // 1024} KB each per case, from 127.0.0.2, interleaved")
    print(line("1. baseline: sender checks off", base, None))
    print(line("2. SPF + DMARC (unsigned, DNS cached)", unsigned, base))
    print(line("3. SPF + DKIM 2048 + DMARC (DNS cached)", dkim, base))
    print(f"DNS queries in all: {queries} (the warm-up mails fill the cache)")


if __name__ == "__main__":
    main()
