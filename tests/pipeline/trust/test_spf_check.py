"""SPF (pipeline.trust.spf_check) from several client addresses on 127.0.0.0/8 against records on
the test DNS server; pyspf's lookups go through the Lookup given and nowhere else."""

from __future__ import annotations

import pytest
import spf
from trust_mail import resolver

from harness.dns_server import DnsServer
from invoice_inbox.pipeline.trust import spf_check
from invoice_inbox.pipeline.trust.result import Envelope


@pytest.fixture
def zone(dns_server: DnsServer) -> DnsServer:
    dns_server.set_zone(
        {
            "supplier.test": {"TXT": ["v=spf1 ip4:127.0.0.2 mx include:esp.test -all"]},
            "mx.supplier.test": {"A": ["127.0.0.4"]},
            "esp.test": {"TXT": ["v=spf1 ip4:127.0.0.5/32 -all"]},
            "soft.test": {"TXT": ["v=spf1 ip4:127.0.0.2 ~all"]},
            "neutral.test": {"TXT": ["v=spf1 ?all"]},
            "broken.test": {"TXT": ["v=spf1 ip4:127.0.0.999 -all"]},
            "twice.test": {"TXT": ["v=spf1 -all", "v=spf1 +all"]},
            "helo.supplier.test": {"TXT": ["v=spf1 a -all"], "A": ["127.0.0.6"]},
            "nospf.test": {"A": ["127.0.0.7"]},
        }
    )
    dns_server.add("supplier.test", "MX", "10 mx.supplier.test")
    dns_server.timeout_names.add("slow.test")
    return dns_server


@pytest.mark.parametrize(
    ("client", "mail_from", "expected"),
    [
        ("127.0.0.2", "billing@supplier.test", "pass"),  # ip4
        ("127.0.0.4", "billing@supplier.test", "pass"),  # mx
        ("127.0.0.5", "billing@supplier.test", "pass"),  # include
        ("127.0.0.9", "billing@supplier.test", "fail"),
        ("127.0.0.9", "billing@soft.test", "softfail"),
        ("127.0.0.2", "billing@soft.test", "pass"),
        ("127.0.0.9", "billing@neutral.test", "neutral"),
        ("127.0.0.9", "billing@nospf.test", "none"),
        ("127.0.0.9", "billing@nowhere.test", "none"),
        ("127.0.0.9", "billing@broken.test", "permerror"),
        ("127.0.0.9", "billing@twice.test", "permerror"),
        ("127.0.0.9", "billing@slow.test", "temperror"),
    ],
)
def test_results(zone: DnsServer, client: str, mail_from: str, expected: str) -> None:
    found = spf_check.check_spf(Envelope(client, "mx.sender.test", mail_from), resolver(zone))
    assert found["result"] == expected, found
    assert found["domain"] == mail_from.split("@")[1]
    assert found["identity"] == "mailfrom"


def test_bounce_is_checked_for_the_helo_name(zone: DnsServer) -> None:
    lookup = resolver(zone)
    ok = spf_check.check_spf(Envelope("127.0.0.6", "helo.supplier.test", ""), lookup)
    assert (ok["result"], ok["domain"], ok["identity"]) == ("pass", "helo.supplier.test", "helo")
    bad = spf_check.check_spf(Envelope("127.0.0.3", "helo.supplier.test", ""), lookup)
    assert bad["result"] == "fail"


def test_odd_envelopes_are_none_not_errors(zone: DnsServer) -> None:
    lookup = resolver(zone)
    assert (
        spf_check.check_spf(Envelope("not-an-ip", "x", "a@supplier.test"), lookup)["result"]
        == "none"
    )
    assert spf_check.check_spf(Envelope("127.0.0.2", "", ""), lookup)["result"] == "none"


def test_lookups_use_the_given_resolver_only_during_the_check(zone: DnsServer) -> None:
    spf_check.check_spf(Envelope("127.0.0.2", "h", "billing@supplier.test"), resolver(zone))
    assert zone.count("supplier.test", "TXT") == 1
    assert spf.DNSLookup is spf_check._dispatch  # set once, at import
    assert spf_check._current.get() is None  # and no Lookup left behind
