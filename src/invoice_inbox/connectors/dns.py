"""The DNS resolver sender authentication uses (dnspython): UDP with TCP fallback when an answer
is truncated, timeouts, and a cache that honours TTLs, shared by the threads of a process.

``Resolver.lookup(name, rdtype)`` is a ``pipeline.trust.result.Lookup``: records in text form,
``[]`` when the name or the record does not exist (NXDOMAIN, no answer), ``DnsTempError`` when
DNS did not answer (timeout, SERVFAIL, REFUSED, nothing reachable). Which server is asked:
``INVOICE_INBOX_DNS_SERVER=HOST:PORT`` (also ``serve --dns-server``), else the system's
resolvers (``/etc/resolv.conf``). ``resolver_for(server)`` gives one instance per server, so a
process's runs share one cache.

Caching: an answer is kept for its smallest TTL (capped at ``MAX_TTL``); "no such record" for
the SOA's negative TTL when the server sent one, else ``NEGATIVE_TTL``; a temporary failure is
never cached. The cache holds at most ``max_entries`` answers (least recently used go first).
"""

from __future__ import annotations

import ipaddress
import os
import threading
import time
from collections import OrderedDict
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver
from dns.rdata import Rdata
from dns.rdtypes.mxbase import MXBase
from dns.rdtypes.nsbase import NSBase
from dns.rdtypes.txtbase import TXTBase

from invoice_inbox.pipeline.trust.result import DnsTempError

ENV_DNS_SERVER = "INVOICE_INBOX_DNS_SERVER"
RECORD_TYPES = frozenset({"TXT", "A", "AAAA", "MX", "PTR", "CNAME", "NS"})
MAX_TTL = 3600
NEGATIVE_TTL = 60
EDNS_PAYLOAD = 1232  # the DNS flag day 2020 size: larger answers come over TCP


def parse_server(text: str) -> tuple[str, int]:
    """``"HOST:PORT"``, ``"HOST"`` (port 53), ``"[::1]:5353"`` or ``"::1"`` -> (address, port).

    The host must be an IP address, as in resolv.conf: a name would need DNS to find DNS."""
    value = text.strip()
    host, port_text = value, ""
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"DNS server {text!r} is not HOST:PORT (an IPv6 address: [::1]:53).")
        port_text = rest[1:]
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        raise ValueError(
            f"DNS server {text!r} must be an IP address with an optional port,"
            " such as 127.0.0.1:5353 or [::1]:53."
        ) from None
    if not port_text:
        return address, 53
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"DNS server {text!r} has no valid port (1-65535).")
    return address, int(port_text)


class Resolver:
    """Ask one DNS server (or the system's) and cache the answers; see the module docstring."""

    def __init__(
        self,
        server: str | None = None,
        *,
        timeout: float = 2.0,
        lifetime: float = 5.0,
        max_entries: int = 10_000,
    ) -> None:
        self.server = server
        self.timeout = timeout
        self.lifetime = lifetime
        self.max_entries = max_entries
        self._servers: list[tuple[str, int]] | None = [parse_server(server)] if server else None
        self._cache: OrderedDict[tuple[str, str], tuple[float, list[str]]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"Resolver({self.server or 'system'})"

    def __call__(self, name: str, rdtype: str) -> list[str]:
        return self.lookup(name, rdtype)

    def lookup(self, name: str, rdtype: str) -> list[str]:
        """The records of one name and type in text form (see ``Lookup``)."""
        rdtype = rdtype.upper()
        if rdtype not in RECORD_TYPES:
            raise ValueError(f"record type {rdtype} is not looked up")
        key = (name.lower().rstrip("."), rdtype)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] > now:
                self._cache.move_to_end(key)
                self.hits += 1
                return list(cached[1])
            self.misses += 1
        records, ttl = self._resolve(key[0], rdtype)
        with self._lock:
            self._cache[key] = (time.monotonic() + ttl, records)
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return list(records)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    # -- the wire ----------------------------------------------------------------------------

    def _nameservers(self) -> list[tuple[str, int]]:
        if self._servers is None:
            try:
                system = dns.resolver.Resolver(configure=True)
                found = [(str(ns), system.port) for ns in system.nameservers]
            except Exception:  # no resolv.conf, an unreadable one: no server to ask
                found = []
            self._servers = found
        return self._servers

    def _resolve(self, name: str, rdtype: str) -> tuple[list[str], float]:
        """(records, how long to keep them) following CNAMEs; DnsTempError when unanswered."""
        try:
            qname = dns.name.from_text(name)
        except (dns.exception.DNSException, UnicodeError, ValueError):
            return [], NEGATIVE_TTL  # not a name DNS can hold: nothing there
        deadline = time.monotonic() + self.lifetime
        ttl: float = MAX_TTL
        for _ in range(8):  # CNAME hops
            response = self._ask(qname, rdtype, deadline)
            rcode = response.rcode()
            if rcode == dns.rcode.NXDOMAIN:
                return [], _negative_ttl(response)
            if rcode != dns.rcode.NOERROR:
                raise DnsTempError(
                    f"DNS answered {dns.rcode.to_text(rcode)} for {name} {rdtype}; try again later"
                )
            wanted = dns.rdatatype.from_text(rdtype)
            target = qname
            for _ in range(8):
                chain = response.get_rrset(
                    response.answer, target, dns.rdataclass.IN, dns.rdatatype.CNAME
                )
                if chain is None or rdtype == "CNAME":
                    break
                ttl = min(ttl, chain.ttl)
                target = chain[0].target
            rrset = response.get_rrset(response.answer, target, dns.rdataclass.IN, wanted)
            if rrset is not None:
                return [_text(rd, rdtype) for rd in rrset], min(ttl, rrset.ttl)
            if target == qname:
                return [], _negative_ttl(response)
            qname = target  # the server did not chase the CNAME: ask for its target
        return [], NEGATIVE_TTL

    def _ask(self, qname: dns.name.Name, rdtype: str, deadline: float) -> dns.message.Message:
        servers = self._nameservers()
        where = self.server or "the system's DNS servers"
        if not servers:
            raise DnsTempError(f"no DNS server is configured (looked for {where})")
        query = dns.message.make_query(qname, rdtype, use_edns=0, payload=EDNS_PAYLOAD)
        attempt = 0
        while True:
            host, port = servers[attempt % len(servers)]
            left = deadline - time.monotonic()
            if left <= 0:
                raise DnsTempError(
                    f"DNS ({where}) did not answer for {qname.to_text(True)} {rdtype} in time"
                )
            try:
                response, _ = dns.query.udp_with_fallback(
                    query, host, timeout=min(self.timeout, left), port=port
                )
                return response
            except (OSError, EOFError, dns.exception.DNSException):
                attempt += 1  # next server, or the same again until the lifetime is over


def _negative_ttl(response: dns.message.Message) -> float:
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            return float(min(rrset.ttl, rrset[0].minimum, MAX_TTL))
    return NEGATIVE_TTL


def _text(rdata: Rdata, rdtype: str) -> str:
    # dnspython types an answer's records as Rdata; *rdtype* says which subclass they are
    if rdtype == "TXT":
        return b"".join(cast(TXTBase, rdata).strings).decode("utf-8", "replace")
    if rdtype == "MX":
        mx = cast(MXBase, rdata)
        return f"{mx.preference} {mx.exchange.to_text(omit_final_dot=True)}"
    if rdtype in ("PTR", "CNAME", "NS"):
        return cast(NSBase, rdata).target.to_text(omit_final_dot=True)
    return rdata.to_text()


_shared: dict[str, Resolver] = {}
_shared_lock = threading.Lock()


def resolver_for(server: str | None = None) -> Resolver:
    """The process's one resolver for ``server`` (None: ``INVOICE_INBOX_DNS_SERVER`` when set,
    else the system's). Raises ValueError for a server that is not HOST:PORT."""
    if server is None:
        server = os.environ.get(ENV_DNS_SERVER, "").strip() or None
    key = server or ""
    with _shared_lock:
        found = _shared.get(key)
        if found is None:
            found = _shared[key] = Resolver(server)
        return found


def forget_shared_resolvers() -> None:
    """Drop the shared resolvers and their caches (tests that start a new DNS server)."""
    with _shared_lock:
        _shared.clear()
