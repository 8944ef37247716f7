"""Login rate limiting: failed sign-ins counted per address and client, in memory."""

from __future__ import annotations

import threading
import time
from collections import deque


class LoginLimiter:
    """At most *per_account* failed sign-ins per address and client, and *per_client* per
    client, within *window* seconds; a success clears the address's count."""

    def __init__(self, per_account: int = 5, per_client: int = 30, window: float = 900.0) -> None:
        self.per_account, self.per_client, self.window = per_account, per_client, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def wait(self, client: str, email: str) -> float:
        """Seconds until this client may try this address again (0: now)."""
        now = time.monotonic()
        with self._lock:
            waits = []
            for key, limit in ((f"{client}|{email}", self.per_account), (client, self.per_client)):
                q = self._recent(key, now)
                if len(q) >= limit:
                    waits.append(q[0] + self.window - now)
            return max(waits, default=0.0)

    def failed(self, client: str, email: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in (f"{client}|{email}", client):
                self._recent(key, now).append(now)

    def succeeded(self, client: str, email: str) -> None:
        with self._lock:
            self._failures.pop(f"{client}|{email}", None)
