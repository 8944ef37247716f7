"""Two SMTP receivers on one database: two real ``serve --no-scheduler --smtp-port`` processes
on the same data directory (SQLite, or PostgreSQL with ``--db=postgresql``), a real SMTP client
(smtplib), and a sender that delivers the same mail twice (it did not hear the first 250).

Whether the copies arrive one after the other or at the same moment, on one receiver or on
both, and whether they are the same bytes or a copy sent again with a new ``Received:`` line
(same Message-ID and envelope sender): the mail is stored once, every delivery is answered 250
so the sender stops, and each further copy is on the ledger as a duplicate of the first."""

from __future__ import annotations

import hashlib
import smtplib
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from builders import Attachment, make_mail, make_pdf
from harness.dns_server import DnsServer
from harness.dovecot import free_ports
from invoice_inbox.connectors.smtp_arrival import Arrival
from invoice_inbox.pipeline.trust.result import Envelope
from invoice_inbox.runtime import lease
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.inbound import Inbox, delivery_keys
from invoice_inbox.store import companies, inbound_claims, sources
from invoice_inbox.store.models import utcnow
from invoice_inbox.store.models_state import InboundClaim
from sync.conftest import AP
from web.serving import Serving, serving

DOMAIN = "invoices.test"
SUPPLIER = "billing@supplier.example"


class Receivers:
    def __init__(self, data: Path, a: Serving, b: Serving, ports: list[int]) -> None:
        self.ap = AP(data, None)  # type: ignore[arg-type]  # no mailbox: nothing to fetch
        self.servers, self.ports = (a, b), ports
        address = self.ap.ok("company", "show", "ACME", "--json").json()["import_address"]
        assert address and address.endswith(f"@{DOMAIN}")
        self.address: str = address

    def send(self, receiver: int, raw: bytes) -> None:
        """Deliver *raw* to receiver 0 or 1; smtplib raises unless it is answered 250."""
        with smtplib.SMTP("127.0.0.1", self.ports[receiver], timeout=120) as smtp:
            assert smtp.sendmail(SUPPLIER, [self.address], raw) == {}

    def at_once(self, *deliveries: tuple[int, bytes]) -> None:
        """The deliveries started together, each from its own client."""
        start = threading.Barrier(len(deliveries))
        failed: list[BaseException] = []

        def deliver(receiver: int, raw: bytes) -> None:
            start.wait()
            try:
                self.send(receiver, raw)
            except BaseException as exc:  # reported by the assert below
                failed.append(exc)

        threads = [threading.Thread(target=deliver, args=d) for d in deliveries]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failed == []

    def messages(self) -> list[dict[str, Any]]:
        return sorted(self.ap.ok("messages", "--json").json(), key=lambda m: m["id"])

    def documents(self) -> list[dict[str, Any]]:
        return self.ap.ok("documents", "list", "--json").json()


@pytest.fixture
def rx(tmp_path: Path, dns_server: DnsServer) -> Iterator[Receivers]:
    data = tmp_path / "data"
    AP(data, None).ok("company", "add", "ACME")  # type: ignore[arg-type]
    ports = free_ports(2)
    with ExitStack() as stack:
        a, b = (
            stack.enter_context(
                serving(
                    data,
                    *("--no-scheduler", "--smtp-host", "127.0.0.1", "--smtp-port", str(port)),
                    *("--smtp-domain", DOMAIN),
                    env=dns_server.env(),  # DNS asked on 127.0.0.1 only (nothing published)
                )
            )
            for port in ports
        )
        yield Receivers(data, a, b, ports)


def invoice(number: str, *, received: str | None = None) -> bytes:
    raw = make_mail(
        from_=f"Billing <{SUPPLIER}>",
        to="ap",
        subject=f"Invoice {number}",
        message_id=f"<inv-{number}@supplier.example>",
        attachments=[Attachment(f"INV-{number}.pdf", make_pdf(f"Invoice {number}"))],
    )
    if received:  # the copy a sender's relay sent again: one more trace line on top
        raw = f"Received: from {received} by relay.supplier.example\r\n".encode() + raw
    return raw


def check_stored_once(rx: Receivers, numbers: list[str], copies: int) -> None:
    """Each invoice one document and one imported ledger row; every other delivery of it a
    duplicate of that row."""
    docs = sorted(d["filename"] for d in rx.documents())
    assert docs == sorted(f"INV-{n}.pdf" for n in numbers)
    messages = rx.messages()
    imported = {m["subject"]: m for m in messages if m["decision"] == "import"}
    assert sorted(imported) == sorted(f"Invoice {n}" for n in numbers)
    duplicates = [m for m in messages if m["decision"] == "duplicate"]
    assert len(duplicates) == len(numbers) * (copies - 1)
    for m in duplicates:
        assert m["duplicate_of"] == imported[m["subject"]]["id"] and m["documents"] == 0


def test_a_mail_delivered_again_to_the_other_receiver_is_a_duplicate(rx: Receivers) -> None:
    first = invoice("4711")
    rx.send(0, first)
    rx.send(1, first)  # the same bytes, to the other receiver
    rx.send(1, invoice("4711", received="mx2.supplier.example"))  # sent again, a new trace
    check_stored_once(rx, ["4711"], copies=3)
    reasons = [m["reason"] for m in rx.messages()[1:]]
    assert "already handled" in reasons[0] and "sent again" in reasons[1]


def test_copies_delivered_at_the_same_moment_to_both_receivers_are_stored_once(
    rx: Receivers,
) -> None:
    numbers = [f"race-{n}" for n in range(4)]
    for number in numbers:
        if number.endswith(("0", "2")):  # the same bytes twice
            raw = invoice(number)
            rx.at_once((0, raw), (1, raw))
        else:  # a copy with another trace line each
            a, b = (invoice(number, received=f"mx{n}.supplier.example") for n in (1, 2))
            rx.at_once((0, a), (1, b))
    check_stored_once(rx, numbers, copies=2)


def test_a_claim_left_by_a_receiver_that_died_is_taken_over_once_stale(tmp_path: Path) -> None:
    app = App.open(tmp_path / "data")
    try:
        with app.db.session() as s:
            src = companies.import_source(s, sources.company(s, "ACME", create=True))
            source_id, name = src.id, src.name
        raw = invoice("orphan")
        _, keys = delivery_keys(raw, hashlib.sha256(raw).hexdigest(), SUPPLIER)
        # a receiver claimed the mail and died before storing it
        assert inbound_claims.claim(app.db, source_id, keys, "dead-receiver") is None
        inbox = Inbox(app, busy_wait=0.5)
        mail = Arrival(raw, raw, Envelope("127.0.0.1", "mx.supplier.example", SUPPLIER))
        with pytest.raises(lease.SourceBusy):  # fresh: maybe still storing; 451, try later
            inbox.deliver(name, mail)
        with app.db.session() as s:
            old = utcnow() - inbound_claims.STALE - timedelta(seconds=1)
            s.execute(update(InboundClaim).values(created_at=old))
        summary = inbox.deliver(name, mail)  # the sender's retry, ten minutes on
        assert (summary.imported, summary.documents_created) == (1, 1)
        with app.db.session() as s:
            claims = s.execute(select(InboundClaim.owner, InboundClaim.message_id)).all()
        assert len(claims) == len(keys) == 2  # the raw bytes, the Message-ID and sender
        assert all(owner is None and row_id is not None for owner, row_id in claims)
    finally:
        app.close()
