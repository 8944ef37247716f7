"""IMAP IDLE picks up new mail on every server: pushed during IDLE by Dovecot, Cyrus with its
``idled`` daemon and Courier with ``IMAP_ENHANCEDIDLE=1`` (gamin); found by the waiter's DONE +
NOOP on Cyrus without idled and Courier with ``IMAP_ENHANCEDIDLE=0`` (Debian's defaults), which
notice new mail by themselves only about every 60 s. The waiter's PushSense learns which it is
(connectors/idle_push.py); here one sighting decides (``confirm=1``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from contract_cli import invoice
from contract_servers import started

from harness.courier import CourierServer
from harness.cyrus import CyrusServer
from harness.mail_server import MailServer
from invoice_inbox.connectors.idle import IdleWaiter
from invoice_inbox.connectors.idle_push import POLL, PUSH, SETTLE, PushSense
from invoice_inbox.connectors.imap import ImapSettings

DEADLINE = 10.0  # generous: a pushing server wakes the waiter within about 1.5 s
# DONE + NOOP this often: well after a push (at most ~1 s, measured), long before a server's
# own 60 s check
POLL_EVERY = 4.0
# what each server does with Debian's defaults, and with its push switched on
MODE = {
    "dovecot": PUSH,
    "cyrus_idled": PUSH,
    "courier_enhanced_idle": PUSH,
    "cyrus": POLL,
    "courier": POLL,
}


@pytest.fixture(scope="module")
def cyrus_idled() -> Iterator[MailServer]:
    yield from started(lambda base: CyrusServer(base, idled=True), "cyrus-idled")


@pytest.fixture(scope="module")
def courier_enhanced_idle() -> Iterator[MailServer]:
    yield from started(lambda base: CourierServer(base, enhanced_idle=True), "courier-idle")


def eventually(condition: Callable[[], bool], timeout: float = DEADLINE) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.parametrize("server", list(MODE), indirect=True)
def test_idle_picks_up_new_mail_pushed_or_by_noop(
    request: pytest.FixtureRequest, server: MailServer
) -> None:
    user, password = server.new_user()
    settings = ImapSettings(
        host=server.tls_server_name,
        port=server.imaps_port,
        security="ssl",
        ca_file=str(server.ca_file),
        username=user,
        password=password,
        connect_timeout=5.0,
    )
    sense = PushSense("test", confirm=1)
    waiter = IdleWaiter(settings, "INBOX", check_every=0.1, poll_every=POLL_EVERY, push=sense)
    stop, woke = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            if waiter.wait(stop):
                woke.set()
        except BaseException as exc:  # reported below
            errors.append(exc)

    waiter.connect()
    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    try:
        assert eventually(lambda: waiter.idles >= 1), "IDLE was sent"
        time.sleep(SETTLE)  # an EXISTS this early after IDLE began proves nothing
        server.append(user, "INBOX", invoice(0)[2])
        assert woke.wait(DEADLINE), errors or "new mail not picked up"
        assert sense.mode == MODE[request.node.callspec.params["server"]]
    finally:
        stop.set()
        thread.join(timeout=5)
        waiter.close()
