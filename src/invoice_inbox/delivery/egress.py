"""Outgoing HTTP POSTs to URLs that people typed (webhooks): to public addresses only.

A URL's host is resolved once per connection, every address it resolves to is checked, and the
connection is made to a checked address. So a name that resolves to a public address when it is
checked and to 127.0.0.1 a moment later (DNS rebinding) cannot reach the inside. Refused are
loopback, private, link-local (169.254.0.0/16: the cloud metadata service), unique-local
(fc00::/7), multicast, unspecified, reserved and other non-public ranges (``ipaddress``), also
inside IPv4-mapped, 6to4, Teredo and NAT64 IPv6 addresses. An operator allows them with
``serve --allow-private-webhooks`` or ``INVOICE_INBOX_ALLOW_PRIVATE_WEBHOOKS=1``.

The TLS certificate is checked against the URL's host name (SNI too), as without this module.
Redirects are not followed, no proxy from the environment is used, and an answer is never read
beyond its status line and headers: what the receiver says is not kept anywhere.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from invoice_inbox.i18n import N_, gettext

ENV_ALLOW = "INVOICE_INBOX_ALLOW_PRIVATE_WEBHOOKS"
MAX_ADDRESSES = 3  # of a name's addresses, how many are tried to connect
IP = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_operator_allows = False


def allow_private(allowed: bool = True) -> None:
    """The operator's word for this process (``--allow-private-webhooks``)."""
    global _operator_allows
    _operator_allows = allowed


def private_allowed() -> bool:
    """Whether private addresses may be sent to: the operator said so (option or environment)."""
    env = os.environ.get(ENV_ALLOW, "").strip().lower()
    return _operator_allows or env in {"1", "true", "yes", "on"}


class Unsent(Exception):
    """A POST that got no HTTP answer; ``str()`` is a short reason, without the URL."""


class Refused(Unsent):
    """No connection was made: the address is not a public one."""


def kind_of(ip: IP) -> str | None:
    """Why *ip* is not a public address ("loopback", "private", ...), or None if it is one."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return kind_of(ip.ipv4_mapped)
        embedded = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and (inner := kind_of(embedded)) is not None:
            return inner
        if ip in _UNIQUE_LOCAL:
            return "unique-local"
        if ip.is_site_local:
            return "site-local"
    for kind, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("non-public", not ip.is_global),
    ):
        if flag:
            return kind
    return None


def addresses(host: str, port: int) -> list[IP]:
    """What *host* resolves to (an address literal, in any form ``inet_aton`` takes, too);
    raises OSError when it cannot be resolved."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # a stream socket's address is (host, port[, flow, scope]); typeshed also allows raw ones
    hosts = (str(info[4][0]) for info in found)
    return list(dict.fromkeys(ipaddress.ip_address(host.split("%")[0]) for host in hosts))


# the kinds of address ``kind_of`` names, as words of the reader's language
KIND_WORDS = {
    "unique-local": N_("unique-local"),
    "site-local": N_("site-local"),
    "unspecified": N_("unspecified"),
    "loopback": N_("loopback"),
    "link-local": N_("link-local"),
    "multicast": N_("multicast"),
    "private": N_("private"),
    "reserved": N_("reserved"),
    "non-public": N_("non-public"),
}


def refusal(host: str, found: Iterable[IP]) -> str | None:
    """A sentence naming the first of *found* that is not public, or None if all are (in the
    current locale: a reader saving a webhook reads it)."""
    try:
        literal: IP | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    for ip in found:
        kind = kind_of(ip)
        if kind is not None:
            words = {"host": host, "ip": str(ip), "kind": gettext(KIND_WORDS.get(kind, kind))}
            if ip == literal:
                return gettext("%(ip)s is a %(kind)s address") % words
            return gettext("%(host)s resolves to %(ip)s, which is a %(kind)s address") % words
    return None


def check_url_host(url: str) -> str | None:
    """When a URL is saved: a sentence if its host is (or resolves to) a non-public address and
    the operator did not allow those; None otherwise. A host that cannot be resolved now passes:
    each delivery checks again."""
    if private_allowed():
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        found = addresses(host, parts.port or (443 if parts.scheme == "https" else 80))
    except (OSError, ValueError, UnicodeError):
        return None
    return refusal(host, found)


class _CheckedBackend(httpcore.SyncBackend):
    """Resolve, check every address, connect to a checked one (the name is not looked up
    again); TLS then runs over that connection with the URL's host name."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,  # httpcore's signature
    ) -> httpcore.NetworkStream:
        try:
            found = addresses(host, port)
        except (OSError, ValueError, UnicodeError) as exc:
            raise Unsent(f"the host {host} cannot be found") from exc
        why = None if self.allow_private else refusal(host, found)
        if why is not None:
            raise Refused(f"refused: {why}")
        failed: Exception = Unsent(f"the host {host} has no address")
        for ip in found[:MAX_ADDRESSES]:
            try:
                return super().connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failed = exc
        raise failed


def reason(exc: BaseException) -> str:
    """A short reason for a failed POST, in plain words, never with the URL or the answer."""
    if isinstance(exc, Unsent):
        return str(exc)
    causes: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(causes) < 10:
        causes.append(seen)
        seen = seen.__cause__ or seen.__context__
    if any(isinstance(c, ssl.SSLCertVerificationError) for c in causes):
        return "TLS: the receiver's certificate is not trusted"
    if any(isinstance(c, ssl.SSLError) for c in causes):
        return "TLS handshake failed"
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection refused"
    names = {type(c).__name__ for c in causes}
    if "ConnectTimeout" in names:
        return "connection timed out"
    if names & {"ReadTimeout", "WriteTimeout", "PoolTimeout"}:
        return "no answer in time"
    if names & {"RemoteProtocolError", "LocalProtocolError"}:
        return "the receiver did not answer in HTTP"
    if names & {"ConnectError"}:
        return "cannot connect"
    return "the connection failed"


class Poster:
    """POSTs over connections checked as above; ``post`` returns the HTTP status or raises
    ``Unsent`` with a short reason. One per delivery round; ``close`` it (or use ``with``)."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        allow_private: bool | None = None,
        ssl_context: ssl.SSLContext | None = None,  # None: the usual trusted CAs
    ) -> None:
        allowed = private_allowed() if allow_private is None else allow_private
        self.timeout = timeout
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            network_backend=_CheckedBackend(allowed),
            max_keepalive_connections=0,  # an answer's body is never read: no reuse
            retries=0,
        )

    def __enter__(self) -> Poster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.close()

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        try:
            built = httpx.Request("POST", url, content=body, headers=headers)
        except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
            raise Unsent("the URL is not valid") from exc
        u = built.url
        if u.scheme not in ("http", "https") or not u.host:
            raise Unsent("the URL is not valid")
        t = self.timeout
        request = httpcore.Request(
            "POST",
            httpcore.URL(scheme=u.raw_scheme, host=u.raw_host, port=u.port, target=u.raw_path),
            headers=built.headers.raw,
            content=body,
            extensions={"timeout": {"connect": t, "read": t, "write": t, "pool": t}},
        )
        try:
            answer = self._pool.handle_request(request)
        except Exception as exc:
            raise Unsent(reason(exc)) from exc
        answer.close()  # the body stays unread
        return answer.status
