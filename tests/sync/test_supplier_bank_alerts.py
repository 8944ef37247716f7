"""End to end through Dovecot: one supplier sends an XRechnung XML, a Factur-X PDF and plain PDFs
with its IBAN in the text. The first IBAN is recorded unconfirmed; a changed one flags the
document, notifies, and sends exactly one ``supplier.bank_details_changed`` webhook, not again
on a re-run or a recheck; a confirmed IBAN is known (the next document with it is not flagged);
a document marked as fraud blocks its sender domain for the company."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from builders import Attachment, make_mail, make_pdf
from corpus import CORPUS
from fakes.receivers import WebhookReceiver
from harness.dns_server import DnsServer
from harness.dovecot import Mailbox
from invoice_inbox.delivery import webhook_subscriptions, webhooks
from invoice_inbox.runtime import runner
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.recheck import recheck
from invoice_inbox.store import events, sources, suppliers
from invoice_inbox.store.models import Document
from invoice_inbox.store.models_events import Event, Notification

XRECHNUNG = CORPUS / "xrechnung-testsuite__01.02a-INVOICE_ubl.xml"  # VAT DE123456789
FACTURX = CORPUS / "zugferd-corpus__XRECHNUNG_Einfach.pdf"  # the same VAT id
FIRST = "DE79000000001234567890"  # the XRechnung's seller_iban
SECOND = "DE02120300000000202051"  # the Factur-X's seller_iban
FOREIGN = "GB29NWBK60161331926819"
SENDER = "Lieferant GmbH <rechnung@lieferant.test>"
ALLOW_PRIVATE = "INVOICE_INBOX_ALLOW_PRIVATE_WEBHOOKS"


@pytest.fixture
def app(tmp_path: Path, dns_server: DnsServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    monkeypatch.setenv("INVOICE_INBOX_DNS_SERVER", dns_server.address)  # no records: "none"
    monkeypatch.setenv(ALLOW_PRIVATE, "1")  # the webhook receiver is on 127.0.0.1
    a = App.open(tmp_path / "data")
    try:
        yield a
    finally:
        a.close()


def add_source(app: App, mailbox: Mailbox) -> None:
    with app.db.session() as s:
        sources.add(
            s,
            name="ap",
            company_name="ACME",
            host="127.0.0.1",
            port=mailbox.server.imap_port,
            security="none",
            username=mailbox.user,
            secret=app.secrets.encrypt(mailbox.password),
            allowed_senders=["*@lieferant.test"],
        )


def send(mailbox: Mailbox, subject: str, name: str, data: bytes, sender: str = SENDER) -> None:
    kind = "application/xml" if name.endswith(".xml") else "application/pdf"
    mail = make_mail(from_=sender, subject=subject, attachments=[Attachment(name, data, kind)])
    mailbox.append("INBOX", mail)


def plain_pdf(number: str, iban: str) -> bytes:
    grouped = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return make_pdf(f"Lieferant GmbH\nRechnung {number}\nBankverbindung IBAN: {grouped}")


def document(app: App, filename: str) -> Document:
    with app.db.session() as s:
        return s.scalars(select(Document).where(Document.filename == filename)).one()


def deliver(app: App) -> None:
    webhooks.dispatch(app.db)
    webhooks.deliver_due(app.db, app.secrets)


def test_a_bank_detail_change_is_flagged_notified_and_sent_once(app: App, mailbox: Mailbox) -> None:
    add_source(app, mailbox)
    with app.db.session() as s:
        company_id = sources.company(s, "ACME").id
    send(mailbox, "XRechnung 123456", "xrechnung.xml", XRECHNUNG.read_bytes())
    send(mailbox, "Rechnung 2", "rechnung-2.pdf", plain_pdf("2", FIRST))
    runner.fetch(app, "ap")

    with app.db.session() as s:
        (supplier,) = suppliers.list_for(s, [company_id])
    assert supplier.vat_id == "DE123456789"
    assert supplier.domains == ["lieferant.test"]
    assert [(i.iban, i.confirmed, i.seen_count) for i in supplier.ibans] == [(FIRST, False, 2)]
    assert document(app, "xrechnung.xml").bank_alert is None
    assert document(app, "rechnung-2.pdf").iban == FIRST
    assert document(app, "rechnung-2.pdf").bank_alert is None

    with WebhookReceiver() as receiver:
        with app.db.session() as s:
            company = sources.company(s, "ACME")
            webhook_subscriptions.create(
                s, app.secrets, company, receiver.url, [events.BANK_DETAILS_CHANGED]
            )
        send(mailbox, "Factur-X 471102", FACTURX.name, FACTURX.read_bytes())
        send(mailbox, "Rechnung 3", "rechnung-3.pdf", plain_pdf("3", FOREIGN))
        send(mailbox, "Lunch?", "menu.pdf", b"not a pdf", sender="Chef <chef@kantine.test>")
        runner.fetch(app, "ap")
        deliver(app)

        facturx, third = document(app, FACTURX.name), document(app, "rechnung-3.pdf")
        assert (facturx.iban, facturx.bank_alert, facturx.bank_alert_known) == (
            SECOND,
            "changed",
            [FIRST],
        )
        assert (third.iban, third.bank_alert, third.bank_alert_known) == (
            FOREIGN,
            "changed",
            [FIRST],
        )
        assert sorted(b["data"]["document"]["iban"] for b in receiver.bodies) == sorted(
            [SECOND, FOREIGN]
        )
        assert {b["type"] for b in receiver.bodies} == {events.BANK_DETAILS_CHANGED}
        body = next(b for b in receiver.bodies if b["data"]["document"]["iban"] == SECOND)
        assert body["data"]["reason"] == "bank details changed: DE79 …7890 → DE02 …2051"
        assert body["data"]["supplier"]["vat_id"] == "DE123456789"
        with app.db.session() as s:  # document.created says it too, with the supplier
            created = s.scalars(
                select(Event).where(Event.kind == events.DOCUMENT_CREATED).order_by(Event.id)
            ).all()
        shown = {e.payload["document"]["filename"]: e.payload["document"] for e in created}
        assert shown[FACTURX.name]["bank_alert"]["status"] == "changed"
        assert shown[FACTURX.name]["supplier"]["id"] == facturx.supplier_id
        assert shown["rechnung-2.pdf"]["bank_alert"] is None

        runner.fetch(app, "ap")  # nothing new
        recheck(app, "ap")  # the lunch mail is decided again, still not imported
        deliver(app)
        assert len(receiver.bodies) == 2  # exactly once each
        with app.db.session() as s:
            notes = list(
                s.scalars(select(Notification).where(Notification.kind == "bank_details_changed"))
            )
        assert [n.subject for n in notes] == [
            f"invoice-inbox: bank details changed for {supplier.name}"
        ] * 2

        with app.db.session() as s:  # an admin checked with the supplier by phone
            suppliers.confirm_document_iban(s, facturx.id, by="admin@acme.test")
        send(mailbox, "Rechnung 4", "rechnung-4.pdf", plain_pdf("4", SECOND))
        runner.fetch(app, "ap")
        deliver(app)
        assert len(receiver.bodies) == 2  # a confirmed IBAN is known: nothing to say
        with app.db.session() as s:
            assert suppliers.mark_fraud(s, third.id, by="admin@acme.test") == "lieferant.test"

    assert document(app, "rechnung-4.pdf").bank_alert is None
    assert document(app, FACTURX.name).bank_alert == "confirmed"
    assert document(app, "rechnung-3.pdf").bank_alert == "fraud"
    with app.db.session() as s:
        (supplier,) = suppliers.list_for(s, [company_id])
        assert {(i.iban, i.confirmed) for i in supplier.ibans} == {(FIRST, False), (SECOND, True)}
        assert supplier.documents_count == 5 and supplier.open_alerts == 0
        assert list(suppliers.blocked_domains(s, company_id)) == ["lieferant.test"]


def test_a_document_imported_by_a_recheck_is_learned_and_compared(
    app: App, mailbox: Mailbox
) -> None:
    add_source(app, mailbox)
    send(mailbox, "XRechnung 123456", "xrechnung.xml", XRECHNUNG.read_bytes())
    holding = "Lieferant Holding <billing@lieferant-holding.test>"
    send(mailbox, "Factur-X 471102", FACTURX.name, FACTURX.read_bytes(), sender=holding)
    runner.fetch(app, "ap")
    with app.db.session() as s:
        assert s.scalars(select(Document.filename)).all() == ["xrechnung.xml"]
        sources.get(s, "ap").allowed_senders = ["*@lieferant.test", "*@lieferant-holding.test"]

    assert recheck(app, "ap").imported == 1
    facturx = document(app, FACTURX.name)
    assert (facturx.bank_alert, facturx.bank_alert_known) == ("changed", [FIRST])
    with app.db.session() as s:
        (supplier,) = suppliers.list_for(s, [facturx.company_id])
        assert supplier.domains == ["lieferant-holding.test", "lieferant.test"]  # one VAT id
        assert facturx.supplier_id == supplier.id and supplier.pending_ibans == [SECOND]
        kinds = s.scalars(select(Event.kind).where(Event.kind == events.BANK_DETAILS_CHANGED))
        assert len(kinds.all()) == 1
