"""Where webhooks may go: a subscription to a loopback, private, link-local or unique-local
address is refused when it is saved, a delivery is refused again at every connection (the name
may resolve elsewhere by then), the connection goes to the address that was checked, the
operator's allowance lets a local receiver have it, and the log keeps no word of the answer.

No test here sends traffic beyond 127.0.0.0/8: the ``outside`` guard refuses (and records) any
connect elsewhere, and the refusals asserted here happen before any connect."""

from __future__ import annotations

import datetime
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from fakes.receivers import WebhookReceiver
from invoice_inbox.delivery import egress, webhook_subscriptions, webhooks
from invoice_inbox.runtime.context import App
from invoice_inbox.store import events, sources
from invoice_inbox.store.models_events import Webhook, WebhookDelivery

SECRET_ANSWER = b"internal-only: db password is hunter2-7f3a9c"
PUBLIC = "93.184.215.14"  # a public address: the guard refuses any connect to it


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    a = App.open(tmp_path / "data")
    try:
        yield a
    finally:
        a.close()


def subscribe(app: App, url: str) -> None:
    with app.db.session() as s:
        company = sources.company(s, "ACME", create=True)
        webhook_subscriptions.create(s, app.secrets, company, url, [events.DOCUMENT_CREATED])


def emit(app: App) -> None:
    with app.db.session() as s:
        events.emit(s, sources.company(s, "ACME").id, events.DOCUMENT_CREATED, {"n": 1})
    webhooks.dispatch(app.db)


def shown(app: App) -> dict[str, Any]:
    """The delivery as the screens and the API show it."""
    with app.db.session() as s:
        return webhooks.view(s.scalars(select(WebhookDelivery)).one())


def the_delivery(app: App) -> WebhookDelivery:
    with app.db.session() as s:
        [row] = s.scalars(select(WebhookDelivery)).all()
        return row


@pytest.mark.usefixtures("refuse_private")
@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:8080/hook", "127.0.0.1 is a loopback address"),
        ("https://10.0.0.1/hook", "10.0.0.1 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[::1]:8080/hook", "::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/hook", "a loopback address"),
        ("http://[fd12:3456::1]/hook", "fd12:3456::1 is a unique-local address"),
        ("http://localhost:8080/hook", "localhost resolves to 127.0.0.1, which is a loopback"),
        ("http://2130706433/hook", "2130706433 resolves to 127.0.0.1, which is a loopback"),
        ("http://0.0.0.0/hook", "0.0.0.0 is an? unspecified address"),
        ("http://224.0.0.1/hook", "224.0.0.1 is a multicast address"),
    ],
)
def test_a_subscription_to_a_non_public_address_is_refused_when_saved(
    app: App, outside: list[tuple[str, int]], url: str, kind: str
) -> None:
    with pytest.raises(webhook_subscriptions.WebhookProblem, match=kind) as refused:
        subscribe(app, url)
    assert "public addresses only" in str(refused.value)
    with app.db.session() as s:
        assert s.scalar(select(Webhook.id)) is None
    assert outside == []  # decided without a connection


def test_the_operators_allowance_lets_a_local_receiver_have_its_delivery(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    with WebhookReceiver() as receiver:
        url = receiver.url.replace("127.0.0.1", "localhost")
        monkeypatch.delenv("INVOICE_INBOX_ALLOW_PRIVATE_WEBHOOKS", raising=False)
        with pytest.raises(webhook_subscriptions.WebhookProblem, match="loopback"):
            subscribe(app, url)  # not without it
        monkeypatch.setenv("INVOICE_INBOX_ALLOW_PRIVATE_WEBHOOKS", "1")
        subscribe(app, url)
        emit(app)
        assert webhooks.deliver_due(app.db, app.secrets) == 1
        assert len(receiver.requests) == 1
    row = the_delivery(app)
    assert (row.state, row.last_status, row.last_error) == ("delivered", 204, None)


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("127.0.0.1", "refused: 127.0.0.1 is a loopback address"),
        ("localhost", "refused: localhost resolves to 127.0.0.1, which is a loopback address"),
        ("[::ffff:127.0.0.1]", "is a loopback address"),
    ],
)
def test_each_delivery_checks_the_address_again(
    app: App, monkeypatch: pytest.MonkeyPatch, outside: list[tuple[str, int]], host: str, why: str
) -> None:
    """Saved while the operator allowed it (or while the name resolved elsewhere): a delivery
    made without the allowance is refused before connecting, and retried later."""
    with WebhookReceiver() as receiver:
        monkeypatch.setenv("INVOICE_INBOX_ALLOW_PRIVATE_WEBHOOKS", "1")
        subscribe(app, receiver.url.replace("127.0.0.1", host))
        monkeypatch.delenv("INVOICE_INBOX_ALLOW_PRIVATE_WEBHOOKS")
        emit(app)
        assert webhooks.deliver_due(app.db, app.secrets) == 0
        assert receiver.requests == []
    row = the_delivery(app)
    assert (row.state, row.attempts, row.last_status) == ("pending", 1, None)
    assert row.last_error is not None and why in row.last_error
    assert row.last_error.startswith("refused: ")
    assert outside == []


@pytest.mark.usefixtures("refuse_private")
@pytest.mark.parametrize("url", ["http://10.0.0.1/hook", "http://169.254.169.254/latest/"])
def test_a_private_address_saved_earlier_is_never_connected_to(
    app: App, outside: list[tuple[str, int]], url: str
) -> None:
    with app.db.session() as s:  # as an older version saved it, unchecked
        s.add(
            Webhook(
                company_id=sources.company(s, "ACME", create=True).id,
                url=url,
                events=[events.DOCUMENT_CREATED],
                secret=app.secrets.encrypt("whsec_x"),
                description="",
                active=True,
            )
        )
    emit(app)
    assert webhooks.deliver_due(app.db, app.secrets) == 0
    row = the_delivery(app)
    assert row.last_error is not None and row.last_error.startswith("refused: ")
    assert outside == []  # refused before any connect


@pytest.mark.usefixtures("refuse_private")
def test_the_connection_goes_to_the_address_that_was_checked(
    app: App, monkeypatch: pytest.MonkeyPatch, outside: list[tuple[str, int]]
) -> None:
    """DNS rebinding: rebind.test answers one thing, then another. Every lookup is checked,
    and the connect goes to the address of the lookup that was checked, never to a later one."""
    real = socket.getaddrinfo
    answers: list[str] = []
    looked_up: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        if host != "rebind.test":
            return real(host, port, *args, **kw)
        looked_up.append(answers[0] if len(answers) == 1 else answers.pop(0))
        return real(looked_up[-1], port, *args, **kw)

    with WebhookReceiver() as receiver:
        port = int(receiver.url.split(":")[2].split("/")[0])
        url = f"http://rebind.test:{port}/hooks"
        answers[:] = [PUBLIC, "127.0.0.1"]
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        subscribe(app, url)  # rebind.test is public when it is saved ...
        answers[:] = ["127.0.0.1", PUBLIC]  # ... and loopback at the first delivery
        emit(app)
        assert webhooks.deliver_due(app.db, app.secrets) == 0
        assert receiver.requests == []
        assert the_delivery(app).last_error == (
            "refused: rebind.test resolves to 127.0.0.1, which is a loopback address"
        )
        assert outside == []

        # public when checked, loopback for any lookup after the check: the connect goes to the
        # checked public address (refused by the guard), never to the receiver on 127.0.0.1
        answers[:] = [PUBLIC, "127.0.0.1"]
        looked_up.clear()
        retry_at = the_delivery(app).next_attempt_at
        assert webhooks.deliver_due(app.db, app.secrets, now=retry_at) == 0
        assert receiver.requests == []
    assert outside == [(PUBLIC, port)]
    assert looked_up == [PUBLIC]  # one lookup, checked and used
    assert the_delivery(app).last_error == "connection refused"


@pytest.mark.usefixtures("allow_private")
def test_the_delivery_log_keeps_no_word_of_the_answer(app: App) -> None:
    with WebhookReceiver(status=500, text=SECRET_ANSWER) as receiver:
        subscribe(app, receiver.url)
        emit(app)
        assert webhooks.deliver_due(app.db, app.secrets) == 0
        assert len(receiver.requests) == 1
    row = the_delivery(app)
    assert (row.last_status, row.last_error) == (500, "answered 500")
    assert shown(app)["last_error"] == "answered 500"
    app.db.engine.dispose()  # everything written is in the files now
    for f in app.data_dir.rglob("*"):
        if f.is_file():
            assert b"hunter2" not in f.read_bytes(), f


def test_an_answer_kept_by_an_older_version_is_not_shown(app: App) -> None:
    subscribe(app, "https://erp.example/hook")  # cannot be resolved: accepted, checked later
    emit(app)
    with app.db.session() as s:
        row = s.scalars(select(WebhookDelivery)).one()
        row.last_status, row.last_error = 500, "answered 500: " + SECRET_ANSWER.decode()
    assert the_delivery(app).last_error == "answered 500: " + SECRET_ANSWER.decode()
    assert shown(app)["last_error"] == "answered 500"


@pytest.mark.parametrize("allowed", [True, False], ids=["with-the-option", "without"])
def test_the_worker_sends_to_a_private_address_only_with_the_operators_option(
    app: App, monkeypatch: pytest.MonkeyPatch, allowed: bool
) -> None:
    """``invoice-inbox worker --allow-private-webhooks``, as an operator runs it."""
    with WebhookReceiver() as receiver:
        monkeypatch.setenv("INVOICE_INBOX_ALLOW_PRIVATE_WEBHOOKS", "1")
        subscribe(app, receiver.url)
        env = {k: v for k, v in os.environ.items() if k != "INVOICE_INBOX_ALLOW_PRIVATE_WEBHOOKS"}
        emit(app)
        option = ["--allow-private-webhooks"] if allowed else []
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "invoice_inbox",
                "--data-dir",
                str(app.data_dir),
                "worker",
                *option,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while the_delivery(app).attempts == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            worker.send_signal(signal.SIGTERM)
            out, err = worker.communicate(timeout=60)
        row = the_delivery(app)
        assert row.attempts == 1, out + err
        if allowed:
            assert len(receiver.requests) == 1 and row.state == "delivered"
        else:
            assert receiver.requests == [] and row.state == "pending"
            assert row.last_error == "refused: 127.0.0.1 is a loopback address"


@pytest.fixture(scope="module")
def tls_receiver(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[int, ssl.SSLContext, list[str | None]]]:
    """An HTTPS receiver on 127.0.0.1 whose certificate names only "localhost": its port, the
    client context that trusts that certificate, and the SNI names it was asked for."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(certfile, keyfile)
    sni: list[str | None] = []
    server_ctx.sni_callback = lambda sock, server_name, ctx: sni.append(server_name)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(204 if self.headers["Host"].startswith("localhost:") else 400)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], ssl.create_default_context(cafile=str(certfile)), sni
    finally:
        server.shutdown()
        server.server_close()


def test_https_is_verified_against_the_urls_host_name_not_the_address(
    tls_receiver: tuple[int, ssl.SSLContext, list[str | None]],
) -> None:
    """The connection goes to the checked address, 127.0.0.1, yet TLS (SNI, the certificate's
    name) and the Host header are the URL's host name's."""
    port, trusted, sni = tls_receiver
    with egress.Poster(allow_private=True, ssl_context=trusted, timeout=10) as poster:
        assert poster.post(f"https://localhost:{port}/hook", b"{}", {}) == 204  # Host: localhost
        assert sni == ["localhost"]
        with pytest.raises(egress.Unsent) as untrusted:
            poster.post(f"https://127.0.0.1:{port}/hook", b"{}", {})  # not the certificate's name
    assert str(untrusted.value) == "TLS: the receiver's certificate is not trusted"
    with (
        egress.Poster(allow_private=True, timeout=10) as poster,  # the usual CAs
        pytest.raises(egress.Unsent, match="certificate is not trusted"),
    ):
        poster.post(f"https://localhost:{port}/hook", b"{}", {})
