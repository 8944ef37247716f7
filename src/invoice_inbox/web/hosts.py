"""Trusted host names: a request whose ``Host`` header this service does not answer for gets 400.

A web page on an attacker's domain can make that name resolve to 127.0.0.1 (DNS rebinding)
and so talk to a service bound to loopback as if it were its own site; the ``Host`` header
still carries the attacker's name. So only these are answered:

- the ``--host`` address itself; when it is loopback, also ``localhost``, ``127.0.0.1`` and
  ``::1``; when it is every address (``0.0.0.0``, ``::``), any IP address and ``localhost``
  (a rebinding page always sends a name, never an address);
- the host of ``--public-url`` and every ``--allowed-host`` (``*.example.com`` allows the
  sub-domains), which a reverse proxy passes on.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD = frozenset({"", "0.0.0.0", "::"})


class InvalidHost(ValueError):
    """An ``--allowed-host`` or ``--public-url`` that names no host, in one sentence."""


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def host_of(header: str) -> str | None:
    """The host name of a ``Host`` header, lower case, without port and final dot; None if
    it is not one."""
    header = header.strip().lower()
    if header.startswith("["):  # [v6]:port
        end = header.find("]")
        if end < 0 or (header[end + 1 :] and not header[end + 1 :].startswith(":")):
            return None
        name = header[1:end]
        return name if _ip(name) else None
    name, _, port = header.partition(":")
    if port and not port.isdigit():
        return None
    name = name.rstrip(".")
    if not name or any(c in name for c in "/@ \\?#%"):
        return None
    return name


class HostPolicy:
    """Which ``Host`` headers are answered (see the module's docstring)."""

    def __init__(
        self, bind_host: str, public_urls: Iterable[str] = (), allowed: Iterable[str] = ()
    ):
        bind = bind_host.strip("[]").lower()
        self.any_ip = bind in WILDCARD
        ip = _ip(bind)
        names = {bind} if bind not in WILDCARD else set()
        if self.any_ip or bind == "localhost" or (ip is not None and ip.is_loopback):
            names |= LOCAL_NAMES
        self.suffixes: set[str] = set()
        self.public_url: str | None = None  # the first --public-url: where users open the app
        for url in public_urls:
            host = urlsplit(url if "//" in url else f"//{url}").hostname
            if not host:
                raise InvalidHost(
                    f"--public-url must be a URL like https://ap.example.com, not {url!r}"
                )
            names.add(host.rstrip(".").lower())
            if self.public_url is None and "//" in url:
                self.public_url = url.rstrip("/")
        for entry in allowed:
            for item in entry.replace(",", " ").split():
                wildcard = item.startswith("*.")
                name = host_of(item[2:] if wildcard else item)
                if not name:
                    raise InvalidHost(f"--allowed-host must be a host name, not {item!r}")
                (self.suffixes if wildcard else names).add(name)
        self.names = frozenset(names)

    def allows(self, header: str | None) -> bool:
        name = host_of(header or "")
        if name is None:
            return False
        if name in self.names or any(name.endswith("." + s) for s in self.suffixes):
            return True
        return self.any_ip and _ip(name) is not None


class TrustedHosts:
    """ASGI middleware: 400 for a request whose ``Host`` the :class:`HostPolicy` refuses."""

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self.app, self.policy = app, policy
        self._warned = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host")
        if self.policy.allows(host):
            await self.app(scope, receive, send)
            return
        if not self._warned:  # once: a proxy passing its public name needs --allowed-host
            self._warned = True
            log.warning(
                "refused a request for host %r; allow a name with --allowed-host or --public-url",
                (host or "")[:100],
            )
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = b"This server does not answer for that host name."
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
