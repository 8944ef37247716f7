"""Bounds on guessing import addresses over SMTP, by the refused recipients a client sends.

In one session, the recipient refused after ``unknown_per_session`` others is answered 421 and
the connection is closed. Across sessions, a client that had ``unknown_per_client`` recipients
refused within ``window`` seconds gets 421 for every recipient (and the connection closed) until
the oldest of them is ``window`` seconds old. A client is its IPv4 address, or the /64 of its
IPv6 address (one subscriber's usual share). At most ``max_clients`` clients are remembered, the
least recently seen forgotten first, each with at most ``unknown_per_client`` times: the memory
is bounded however many addresses a sender uses. All of it runs on the receiver's event loop.

The same bound, counting the mails a client starts (MAIL FROM) within a minute, is the
receiver's per-client rate limit (``InboundSettings.mails_per_client``). Both are per process:
with several receivers, a client may get each one's share.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict, deque
from collections.abc import Callable


def client_of(peer: object) -> str:
    """The client an aiosmtpd ``session.peer`` (host, port, ...) counts as."""
    host = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class ClientThrottle:
    """The events (refused recipients, mails) of each client in the last *window* seconds."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0 or max_clients < 1:
            raise ValueError("the limit, the window and max_clients must be positive")
        self.limit, self.window, self.max_clients = limit, window, max_clients
        self._clock = clock
        self._refused: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._refused)

    def blocked(self, client: str) -> bool:
        """Whether *client* reached the limit within the window (it is then refused)."""
        times = self._refused.get(client)
        if times is None:
            return False
        horizon = self._clock() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._refused[client]
            return False
        return len(times) >= self.limit

    def refused(self, client: str) -> None:
        """Count one refused recipient of *client*."""
        self.add(client)

    def add(self, client: str) -> None:
        """Count one event of *client*."""
        times = self._refused.get(client)
        if times is None:
            times = self._refused[client] = deque(maxlen=self.limit)
        self._refused.move_to_end(client)
        times.append(self._clock())
        while len(self._refused) > self.max_clients:
            self._refused.popitem(last=False)
