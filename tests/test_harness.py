"""Tests of the test infrastructure itself: the private Dovecot server and the data builders."""

from __future__ import annotations

import contextlib
import email
import email.policy
import imaplib
import io
import poplib
import re
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from builders import Attachment, make_mail, make_nested_mail, make_pdf
from harness.dovecot import (
    DovecotServer,
    IntrospectionServer,
    Mailbox,
    imap_utf7_decode,
    imap_utf7_encode,
    write_maildir,
    xoauth2_response,
)


class _IMAP4TLS(imaplib.IMAP4_SSL):
    """IMAPS to 127.0.0.1 while verifying the certificate for ``server_name``."""

    def __init__(self, port: int, context: ssl.SSLContext, server_name: str) -> None:
        self._server_name = server_name
        super().__init__("127.0.0.1", port, ssl_context=context, timeout=10)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self._server_name)


def _capabilities(conn: imaplib.IMAP4) -> set[str]:
    typ, data = conn.capability()
    assert typ == "OK"
    return set(data[0].decode().upper().split())


# ---------------------------------------------------------------- server basics


def test_plain_login_and_select(mailbox: Mailbox) -> None:
    conn = mailbox.imap()
    try:
        typ, data = conn.select("INBOX")
        assert typ == "OK"
        assert data == [b"0"]
    finally:
        conn.logout()


def test_wrong_password_is_refused(dovecot: DovecotServer, mailbox: Mailbox) -> None:
    conn = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=10)
    try:
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            conn.login(mailbox.user, mailbox.password + "x")
    finally:
        conn.shutdown()


def test_capabilities_after_login(mailbox: Mailbox) -> None:
    conn = mailbox.imap()
    try:
        caps = _capabilities(conn)
    finally:
        conn.logout()
    assert {"MOVE", "UIDPLUS", "IDLE", "CONDSTORE", "SPECIAL-USE"} <= caps


def test_ports_are_distinct_and_loopback(dovecot: DovecotServer) -> None:
    ports = {dovecot.imap_port, dovecot.imaps_port, dovecot.pop3_port, dovecot.pop3s_port}
    assert len(ports) == 4
    assert dovecot.host == "127.0.0.1"
    assert "listen = 127.0.0.1\n" in dovecot.conf.read_text()
    assert dovecot.log_path.exists()


# ---------------------------------------------------------------- TLS


@pytest.mark.parametrize("server_name", ["localhost", "127.0.0.1"])
def test_imaps_verifies_against_ca_file(
    dovecot: DovecotServer, mailbox: Mailbox, server_name: str
) -> None:
    context = ssl.create_default_context(cafile=str(dovecot.ca_file))
    conn = _IMAP4TLS(dovecot.imaps_port, context, server_name)
    try:
        conn.login(mailbox.user, mailbox.password)
        assert conn.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert conn.select("INBOX")[0] == "OK"
    finally:
        conn.logout()


def test_starttls_verifies_against_ca_file(dovecot: DovecotServer, mailbox: Mailbox) -> None:
    conn = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=10)
    try:
        assert "STARTTLS" in conn.capabilities
        conn.host = dovecot.tls_server_name  # name to verify; the TCP peer stays 127.0.0.1
        conn.starttls(ssl_context=dovecot.tls_context())
        assert isinstance(conn.sock, ssl.SSLSocket)
        conn.login(mailbox.user, mailbox.password)
    finally:
        conn.logout()


def test_default_trust_store_refuses_the_self_signed_cert(dovecot: DovecotServer) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        _IMAP4TLS(dovecot.imaps_port, ssl.create_default_context(), "localhost")
    conn = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=10)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            conn.starttls(ssl_context=ssl.create_default_context())
    finally:
        with contextlib.suppress(OSError):  # the failed handshake closed the socket
            conn.shutdown()


def test_wrong_server_name_is_refused(dovecot: DovecotServer) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        _IMAP4TLS(dovecot.imaps_port, dovecot.tls_context(), "mail.example.com")


def test_pop3_plain_stls_and_pop3s(dovecot: DovecotServer, mailbox: Mailbox) -> None:
    mailbox.append("INBOX", make_mail(subject="pop3"))
    plain = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=10)
    try:
        plain.stls(context=dovecot.tls_context())
        plain.user(mailbox.user)
        plain.pass_(mailbox.password)
        assert plain.stat()[0] == 1
    finally:
        plain.quit()
    secure = poplib.POP3_SSL(
        dovecot.host, dovecot.pop3s_port, context=dovecot.tls_context(), timeout=10
    )
    try:
        secure.user(mailbox.user)
        secure.pass_(mailbox.password)
        assert b"Subject: pop3" in b"\r\n".join(secure.retr(1)[1])
    finally:
        secure.quit()


# ---------------------------------------------------------------- helpers


def test_special_folders_are_auto_subscribed(mailbox: Mailbox) -> None:
    assert {"INBOX", "Junk", "Trash", "Sent", "Drafts"} <= set(mailbox.folders())
    conn = mailbox.imap()
    try:
        typ, data = conn.lsub('""', '"*"')
        typ_ns, ns = conn.namespace()
    finally:
        conn.logout()
    assert typ == "OK"
    subscribed = b" ".join(d for d in data if isinstance(d, bytes))
    for name in (b"Junk", b"Trash", b"Sent", b"Drafts"):
        assert name in subscribed
    assert typ_ns == "OK"
    assert b'"/"' in ns[0]


def test_append_returns_increasing_uids(mailbox: Mailbox) -> None:
    uids = [mailbox.append("INBOX", make_mail(subject=f"Invoice {i}")) for i in range(4)]
    assert uids == sorted(set(uids))
    assert mailbox.uids("INBOX") == uids
    assert mailbox.count("INBOX") == 4


def test_append_creates_missing_folders(mailbox: Mailbox) -> None:
    folder = "Rechnungen/2024/Müller & Söhne"
    uid = mailbox.append(folder, make_mail())
    assert uid == 1
    assert folder in mailbox.folders()
    assert mailbox.uids(folder) == [1]
    assert mailbox.append(folder, make_mail()) == 2  # exists now: no second CREATE


def test_fetch_flags(mailbox: Mailbox) -> None:
    a = mailbox.append("INBOX", make_mail(), ("\\Seen", "$Invoice"))
    b = mailbox.append("INBOX", make_mail(), ())
    c = mailbox.append("INBOX", make_mail(), ("\\Flagged",))
    assert mailbox.flags("INBOX") == {a: {"\\Seen", "$Invoice"}, b: set(), c: {"\\Flagged"}}


def test_helpers_do_not_mark_messages_seen(mailbox: Mailbox) -> None:
    uid = mailbox.append("INBOX", make_mail())
    mailbox.server.fetch_messages(mailbox.user, "INBOX")
    mailbox.uids("INBOX")
    assert mailbox.flags("INBOX") == {uid: set()}


@pytest.mark.parametrize("folder", ["INBOX", "Junk", "Archive/2024"])
def test_recreate_folder_changes_uidvalidity(mailbox: Mailbox, folder: str) -> None:
    server = mailbox.server
    raws = [make_mail(subject=f"Invoice {i}") for i in range(3)]
    for i, raw in enumerate(raws):
        mailbox.append(folder, raw, ("\\Seen",) if i == 1 else ())
    before = server.fetch_messages(mailbox.user, folder)
    old = mailbox.uidvalidity(folder)

    new = server.recreate_folder_with_same_mails(mailbox.user, folder)

    assert new != old
    assert mailbox.uidvalidity(folder) == new
    assert mailbox.count(folder) == 3
    after = server.fetch_messages(mailbox.user, folder)
    assert [m[3] for m in after] == [m[3] for m in before]  # same bytes, same order
    assert [m[1] for m in after] == [m[1] for m in before]  # same flags
    assert [m[2] for m in after] == [m[2] for m in before]  # same INTERNALDATE
    assert folder in mailbox.folders()
    # appending afterwards still works and continues the new UID sequence
    assert mailbox.append(folder, make_mail()) > max(m[0] for m in after)


def test_recreate_disconnects_open_sessions(mailbox: Mailbox) -> None:
    mailbox.append("INBOX", make_mail())
    old = mailbox.uidvalidity("INBOX")
    conn = mailbox.imap()
    try:
        conn.select("INBOX")
        new = mailbox.server.recreate_folder_with_same_mails(mailbox.user, "INBOX")
        with pytest.raises(imaplib.IMAP4.abort):
            conn.noop()
    finally:
        with contextlib.suppress(OSError):
            conn.shutdown()
    fresh = mailbox.imap()
    try:
        fresh.select("INBOX")
        assert fresh.response("UIDVALIDITY")[1] == [str(new).encode()]
    finally:
        fresh.logout()
    assert new != old


def test_recreate_twice_keeps_changing_uidvalidity(mailbox: Mailbox) -> None:
    mailbox.append("INBOX", make_mail())
    seen = {mailbox.uidvalidity("INBOX")}
    for _ in range(2):
        seen.add(mailbox.server.recreate_folder_with_same_mails(mailbox.user, "INBOX"))
    assert len(seen) == 3
    assert mailbox.count("INBOX") == 1


def test_new_user_hands_out_distinct_working_users(dovecot: DovecotServer) -> None:
    first, second = dovecot.new_user(), dovecot.new_user()
    assert first[0] != second[0]
    for user, _password in (first, second):
        dovecot.imap(user).logout()


def test_doveadm_sees_appended_mail(mailbox: Mailbox) -> None:
    mailbox.append("INBOX", make_mail())
    out = mailbox.server.doveadm("mailbox", "status", "-u", mailbox.user, "messages", "INBOX")
    assert out.stdout.strip() == "INBOX messages=1"


def test_import_maildir(mailbox: Mailbox, tmp_path: Path) -> None:
    server = mailbox.server
    corpus = [make_mail(subject=f"Bulk {i}") for i in range(25)]
    private = write_maildir(tmp_path / "corpus", corpus)  # under pytest's 0700 tmp dir
    server.import_maildir(mailbox.user, private)
    assert mailbox.count("INBOX") == 25
    assert not list(private.glob("dovecot*"))  # nothing written into the source

    shared = write_maildir(server.scratch_dir / f"corpus-{mailbox.user}", corpus[:5], seen=True)
    server.import_maildir(mailbox.user, shared)
    assert mailbox.count("INBOX") == 30
    assert sum("\\Seen" in f for f in mailbox.flags("INBOX").values()) == 5
    subjects = {
        re.search(rb"Subject: (.*)\r\n", m[3]).group(1)
        for m in server.fetch_messages(mailbox.user, "INBOX")
    }
    assert subjects == {f"Bulk {i}".encode() for i in range(25)}


def test_appended_bytes_come_back_unchanged(mailbox: Mailbox) -> None:
    raw = make_mail(attachments=[Attachment("INV-1.pdf", make_pdf("INV-1"))])
    mailbox.append("INBOX", raw)
    [(_uid, _flags, _date, fetched)] = mailbox.server.fetch_messages(mailbox.user, "INBOX")
    assert fetched == raw


def test_mailbox_names_round_trip_through_modified_utf7() -> None:
    for name in ["INBOX", "Müller & Söhne", "日本語/請求書", "a&b", "~peter/mail/台北"]:
        assert imap_utf7_decode(imap_utf7_encode(name)) == name
    assert imap_utf7_encode("Entwürfe") == "Entw&APw-rfe"
    assert imap_utf7_encode("a&b") == "a&-b"


# ---------------------------------------------------------------- own instances


def test_users_oauth2_pool_refill_and_clean_stop(tmp_path: Path, dovecot: DovecotServer) -> None:
    """A second instance: constructor users, the oauth2 passdb, pool refill, stop timing."""
    base = dovecot.base_dir.parent / f"oauth-{tmp_path.name}"  # traversable like the session one
    with IntrospectionServer({"good-token": "alice"}) as idp:
        server = DovecotServer(
            base, {"alice": "alicepw"}, oauth2_introspection_url=idp.url, pool_size=1
        )
        with server:
            assert server.start_seconds is not None and server.start_seconds < 5
            pid = server.pid
            assert pid is not None

            server.imap("alice").logout()  # PLAIN with a constructor user

            conn = imaplib.IMAP4(server.host, server.imap_port, timeout=10)
            assert "AUTH=XOAUTH2" in conn.capabilities
            conn.authenticate("XOAUTH2", lambda _c: xoauth2_response("alice", "good-token"))
            conn.logout()

            conn = imaplib.IMAP4(server.host, server.imap_port, timeout=10)
            try:  # the password must not pass as a token (mechanisms filter on passwd-file)
                with pytest.raises(imaplib.IMAP4.error):
                    conn.authenticate("XOAUTH2", _one_shot(xoauth2_response("alice", "alicepw")))
            finally:
                conn.shutdown()
            assert idp.requests[:2] == ["good-token", "alicepw"]

            first = server.new_user()
            second = server.new_user()  # pool of 1 is empty: refills and waits for Dovecot
            assert first[0] != second[0]
            server.imap(second[0]).logout()
        assert not server.running
        assert server.stop_seconds is not None and server.stop_seconds < 5
    assert not Path(f"/proc/{pid}").exists()  # reaped by the test process, not a zombie


def _one_shot(first: bytes) -> Callable[[bytes], bytes]:
    """imaplib authobject: ``first`` as the initial response, then empty responses."""
    sent: list[bool] = []

    def respond(_challenge: bytes) -> bytes:
        if sent:
            return b""  # answer the server's JSON error challenge with an empty response
        sent.append(True)
        return first

    return respond


# ---------------------------------------------------------------- builders


def test_make_pdf_is_a_valid_pdf() -> None:
    pdf = make_pdf("Invoice 4711")
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert make_pdf("Invoice 4711") == pdf
    assert make_pdf("Invoice 4712") != pdf
    assert make_pdf("請求書 1") != make_pdf("請求書 2")
    xref_at = int(pdf.rsplit(b"startxref\n", 1)[1].split()[0])
    assert pdf[xref_at:].startswith(b"xref\n")
    try:
        import pypdf
    except ImportError:
        return
    reader = pypdf.PdfReader(io.BytesIO(pdf), strict=True)
    assert len(reader.pages) == 1
    assert "Invoice 4711" in reader.pages[0].extract_text()
    assert reader.metadata.title == "Invoice 4711"


def _parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def _tree(part: email.message.Message) -> list:
    if part.is_multipart():
        return [part.get_content_type(), [_tree(p) for p in part.get_payload()]]
    return [part.get_content_type()]


def test_make_mail_defaults() -> None:
    raw = make_mail()
    msg = _parse(raw)
    assert msg["Subject"] == "Invoice 1"
    assert msg["From"] == "Billing <billing@supplier.example>"
    assert msg.get_content_type() == "text/plain"
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in make_mail(crlf=False)
    assert make_mail()[:0] == b"" and _parse(make_mail())["Message-ID"] != msg["Message-ID"]
    assert _parse(make_mail(message_id="<fixed@x>"))["Message-ID"] == "<fixed@x>"
    fixed_date = "Mon, 01 Jan 2024 10:00:00 +0100"
    assert _parse(make_mail(date=fixed_date))["Date"] == fixed_date


def test_make_mail_tricky_attachments() -> None:
    pdf = make_pdf("real")
    raw = make_mail(
        html="<p>see attachment</p>",
        attachments=[
            Attachment("scan.txt", pdf, "text/plain"),
            Attachment("invoice.pdf", b"this is not a PDF"),
            Attachment("inline.pdf", pdf, disposition="inline"),
            Attachment(None, pdf, disposition=None),
        ],
    )
    msg = _parse(raw)
    assert _tree(msg) == [
        "multipart/mixed",
        [
            ["multipart/alternative", [["text/plain"], ["text/html"]]],
            ["text/plain"],
            ["application/pdf"],
            ["application/pdf"],
            ["application/pdf"],
        ],
    ]
    parts = list(msg.iter_attachments())
    misleading, fake, inline, bare = parts[0], parts[1], parts[2], parts[3]
    assert misleading.get_filename() == "scan.txt"
    assert misleading.get_payload(decode=True) == pdf
    assert fake.get_payload(decode=True) == b"this is not a PDF"
    assert inline.get_content_disposition() == "inline"
    assert inline.get_payload(decode=True) == pdf
    assert bare["Content-Disposition"] is None and bare.get_filename() is None
    assert bare.get_payload(decode=True) == pdf


@pytest.mark.parametrize(
    ("inner", "path"),
    [("related", [0, 1, 1]), ("alternative", [0, 1])],
)
def test_make_nested_mail(inner: str, path: list[int]) -> None:
    pdf = make_pdf("nested")
    msg = _parse(make_nested_mail(inner=inner, pdf=pdf))
    assert msg.get_content_type() == "multipart/mixed"
    part = msg
    for index in path:
        part = part.get_payload()[index]
    assert part.get_content_type() == "application/pdf"
    assert part.get_filename() == "invoice.pdf"
    assert part.get_payload(decode=True) == pdf
    assert msg.get_payload()[0].get_content_type() == "multipart/alternative"
