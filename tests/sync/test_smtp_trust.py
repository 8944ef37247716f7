"""The import address's trust and abuse bounds end to end: real receivers (``InboundServer`` with
the real ``Inbox``) on a real data directory, real SMTP clients (smtplib) bound to addresses in
127.0.0.0/8, and a real DNS server publishing supplier.test's SPF and DMARC ``p=reject``.

The issue's spoofed mail (``MAIL FROM:<attacker@evil.test>``, ``From: billing@supplier.test``)
is refused at DATA under ``require`` and stored (with our ``Authentication-Results`` saying
dmarc=fail, and the ledger's sender authentication) under ``flag``; the same mail delivered
from two client addresses (so with two different headers of ours) is stored once; a company's
daily cap is counted on the database, so two receivers share it."""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import select

from builders import Attachment, make_mail, make_pdf
from harness.dns_server import DnsServer
from harness.dovecot import free_ports
from invoice_inbox.connectors.smtp_inbound import InboundServer, InboundSettings
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.inbound import Inbox
from invoice_inbox.store import companies, sources
from invoice_inbox.store.models import Message
from sync.conftest import AP
from web.serving import serving

DOMAIN = "invoices.test"
SUPPLIER = "billing@supplier.test"


class Receiver:
    """One receiver process's share: its own App (engine) on the data directory, an Inbox and
    an InboundServer."""

    def __init__(self, data: Path, dns: DnsServer, daily_cap: int) -> None:
        self.app = App.open(data)
        with self.app.db.session() as s:
            companies.set_setting(s, companies.SMTP_DOMAIN, DOMAIN)
            company = sources.company(s, "ACME", create=True)
            self.source = companies.import_source(s, company).name
            self.address = companies.address(s, company)
        inbox = Inbox(self.app, daily_cap=daily_cap)
        settings = InboundSettings(port=0, domain=DOMAIN, dns_server=dns.address)
        self.server = InboundServer(settings, inbox.resolve, inbox.deliver, terms=inbox.terms)
        self.server.start()

    def stop(self) -> None:
        self.server.stop(timeout=5)
        self.app.close()

    def send(
        self, raw: bytes, *, source: str = "127.0.0.2", mail_from: str = SUPPLIER
    ) -> tuple[int, bytes]:
        """One transaction from *source*: the first reply that is not 250, else DATA's."""
        with smtplib.SMTP(
            "127.0.0.1", self.server.port, source_address=(source, 0), timeout=60
        ) as c:
            c.ehlo("mx.sender.test")
            for step in (lambda: c.mail(mail_from), lambda: c.rcpt(str(self.address))):
                code, text = step()
                if code != 250:
                    return code, text
            return c.data(raw)

    def set(self, **fields: object) -> None:
        """Set columns of the import source (``sender_auth``) or its company (``smtp_*``)."""
        with self.app.db.session() as s:
            src = sources.get(s, self.source)
            for name, value in fields.items():
                setattr(src.company if name.startswith("smtp_") else src, name, value)

    def messages(self) -> list[Message]:
        with self.app.db.session() as s:
            rows = list(s.scalars(select(Message).order_by(Message.id)))
            s.expunge_all()
        return rows


@pytest.fixture
def zone(dns_server: DnsServer) -> DnsServer:
    dns_server.add("supplier.test", "TXT", "v=spf1 ip4:127.0.0.2 -all")
    dns_server.add("_dmarc.supplier.test", "TXT", "v=DMARC1; p=reject")
    dns_server.add("evil.test", "TXT", "v=spf1 ip4:127.0.0.9 -all")
    return dns_server


@pytest.fixture
def receivers(tmp_path: Path, zone: DnsServer) -> Iterator[Callable[..., Receiver]]:
    with ExitStack() as stack:

        def start(daily_cap: int = 5000) -> Receiver:
            r = Receiver(tmp_path / "data", zone, daily_cap)
            stack.callback(r.stop)
            return r

        yield start


def invoice(number: str, from_: str = SUPPLIER) -> bytes:
    return make_mail(
        from_=f"Billing <{from_}>",
        to="ap",
        subject=f"Invoice {number}",
        message_id=f"<inv-{number}@supplier.test>",
        attachments=[Attachment(f"INV-{number}.pdf", make_pdf(f"Invoice {number}"))],
    )


SPOOF = {"source": "127.0.0.9", "mail_from": "attacker@evil.test"}


def test_spoofed_mail_is_refused_under_require_and_flagged_under_flag(
    receivers: Callable[..., Receiver],
) -> None:
    rx = receivers()
    rx.set(sender_auth="require")
    code, text = rx.send(invoice("spoof-1"), **SPOOF)
    assert code == 550, text
    assert b"supplier.test publishes DMARC p=reject" in text
    assert rx.messages() == []  # nothing stored, nothing imported

    rx.set(sender_auth="flag")
    assert rx.send(invoice("spoof-2"), **SPOOF)[0] == 250
    [msg] = rx.messages()
    stored = rx.app.blobs.get(msg.raw_sha256)
    assert stored.startswith(f"Authentication-Results: {DOMAIN};".encode())
    assert b"dmarc=fail" in stored.split(b"\r\n\r\n", 1)[0]
    assert msg.sender_auth == "fail"  # the receiver's result, on the ledger
    assert "supplier.test" in (msg.sender_auth_reason or "")


def test_authenticated_mail_is_imported_under_require(receivers: Callable[..., Receiver]) -> None:
    rx = receivers()
    rx.set(sender_auth="require")
    assert rx.send(invoice("ok"), source="127.0.0.2")[0] == 250
    [msg] = rx.messages()
    assert (msg.decision, msg.sender_auth) == ("import", "pass")


def test_same_mail_from_two_client_addresses_is_stored_once(
    receivers: Callable[..., Receiver],
) -> None:
    """The sender's retry came from another of its servers: SPF differs, so our header and the
    stored bytes differ; the bytes it sent are the same, so it is a copy of the first (no
    Message-ID: the received bytes are the only key)."""
    rx = receivers()
    raw = b"".join(
        line
        for line in invoice("twice").splitlines(keepends=True)
        if not line.lower().startswith(b"message-id:")
    )
    assert b"Message-ID" not in raw.split(b"\r\n\r\n")[0]
    assert rx.send(raw, source="127.0.0.2")[0] == 250  # spf=pass
    assert rx.send(raw, source="127.0.0.3")[0] == 250  # spf=fail: another header of ours
    first, second = rx.messages()
    assert first.raw_sha256 != second.raw_sha256
    assert (first.decision, second.decision) == ("import", "duplicate")
    assert second.duplicate_of_id == first.id


def test_daily_cap_is_counted_on_the_database_across_two_receivers(
    receivers: Callable[..., Receiver],
) -> None:
    a, b = receivers(daily_cap=3), receivers(daily_cap=3)
    a.set(smtp_daily_cap=2)  # the company's own cap, before the service's 3
    assert a.send(invoice("1"))[0] == 250
    assert b.send(invoice("2"))[0] == 250
    for rx in (a, b):
        code, text = rx.send(invoice("3"))
        assert (code, text) == (
            452,
            f"4.2.2 <{rx.address}>: this import address took its 2 mails for today,"
            " try tomorrow".encode(),
        )
    a.set(smtp_daily_cap=None)  # the service's default applies again
    assert b.send(invoice("3"))[0] == 250
    assert a.send(invoice("4"))[0] == 452
    assert len(a.messages()) == 3


# -- the receiver's options on `serve` -----------------------------------------------------


def test_serve_options_authserv_id_rate_and_daily_cap(tmp_path: Path, zone: DnsServer) -> None:
    """A real ``serve`` process: --smtp-authserv-id names our header, --smtp-rate bounds one
    client's mails a minute, --smtp-daily-cap the company's day."""
    data = tmp_path / "data"
    ap = AP(data, None)  # type: ignore[arg-type]  # no mailbox: nothing to fetch
    ap.ok("company", "add", "ACME")
    (port,) = free_ports(1)
    with serving(
        data,
        *("--no-scheduler", "--smtp-host", "127.0.0.1", "--smtp-port", str(port)),
        *("--smtp-domain", DOMAIN, "--smtp-authserv-id", "mx1.invoices.test"),
        *("--smtp-rate", "2", "--smtp-daily-cap", "3"),
        env=zone.env(),
    ):
        address = ap.ok("company", "show", "ACME", "--json").json()["import_address"]

        def send(number: str, source: str) -> tuple[int, bytes]:
            with smtplib.SMTP("127.0.0.1", port, source_address=(source, 0), timeout=60) as c:
                c.ehlo("mx.supplier.test")
                for step in (lambda: c.mail(SUPPLIER), lambda: c.rcpt(address)):
                    code, text = step()
                    if code != 250:
                        return code, text
                return c.data(invoice(number))

        assert send("1", "127.0.0.2")[0] == 250
        assert send("2", "127.0.0.2")[0] == 250
        assert send("3", "127.0.0.2")[0] == 421  # a third mail this minute from .2
        assert send("3", "127.0.0.3")[0] == 250
        assert send("4", "127.0.0.4")[0] == 452  # the company's 3 mails today
        messages = ap.ok("messages", "--json").json()
        assert len(messages) == 3
        app = App.open(data)
        try:
            stored = app.blobs.get(messages[0]["raw_sha256"])
        finally:
            app.close()
        assert stored.startswith(b"Authentication-Results: mx1.invoices.test;\r\n\tspf=")


@pytest.mark.parametrize(
    ("option", "value", "sentence"),
    [
        ("--smtp-authserv-id", "invoices.test; dmarc=pass", "the authserv-id must be a domain"),
        ("--smtp-rate", "0", "mails a client may send a minute must be positive"),
        ("--smtp-daily-cap", "-1", "the daily cap must be 0 (none) or positive"),
    ],
)
def test_serve_refuses_wrong_receiver_options_in_one_sentence(
    tmp_path: Path, option: str, value: str, sentence: str
) -> None:
    ap = AP(tmp_path / "data", None)  # type: ignore[arg-type]
    r = ap.run("serve", "--smtp-port", "0", "--smtp-domain", DOMAIN, option, value)
    assert r.code != 0
    assert sentence in r.stderr and "Traceback" not in r.stdout + r.stderr
