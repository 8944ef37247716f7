"""End to end through Dovecot and a webhook receiver: two e-invoices arrive by mail, a corpus
CII invoice and a hand-changed copy of a corpus UBL invoice whose payable amount is one cent
off. The ``document.created`` webhook, the API and ``documents list --json`` carry the same
full ``einvoice`` object (valid against the published schema, lines and VAT breakdown
included), and only the changed one is flagged ``einvoice_inconsistent`` with BR-CO-16."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from builders import Attachment, make_mail
from corpus import CORPUS
from fakes.receivers import WebhookReceiver
from harness.dns_server import DnsServer
from harness.dovecot import Mailbox
from invoice_inbox.cli import app as cli
from invoice_inbox.delivery import webhook_subscriptions, webhooks
from invoice_inbox.runtime import runner
from invoice_inbox.runtime.context import App
from invoice_inbox.store import events, sources, users
from invoice_inbox.web.app import create_app

sys.path.insert(0, str(Path(__file__).parents[1] / "pipeline"))
from booking_schema import schema_errors

UBL = CORPUS / "cen-en16931__ubl-tc434-example9.xml"  # PayableAmount 177.87
CII = CORPUS / "xrechnung-testsuite__01.07a-INVOICE_uncefact.xml"
SENDER = "Lieferant GmbH <rechnung@lieferant.test>"


@pytest.fixture
def app(tmp_path: Path, dns_server: DnsServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    monkeypatch.setenv("INVOICE_INBOX_DNS_SERVER", dns_server.address)
    monkeypatch.setenv("INVOICE_INBOX_ALLOW_PRIVATE_WEBHOOKS", "1")  # the receiver is local
    a = App.open(tmp_path / "data")
    try:
        yield a
    finally:
        a.close()


def mail(name: str, data: bytes) -> bytes:
    attachment = Attachment(name, data, "application/xml")
    return make_mail(from_=SENDER, subject=name, attachments=[attachment])


def cli_json(data_dir: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_webhook_api_and_cli_carry_the_same_einvoice_and_the_flag(
    app: App, mailbox: Mailbox, tmp_path: Path
) -> None:
    changed = UBL.read_bytes().replace(
        b">177.87</cbc:PayableAmount>", b">177.88</cbc:PayableAmount>"
    )
    assert changed != UBL.read_bytes()
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
    with WebhookReceiver() as receiver:
        with app.db.session() as s:
            company = sources.company(s, "ACME")
            webhook_subscriptions.create(
                s, app.secrets, company, receiver.url, [events.DOCUMENT_CREATED]
            )
        mailbox.append("INBOX", mail("changed.xml", changed))
        mailbox.append("INBOX", mail("fine.xml", CII.read_bytes()))
        runner.fetch(app, "ap")
        webhooks.dispatch(app.db)
        webhooks.deliver_due(app.db, app.secrets)
        sent = {b["data"]["document"]["filename"]: b["data"]["document"] for b in receiver.bodies}
    assert sorted(sent) == ["changed.xml", "fine.xml"]

    bad, fine = sent["changed.xml"], sent["fine.xml"]
    for document in (bad, fine):
        assert schema_errors(document["einvoice"]) == []
        assert document["einvoice"]["lines"] and document["einvoice"]["vat_breakdown"]
    assert [p["rule"] for p in bad["einvoice"]["problems"]] == ["BR-CO-16"]
    assert "177.88" in bad["einvoice"]["problems"][0]["message"]
    assert "einvoice_inconsistent" in bad["flags"]  # beside sender_not_authenticated (no DNS)
    assert fine["einvoice"]["problems"] == [] and "einvoice_inconsistent" not in fine["flags"]

    with app.db.session() as s:
        user = users.by_email(s, "erp@acme.test")
        assert user is not None
        token = users.create_token(s, user, "test")[1]
    api = TestClient(create_app(app), headers={"Authorization": f"Bearer {token}"})
    for document in (bad, fine):
        detail = api.get(f"/api/v1/documents/{document['id']}").json()
        assert detail["einvoice"] == document["einvoice"]  # one shape for API and webhook
        assert detail["flags"] == document["flags"]
    flagged = api.get("/api/v1/documents", params={"flag": "einvoice_inconsistent"}).json()
    assert [d["id"] for d in flagged["items"]] == [bad["id"]]

    listed = cli_json(app.data_dir, "documents", "list", "--json")
    assert {d["filename"]: d["einvoice"] for d in listed} == {
        name: d["einvoice"] for name, d in sent.items()
    }
    only = cli_json(app.data_dir, "documents", "list", "--flag", "einvoice_inconsistent", "--json")
    assert [d["id"] for d in only] == [bad["id"]]
