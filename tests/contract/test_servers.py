"""The Cyrus and Courier harnesses themselves: each answers on its own ports with its own
certificate and users, and stop() leaves no process of it behind (Courier's couriertcpd and
authdaemond leave the child's process group; they are stopped by their recorded PIDs)."""

from __future__ import annotations

import imaplib
import os
import poplib
import socket
from pathlib import Path

import pytest
from contract_servers import started

from harness.courier import CourierServer
from harness.cyrus import CyrusServer
from harness.mail_server import MailServer


def processes_using(path: Path) -> list[int]:
    """PIDs whose command line or environment names ``path`` (the instance folder)."""
    found, needle = [], str(path).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read()
            with open(f"/proc/{entry}/stat", "rb") as f:
                zombie = f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
        except OSError:
            continue
        if not zombie and (needle in cmdline or needle in environ):
            found.append(int(entry))
    return found


@pytest.mark.parametrize("make", [CyrusServer, CourierServer], ids=["cyrus", "courier"])
def test_a_server_serves_its_users_and_stops_without_leftovers(make: type[MailServer]) -> None:
    runs = started(make, f"harness-{make.kind}")
    server = next(runs)
    base = server.base_dir
    user, password = server.new_user()
    assert server.append(user, "INBOX", b"Subject: hello\r\n\r\nhi\r\n") == 1
    tls = imaplib.IMAP4_SSL(server.host, server.imaps_port, ssl_context=server.tls_context())
    tls.login(user, password)
    tls.logout()
    pop = poplib.POP3(server.host, server.pop3_port, timeout=10)
    pop.user(user)
    pop.pass_(password)
    assert pop.stat()[0] == 1
    pop.quit()
    wrong = imaplib.IMAP4(server.host, server.imap_port, timeout=10)
    with pytest.raises(imaplib.IMAP4.error):
        wrong.login(user, "not-the-password")
    wrong.shutdown()
    assert processes_using(base), "the servers run with the instance folder"
    next(runs, None)  # stop() and remove the folder
    assert processes_using(base) == []
    for port in (server.imap_port, server.imaps_port, server.pop3_port):
        with pytest.raises(OSError), socket.create_connection((server.host, port), timeout=2):
            pass
