"""Whether an IMAP server pushes new mail during IDLE, learnt from what it does.

RFC 2177 lets a server announce new mail (``* n EXISTS``) while the client idles, but does not
oblige it to do so at once: Courier with ``IMAP_ENHANCEDIDLE=0`` and Cyrus without its
``idled`` daemon look at the mailbox only every minute or so, or when the client sends a
command. :class:`PushSense` watches where each new mail was seen:

- *pushed*: an ``EXISTS`` above the known count arrived during IDLE, at least ``SETTLE``
  seconds after IDLE began (a server checks the mailbox when IDLE starts, so mail that came
  between two IDLEs is announced at once by every server: that says nothing);
- *not pushed*: it showed up only in the answer to ``DONE`` or the ``NOOP`` after it.

One mail found but not pushed makes the server one that does not push (mode ``poll``): the
waiter then ends IDLE and sends ``NOOP`` every ``poll_every`` seconds. ``CONFIRM`` pushed mails
in a row (none found by a NOOP in between) make it one that pushes (mode ``push``), and the
waiter re-checks only every ``PUSH_RECHECK`` x ``poll_every`` seconds (at most
``reissue_after``). Until either happened (mode ``learning``) it checks as often as for a
server that does not push, so pickup never waits for a server's own slow check.

A server that checks on its own every minute sometimes announces a mail before the waiter's
NOOP finds it; if that happens ``CONFIRM`` times in a row it is taken for one that pushes, and
its re-checks, still more frequent than its own check, find the next mails before it announces
them often enough (about 3 in 8 with a 60 s server check) to put it back into ``poll`` soon.
A server wrongly taken for one that does not push costs a NOOP every ``poll_every`` seconds,
until it has pushed ``CONFIRM`` mails in a row.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)

LEARNING, PUSH, POLL = "learning", "push", "poll"
CONFIRM = 3  # pushed mails in a row before a server counts as one that pushes
SETTLE = 0.5  # seconds after IDLE starts during which an EXISTS proves nothing
PUSH_RECHECK = 4  # a server that pushes is re-checked every this many poll intervals


class PushSense:
    """The push mode of one watched folder's server; kept across reconnects (a watcher holds
    one and hands it to each new waiter). Thread-safe for readers of :attr:`mode`."""

    def __init__(self, where: str = "", *, confirm: int = CONFIRM) -> None:
        self.where = where
        self.confirm = confirm
        self.mode = LEARNING
        self._pushed_in_row = 0
        self._lock = threading.Lock()

    def saw(self, *, pushed: bool, poll_every: float) -> bool:
        """Record one sighting of new mail; True when the mode changed (logged once)."""
        with self._lock:
            before = self.mode
            if pushed:
                self._pushed_in_row += 1
                if self._pushed_in_row >= self.confirm:
                    self.mode = PUSH
            else:
                self._pushed_in_row = 0
                self.mode = POLL
            changed = self.mode != before
        if changed and self.mode == PUSH:
            log.info(
                "%s: the server announces new mail during IDLE (push): instant pickup",
                self.where,
            )
        elif changed:
            log.info(
                "%s: the server does not announce new mail during IDLE (found by NOOP"
                " instead): checking the folder every %g s",
                self.where,
                poll_every,
            )
        return changed

    def recheck_after(self, *, reissue_after: float, poll_every: float) -> float:
        """Seconds in IDLE before DONE + NOOP: longer for a server that pushes."""
        every = poll_every * PUSH_RECHECK if self.mode == PUSH else poll_every
        return min(every, reissue_after)
