"""Keep one IDLE connection per watched folder alive and report new mail.

A :class:`FolderWatcher` is a daemon thread around :class:`IdleWaiter`. It never fetches mail
itself: on new mail it calls ``on_new()``, which should only enqueue a run. ``on_new()`` is also
called each time a connection is up, the first one included, since mail may have arrived while
nobody was watching: before a worker started, while the watch's previous holder was dead (its
watch is taken over after a while), or while a broken connection was replaced after an
exponential, jittered back-off. Errors that retrying
will not fix (``ConnectorError.transient`` is False: a refused login, a TLS failure, a missing
folder) are logged as errors and retried only every ``retry_max`` seconds. Whether the server
pushes new mail during IDLE (``connectors.idle_push``) is learnt once per watcher: each new
connection's waiter gets the watcher's ``push``, so a reconnect neither forgets nor logs it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from invoice_inbox.connectors.idle import IdleWaiter
from invoice_inbox.connectors.idle_push import PushSense
from invoice_inbox.errors import ConnectorError
from invoice_inbox.runtime import schedules

log = logging.getLogger(__name__)


class FolderWatcher(threading.Thread):
    """Keeps an IdleWaiter alive for one folder of one source and calls on_new() on new mail.

    ``reconnects`` counts connections that came up after a failed one, ``failures`` the errors
    seen, ``wakeups`` the new-mail announcements (the calls to ``on_new`` once a connection is
    up are not counted). A connection that stayed up ``healthy_after`` seconds or announced mail
    resets the back-off to ``retry_min``. The thread ends within the waiter's ``check_every``
    once ``stop`` is set, and closes its connection.
    """

    def __init__(
        self,
        name: str,
        make_waiter: Callable[[], IdleWaiter],
        on_new: Callable[[], None],
        stop: threading.Event,
        *,
        retry_min: float = 1.0,
        retry_max: float = 300.0,
        healthy_after: float = 60.0,
    ) -> None:
        super().__init__(name=f"watch {name}", daemon=True)
        self.source = name
        self.make_waiter = make_waiter
        self.on_new = on_new
        self.stop = stop
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.healthy_after = healthy_after
        self.reconnects = 0
        self.wakeups = 0
        self.failures = 0
        self._streak = 0  # failures since the last healthy connection
        self.push = PushSense(f"watch {name}")

    def run(self) -> None:
        recovering = False  # the previous connection (or attempt) failed
        while not self.stop.is_set():
            waiter: IdleWaiter | None = None
            up_since: float | None = None
            try:
                waiter = self.make_waiter()
                waiter.push = self.push
                waiter.connect()
                up_since = time.monotonic()
                if recovering:
                    recovering = False
                    self.reconnects += 1
                    log.info("watch %s: connection restored", self.source)
                self.on_new()  # whatever arrived while nobody watched
                while waiter.wait(self.stop):
                    self.wakeups += 1
                    self._streak = 0
                    self.on_new()
            except Exception as exc:
                self._failed(waiter, up_since)
                recovering = True
                if isinstance(exc, ConnectorError) and not exc.transient:
                    # a refused login (or TLS, or a missing folder) needs a human: no loop
                    delay = self.retry_max
                    log.error("watch %s: %s; next attempt in %.0f s", self.source, exc, delay)
                elif isinstance(exc, ConnectorError):
                    delay = self._backoff()
                    log.warning("watch %s: %s; reconnecting in %.1f s", self.source, exc, delay)
                else:
                    delay = self._backoff()
                    log.exception("watch %s failed; reconnecting in %.1f s", self.source, delay)
                self.stop.wait(delay)
                continue
            waiter.close()  # stop was set

    def _failed(self, waiter: IdleWaiter | None, up_since: float | None = None) -> None:
        self.failures += 1
        if up_since is not None and time.monotonic() - up_since >= self.healthy_after:
            self._streak = 0
        self._streak += 1
        if waiter is not None:
            waiter.close()

    def _backoff(self) -> float:
        """retry_min, doubled per failure in a row, capped at retry_max; times 0.5-1 (jitter,
        so that many watchers of one server do not reconnect in step)."""
        return schedules.backoff(self._streak, base=self.retry_min, cap=self.retry_max)
