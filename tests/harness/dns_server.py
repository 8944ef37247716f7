"""A real DNS server on 127.0.0.1 for the sender-authentication tests (dnslib, UDP and TCP on one
free port, each in a thread).

Usage::

    with DnsServer() as dns:                      # or the pytest fixture ``dns_server``
        dns.add("s1._domainkey.supplier.test", "TXT", "v=DKIM1; k=rsa; p=...", ttl=300)
        dns.set_zone({"supplier.test": {"TXT": ["v=spf1 ip4:127.0.0.2 -all"],
                                        "MX": ["10 mx.supplier.test"]}})
        dns.timeout_names.add("slow.test")        # never answered (the client times out)
        dns.servfail_names.add("broken.test")     # answered with SERVFAIL
        dns.truncate_over = 512                   # UDP answers longer than this are truncated
        dns.address                               # "127.0.0.1:PORT" (INVOICE_INBOX_DNS_SERVER)
        dns.count("supplier.test", "TXT")         # queries received for it so far
        dns.env()                                 # {"INVOICE_INBOX_DNS_SERVER": dns.address}

Records are text as in ``pipeline.trust.result.Lookup``: TXT a string (split into 255-byte
strings on the wire), MX "preference exchange", A/AAAA the address, CNAME/PTR/NS the target.
A name with some records but not the type asked answers NOERROR with no records; an unknown name
NXDOMAIN. A CNAME is followed inside the zone. Names match case-insensitively, a final dot or not.
Over UDP an answer longer than the client's EDNS size (512 without EDNS), or than
``truncate_over`` when set, is sent truncated (TC bit, no records), so clients retry over TCP.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from dnslib import AAAA, CNAME, MX, NS, PTR, QTYPE, RCODE, RR, TXT, A, DNSRecord

__all__ = ["DnsServer", "dns_server"]

_RDATA = {"A": A, "AAAA": AAAA, "CNAME": CNAME, "PTR": PTR, "NS": NS}


def _norm(name: str) -> str:
    return name.lower().rstrip(".")


def _rdata(rtype: str, value: str) -> Any:
    if rtype == "TXT":
        raw = value.encode()
        return TXT([raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""])
    if rtype == "MX":
        pref, _, exchange = value.partition(" ")
        return MX(exchange.strip(), int(pref))
    return _RDATA[rtype](value)


class DnsServer:
    """An authoritative stand-in for every test domain; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", default_ttl: int = 300) -> None:
        self.host = host
        self.default_ttl = default_ttl
        self.records: dict[str, list[tuple[str, str, int]]] = {}  # name -> (type, value, ttl)
        self.timeout_names: set[str] = set()
        self.servfail_names: set[str] = set()
        self.truncate_over: int | None = None
        self.queries: list[tuple[str, str, str]] = []  # (name, type, "udp" | "tcp")
        self._lock = threading.Lock()
        self._udp: socketserver.UDPServer | None = None
        self._tcp: socketserver.TCPServer | None = None
        self.port = 0

    # -- the zone ----------------------------------------------------------------------------

    def add(self, name: str, rtype: str, value: str, ttl: int | None = None) -> None:
        """Add one record (``ttl`` defaults to ``default_ttl``)."""
        rtype = rtype.upper()
        if rtype != "TXT" and rtype != "MX" and rtype not in _RDATA:
            raise ValueError(f"record type {rtype} is not served by the test DNS server")
        with self._lock:
            entry = (rtype, value, self.default_ttl if ttl is None else ttl)
            self.records.setdefault(_norm(name), []).append(entry)

    def remove(self, name: str, rtype: str | None = None) -> None:
        """Remove a name's records (of one type, or all)."""
        with self._lock:
            kept = [r for r in self.records.get(_norm(name), []) if rtype and r[0] != rtype.upper()]
            if kept:
                self.records[_norm(name)] = kept
            else:
                self.records.pop(_norm(name), None)

    def set_zone(self, zone: dict[str, dict[str, list[str] | str]], ttl: int | None = None) -> None:
        """Add records from ``{name: {type: value or [values]}}``."""
        for name, types in zone.items():
            for rtype, values in types.items():
                for value in [values] if isinstance(values, str) else values:
                    self.add(name, rtype, value, ttl)

    def clear(self) -> None:
        """Forget every record, special name and counted query."""
        with self._lock:
            self.records.clear()
            self.queries.clear()
        self.timeout_names.clear()
        self.servfail_names.clear()
        self.truncate_over = None

    def count(self, name: str | None = None, rtype: str | None = None) -> int:
        """How many queries arrived (for a name and/or type), UDP and TCP alike."""
        with self._lock:
            return sum(
                1
                for n, t, _ in self.queries
                if (name is None or n == _norm(name)) and (rtype is None or t == rtype.upper())
            )

    def protocols(self) -> Counter[str]:
        """Queries received per protocol ("udp", "tcp")."""
        with self._lock:
            return Counter(p for _, _, p in self.queries)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        return {"INVOICE_INBOX_DNS_SERVER": self.address}

    # -- answering ---------------------------------------------------------------------------

    def answer(self, data: bytes, protocol: str) -> bytes | None:
        """The reply to one query packet, or None to stay silent (a timeout name)."""
        try:
            request = DNSRecord.parse(data)
        except Exception:  # garbage in: no answer, like a real server
            return None
        qname = _norm(str(request.q.qname))
        qtype = QTYPE.get(request.q.qtype, str(request.q.qtype))
        with self._lock:
            self.queries.append((qname, qtype, protocol))
        if qname in self.timeout_names:
            return None
        reply = request.reply()
        if qname in self.servfail_names:
            reply.header.rcode = RCODE.SERVFAIL
            return reply.pack()
        name, seen = qname, 0
        with self._lock:
            while seen < 8:
                seen += 1
                rows = self.records.get(name)
                if rows is None:
                    if name == qname:
                        reply.header.rcode = RCODE.NXDOMAIN
                    break
                cname = [r for r in rows if r[0] == "CNAME"]
                if cname and qtype != "CNAME":
                    _, target, ttl = cname[0]
                    reply.add_answer(RR(name, QTYPE.CNAME, rdata=_rdata("CNAME", target), ttl=ttl))
                    name = _norm(target)
                    continue
                for rtype, value, ttl in rows:
                    if rtype == qtype or qtype == "ANY":
                        rr = RR(name, getattr(QTYPE, rtype), rdata=_rdata(rtype, value), ttl=ttl)
                        reply.add_answer(rr)
                break
        packed = reply.pack()
        if protocol == "udp":
            limit = self.truncate_over
            if limit is None:
                edns = [r for r in request.ar if r.rtype == QTYPE.OPT]
                limit = max(512, edns[0].rclass) if edns else 512
            if len(packed) > limit:
                reply.rr = []
                reply.header.tc = 1
                packed = reply.pack()
        return packed

    # -- running -----------------------------------------------------------------------------

    def start(self) -> DnsServer:
        dns = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                out = dns.answer(data, "udp")
                if out is not None:
                    sock.sendto(out, self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn: socket.socket = self.request
                conn.settimeout(5)
                while True:
                    head = _recv_exact(conn, 2)
                    if head is None:
                        return
                    body = _recv_exact(conn, struct.unpack("!H", head)[0])
                    if body is None:
                        return
                    out = dns.answer(body, "tcp")
                    if out is None:
                        return
                    conn.sendall(struct.pack("!H", len(out)) + out)

        for _ in range(20):
            udp = _ThreadingUDP((self.host, 0), Udp)
            port = udp.server_address[1]
            try:
                tcp = _ThreadingTCP((self.host, port), Tcp)
            except OSError:
                udp.server_close()
                continue
            self._udp, self._tcp, self.port = udp, tcp, port
            break
        else:
            raise RuntimeError("no free port for both UDP and TCP")
        for srv in (self._udp, self._tcp):
            threading.Thread(
                target=srv.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="test-dns",
                daemon=True,
            ).start()
        return self

    def stop(self) -> None:
        for srv in (self._udp, self._tcp):
            if srv is not None:
                srv.shutdown()
                srv.server_close()
        self._udp = self._tcp = None

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _ThreadingUDP(socketserver.ThreadingMixIn, socketserver.UDPServer):
    daemon_threads = True


class _ThreadingTCP(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = False


def _recv_exact(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        try:
            chunk = conn.recv(size - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    """A fresh DNS server for one test (its own port, so no resolver cache carries over)."""
    with DnsServer() as srv:
        yield srv
    try:
        from invoice_inbox.connectors.dns import forget_shared_resolvers
    except ImportError:
        return
    forget_shared_resolvers()
