"""End to end through Dovecot, the tests' DNS server and a webhook receiver: a supplier's plain
PDF, from a domain that publishes no DKIM, SPF or DMARC, asks payment to a new IBAN; its
``document.created`` webhook carries the same trust fields as the API's document (sender
authentication, IBAN, the bank-detail alert with the known IBANs, the supplier, the flags),
and ``GET /documents?flag=bank_details_changed`` finds it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from builders import Attachment, make_mail, make_pdf
from fakes.receivers import WebhookReceiver
from harness.dns_server import DnsServer
from harness.dovecot import Mailbox
from invoice_inbox.delivery import webhook_subscriptions, webhooks
from invoice_inbox.runtime import runner
from invoice_inbox.runtime.context import App
from invoice_inbox.store import events, sources, users
from invoice_inbox.web.app import create_app

FIRST, FOREIGN = "DE79000000001234567890", "GB29NWBK60161331926819"
SENDER = "Lieferant GmbH <rechnung@lieferant.test>"
TRUST_FIELDS = ("sender_auth", "lookalike_of", "iban", "bank_alert", "supplier", "flags")


@pytest.fixture
def app(tmp_path: Path, dns_server: DnsServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    monkeypatch.setenv("INVOICE_INBOX_DNS_SERVER", dns_server.address)  # no records: "none"
    monkeypatch.setenv("INVOICE_INBOX_ALLOW_PRIVATE_WEBHOOKS", "1")  # the receiver is local
    a = App.open(tmp_path / "data")
    try:
        yield a
    finally:
        a.close()


def invoice(number: str, iban: str) -> bytes:
    grouped = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    pdf = make_pdf(f"Lieferant GmbH\nRechnung {number}\nBankverbindung IBAN: {grouped}")
    attachments = [Attachment(f"rechnung-{number}.pdf", pdf)]
    return make_mail(from_=SENDER, subject=f"Rechnung {number}", attachments=attachments)


def test_the_webhook_and_the_api_say_the_bank_details_changed(app: App, mailbox: Mailbox) -> None:
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
        users.create(s, "erp@acme.test", "correct horse battery", "admin", [])
    mailbox.append("INBOX", invoice("1", FIRST))
    runner.fetch(app, "ap")  # the supplier's first IBAN: recorded, no alert
    webhooks.dispatch(app.db)  # its event goes to nobody

    with WebhookReceiver() as receiver:
        with app.db.session() as s:
            company = sources.company(s, "ACME")
            webhook_subscriptions.create(
                s, app.secrets, company, receiver.url, [events.DOCUMENT_CREATED]
            )
        mailbox.append("INBOX", invoice("2", FOREIGN))
        runner.fetch(app, "ap")
        webhooks.dispatch(app.db)
        webhooks.deliver_due(app.db, app.secrets)
        (body,) = receiver.bodies

    sent = body["data"]["document"]
    assert sent["iban"] == FOREIGN
    assert sent["bank_alert"] == {
        "status": "changed",
        "known": [FIRST],
        "reason": "bank details changed: DE79 …7890 → GB29 …6819",
        "by": None,
        "at": None,
    }
    assert sent["supplier"]["name"] and sent["supplier"]["id"]
    # no DKIM, SPF or DMARC for lieferant.test: imported under "flag", and flagged
    assert sent["sender_auth"]["status"] == "none"
    assert sent["flags"] == ["sender_not_authenticated", "bank_details_changed"]
    assert set(TRUST_FIELDS) <= set(sent)

    with app.db.session() as s:
        user = users.by_email(s, "erp@acme.test")
        assert user is not None
        token = users.create_token(s, user, "test")[1]
    api = TestClient(create_app(app), headers={"Authorization": f"Bearer {token}"})
    (listed,) = api.get("/api/v1/documents", params={"flag": "bank_details_changed"}).json()[
        "items"
    ]
    assert listed["id"] == sent["id"]
    assert {k: listed[k] for k in TRUST_FIELDS} == {k: sent[k] for k in TRUST_FIELDS}
