"""IMAP IDLE (RFC 2177) against the private Dovecot: IdleWaiter and the FolderWatcher thread.

Every interval is a constructor argument, so re-issues, dead connections and back-offs take
fractions of a second. Waits are on events and counters with generous deadlines, never on
fixed sleeps. A small TCP proxy stands in for a network path that can go silent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from fakes.oauth import FakeIdentityProvider
from harness.dovecot import DovecotServer, Mailbox
from harness.tcp_proxy import Proxy
from invoice_inbox.connectors.idle import IdleWaiter
from invoice_inbox.connectors.imap import ImapSettings
from invoice_inbox.errors import ConnectFailed, FolderMissing, LoginFailed, ProtocolFailed
from invoice_inbox.runtime.watch import FolderWatcher

DEADLINE = 10.0  # generous: every wake below is expected within well under a second

# Short intervals for the tests: re-issue IDLE every half second, look at `stop` every 0.1 s,
# give up on a command reply after 1 s.
FAST = {"reissue_after": 0.5, "check_every": 0.1, "reply_timeout": 1.0}


def mail(n: int) -> bytes:
    return (
        f"From: billing@supplier.example\r\nTo: ap@buyer.example\r\nSubject: Invoice {n}\r\n"
        f"Message-ID: <idle{n}.{time.monotonic_ns()}@supplier.example>\r\n\r\nInvoice {n}.\r\n"
    ).encode()


def settings_for(mailbox: Mailbox, **overrides: object) -> ImapSettings:
    server = mailbox.server
    options: dict[str, object] = {
        "host": server.tls_server_name,
        "port": server.imaps_port,
        "security": "ssl",
        "ca_file": str(server.ca_file),
        "username": mailbox.user,
        "password": mailbox.password,
        "connect_timeout": 5.0,
    }
    options.update(overrides)
    return ImapSettings(**options)  # type: ignore[arg-type]


def eventually(condition: Callable[[], bool], timeout: float = DEADLINE) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class Counter:
    """A thread-safe call counter to use as ``on_new``."""

    def __init__(self) -> None:
        self.calls = 0
        self._cond = threading.Condition()

    def __call__(self) -> None:
        with self._cond:
            self.calls += 1
            self._cond.notify_all()

    def reaches(self, n: int, timeout: float = DEADLINE) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.calls >= n, timeout)


class WaitInThread:
    """Runs ``waiter.wait(stop)`` on a thread; ``done`` is set when it returns or raises."""

    def __init__(self, waiter: IdleWaiter) -> None:
        self.stop = threading.Event()
        self.done = threading.Event()
        self.result: bool | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(waiter,), daemon=True)
        self._thread.start()

    def _run(self, waiter: IdleWaiter) -> None:
        try:
            self.result = waiter.wait(self.stop)
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()


@pytest.fixture
def proxy(dovecot: DovecotServer) -> Iterator[Proxy]:
    p = Proxy(dovecot.imap_port)
    yield p
    p.close()


@pytest.fixture
def waiters() -> Iterator[list[IdleWaiter]]:
    """Waiters to close after the test."""
    made: list[IdleWaiter] = []
    yield made
    for w in made:
        w.close()


@pytest.fixture
def watch() -> Iterator[Callable[..., FolderWatcher]]:
    """Start FolderWatchers; stop and join them after the test."""
    started: list[FolderWatcher] = []

    def start(make_waiter: Callable[[], IdleWaiter], on_new: Callable[[], None], **kw: float):
        watcher = FolderWatcher("test", make_waiter, on_new, threading.Event(), **kw)
        watcher.start()
        started.append(watcher)
        return watcher

    yield start
    for watcher in started:
        watcher.stop.set()
    for watcher in started:
        watcher.join(timeout=5)
        assert not watcher.is_alive()


# ---------------------------------------------------------------- IdleWaiter


def test_append_by_another_client_wakes_wait(mailbox: Mailbox, waiters: list[IdleWaiter]) -> None:
    mailbox.append("INBOX", mail(1))  # already there: not new
    # Poll interval and re-issue far beyond the deadline: only the server's push can wake it.
    waiter = IdleWaiter(settings_for(mailbox), "INBOX", reissue_after=600, check_every=60)
    waiters.append(waiter)
    waiter.connect()
    run = WaitInThread(waiter)
    assert eventually(lambda: waiter.idles == 1)
    mailbox.append("INBOX", mail(2))
    assert run.done.wait(DEADLINE), "IDLE did not report the new mail"
    assert run.error is None
    assert run.result is True
    assert waiter.idles == 1


def test_stop_returns_false_promptly(mailbox: Mailbox, waiters: list[IdleWaiter]) -> None:
    waiter = IdleWaiter(settings_for(mailbox), "INBOX", reissue_after=600, check_every=0.1)
    waiters.append(waiter)
    run = WaitInThread(waiter)
    assert eventually(lambda: waiter.idles == 1)
    run.stop.set()
    assert run.done.wait(2.0)
    assert run.error is None
    assert run.result is False


def test_reissues_idle_and_still_wakes(mailbox: Mailbox, waiters: list[IdleWaiter]) -> None:
    waiter = IdleWaiter(settings_for(mailbox), "INBOX", reissue_after=0.2, check_every=0.05)
    waiters.append(waiter)
    run = WaitInThread(waiter)
    assert eventually(lambda: waiter.idles >= 4), "IDLE was not re-issued"
    assert not run.done.is_set(), "no mail yet, so wait must still be waiting"
    mailbox.append("INBOX", mail(1))
    assert run.done.wait(DEADLINE)
    assert run.error is None
    assert run.result is True


def test_mail_arriving_between_waits_is_reported_by_the_next_wait(
    mailbox: Mailbox, waiters: list[IdleWaiter]
) -> None:
    waiter = IdleWaiter(settings_for(mailbox), "INBOX", **FAST)
    waiters.append(waiter)
    waiter.connect()
    mailbox.append("INBOX", mail(1))  # connected, but not in IDLE
    run = WaitInThread(waiter)
    assert run.done.wait(DEADLINE)
    assert run.result is True


def test_expunge_lowers_the_count_so_a_later_mail_still_wakes(
    mailbox: Mailbox, waiters: list[IdleWaiter]
) -> None:
    mailbox.append("INBOX", mail(1))
    mailbox.append("INBOX", mail(2))
    waiter = IdleWaiter(settings_for(mailbox), "INBOX", **FAST)
    waiters.append(waiter)
    waiter.connect()
    conn = mailbox.imap()
    try:
        conn.select("INBOX")
        conn.uid("STORE", "1:*", "+FLAGS", "(\\Deleted)")
        conn.expunge()
    finally:
        conn.logout()
    stop = threading.Event()
    stop.set()
    assert waiter.wait(stop) is False  # one IDLE round that takes in the EXPUNGEs
    mailbox.append("INBOX", mail(3))  # 1 message now, 2 at EXAMINE
    assert WaitInThread(waiter).done.wait(DEADLINE)


def test_xoauth2_login(
    oauth_dovecot: DovecotServer, idp: FakeIdentityProvider, waiters: list[IdleWaiter]
) -> None:
    user, _ = oauth_dovecot.new_user()
    idp.add_user(user)
    scopes = ["https://outlook.office.com/IMAP.AccessAsUser.All"]
    access = str(idp.mint_user_token(user, "imap-client", scopes)["access_token"])
    box = Mailbox(user=user, password="", server=oauth_dovecot)
    waiter = IdleWaiter(settings_for(box, token=lambda renew=False: access), "INBOX", **FAST)
    waiters.append(waiter)
    run = WaitInThread(waiter)
    assert eventually(lambda: waiter.idles >= 1)
    box.append("INBOX", mail(1))
    assert run.done.wait(DEADLINE)
    assert run.error is None
    assert run.result is True


def test_wrong_password_is_login_failed(mailbox: Mailbox) -> None:
    waiter = IdleWaiter(settings_for(mailbox, password="wrong"), "INBOX", **FAST)
    with pytest.raises(LoginFailed):
        waiter.wait(threading.Event())
    waiter.close()


def test_missing_folder(mailbox: Mailbox) -> None:
    waiter = IdleWaiter(settings_for(mailbox), "Invoices/Nope", **FAST)
    with pytest.raises(FolderMissing) as info:
        waiter.wait(threading.Event())
    assert "INBOX" in info.value.existing
    assert not waiter.connected


def test_server_without_idle_is_protocol_failed(dovecot: DovecotServer, mailbox: Mailbox) -> None:
    proxy = Proxy(dovecot.imap_port, rewrite=lambda data: data.replace(b" IDLE", b""))
    try:
        waiter = IdleWaiter(
            settings_for(mailbox, host="127.0.0.1", port=proxy.port, security="none"),
            "INBOX",
            **FAST,
        )
        with pytest.raises(ProtocolFailed, match="does not support IDLE"):
            waiter.wait(threading.Event())
    finally:
        proxy.close()


def test_kicked_session_raises_connect_failed(
    dovecot: DovecotServer, mailbox: Mailbox, waiters: list[IdleWaiter]
) -> None:
    waiter = IdleWaiter(settings_for(mailbox), "INBOX", reissue_after=600, check_every=60)
    waiters.append(waiter)
    run = WaitInThread(waiter)
    assert eventually(lambda: waiter.idles == 1)
    assert dovecot.kick(mailbox.user) >= 1
    assert run.done.wait(DEADLINE), "the server's BYE went unnoticed"
    assert isinstance(run.error, ConnectFailed)
    assert "BYE" in str(run.error)
    assert not waiter.connected


def test_connection_closed_without_bye_is_noticed_at_once(
    mailbox: Mailbox, proxy: Proxy, waiters: list[IdleWaiter]
) -> None:
    settings = settings_for(mailbox, host="127.0.0.1", port=proxy.port, security="none")
    # Only the socket turning readable (EOF) can end this wait before the deadline.
    waiter = IdleWaiter(settings, "INBOX", reissue_after=600, check_every=60)
    waiters.append(waiter)
    run = WaitInThread(waiter)
    assert eventually(lambda: waiter.idles == 1)
    proxy.cut()
    assert run.done.wait(DEADLINE), "EOF during IDLE went unnoticed"
    assert isinstance(run.error, ConnectFailed)


def test_silently_dead_connection_is_noticed_at_the_next_reissue(
    mailbox: Mailbox, proxy: Proxy, waiters: list[IdleWaiter]
) -> None:
    settings = settings_for(mailbox, host="127.0.0.1", port=proxy.port, security="none")
    waiter = IdleWaiter(settings, "INBOX", reissue_after=0.3, check_every=0.1, reply_timeout=1.0)
    waiters.append(waiter)
    run = WaitInThread(waiter)
    assert eventually(lambda: waiter.idles >= 1)
    proxy.blackhole()
    assert run.done.wait(DEADLINE)
    assert isinstance(run.error, ConnectFailed)
    assert "timed out" in str(run.error)


# ---------------------------------------------------------------- FolderWatcher


def test_watcher_reports_mail_and_replaces_a_kicked_connection(
    dovecot: DovecotServer, mailbox: Mailbox, watch: Callable[..., FolderWatcher]
) -> None:
    made: list[IdleWaiter] = []

    def make() -> IdleWaiter:
        made.append(IdleWaiter(settings_for(mailbox), "INBOX", **FAST))
        return made[-1]

    on_new = Counter()
    watcher = watch(make, on_new, retry_min=0.05, retry_max=1.0)
    assert eventually(lambda: made and made[0].idles >= 1)
    assert on_new.calls == 1  # the first connection is up: whatever came before it
    mailbox.append("INBOX", mail(1))
    assert on_new.reaches(2)
    assert watcher.wakeups == 1

    assert dovecot.kick(mailbox.user) >= 1
    assert eventually(lambda: watcher.reconnects >= 1), "the kicked connection was not replaced"
    assert on_new.reaches(3), "a restored connection must report possible missed mail"
    assert eventually(lambda: made[-1].idles >= 1)
    mailbox.append("INBOX", mail(2))
    assert on_new.reaches(4)
    assert watcher.wakeups == 2


def test_a_new_watcher_reports_mail_that_arrived_before_it(
    mailbox: Mailbox, watch: Callable[..., FolderWatcher]
) -> None:
    """A worker that starts, or takes over the watch of a worker that died, must not leave the
    mail that came while nobody watched until the source's next scheduled run."""
    mailbox.append("INBOX", mail(1))
    made: list[IdleWaiter] = []

    def make() -> IdleWaiter:
        made.append(IdleWaiter(settings_for(mailbox), "INBOX", **FAST))
        return made[-1]

    on_new = Counter()
    watcher = watch(make, on_new, retry_min=0.05, retry_max=1.0)
    assert on_new.reaches(1)
    assert (watcher.wakeups, watcher.reconnects) == (0, 0)


def test_watcher_replaces_a_silently_dead_connection(
    mailbox: Mailbox, proxy: Proxy, watch: Callable[..., FolderWatcher]
) -> None:
    settings = settings_for(mailbox, host="127.0.0.1", port=proxy.port, security="none")
    made: list[IdleWaiter] = []

    def make() -> IdleWaiter:
        made.append(
            IdleWaiter(settings, "INBOX", reissue_after=0.3, check_every=0.1, reply_timeout=1.0)
        )
        return made[-1]

    on_new = Counter()
    watcher = watch(make, on_new, retry_min=0.05, retry_max=1.0)
    assert eventually(lambda: made and made[0].idles >= 1)
    proxy.blackhole()
    assert eventually(lambda: watcher.reconnects >= 1), "the dead connection was not noticed"
    assert watcher.failures >= 1
    assert on_new.reaches(2)  # the first connection, then its replacement
    assert eventually(lambda: made[-1].idles >= 1)
    mailbox.append("INBOX", mail(1))
    assert on_new.reaches(3)
    assert watcher.wakeups == 1
    assert proxy.connections >= 2


def test_watcher_backs_off_at_retry_max_after_a_refused_login(
    mailbox: Mailbox, watch: Callable[..., FolderWatcher], caplog: pytest.LogCaptureFixture
) -> None:
    attempts = Counter()

    def make() -> IdleWaiter:
        attempts()
        return IdleWaiter(settings_for(mailbox, password="wrong"), "INBOX", **FAST)

    caplog.set_level(logging.WARNING, logger="invoice_inbox.runtime.watch")
    watcher = watch(make, Counter(), retry_min=0.01, retry_max=30.0)
    assert eventually(lambda: watcher.failures == 1)
    time.sleep(0.5)  # with retry_min it would have tried ~15 more times by now
    assert attempts.calls == 1
    assert watcher.failures == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "next attempt in 30 s" in errors[0].getMessage()
    watcher.stop.set()
    watcher.join(timeout=2)
    assert not watcher.is_alive(), "the back-off must end when stop is set"


class FlakyWaiter:
    """A stand-in IdleWaiter: raises a bug-like error on its first wait, then reports mail."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.closed = False

    def connect(self) -> None:
        pass

    def wait(self, stop: threading.Event) -> bool:
        if self.fail:
            raise KeyError("a bug")
        return not stop.wait(0.05)

    def close(self) -> None:
        self.closed = True


def test_watcher_survives_an_unexpected_exception(
    watch: Callable[..., FolderWatcher], caplog: pytest.LogCaptureFixture
) -> None:
    made: list[FlakyWaiter] = []

    def make() -> IdleWaiter:
        made.append(FlakyWaiter(fail=not made))
        return made[-1]  # type: ignore[return-value]

    on_new = Counter()
    watcher = watch(make, on_new, retry_min=0.01, retry_max=0.1)
    assert on_new.reaches(2)
    assert watcher.reconnects == 1
    assert made[0].closed
    # watchers of earlier tests may still be logging as they wind down: look for this one's
    bugs = [
        r
        for r in caplog.records
        if r.name == "invoice_inbox.runtime.watch" and r.exc_info and r.exc_info[0] is KeyError
    ]
    assert len(bugs) == 1
