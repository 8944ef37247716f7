"""An IMAP folder of more than one batch downloads on a second session (issue 17 item 2), so the
download of batch N+1 does not wait for the move of batch N-1; with XOAUTH2 too; a server that
refuses a second login leaves the run on its one connection, with no error."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from builders import Attachment, make_mail, make_pdf
from conftest import AP, CLIENT_SECRET
from fakes.oauth import FakeIdentityProvider
from harness.dovecot import DovecotServer, HarnessError, Mailbox
from harness.tcp_proxy import Proxy
from invoice_inbox.runtime import runner
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.run_summary import RunSummary
from invoice_inbox.runtime.sync import Key, Step
from invoice_inbox.runtime.sync_steps import Observer
from invoice_inbox.store import sources

FILED = ("--move-imported-to", "Imported")
WAIT = 20.0  # seconds an observer waits for another stage (never in a pass)
LIMIT = b"NO [UNAVAILABLE] Maximum number of connections from user+IP exceeded"


def invoice(n: int) -> bytes:
    return make_mail(
        subject=f"Invoice {n}",
        message_id=f"<inv-{n}@supplier.example>",
        attachments=[Attachment(f"INV-{n}.pdf", make_pdf(f"invoice {n}"))],
    )


def _fetch(data_dir: Path, batch: int, observer: Observer | None = None) -> RunSummary:
    app = App.open(data_dir)
    try:
        return runner.fetch(app, "ap", batch_size=batch, observer=observer)
    finally:
        app.close()


def _filed(mailbox: Mailbox) -> int:
    try:
        return mailbox.count("Imported")
    except HarnessError:  # not created yet
        return 0


def test_the_next_download_does_not_wait_for_the_move_before_it(ap: AP) -> None:
    for n in range(1, 7):
        ap.mailbox.append("INBOX", invoice(n))
    proxy = Proxy(ap.mailbox.server.imap_port)
    try:
        ap.add_source("--allow-sender", "billing@supplier.example", *FILED, port=proxy.port)
        proxy.connections = 0  # the check of ``source add``
        overlapped: list[bool] = []

        def observer(step: Step, folder: str, keys: Sequence[Key]) -> None:
            if step == Step.DOWNLOADED and 5 in keys:  # batch 3, while batch 1 is filed
                deadline = time.monotonic() + WAIT
                while _filed(ap.mailbox) < 2 and time.monotonic() < deadline:
                    time.sleep(0.05)
                overlapped.append(_filed(ap.mailbox) >= 2)

        _fetch(ap.data_dir, 2, observer)
    finally:
        proxy.close()
    assert overlapped == [True], "batch 1 was not moved while batch 3 was downloading"
    assert proxy.connections == 2  # the run's session and the downloads' own
    assert sorted(d["filename"] for d in ap.documents()) == [f"INV-{n}.pdf" for n in range(1, 7)]
    assert ap.mailbox.count("Imported") == 6
    assert ap.mailbox.count("INBOX") == 0


def test_one_batch_needs_no_second_session(ap: AP) -> None:
    ap.mailbox.append("INBOX", invoice(1))
    proxy = Proxy(ap.mailbox.server.imap_port)
    try:
        ap.add_source("--allow-sender", "billing@supplier.example", *FILED, port=proxy.port)
        proxy.connections = 0
        _fetch(ap.data_dir, 2)
    finally:
        proxy.close()
    assert proxy.connections == 1
    assert ap.mailbox.count("Imported") == 1


class OneSessionOnly:
    """127.0.0.1 in front of Dovecot with a limit of one connection per user: the first is
    passed on, each later one is refused at LOGIN the way Dovecot refuses it."""

    def __init__(self, target_port: int) -> None:
        self.target_port, self.refused = target_port, 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._passed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._passed:
                threading.Thread(target=self._refuse, args=(client,), daemon=True).start()
                continue
            self._passed = True
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(src, dst), daemon=True).start()

    def _refuse(self, client: socket.socket) -> None:
        with client, contextlib.suppress(OSError):
            client.sendall(b"* OK [CAPABILITY IMAP4rev1 LITERAL+] ready.\r\n")
            for line in client.makefile("rb"):
                tag, _, command = line.rstrip(b"\r\n").partition(b" ")
                verb = command.split(b" ", 1)[0].upper()
                if verb == b"CAPABILITY":
                    client.sendall(b"* CAPABILITY IMAP4rev1 LITERAL+\r\n" + tag + b" OK done\r\n")
                elif verb == b"LOGIN":
                    self.refused += 1
                    client.sendall(tag + b" " + LIMIT + b"\r\n")
                else:
                    client.sendall(b"* BYE bye\r\n" + tag + b" OK done\r\n")
                    return


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while True:
            if not select.select([src], [], [], 0.1)[0]:
                continue
            data = src.recv(65536)
            if not data:
                dst.shutdown(socket.SHUT_WR)
                return
            dst.sendall(data)


def test_a_server_refusing_a_second_login_leaves_one_shared_session(ap: AP) -> None:
    for n in range(1, 6):
        ap.mailbox.append("INBOX", invoice(n))
    ap.add_source("--allow-sender", "billing@supplier.example", *FILED)
    limited = OneSessionOnly(ap.mailbox.server.imap_port)
    try:
        app = App.open(ap.data_dir)
        try:
            with app.db.session() as s:
                sources.get(s, "ap").port = limited.port
            summary = runner.fetch(app, "ap", batch_size=2)
        finally:
            app.close()
    finally:
        limited.close()
    assert limited.refused == 1
    assert summary.error is None and summary.errors == 0
    assert summary.imported == 5
    assert ap.mailbox.count("Imported") == 5


def test_the_second_session_signs_in_with_xoauth2(
    tmp_path: Path, cloud: FakeIdentityProvider, oauth_dovecot: DovecotServer
) -> None:
    shared, password = oauth_dovecot.new_user()
    mailbox = Mailbox(shared, password, oauth_dovecot)
    for n in range(1, 4):
        mailbox.append("INBOX", invoice(n))
    t = uuid.uuid4().hex[:10]
    cloud.register_client(f"app-{t}", secret=CLIENT_SECRET, tenant=f"tenant-{t}")
    cloud.grant_consent(f"tenant-{t}", f"app-{t}")
    cloud.app_mailbox(f"app-{t}", shared)
    ap = AP(tmp_path / "data", mailbox)
    proxy = Proxy(oauth_dovecot.imap_port)
    try:
        ap.ok(
            *("source", "add", "ap", "--company", "ACME"),
            *("--provider", "microsoft365", "--protocol", "imap", "--auth", "app"),
            *("--tenant-id", f"tenant-{t}", "--client-id", f"app-{t}", "--client-secret-env", "CS"),
            *("--username", "service@contoso.example", "--shared-mailbox", shared),
            *("--host", "127.0.0.1", "--port", str(proxy.port), "--security", "none"),
            *("--allow-sender", "billing@supplier.example", *FILED),
            env={"CS": CLIENT_SECRET},
        )
        proxy.connections = 0
        summary = _fetch(ap.data_dir, 1)
    finally:
        proxy.close()
    assert summary.imported == 3 and summary.error is None
    assert proxy.connections == 2
    assert mailbox.count("Imported") == 3
