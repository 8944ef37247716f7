"""The DNS resolver (connectors.dns) against a real DNS server on 127.0.0.1: record forms, no such
name, timeouts and SERVFAIL as DnsTempError, the TTL cache, TCP fallback, the shared instances."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from harness.dns_server import DnsServer
from invoice_inbox.connectors.dns import Resolver, parse_server, resolver_for
from invoice_inbox.pipeline.trust.result import DnsTempError


def test_parse_server_forms() -> None:
    assert parse_server("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_server("127.0.0.1") == ("127.0.0.1", 53)
    assert parse_server("[::1]:5353") == ("::1", 5353)
    assert parse_server("::1") == ("::1", 53)


@pytest.mark.parametrize("text", ["dns.example:53", "127.0.0.1:0", "127.0.0.1:x", "[::1", ""])
def test_parse_server_refuses_with_one_sentence(text: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_server(text)
    message = str(err.value)
    assert message.endswith(".") and "\n" not in message


def test_records_in_text_form(dns_server: DnsServer) -> None:
    dns_server.set_zone(
        {
            "supplier.test": {
                "TXT": ["v=spf1 ip4:127.0.0.2 -all"],
                "MX": ["10 mx.supplier.test"],
                "A": ["127.0.0.2"],
                "AAAA": ["::1"],
            },
            "www.supplier.test": {"CNAME": ["supplier.test"]},
            "2.0.0.127.in-addr.arpa": {"PTR": ["mx.supplier.test"]},
        }
    )
    resolver = Resolver(dns_server.address)
    assert resolver.lookup("supplier.test", "TXT") == ["v=spf1 ip4:127.0.0.2 -all"]
    assert resolver.lookup("Supplier.Test.", "MX") == ["10 mx.supplier.test"]
    assert resolver.lookup("supplier.test", "A") == ["127.0.0.2"]
    assert resolver.lookup("supplier.test", "AAAA") == ["::1"]
    assert resolver.lookup("www.supplier.test", "A") == ["127.0.0.2"]  # through the CNAME
    assert resolver.lookup("www.supplier.test", "CNAME") == ["supplier.test"]
    assert resolver.lookup("2.0.0.127.in-addr.arpa", "PTR") == ["mx.supplier.test"]


def test_long_txt_strings_are_joined(dns_server: DnsServer) -> None:
    value = "v=DKIM1; k=rsa; p=" + "A" * 600
    dns_server.add("s1._domainkey.supplier.test", "TXT", value)
    assert Resolver(dns_server.address).lookup("s1._domainkey.supplier.test", "TXT") == [value]


def test_no_such_name_or_record_is_empty(dns_server: DnsServer) -> None:
    dns_server.add("supplier.test", "A", "127.0.0.2")
    resolver = Resolver(dns_server.address)
    assert resolver.lookup("nothing.test", "TXT") == []  # NXDOMAIN
    assert resolver.lookup("supplier.test", "TXT") == []  # the name exists, no TXT


def test_timeout_is_a_temporary_error(dns_server: DnsServer) -> None:
    dns_server.timeout_names.add("slow.test")
    resolver = Resolver(dns_server.address, timeout=0.3, lifetime=0.7)
    with pytest.raises(DnsTempError):
        resolver.lookup("slow.test", "TXT")
    dns_server.timeout_names.clear()
    dns_server.add("slow.test", "TXT", "now here")
    assert resolver.lookup("slow.test", "TXT") == ["now here"]  # a failure is not cached


def test_servfail_is_a_temporary_error(dns_server: DnsServer) -> None:
    dns_server.servfail_names.add("broken.test")
    with pytest.raises(DnsTempError, match="SERVFAIL"):
        Resolver(dns_server.address).lookup("broken.test", "TXT")


def test_unreachable_server_is_a_temporary_error() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nobody listens there now
    with pytest.raises(DnsTempError):
        Resolver(f"127.0.0.1:{port}", timeout=0.2, lifetime=0.5).lookup("supplier.test", "TXT")


def test_cache_answers_within_ttl(dns_server: DnsServer) -> None:
    dns_server.add("supplier.test", "TXT", "v=spf1 -all", ttl=300)
    resolver = Resolver(dns_server.address)
    for _ in range(3):
        assert resolver.lookup("supplier.test", "TXT") == ["v=spf1 -all"]
    assert dns_server.count("supplier.test", "TXT") == 1
    assert resolver.lookup("nothing.test", "TXT") == []
    assert resolver.lookup("nothing.test", "TXT") == []
    assert dns_server.count("nothing.test", "TXT") == 1  # "no such name" is cached too


def test_cache_expires_after_ttl(dns_server: DnsServer) -> None:
    dns_server.add("supplier.test", "TXT", "v=spf1 -all", ttl=1)
    resolver = Resolver(dns_server.address)
    resolver.lookup("supplier.test", "TXT")
    resolver.lookup("supplier.test", "TXT")
    assert dns_server.count("supplier.test", "TXT") == 1
    time.sleep(1.2)
    resolver.lookup("supplier.test", "TXT")
    assert dns_server.count("supplier.test", "TXT") == 2


def test_cache_is_bounded(dns_server: DnsServer) -> None:
    for n in range(3):
        dns_server.add(f"d{n}.test", "A", f"127.0.0.{n + 1}")
    resolver = Resolver(dns_server.address, max_entries=2)
    for n in range(3):
        resolver.lookup(f"d{n}.test", "A")
    resolver.lookup("d0.test", "A")  # the oldest went first: asked again
    assert dns_server.count("d0.test", "A") == 2
    resolver.lookup("d2.test", "A")
    assert dns_server.count("d2.test", "A") == 1


def test_truncated_answer_falls_back_to_tcp(dns_server: DnsServer) -> None:
    big = [f"v=spf1 ip4:127.0.{n}.0/24 " + "x" * 200 for n in range(10)]
    for value in big:
        dns_server.add("big.test", "TXT", value)
    answer = Resolver(dns_server.address).lookup("big.test", "TXT")
    assert sorted(answer) == sorted(big)
    assert dns_server.protocols() == {"udp": 1, "tcp": 1}


def test_truncate_over_forces_tcp_for_small_answers(dns_server: DnsServer) -> None:
    dns_server.truncate_over = 60
    dns_server.add("supplier.test", "TXT", "v=spf1 ip4:127.0.0.2 -all")
    assert Resolver(dns_server.address).lookup("supplier.test", "TXT") == [
        "v=spf1 ip4:127.0.0.2 -all"
    ]
    assert dns_server.protocols()["tcp"] == 1


def test_threads_share_the_cache(dns_server: DnsServer) -> None:
    dns_server.add("supplier.test", "TXT", "v=spf1 -all")
    resolver = Resolver(dns_server.address)
    resolver.lookup("supplier.test", "TXT")
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            for _ in range(20):
                assert resolver.lookup("supplier.test", "TXT") == ["v=spf1 -all"]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert dns_server.count("supplier.test", "TXT") == 1


def test_resolver_for_is_shared_and_reads_the_environment(
    dns_server: DnsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INVOICE_INBOX_DNS_SERVER", dns_server.address)
    shared = resolver_for(None)
    assert shared is resolver_for(None) is resolver_for(dns_server.address)
    assert shared.server == dns_server.address
    with pytest.raises(ValueError):
        resolver_for("not a server")
