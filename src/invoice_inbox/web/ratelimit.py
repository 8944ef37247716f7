"""Sign-in rate limiting, in memory: every password check (sign-in, password change, new API
token) first reserves an attempt here, atomically, and is refused without checking when the
limits are reached.

Three counts, each of attempts within *window* seconds that did not succeed:

- per client and account (*per_account_client*): one address guessing one password;
- per client (*per_client*): one address guessing many accounts;
- per account, from any address (*account_threshold*): many addresses guessing one password.
  Beyond the threshold each further attempt waits *account_delay* seconds after the last one,
  doubling with every attempt (at most *window*), so a botnet gets a handful of guesses an hour
  while the owner, who knows the password, is at most delayed.

An attempt is counted when it is reserved, before the (slow) password check, so parallel
requests cannot all slip through; a success gives its reservation back and clears the account's
counts. Refused attempts cost nothing: they create no entry. The table holds at most
*max_entries* keys: expired keys are dropped as time passes, and when it is full the oldest go.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

MAX_EMAIL = 320  # the longest possible e-mail address (RFC 3696 errata): longer is refused


@dataclass(frozen=True)
class Attempt:
    """The answer to a reservation: allowed (counted as a failure until it succeeds), or not
    before *wait* seconds."""

    client: str
    email: str
    stamp: float
    wait: float = 0.0

    @property
    def allowed(self) -> bool:
        return self.wait <= 0


class LoginLimiter:
    def __init__(
        self,
        per_account_client: int = 5,
        per_client: int = 30,
        account_threshold: int = 10,
        account_delay: float = 30.0,
        window: float = 900.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_account_client, self.per_client = per_account_client, per_client
        self.account_threshold, self.account_delay = account_threshold, account_delay
        self.window, self.max_entries, self._clock = window, max_entries, clock
        # key -> times of attempts not (yet) succeeded, oldest first; keys oldest-used first
        self._attempts: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()
        self._purged = clock()

    def __len__(self) -> int:
        return len(self._attempts)

    @staticmethod
    def _keys(client: str, email: str) -> tuple[str, str, str]:
        email = email[:MAX_EMAIL]
        return f"c|{client}|{email}", f"c|{client}", f"a|{email}"

    def _recent(self, key: str, now: float) -> deque[float] | None:
        q = self._attempts.get(key)
        if q is None:
            return None
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._attempts[key]
            return None
        return q

    def _account_wait(self, q: deque[float] | None, now: float) -> float:
        if q is None or len(q) < self.account_threshold:
            return 0.0
        over = len(q) - self.account_threshold
        delay = min(self.account_delay * 2 ** min(over, 32), self.window)
        return q[-1] + delay - now

    def attempt(self, client: str, email: str) -> Attempt:
        """Reserve one password check for *client* on *email*, or say how long to wait."""
        now = self._clock()
        pair, alone, account = self._keys(client, email)
        with self._lock:
            self._purge(now)
            waits = [0.0]
            for key, limit in ((pair, self.per_account_client), (alone, self.per_client)):
                q = self._recent(key, now)
                if q is not None and len(q) >= limit:
                    waits.append(q[0] + self.window - now)
            waits.append(self._account_wait(self._recent(account, now), now))
            wait = max(waits)
            if wait > 0:
                return Attempt(client, email, now, wait)
            for key in (pair, alone, account):
                q = self._attempts.setdefault(key, deque())
                q.append(now)
                self._attempts.move_to_end(key)
            while len(self._attempts) > self.max_entries:
                self._attempts.popitem(last=False)
            return Attempt(client, email, now)

    def succeeded(self, attempt: Attempt) -> None:
        """The reserved attempt had the right password: forget the account's failures and
        give the client its reservation back."""
        pair, alone, account = self._keys(attempt.client, attempt.email)
        with self._lock:
            self._attempts.pop(pair, None)
            self._attempts.pop(account, None)
            q = self._attempts.get(alone)
            if q is not None:
                with contextlib.suppress(ValueError):
                    q.remove(attempt.stamp)
                if not q:
                    del self._attempts[alone]

    def _purge(self, now: float) -> None:
        """Drop expired keys, at most once a minute (the table is bounded anyway)."""
        if now - self._purged < 60:
            return
        self._purged = now
        for key in list(self._attempts):
            self._recent(key, now)
