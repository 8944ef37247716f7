"""The one-time secret that the first-run setup (``/setup``) needs.

A fresh instance has no administrator, and whoever opens ``/setup`` first creates one; a page
on another site that reaches this service (DNS rebinding, a proxy set up too early) must not be
that someone. ``serve`` makes a random token at start and prints the setup address with it;
the form sends it back and it is compared in constant time. It is spent when the first
administrator is made (a new one is printed at the next start while there is still no user).
"""

from __future__ import annotations

import hmac
import secrets
import threading


class SetupToken:
    def __init__(self, value: str | None = None) -> None:
        self._value: str | None = value or secrets.token_urlsafe(32)
        self.lock = threading.Lock()  # held while the first administrator is made

    @property
    def value(self) -> str | None:
        """The token, while it is not spent."""
        return self._value

    def matches(self, sent: str | None) -> bool:
        value = self._value
        return bool(value and sent) and hmac.compare_digest(value.encode(), (sent or "").encode())

    def spend(self) -> None:
        self._value = None
