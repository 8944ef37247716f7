"""Test mail for sender authentication: a plain invoice mail, a resolver on the test DNS server,
and a zone for supplier.test (DKIM key s1, SPF for 127.0.0.2, DMARC as asked)."""

from __future__ import annotations

from harness.dkim_keys import DkimKey
from harness.dns_server import DnsServer
from invoice_inbox.connectors.dns import Resolver


def mail(
    from_addr: str = "billing@supplier.test",
    *,
    body: str = "Hello,\r\nplease find invoice 2026-17 attached.\r\n",
    message_id: str = "<inv-17@supplier.test>",
    extra: str = "",
) -> bytes:
    head = (
        f"{extra}From: Supplier Billing <{from_addr}>\r\n"
        "To: ap@buyer.test\r\n"
        "Subject: Invoice 2026-17\r\n"
        f"Message-ID: {message_id}\r\n"
        "Date: Sat, 05 Dec 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
    )
    return (head + "\r\n" + body).encode()


def resolver(dns: DnsServer) -> Resolver:
    return Resolver(dns.address, timeout=0.3, lifetime=0.8)


def supplier_zone(dns: DnsServer, *, dmarc: str | None = "v=DMARC1; p=reject") -> DkimKey:
    """Publish supplier.test's DKIM key (s1), SPF (127.0.0.2, -all) and DMARC record."""
    key = DkimKey.generate("supplier.test", "s1")
    key.publish(dns)
    dns.add("supplier.test", "TXT", "v=spf1 ip4:127.0.0.2 -all")
    if dmarc:
        dns.add("_dmarc.supplier.test", "TXT", dmarc)
    return key
