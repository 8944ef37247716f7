"""Sign-in rate limiting, in the database so that every web process of a deployment counts the
same attempts: every password check (sign-in, password change, new API token) first reserves
an attempt here, atomically, and is refused without checking when the limits are reached.

Three counts, each of attempts within *window* seconds that did not succeed:

- per client and account (*per_account_client*): one address guessing one password;
- per client (*per_client*): one address guessing many accounts;
- per account, from any address (*account_threshold*): many addresses guessing one password.
  Beyond the threshold each further attempt waits *account_delay* seconds after the last one,
  doubling with every attempt (at most *window*), so a botnet gets a handful of guesses an hour
  while the owner, who knows the password, is at most delayed.

An attempt is counted when it is reserved, before the (slow) password check, so parallel
requests (in any process) cannot all slip through; a success gives its reservation back and
clears the account's counts. Refused attempts cost nothing: they create no row.

Each key (hashed: no address or e-mail in clear) is one ``login_key`` row holding its attempt
times. A reservation is one transaction that makes sure the keys' rows exist (an insert that
yields to the same row made at the same time by another process), then locks them: on
PostgreSQL with ``SELECT … FOR UPDATE`` in key order, on SQLite by the database's write lock
that the first write takes; so the read, the decision and the write that follow cannot
interleave with another process's. (Locking by the UPDATE alone let 13 of 20 simultaneous
guesses through on PostgreSQL where 5 were allowed.)
The table holds about *max_entries* keys: expired keys are deleted as time passes (at most once
a minute per process), and when it is fuller the least recently used go.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from invoice_inbox.store.db import Database
from invoice_inbox.store.models_state import LoginKey

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


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class LoginLimiter:
    def __init__(
        self,
        db: Database,
        per_account_client: int = 5,
        per_client: int = 30,
        account_threshold: int = 10,
        account_delay: float = 30.0,
        window: float = 900.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.per_account_client, self.per_client = per_account_client, per_client
        self.account_threshold, self.account_delay = account_threshold, account_delay
        self.window, self.max_entries, self._clock = window, max_entries, clock
        self._purged = clock()

    def __len__(self) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(LoginKey)) or 0)

    @staticmethod
    def _keys(client: str, email: str) -> tuple[str, str, str]:
        email = email[:MAX_EMAIL]
        return _digest(f"c|{client}|{email}"), _digest(f"c|{client}"), _digest(f"a|{email}")

    def _lock(self, s: Session, keys: tuple[str, ...], now: float) -> dict[str, list[float]]:
        """Make sure the keys' rows exist (an insert that yields to one made at the same time
        by another process, never an error), lock them, then read their attempts within the
        window. The rows are locked in key order, so two reservations cannot deadlock."""
        dialect = s.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        s.execute(
            insert(LoginKey)
            .values([{"key": k, "stamps": [], "used_at": now} for k in sorted(keys)])
            .on_conflict_do_nothing(index_elements=[LoginKey.key])
        )
        s.execute(update(LoginKey).where(LoginKey.key.in_(keys)).values(used_at=now))
        rows = s.execute(
            select(LoginKey.key, LoginKey.stamps)
            .where(LoginKey.key.in_(keys))
            .order_by(LoginKey.key)
            .with_for_update()
        )
        return {key: [t for t in stamps if t > now - self.window] for key, stamps in rows}

    def _account_wait(self, stamps: list[float] | None, now: float) -> float:
        if not stamps or len(stamps) < self.account_threshold:
            return 0.0
        over = len(stamps) - self.account_threshold
        delay: float = min(self.account_delay * 2 ** min(over, 32), self.window)
        return stamps[-1] + delay - now

    def attempt(self, client: str, email: str) -> Attempt:
        """Reserve one password check for *client* on *email*, or say how long to wait."""
        now = self._clock()
        pair, alone, account = keys = self._keys(client, email)
        self._purge(now)
        with self.db.session() as s:
            recent = self._lock(s, keys, now)
            waits = [0.0]
            for key, limit in ((pair, self.per_account_client), (alone, self.per_client)):
                stamps = recent.get(key)
                if stamps and len(stamps) >= limit:
                    waits.append(stamps[0] + self.window - now)
            waits.append(self._account_wait(recent.get(account), now))
            wait = max(waits)
            if wait > 0:
                return Attempt(client, email, now, wait)
            for key in keys:
                s.execute(
                    update(LoginKey)
                    .where(LoginKey.key == key)
                    .values(stamps=[*recent.get(key, []), now], used_at=now)
                )
        return Attempt(client, email, now)

    def succeeded(self, attempt: Attempt) -> None:
        """The reserved attempt had the right password: forget the account's failures and
        give the client its reservation back."""
        pair, alone, account = keys = self._keys(attempt.client, attempt.email)
        with self.db.session() as s:
            recent = self._lock(s, keys, self._clock())
            s.execute(delete(LoginKey).where(LoginKey.key.in_((pair, account))))
            stamps = recent.get(alone)
            if stamps is not None:
                if attempt.stamp in stamps:
                    stamps.remove(attempt.stamp)
                if stamps:
                    s.execute(update(LoginKey).where(LoginKey.key == alone).values(stamps=stamps))
                else:
                    s.execute(delete(LoginKey).where(LoginKey.key == alone))

    def _purge(self, now: float) -> None:
        """Delete expired keys (at most once a minute) and, when the table is fuller than
        *max_entries*, the least recently used."""
        with self.db.session() as s:
            if now - self._purged >= 60:
                self._purged = now
                s.execute(delete(LoginKey).where(LoginKey.used_at <= now - self.window))
            extra = int(s.scalar(select(func.count()).select_from(LoginKey)) or 0)
            extra -= self.max_entries - 3  # room for this attempt's keys
            if extra > 0:
                oldest = select(LoginKey.key).order_by(LoginKey.used_at).limit(extra)
                s.execute(delete(LoginKey).where(LoginKey.key.in_(oldest.scalar_subquery())))
