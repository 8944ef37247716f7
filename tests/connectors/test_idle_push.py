"""Servers that push new mail during IDLE and servers that do not (connectors.idle_push).

Dovecot pushes at once. A server that announces new mail only when the client sends a command
(Courier with IMAP_ENHANCEDIDLE=0, Cyrus without idled) is Dovecot behind :class:`Withholding`,
a proxy that keeps the untagged EXISTS/RECENT lines sent during IDLE until the end of IDLE and
hands them over with the answer to DONE, as those servers do. Cyrus itself is in
tests/contract. Intervals are constructor arguments; waits are on events with generous
deadlines.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest
from test_idle import (
    DEADLINE,
    Counter,
    WaitInThread,
    eventually,
    mail,
    settings_for,
)

from harness.dovecot import DovecotServer, Mailbox
from harness.tcp_proxy import Withholding
from invoice_inbox.connectors.idle import IdleWaiter
from invoice_inbox.connectors.idle_push import (
    CONFIRM,
    LEARNING,
    POLL,
    PUSH,
    PUSH_RECHECK,
    SETTLE,
    PushSense,
)
from invoice_inbox.runtime.watch import FolderWatcher

# ---------------------------------------------------------------- PushSense alone


def test_one_mail_found_by_noop_makes_a_server_one_that_does_not_push() -> None:
    sense = PushSense("x")
    assert sense.mode == LEARNING
    assert sense.recheck_after(reissue_after=540, poll_every=20) == 20
    assert sense.saw(pushed=False, poll_every=20) is True
    assert sense.mode == POLL
    assert sense.saw(pushed=False, poll_every=20) is False  # no second log line
    assert sense.recheck_after(reissue_after=540, poll_every=20) == 20


def test_pushes_in_a_row_make_a_server_one_that_pushes_and_a_missed_one_undoes_it() -> None:
    sense = PushSense("x")
    for _ in range(CONFIRM - 1):
        sense.saw(pushed=True, poll_every=20)
    assert sense.mode == LEARNING
    sense.saw(pushed=False, poll_every=20)
    for _ in range(CONFIRM - 1):
        sense.saw(pushed=True, poll_every=20)
    assert sense.mode == POLL, "a mail found by NOOP in between starts the count again"
    assert sense.saw(pushed=True, poll_every=20) is True
    assert sense.mode == PUSH
    assert sense.recheck_after(reissue_after=540, poll_every=20) == 20 * PUSH_RECHECK
    assert sense.recheck_after(reissue_after=30, poll_every=20) == 30
    sense.saw(pushed=False, poll_every=20)
    assert sense.mode == POLL


# ---------------------------------------------------------------- servers that push or not


@pytest.fixture
def withholding(dovecot: DovecotServer) -> Iterator[Withholding]:
    p = Withholding(dovecot.imap_port)
    yield p
    p.close()


@pytest.fixture
def waiters() -> Iterator[list[IdleWaiter]]:
    made: list[IdleWaiter] = []
    yield made
    for w in made:
        w.close()


def in_idle(waiter: IdleWaiter, idles: int) -> None:
    """Wait until the waiter's IDLE number *idles* is on and past its first moments (mail
    announced then proves nothing about pushing)."""
    assert eventually(lambda: waiter.idles >= idles)
    time.sleep(SETTLE + 0.2)


def test_mail_a_server_does_not_push_is_found_by_the_next_noop(
    mailbox: Mailbox, withholding: Withholding, waiters: list[IdleWaiter]
) -> None:
    settings = settings_for(mailbox, host="127.0.0.1", port=withholding.port, security="none")
    # the re-issue is far beyond the deadline: only the short poll interval can find the mail
    # (longer than Dovecot's own delay of about 0.5 s before it pushes, which the proxy holds)
    waiter = IdleWaiter(settings, "INBOX", reissue_after=600, check_every=0.1, poll_every=2)
    waiters.append(waiter)
    waiter.connect()
    run = WaitInThread(waiter)
    in_idle(waiter, 1)
    mailbox.append("INBOX", mail(1))
    assert run.done.wait(DEADLINE), "the mail the server did not push was not found"
    assert run.error is None and run.result is True
    assert waiter.push.mode == POLL
    # and the next one too: polling goes on
    run = WaitInThread(waiter)
    mailbox.append("INBOX", mail(2))
    assert run.done.wait(DEADLINE)
    assert run.result is True
    assert waiter.push.mode == POLL
    assert withholding.withheld >= 1, "the proxy never held an EXISTS back"


def test_a_server_that_pushes_is_learnt_and_then_rechecked_seldom(
    mailbox: Mailbox, waiters: list[IdleWaiter]
) -> None:
    waiter = IdleWaiter(settings_for(mailbox), "INBOX", reissue_after=600, check_every=0.1)
    waiters.append(waiter)
    waiter.connect()
    assert waiter.push.mode == LEARNING
    for n in range(CONFIRM):
        run = WaitInThread(waiter)
        in_idle(waiter, n + 1)
        mailbox.append("INBOX", mail(n))
        assert run.done.wait(DEADLINE), "Dovecot's push did not wake the waiter"
        assert run.result is True
    assert waiter.push.mode == PUSH
    assert waiter.idles == CONFIRM  # each mail ended its own IDLE: pushed, not polled
    assert waiter.push.recheck_after(
        reissue_after=waiter.reissue_after, poll_every=waiter.poll_every
    ) == min(600, waiter.poll_every * PUSH_RECHECK)


def test_a_watcher_keeps_what_it_learnt_across_reconnects_and_logs_it_once(
    dovecot: DovecotServer,
    mailbox: Mailbox,
    withholding: Withholding,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for(mailbox, host="127.0.0.1", port=withholding.port, security="none")
    made: list[IdleWaiter] = []

    def make() -> IdleWaiter:
        made.append(IdleWaiter(settings, "INBOX", reissue_after=600, check_every=0.1, poll_every=2))
        return made[-1]

    caplog.set_level(logging.INFO, logger="invoice_inbox.connectors.idle_push")
    on_new = Counter()
    stop = threading.Event()
    watcher = FolderWatcher("push-test", make, on_new, stop, retry_min=0.05, retry_max=1.0)
    watcher.start()
    try:
        assert on_new.reaches(1)  # the first connection is up
        in_idle(made[0], 1)
        mailbox.append("INBOX", mail(1))
        assert on_new.reaches(2)
        assert watcher.push.mode == POLL
        assert dovecot.kick(mailbox.user) >= 1
        assert eventually(lambda: watcher.reconnects >= 1)
        assert on_new.reaches(3)
        assert made[-1].push is watcher.push
        mailbox.append("INBOX", mail(2))
        assert on_new.reaches(4)
    finally:
        stop.set()
        watcher.join(timeout=5)
    said = [
        r.getMessage()
        for r in caplog.records
        if r.name == "invoice_inbox.connectors.idle_push" and "push-test" in r.getMessage()
    ]
    assert len(said) == 1, said
    assert "does not announce new mail during IDLE" in said[0]
    assert "every 2 s" in said[0]
