"""Mail relayed by a real MTA to the import address: swaks (and smtplib where swaks has no
option) sends to a private Postfix (``harness.postfix``), which relays to our receiver
(``InboundServer`` with the real ``Inbox`` on a real data directory) through a relay that can
cut the connection (``harness.smtp_cut``); bounces go to a sink standing for the sender.

Each mail lands once: plain, pipelined, an 8-bit body, SMTPUTF8 addresses, a 30 MB mail. A
connection dropped in DATA stores nothing and the sender's retry (``postqueue -f``) stores it
once; a connection dropped after the mail, before our 250, stores it and the retry is recorded
as a copy of it. A 4xx from us (at RCPT: the daily cap; after the data: the source held by
another process) is retried by Postfix and then stored once; a 5xx (unknown address, DMARC
reject) is bounced to the sender, nothing stored, nothing retried. One Postfix and one receiver
serve the module.
"""

from __future__ import annotations

import random
import smtplib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from builders import Attachment, make_mail, make_pdf
from harness.dns_server import DnsServer
from harness.dovecot import free_ports
from harness.postfix import HOST, PostfixRelay, need_postfix, swaks
from harness.smtp_cut import SmtpCut
from invoice_inbox.connectors.smtp_inbound import InboundServer, InboundSettings
from invoice_inbox.runtime import lease
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.inbound import Inbox
from invoice_inbox.store import companies, sources
from invoice_inbox.store.models import Message

# What the MTA and the receiver say to each other does not depend on the database: the module
# runs once, on SQLite (received mail stored on PostgreSQL: test_smtp_receivers).
pytestmark = pytest.mark.sqlite_only

DOMAIN = "invoices.test"
SENDER = "billing@supplier.test"  # its domain's mail (the bounces) goes to the sink
MAX_SIZE = 40 << 20  # the import address takes the 30 MB mail (the default is 25 MB)


@dataclass
class Sink:
    """Stands for the sender's own mail server: it collects the bounces Postfix sends."""

    mails: list[bytes] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        with self.arrived:
            self.mails.append(envelope.original_content)  # type: ignore[attr-defined]
            self.arrived.notify_all()
        return "250 OK"

    def wait(self, count: int, timeout: float = 60.0) -> list[bytes]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.mails) >= count, timeout)
            return list(self.mails)


@dataclass
class Rig:
    app: App
    source: str
    address: str
    receiver: InboundServer
    cut: SmtpCut
    mta: PostfixRelay
    sink: Sink

    def rows(self, subject: str) -> list[Message]:
        """The ledger rows of the mails with *subject*, oldest first."""
        with self.app.db.session() as s:
            rows = list(
                s.scalars(select(Message).where(Message.subject == subject).order_by(Message.id))
            )
            s.expunge_all()
        return rows

    def stored(self, subject: str) -> bytes:
        """The one mail stored with *subject* (copies recorded as duplicates aside)."""
        [row] = [r for r in self.rows(subject) if r.duplicate_of_id is None]
        return self.app.blobs.get(row.raw_sha256)

    def set_company(self, **fields: object) -> None:
        with self.app.db.session() as s:
            company = sources.get(s, self.source).company
            for name, value in fields.items():
                setattr(company, name, value)

    def set_source(self, **fields: object) -> None:
        with self.app.db.session() as s:
            src = sources.get(s, self.source)
            for name, value in fields.items():
                setattr(src, name, value)

    def relay(self, raw: bytes, *extra: str, to: str | None = None) -> str:
        """swaks sends *raw* to Postfix; Postfix's queue id. (swaks ends the data with its own
        CRLF before the dot: *raw*'s last one is left to it.)"""
        data = raw.removesuffix(b"\r\n")
        return self.mta.swaks(
            "--from", SENDER, "--to", to or self.address, "--data", "-", *extra, input=data
        )


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    need_postfix()
    data = tmp_path_factory.mktemp("postfix-relay") / "data"
    app = App.open(data)
    with app.db.session() as s:
        companies.set_setting(s, companies.SMTP_DOMAIN, DOMAIN)
        company = sources.company(s, "ACME", create=True)
        source = companies.import_source(s, company).name
        address = str(companies.address(s, company))
    sink = Sink()
    [sink_port] = free_ports(1)
    sink_ctl = Controller(sink, hostname=HOST, port=sink_port)
    with DnsServer() as dns:
        dns.add("strict.test", "TXT", "v=spf1 ip4:192.0.2.1 -all")
        dns.add("_dmarc.strict.test", "TXT", "v=DMARC1; p=reject")
        settings = InboundSettings(
            port=0, domain=DOMAIN, max_size=MAX_SIZE, dns_server=dns.address, hostname="mx.test"
        )
        inbox = Inbox(app, busy_wait=1.0)  # a source held elsewhere: 451 after a second
        receiver = InboundServer(settings, inbox.resolve, inbox.deliver, terms=inbox.terms)
        receiver.start()
        sink_ctl.start()
        try:
            with (
                SmtpCut(receiver.port) as cut,
                PostfixRelay({DOMAIN: cut.port, "supplier.test": sink_port}) as mta,
            ):
                yield Rig(app, source, address, receiver, cut, mta, sink)
        finally:
            sink_ctl.stop()
            receiver.stop(timeout=5)
            app.close()


def invoice(subject: str) -> bytes:
    return make_mail(
        from_=f"Billing <{SENDER}>",
        to="ACME <ap@buyer.test>",  # qualified: Postfix would append its own domain to "ap"
        subject=subject,
        attachments=[Attachment(f"{subject}.pdf", make_pdf(subject))],
    )


def last_mail_command(rig: Rig) -> bytes:
    """The last MAIL FROM command Postfix sent to our receiver."""
    return [c for c in rig.cut.commands if c.upper().startswith(b"MAIL FROM:")][-1]


def smtp_relay(rig: Rig, raw: bytes, mail_from: str = SENDER, options: tuple[str, ...] = ()) -> str:
    """smtplib sends *raw* to Postfix with MAIL parameters swaks 20201014 has no option for
    (BODY=8BITMIME, SMTPUTF8); Postfix's queue id."""
    with smtplib.SMTP(HOST, rig.mta.port, timeout=60) as c:
        c.ehlo("client.supplier.test")
        assert c.mail(mail_from, list(options))[0] == 250
        assert c.rcpt(rig.address)[0] == 250
        code, text = c.data(raw)
    assert code == 250, text
    return text.decode().rsplit(" ", 1)[1]


@pytest.mark.parametrize("pipelined", [False, True], ids=["plain", "pipelining"])
def test_relayed_mail_is_stored_once_with_the_relays_received_line(
    rig: Rig, pipelined: bool
) -> None:
    subject = f"Invoice relayed {'pipelined' if pipelined else 'plain'}"
    raw = invoice(subject)
    qid = rig.relay(raw, *(["--pipeline"] if pipelined else []))
    assert "250 2.0.0 OK: queued as" in rig.mta.wait(qid, "sent")
    rig.mta.wait_removed(qid)
    [row] = rig.rows(subject)
    assert row.duplicate_of_id is None
    stored = rig.stored(subject)
    assert stored.startswith(f"Authentication-Results: {DOMAIN};".encode())
    assert f"by relay.postfix.test (Postfix) with ESMTP id {qid}".encode() in stored
    assert stored.endswith(raw.split(b"\r\n", 1)[1])  # the sender's bytes, unchanged


def padded(subject: str, size: int) -> bytes:
    """An invoice mail of about *size* bytes (an incompressible attachment besides the PDF)."""
    blob = Attachment("annex.bin", random_bytes(size * 3 // 4), "application/octet-stream")
    return make_mail(
        from_=f"Billing <{SENDER}>",
        to="ACME <ap@buyer.test>",
        subject=subject,
        attachments=[Attachment(f"{subject}.pdf", make_pdf(subject)), blob],
    )


def random_bytes(n: int) -> bytes:
    return random.Random(n).randbytes(n)


@pytest.mark.parametrize("declared", [True, False], ids=["BODY=8BITMIME", "undeclared"])
def test_8bit_body_arrives_unconverted(rig: Rig, declared: bool) -> None:
    subject = f"Invoice 8bit {'declared' if declared else 'undeclared'}"
    text = "Rechnung für Größe: 12,50 € (überfällig)".encode()
    raw = (
        (
            f"From: Billing <{SENDER}>\r\nTo: ACME <ap@buyer.test>\r\nSubject: {subject}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
        ).encode()
        + text
        + b"\r\n"
    )
    # swaks 20201014 has no option for BODY=8BITMIME
    qid = smtp_relay(rig, raw, options=("BODY=8BITMIME",)) if declared else rig.relay(raw)
    rig.mta.wait(qid, "sent")
    assert b"BODY=8BITMIME" in last_mail_command(rig)  # Postfix says so to us in both cases
    assert len(rig.rows(subject)) == 1
    assert rig.stored(subject).endswith(b"\r\n\r\n" + text + b"\r\n")  # not made quoted-printable


def test_smtputf8_sender_is_relayed_and_stored_once(rig: Rig) -> None:
    subject = "Invoice SMTPUTF8"
    sender = "jörg.müller@supplier.test"
    raw = (
        f"From: Jörg Müller <{sender}>\r\nTo: ACME <ap@buyer.test>\r\nSubject: {subject}\r\n"
        "Date: Sat, 5 Dec 2026 10:00:00 +0000\r\nMessage-ID: <utf8@supplier.test>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\nRechnung anbei.\r\n"
    ).encode()
    qid = smtp_relay(rig, raw, mail_from=sender, options=("SMTPUTF8", "BODY=8BITMIME"))
    rig.mta.wait(qid, "sent")
    command = last_mail_command(rig)
    assert f"<{sender}>".encode() in command and b"SMTPUTF8" in command.upper()
    assert len(rig.rows(subject)) == 1
    assert rig.stored(subject).endswith(raw.split(b"\r\n", 1)[1])


def test_smtputf8_senders_address_on_the_ledger(rig: Rig) -> None:
    subject = "Invoice SMTPUTF8 ledger"
    sender = "jörg.müller@supplier.test"
    raw = f"From: Jörg Müller <{sender}>\r\nSubject: {subject}\r\n\r\nRechnung anbei.\r\n"
    qid = smtp_relay(rig, raw.encode(), mail_from=sender, options=("SMTPUTF8",))
    rig.mta.wait(qid, "sent")
    [row] = rig.rows(subject)
    assert row.sender == sender


def test_30_mb_mail_is_relayed_and_stored_once(rig: Rig) -> None:
    subject = "Invoice 30 MB"
    raw = padded(subject, 30 << 20)
    assert 30 << 20 < len(raw) < MAX_SIZE
    qid = rig.relay(raw)
    line = rig.mta.wait(qid, "sent", timeout=600)
    [row] = rig.rows(subject)
    assert row.raw_size > len(raw)  # with the Received line of Postfix and our results on top
    assert rig.stored(subject).endswith(raw.split(b"\r\n", 1)[1])
    delays = [entry for entry in rig.mta.log(qid) if " delays=" in entry]
    print(f"30 MB through Postfix: {len(raw)} bytes, {line}; {delays}")


def test_connection_cut_in_data_stores_nothing_and_the_retry_stores_once(rig: Rig) -> None:
    subject = "Invoice cut in DATA"
    rig.cut.arm("in_data", after=64 << 10)
    qid = rig.relay(padded(subject, 512 << 10))
    assert "lost connection" in rig.mta.wait(qid, "deferred")
    assert rig.rows(subject) == []  # half a mail is not a mail
    assert rig.mta.queue() == [qid]
    rig.mta.flush()  # the sender retries
    rig.mta.wait(qid, "sent")
    rig.mta.wait_removed(qid)
    [row] = rig.rows(subject)
    assert row.duplicate_of_id is None


def test_connection_cut_before_our_250_the_retry_is_a_copy_of_the_stored_mail(rig: Rig) -> None:
    subject = "Invoice cut before 250"
    rig.cut.arm("before_reply")
    qid = rig.relay(invoice(subject))
    rig.mta.wait(qid, "deferred")  # Postfix did not hear that we stored it
    [first] = rig.rows(subject)
    rig.mta.flush()
    assert "250 2.0.0 OK" in rig.mta.wait(qid, "sent")
    rig.mta.wait_removed(qid)
    rows = rig.rows(subject)
    assert rows[0].id == first.id
    assert all(r.duplicate_of_id == first.id for r in rows[1:])  # stored once, the rest copies


def test_swaks_straight_to_us_cut_in_data_then_sent_again_is_stored_once(rig: Rig) -> None:
    subject = "Invoice swaks cut"
    raw = padded(subject, 256 << 10).removesuffix(b"\r\n")
    args = ("--server", f"{HOST}:{rig.cut.port}", "--from", SENDER, "--to", rig.address)
    rig.cut.arm("in_data", after=32 << 10)
    cut = swaks(*args, "--data", "-", input=raw)
    assert cut.returncode != 0 and b"250 2.0.0" not in cut.stdout
    assert rig.rows(subject) == []
    again = swaks(*args, "--data", "-", input=raw)
    assert again.returncode == 0 and b"250 2.0.0 OK: queued as" in again.stdout
    assert len(rig.rows(subject)) == 1


def test_swaks_straight_to_us_pipelines_and_the_mail_is_stored_once(rig: Rig) -> None:
    subject = "Invoice swaks pipelined"
    raw = invoice(subject).removesuffix(b"\r\n")
    to = ("--to", f"{rig.address},nobody@{DOMAIN}")
    sent = swaks(
        "--server",
        f"{HOST}:{rig.receiver.port}",
        "--from",
        SENDER,
        *to,
        "--pipeline",
        "--data",
        "-",
        input=raw,
    )
    transcript = sent.stdout.decode()
    assert sent.returncode == 0, transcript  # one recipient taken is a mail sent
    # the whole group went before the first reply to it
    assert transcript.index(" -> DATA") < transcript.index("<-  250 2.1.5"), transcript
    assert "<** 550 5.1.1 <nobody@invoices.test>" in transcript
    assert len(rig.rows(subject)) == 1


def test_our_4xx_is_retried_by_postfix_then_stored_once(rig: Rig) -> None:
    subject = "Invoice after the daily cap"
    rig.mta.wait(rig.relay(invoice(f"{subject}: the last one today")), "sent")
    with rig.app.db.session() as s:
        today = len(list(s.scalars(select(Message.id))))
    rig.set_company(smtp_daily_cap=today)  # every mail counts today: the cap is reached
    try:
        qid = rig.relay(invoice(subject))
        assert "452 4.2.2" in rig.mta.wait(qid, "deferred")
        assert rig.rows(subject) == []
    finally:
        rig.set_company(smtp_daily_cap=None)
    rig.mta.flush()
    rig.mta.wait(qid, "sent")
    rig.mta.wait_removed(qid)
    assert len(rig.rows(subject)) == 1
    assert len(rig.mta.statuses(qid)) == 2  # deferred once, then sent


def test_our_451_after_the_data_is_retried_by_postfix_then_stored_once(rig: Rig) -> None:
    subject = "Invoice while the source is busy"
    with rig.app.db.session() as s:
        source_id = sources.get(s, rig.source).id
    owner = lease.new_owner()
    lease.acquire(rig.app.db, source_id, owner)  # as a recheck in another process would
    try:
        qid = rig.relay(invoice(subject))
        assert "451 4.3.0" in rig.mta.wait(qid, "deferred")  # the whole mail was sent: not stored
        assert rig.rows(subject) == []
    finally:
        lease.release(rig.app.db, source_id, owner)
    rig.mta.flush()
    rig.mta.wait(qid, "sent")
    rig.mta.wait_removed(qid)
    [row] = rig.rows(subject)
    assert row.duplicate_of_id is None


@pytest.mark.parametrize("refusal", ["unknown address", "DMARC reject"])
def test_our_5xx_is_bounced_to_the_sender_and_not_retried(rig: Rig, refusal: str) -> None:
    subject = f"Invoice refused: {refusal}"
    bounces = len(rig.sink.mails)
    if refusal == "unknown address":
        qid, reply = rig.relay(invoice(subject), to=f"nobody@{DOMAIN}"), "550 5.1.1"
    else:  # From: a domain whose DMARC p=reject this relayed mail fails, under "require"
        rig.set_source(sender_auth="require")
        try:
            qid = rig.relay(invoice(subject).replace(f"<{SENDER}>".encode(), b"<ap@strict.test>"))
            reply = "550 5.7.1"
            rig.mta.wait(qid, "bounced")
        finally:
            rig.set_source(sender_auth="flag")
    assert reply in rig.mta.wait(qid, "bounced")
    rig.mta.wait_removed(qid)
    [dsn] = rig.sink.wait(bounces + 1)[bounces:]
    assert reply.encode() in dsn and subject.encode() in dsn
    assert rig.rows(subject) == []
    assert qid not in rig.mta.queue()
