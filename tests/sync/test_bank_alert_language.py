"""A bank-detail change in the company's language (issue 20): the
``supplier.bank_details_changed`` payload keeps its codes and values and, the company having a
language, carries a ``message`` in it; the notification keeps its English and its texts as
codes for each recipient's language. A test catalogue (Polish)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from harness.dns_server import DnsServer
from harness.dovecot import Mailbox
from invoice_inbox.runtime import runner
from invoice_inbox.runtime.context import App
from invoice_inbox.store import events, sources
from invoice_inbox.store.models_events import Event, Notification
from sync.test_supplier_bank_alerts import FOREIGN, XRECHNUNG, add_source, plain_pdf, send
from translated import install


@pytest.fixture
def app(tmp_path: Path, dns_server: DnsServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    monkeypatch.setenv("INVOICE_INBOX_DNS_SERVER", dns_server.address)  # no records: "none"
    a = App.open(tmp_path / "data")
    try:
        yield a
    finally:
        a.close()


def test_the_alert_speaks_the_company_s_language_beside_its_codes(
    app: App, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(
        monkeypatch,
        tmp_path,
        "pl",
        {"invoice-inbox: bank details changed for %(supplier)s": "zmiana konta: %(supplier)s"},
    )
    add_source(app, mailbox)
    with app.db.session() as s:
        sources.company(s, "ACME").locale = "pl"
    send(mailbox, "XRechnung 123456", "xrechnung.xml", XRECHNUNG.read_bytes())
    runner.fetch(app, "ap")
    send(mailbox, "Rechnung 3", "rechnung-3.pdf", plain_pdf("3", FOREIGN))
    runner.fetch(app, "ap")
    with app.db.session() as s:
        (alert,) = [
            e.payload for e in s.scalars(select(Event)) if e.kind == events.BANK_DETAILS_CHANGED
        ]
        (n,) = s.scalars(select(Notification)).all()
        supplier = alert["supplier"]["name"]
        assert alert["message"] == f"zmiana konta: {supplier}"
        assert alert["document"]["iban"] == FOREIGN and alert["reason"].startswith("bank details")
        assert n.subject == f"invoice-inbox: bank details changed for {supplier}"
        assert n.texts is not None and n.texts["params"]["iban"] == FOREIGN
