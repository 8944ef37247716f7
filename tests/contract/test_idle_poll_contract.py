"""Instant pickup on every server with its Debian defaults (issue 18 item 3): Dovecot pushes new
mail during IDLE; Cyrus without ``idled`` and Courier with ``IMAP_ENHANCEDIDLE=0`` only notice
it on a command (or after their own ~60 s check). The waiter learns which kind it talks to
(``connectors.idle_push``) and polls the second kind with DONE + NOOP every ``poll_every``
seconds (3 s here, longer than Dovecot's own 0.5 s before it pushes; 20 s by default), so
every server wakes it well before its own check."""

from __future__ import annotations

import threading
import time

from contract_cli import invoice

from harness.mail_server import MailServer
from invoice_inbox.connectors.idle import IdleWaiter
from invoice_inbox.connectors.idle_push import LEARNING, POLL, SETTLE
from invoice_inbox.connectors.imap import ImapSettings

DEADLINE = 20.0  # generous; a poll every 3 s finds the mail within about 3 s


def test_new_mail_wakes_the_waiter_whether_or_not_the_server_pushes(server: MailServer) -> None:
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
    waiter = IdleWaiter(settings, "INBOX", reissue_after=540.0, check_every=0.1, poll_every=3.0)
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
        deadline = time.monotonic() + DEADLINE
        while waiter.idles < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(SETTLE)  # well inside IDLE when the mail arrives
        server.append(user, "INBOX", invoice(0)[2])
        assert woke.wait(DEADLINE), errors or "the new mail was not noticed"
    finally:
        stop.set()
        thread.join(timeout=5)
        waiter.close()
    kind = type(server).__name__
    if kind == "DovecotServer":  # pushed: one of the mails in a row that make it "push"
        assert waiter.push.mode == LEARNING
    else:  # found by the NOOP after DONE
        assert waiter.push.mode == POLL, kind
