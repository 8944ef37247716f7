"""The inbound SMTP receiver, driven by a real client (smtplib) on 127.0.0.1: which recipients
are refused and with what code, the exact bytes handed to deliver(), size limits, 250 only after
the store, 451 when it fails, STARTTLS with a throwaway certificate, start/stop, and the 421 that
ends guessing addresses (in a session, and from one client across sessions)."""

from __future__ import annotations

import base64
import contextlib
import datetime
import errno
import ipaddress
import logging
import re
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from invoice_inbox.connectors.smtp_inbound import Arrival, InboundServer, InboundSettings
from invoice_inbox.connectors.smtp_throttle import ClientThrottle, client_of

DOMAIN = "invoices.example.com"
SOURCES = {
    f"acme@{DOMAIN}": "acme",
    f"acme-ap@{DOMAIN}": "acme",  # a second address for the same source
    f"globex@{DOMAIN}": "globex",
}
LOGGER = "invoice_inbox.connectors.smtp_inbound"

# CRLF throughout, 8-bit UTF-8, lines that need dot-stuffing (a lone "." would end DATA).
MESSAGE = (
    "From: Lieferant <billing@supplier.example>\r\n"
    f"To: acme@{DOMAIN}\r\n"
    "Subject: Rechnung Nr. 4711 – Grüße\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Sehr geehrte Damen und Herren, anbei die Rechnung über 12,50 €.\r\n"
    ".\r\n"
    "..two dots\r\n"
    ".leading dot\r\n"
).encode()


class Store:
    """resolve() and deliver() for the server, recording what they were called with."""

    def __init__(self) -> None:
        self.sources = dict(SOURCES)
        self.resolve_error: Exception | None = None
        self.resolved: list[str] = []
        self.delivered: list[tuple[str, bytes, str]] = []
        self.fail_for: set[str] = set()
        self.hook: Callable[[str], None] | None = None  # runs inside deliver, before storing
        self._lock = threading.Lock()

    def resolve(self, address: str) -> str | None:
        with self._lock:
            self.resolved.append(address)
        if self.resolve_error is not None:
            raise self.resolve_error
        return self.sources.get(address)

    def deliver(self, key: str, mail: Arrival) -> None:
        if self.hook is not None:
            self.hook(key)
        if key in self.fail_for:
            raise RuntimeError(f"disk full while storing for {key}")
        with self._lock:
            self.delivered.append((key, mail.raw, mail.mail_from))


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def serve(store: Store) -> Iterator[Callable[..., InboundServer]]:
    """Start a receiver on a free port; every one started is stopped after the test."""
    started: list[InboundServer] = []

    def start(**settings: object) -> InboundServer:
        options: dict[str, object] = {"port": 0, "domain": DOMAIN, "hostname": "mx.test"}
        options["check_senders"] = False  # the dialogue only: senders in test_smtp_senders
        options.update(settings)
        server = InboundServer(InboundSettings(**options), store.resolve, store.deliver)  # type: ignore[arg-type]
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(timeout=5)


@pytest.fixture
def server(serve: Callable[..., InboundServer]) -> InboundServer:
    return serve()


def client(server: InboundServer) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", server.port, local_hostname="client.test", timeout=10)


# -- accepted mail ----------------------------------------------------------------------------


def test_delivers_exact_bytes_with_key_and_sender(server: InboundServer, store: Store) -> None:
    with client(server) as c:
        refused = c.sendmail(
            "billing@supplier.example", [f"acme@{DOMAIN}"], MESSAGE, mail_options=["BODY=8BITMIME"]
        )
    assert refused == {}
    assert store.delivered == [("acme", MESSAGE, "billing@supplier.example")]
    assert server.received == 1


def test_reply_says_queued_only_after_store(server: InboundServer, store: Store) -> None:
    with client(server) as c:
        c.ehlo()
        assert c.mail("billing@supplier.example") == (250, b"OK")
        assert c.rcpt(f"acme@{DOMAIN}") == (250, b"2.1.5 OK")
        code, text = c.data(MESSAGE)
    assert code == 250
    assert text.startswith(b"2.0.0 OK: queued as ")
    assert len(text.rsplit(b" ", 1)[1]) == 12
    assert len(store.delivered) == 1


def test_recipient_is_lower_cased_before_resolve(server: InboundServer, store: Store) -> None:
    with client(server) as c:
        c.sendmail("a@supplier.example", ["ACME@Invoices.Example.COM"], MESSAGE)
    assert store.resolved == [f"acme@{DOMAIN}"]
    assert [d[0] for d in store.delivered] == ["acme"]


def test_null_sender_is_accepted(server: InboundServer, store: Store) -> None:
    with client(server) as c:
        c.sendmail("", [f"acme@{DOMAIN}"], MESSAGE)
    assert store.delivered == [("acme", MESSAGE, "")]


def test_no_auth_offered(server: InboundServer) -> None:
    with client(server) as c:
        c.ehlo()
        assert not c.has_extn("auth")
        assert c.has_extn("size") and c.esmtp_features["size"] == str(25 * 1024 * 1024)
        assert c.docmd("AUTH", "PLAIN AGFsaWNlAHB3")[0] == 502


def test_pipelined_commands_get_their_replies_in_order(server: InboundServer, store: Store) -> None:
    """PIPELINING (RFC 2920) is offered: MTAs send MAIL, the RCPTs and DATA in one go."""
    with client(server) as c:
        c.ehlo()
        assert c.has_extn("pipelining")
        group = (
            f"MAIL FROM:<billing@supplier.example>\r\nRCPT TO:<acme@{DOMAIN}>\r\n"
            f"RCPT TO:<nobody@{DOMAIN}>\r\nRCPT TO:<globex@{DOMAIN}>\r\nDATA\r\n"
        )
        c.send(group.encode())
        replies = [c.getreply()[0] for _ in range(5)]
        assert replies == [250, 250, 550, 250, 354]
        c.send(re.sub(rb"(?m)^\.", b"..", MESSAGE) + b".\r\n")  # dot-stuffed, as data() does
        assert c.getreply()[0] == 250
    assert sorted(key for key, _, _ in store.delivered) == ["acme", "globex"]
    assert {raw for _, raw, _ in store.delivered} == {MESSAGE}


def test_smtp_smuggling_bare_lf_dot_does_not_end_data(server: InboundServer, store: Store) -> None:
    """SMTP smuggling (CVE-2023-51764 and kin): only CRLF.CRLF ends DATA, so a "<LF>.<CR><LF>"
    smuggled by a lenient relay stays message content and starts no second transaction."""
    body = (
        "Subject: hello\r\n\r\nhello\n.\r\n"
        "MAIL FROM:<ceo@supplier.example>\r\n"
        f"RCPT TO:<globex@{DOMAIN}>\r\n"
        "DATA\r\nSubject: smuggled\r\n\r\npay now\r\n"
    ).encode()
    wire = (
        (
            "EHLO client.test\r\nMAIL FROM:<a@supplier.example>\r\n"
            f"RCPT TO:<acme@{DOMAIN}>\r\nDATA\r\n"
        ).encode()
        + body
        + b".\r\nQUIT\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(wire)
        replies = sock.makefile("rb").read().decode().splitlines()
    final_codes = [r[:3] for r in replies if r[3] == " "]
    assert final_codes == ["220", "250", "250", "250", "354", "250", "221"]
    assert store.delivered == [("acme", body, "a@supplier.example")]


# -- refused recipients -----------------------------------------------------------------------


def test_unknown_address_at_our_domain_is_550_5_1_1(server: InboundServer, store: Store) -> None:
    with client(server) as c, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        c.sendmail("a@supplier.example", [f"nobody@{DOMAIN}"], MESSAGE)
    assert refused.value.recipients == {
        f"nobody@{DOMAIN}": (550, f"5.1.1 <nobody@{DOMAIN}>: no such import address".encode())
    }
    assert store.delivered == []
    assert server.received == 0


@pytest.mark.parametrize(
    "address", ["acme@elsewhere.example", f"acme@sub.{DOMAIN}", "postmaster@example.com"]
)
def test_other_domain_is_relaying_denied(server: InboundServer, store: Store, address: str) -> None:
    with client(server) as c, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        c.sendmail("a@supplier.example", [address], MESSAGE)
    code, text = refused.value.recipients[address]
    assert (code, text) == (550, f"5.7.1 <{address}>: relaying denied".encode())
    assert store.resolved == []  # never asked about foreign domains


def test_mixed_recipients_good_one_gets_the_mail(server: InboundServer, store: Store) -> None:
    with client(server) as c:
        refused = c.sendmail(
            "a@supplier.example",
            ["x@elsewhere.example", f"acme@{DOMAIN}", f"nobody@{DOMAIN}"],
            MESSAGE,
        )
    assert {addr: code for addr, (code, _) in refused.items()} == {
        "x@elsewhere.example": 550,
        f"nobody@{DOMAIN}": 550,
    }
    assert [d[0] for d in store.delivered] == ["acme"]


def test_repeated_recipient_counts_once(server: InboundServer, store: Store) -> None:
    recipients = [f"acme@{DOMAIN}", f"acme-ap@{DOMAIN}"] * 50 + [f"globex@{DOMAIN}"]
    with client(server) as c:
        c.ehlo()
        c.mail("a@supplier.example")
        codes = [c.rcpt(r) for r in recipients]
        assert c.data(MESSAGE)[0] == 250
    # A repeated address is accepted again without counting twice: 2 distinct before the 101st.
    assert all(code == 250 for code, _ in codes)
    assert sorted(d[0] for d in store.delivered) == ["acme", "globex"]


def test_101st_distinct_recipient_is_452(server: InboundServer, store: Store) -> None:
    recipients = [f"s{i}@{DOMAIN}" for i in range(101)]
    store.sources.update(dict.fromkeys(recipients, "acme"))
    with client(server) as c:
        refused = c.sendmail("a@supplier.example", recipients, MESSAGE)
    assert refused == {f"s100@{DOMAIN}": (452, b"4.5.3 too many recipients")}
    assert [d[0] for d in store.delivered] == ["acme"]


def test_resolve_raising_is_451_at_rcpt(
    server: InboundServer, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    store.resolve_error = ConnectionError("database is locked")
    with caplog.at_level(logging.ERROR, logger=LOGGER), client(server) as c:
        c.ehlo()
        c.mail("a@supplier.example")
        assert c.rcpt(f"acme@{DOMAIN}") == (451, b"4.3.0 temporary failure, try again later")
    assert any(r.exc_info and "database is locked" in str(r.exc_info[1]) for r in caplog.records)


# -- one delivery per source ------------------------------------------------------------------


def test_two_sources_get_one_delivery_each(server: InboundServer, store: Store) -> None:
    with client(server) as c:
        c.sendmail("a@supplier.example", [f"acme@{DOMAIN}", f"globex@{DOMAIN}"], MESSAGE)
    assert sorted((k, raw) for k, raw, _ in store.delivered) == [
        ("acme", MESSAGE),
        ("globex", MESSAGE),
    ]
    assert server.received == 1


def test_two_addresses_of_one_source_get_one_delivery(server: InboundServer, store: Store) -> None:
    with client(server) as c:
        c.sendmail("a@supplier.example", [f"acme@{DOMAIN}", f"acme-ap@{DOMAIN}"], MESSAGE)
    assert [d[0] for d in store.delivered] == ["acme"]


# -- size -------------------------------------------------------------------------------------


def test_declared_size_over_limit_is_552_at_mail(
    serve: Callable[..., InboundServer], store: Store
) -> None:
    server = serve(max_size=1000)
    with client(server) as c:
        c.ehlo()
        assert c.esmtp_features["size"] == "1000"
        assert c.mail("a@supplier.example", ["SIZE=1001"]) == (
            552,
            b"5.3.4 message size exceeds fixed maximum message size",
        )
        assert c.mail("a@supplier.example", ["SIZE=1000"])[0] == 250


def test_data_over_limit_is_552(serve: Callable[..., InboundServer], store: Store) -> None:
    server = serve(max_size=1000)
    big = MESSAGE + b"x" * 1000 + b"\r\n"
    with client(server) as c:
        c.ehlo()
        c.mail("a@supplier.example")  # no SIZE= (sendmail() would declare it)
        c.rcpt(f"acme@{DOMAIN}")
        # aiosmtpd's own reply, once the whole DATA has been read (RFC 5321 §4.2.5)
        assert c.data(big) == (552, b"Error: Too much mail data")
        assert c.noop()[0] == 250  # the session goes on
    assert store.delivered == []
    assert server.received == 0


def test_lines_over_1000_octets_are_taken_byte_for_byte(
    server: InboundServer, store: Store
) -> None:
    """Invoicing software writes lines longer than RFC 5322 allows (HTML on one line, base64
    not wrapped); Postfix, Exchange and Gmail take them. aiosmtpd's own limit answered 500 "Line
    too long": a permanent error, so the sender's MTA bounced the invoice."""
    html = "<p>" + "Rechnung 4711 über 12,50 € " * 700 + "</p>"  # ~20 KB in one line
    pdf = base64.b64encode(bytes(range(256)) * 6000).decode()  # ~2 MB in one line
    raw = MESSAGE + f"{html}\r\n\r\n{pdf}\r\n".encode()
    with client(server) as c:
        assert c.sendmail("billing@supplier.example", [f"acme@{DOMAIN}"], raw) == {}
        assert c.docmd("NOOP", "x" * 600) == (500, b"Command line too long")  # commands: 512
    assert store.delivered == [("acme", raw, "billing@supplier.example")]


# -- failure and slowness in deliver() --------------------------------------------------------


def test_deliver_raising_is_451_and_logged(
    server: InboundServer, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    store.fail_for = {"acme"}
    with (
        caplog.at_level(logging.ERROR, logger=LOGGER),
        client(server) as c,
        pytest.raises(smtplib.SMTPDataError) as refused,
    ):
        c.sendmail("a@supplier.example", [f"acme@{DOMAIN}"], MESSAGE)
    assert (refused.value.smtp_code, refused.value.smtp_error) == (
        451,
        b"4.3.0 temporary failure, try again later",
    )
    assert server.received == 0
    [record] = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.ERROR]
    assert record.exc_info is not None and "disk full" in str(record.exc_info[1])
    assert "'acme'" in record.getMessage()


def test_one_failing_source_fails_the_whole_message(server: InboundServer, store: Store) -> None:
    store.fail_for = {"globex"}
    with client(server) as c, pytest.raises(smtplib.SMTPDataError) as refused:
        c.sendmail("a@supplier.example", [f"acme@{DOMAIN}", f"globex@{DOMAIN}"], MESSAGE)
    assert refused.value.smtp_code == 451
    assert server.received == 0


def test_slow_deliver_ends_with_250_while_others_are_served(
    server: InboundServer, store: Store
) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_for_acme(key: str) -> None:
        if key == "acme":
            entered.set()
            assert release.wait(10)
            time.sleep(0.5)

    store.hook = slow_for_acme

    def send_slow() -> tuple[int, bytes]:
        with client(server) as c:
            c.ehlo()
            c.mail("a@supplier.example")
            c.rcpt(f"acme@{DOMAIN}")
            return c.data(MESSAGE)

    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(send_slow)
        assert entered.wait(10)
        # While acme's store hangs, a second connection is served end to end.
        with client(server) as c:
            c.sendmail("b@supplier.example", [f"globex@{DOMAIN}"], MESSAGE)
        assert not slow.done()
        assert [d[0] for d in store.delivered] == ["globex"]
        release.set()
        code, text = slow.result(10)
    assert code == 250 and text.startswith(b"2.0.0 OK: queued as ")
    assert sorted(d[0] for d in store.delivered) == ["acme", "globex"]
    assert server.received == 2


# -- STARTTLS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 and localhost."""
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
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
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
    return certfile, keyfile


def test_starttls_then_mail(
    serve: Callable[..., InboundServer], store: Store, certificate: tuple[Path, Path]
) -> None:
    certfile, keyfile = certificate
    server = serve(certfile=str(certfile), keyfile=str(keyfile))
    trust = ssl.create_default_context(cafile=str(certfile))
    with client(server) as c:
        c.ehlo()
        assert c.has_extn("starttls")
        assert c.starttls(context=trust)[0] == 220
        c.ehlo()
        assert not c.has_extn("starttls")
        assert not c.has_extn("auth")  # aiosmtpd would offer AUTH once on TLS
        c.sendmail("a@supplier.example", [f"acme@{DOMAIN}"], MESSAGE)
    assert store.delivered == [("acme", MESSAGE, "a@supplier.example")]


def test_require_tls_refuses_mail_before_starttls(
    serve: Callable[..., InboundServer], store: Store, certificate: tuple[Path, Path]
) -> None:
    certfile, keyfile = certificate
    server = serve(certfile=str(certfile), keyfile=str(keyfile), require_tls=True)
    with client(server) as c:
        c.ehlo()
        assert c.mail("a@supplier.example")[0] == 530
        c.starttls(context=ssl.create_default_context(cafile=str(certfile)))
        c.ehlo()
        assert c.mail("a@supplier.example")[0] == 250
        assert c.rcpt(f"acme@{DOMAIN}")[0] == 250
        assert c.data(MESSAGE)[0] == 250
    assert len(store.delivered) == 1


def test_unreadable_certificate_is_a_clear_error(store: Store, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    settings = InboundSettings(port=0, domain=DOMAIN, certfile=str(missing), keyfile=str(missing))
    server = InboundServer(settings, store.resolve, store.deliver)
    with pytest.raises(FileNotFoundError, match="cannot load the TLS certificate"):
        server.start()
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    settings = InboundSettings(port=0, domain=DOMAIN, certfile=str(garbage), keyfile=str(garbage))
    with pytest.raises(OSError, match="cannot load the TLS certificate"):
        InboundServer(settings, store.resolve, store.deliver).start()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"certfile": "cert.pem"}, "both certfile and keyfile"),
        ({"require_tls": True}, "require_tls needs"),
        ({"domain": "ap@invoices.example.com"}, "bare domain"),
        ({"max_size": 0}, "max_size"),
        ({"mails_per_client": 0}, "mails a client"),
        ({"daily_cap": -1}, "daily cap"),
        ({"authserv_id": "invoices.example.com; dkim=pass"}, "authserv-id"),
        ({"dns_server": "dns.example:53"}, "DNS server"),
    ],
)
def test_settings_that_cannot_work_are_refused(settings: dict[str, object], message: str) -> None:
    options: dict[str, object] = {"domain": DOMAIN}
    options.update(settings)
    with pytest.raises(ValueError, match=message):
        InboundSettings(**options)  # type: ignore[arg-type]


# -- start and stop ---------------------------------------------------------------------------


def test_stop_while_idle_frees_the_port(store: Store) -> None:
    server = InboundServer(InboundSettings(port=0, domain=DOMAIN), store.resolve, store.deliver)
    server.start()
    port = server.port
    assert port != 0
    server.stop()
    server.stop()  # a second stop does nothing
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_port_in_use_is_a_clear_error(server: InboundServer, store: Store) -> None:
    settings = InboundSettings(port=server.port, domain=DOMAIN)
    second = InboundServer(settings, store.resolve, store.deliver)
    with pytest.raises(OSError, match=f"cannot listen for SMTP on 127.0.0.1:{server.port}") as err:
        second.start()
    assert err.value.errno == errno.EADDRINUSE
    second.stop()  # never started: nothing to do


def test_stop_waits_for_a_store_under_way(server: InboundServer, store: Store) -> None:
    entered, release = threading.Event(), threading.Event()

    def hang(key: str) -> None:
        entered.set()
        assert release.wait(10)

    store.hook = hang

    def send() -> tuple[int, bytes]:
        c = client(server)
        try:
            c.ehlo()
            c.mail("a@supplier.example")
            c.rcpt(f"acme@{DOMAIN}")
            return c.data(MESSAGE)
        finally:
            c.close()  # no QUIT: by now the server has said 421 and gone

    with ThreadPoolExecutor(2) as pool:
        sending = pool.submit(send)
        assert entered.wait(10)
        stopping = pool.submit(server.stop, 10)
        time.sleep(0.3)
        assert not stopping.done()
        release.set()
        stopping.result(10)
        code, _ = sending.result(10)
    assert code == 250  # the sender heard of the store before the connection was closed
    assert server.received == 1


def test_stop_gives_up_after_its_timeout(
    server: InboundServer, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    entered, release = threading.Event(), threading.Event()

    def hang(key: str) -> None:
        entered.set()
        release.wait(10)

    store.hook = hang
    with ThreadPoolExecutor(1) as pool, client(server) as c:
        c.ehlo()
        c.mail("a@supplier.example")
        c.rcpt(f"acme@{DOMAIN}")
        sending = pool.submit(c.data, MESSAGE)
        assert entered.wait(10)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            server.stop(timeout=0.2)
        assert time.monotonic() - started < 5
        assert sending.result(10)[0] == 421  # not acknowledged: the sender retries
        release.set()
    assert server.received == 0
    assert "store still runs" in caplog.text


def test_open_session_hears_421_on_stop(server: InboundServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"220 mx.test ESMTP")
        server.stop()
        assert reader.readline() == b"421 4.3.2 service shutting down, try again later\r\n"
        assert reader.readline() == b""


# -- guessing addresses -----------------------------------------------------------------------


def unknown_rcpts(server: InboundServer, count: int, start: int = 0) -> list[int]:
    """One session: MAIL, then *count* unknown recipients; their reply codes. The session is
    ended with QUIT if the server did not close it."""
    c = client(server)
    try:
        c.ehlo()
        c.mail("a@supplier.example")
        return [c.rcpt(f"guess{start + i}@{DOMAIN}")[0] for i in range(count)]
    finally:
        with contextlib.suppress(smtplib.SMTPServerDisconnected):
            c.quit()
        c.close()


def test_sixth_unknown_recipient_is_421_and_the_connection_closed(
    server: InboundServer, store: Store
) -> None:
    with client(server) as c:
        c.ehlo()
        c.mail("a@supplier.example")
        codes = [c.rcpt(f"guess{i}@{DOMAIN}")[0] for i in range(5)]
        assert codes == [550] * 5
        assert c.rcpt("acme@elsewhere.example") == (
            421,
            b"4.7.0 too many unknown recipients, closing the connection",
        )
        with pytest.raises(smtplib.SMTPServerDisconnected):
            c.rcpt(f"acme@{DOMAIN}")  # closed: no more guesses on this connection
    assert store.resolved == [f"guess{i}@{DOMAIN}" for i in range(5)]
    with client(server) as c:  # a fresh session is not held to the old one's count
        assert c.sendmail("a@supplier.example", [f"acme@{DOMAIN}"], MESSAGE) == {}
    assert [d[0] for d in store.delivered] == ["acme"]


def test_a_client_with_many_unknown_recipients_across_sessions_waits(
    serve: Callable[..., InboundServer], store: Store
) -> None:
    server = serve(unknown_per_client=8, unknown_window=600)
    now = [1000.0]
    server.throttle = ClientThrottle(8, 600, clock=lambda: now[0])
    assert unknown_rcpts(server, 4) == [550] * 4
    assert unknown_rcpts(server, 4, start=4) == [550] * 4  # 8 within the window: enough
    resolved = len(store.resolved)
    with client(server) as c:
        c.ehlo()
        c.mail("a@supplier.example")
        assert c.rcpt(f"acme@{DOMAIN}") == (
            421,
            b"4.7.0 too many unknown recipients from your address, try later",
        )
        with pytest.raises(smtplib.SMTPServerDisconnected):
            c.noop()
    assert len(store.resolved) == resolved  # not even looked up
    now[0] += 601  # the window has passed
    with client(server) as c:
        assert c.sendmail("a@supplier.example", [f"acme@{DOMAIN}"], MESSAGE) == {}
    assert [d[0] for d in store.delivered] == ["acme"]


def test_the_clients_remembered_are_bounded_and_an_ipv6_64_is_one_client() -> None:
    throttle = ClientThrottle(3, 600, max_clients=100)
    for i in range(5000):
        throttle.refused(client_of((f"10.{i // 256 % 256}.{i % 256}.1", 25)))
    assert len(throttle) == 100
    assert client_of(("2001:db8:1:2::1", 25, 0, 0)) == client_of(("2001:db8:1:2:ffff::9", 25))
    assert client_of(("::ffff:192.0.2.7", 25, 0, 0)) == "192.0.2.7"
    for host in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3"):
        throttle.refused(client_of((host, 25)))
    assert throttle.blocked(client_of(("2001:db8:1:2::4", 25)))
    assert not throttle.blocked(client_of(("2001:db8:1:3::1", 25)))
