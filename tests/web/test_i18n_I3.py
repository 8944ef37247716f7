"""The documents, runs, suppliers, webhooks, notifications and API docs screens speak the
reader's language (issue 20): their texts, the words for codes (a run's status and trigger, a
mail's decision, the queue's statuses and sorts) and the messages the pages flash, with plural
forms, come from the catalogue. A tiny German catalogue is installed for the test (the
translators' comes later)."""

from __future__ import annotations

import hashlib
from contextvars import ContextVar
from pathlib import Path
from urllib.parse import unquote

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.support import Translations

from invoice_inbox import i18n
from invoice_inbox.pipeline.einvoice.model import EInvoice
from invoice_inbox.pipeline.einvoice.view_model import Account, InvoiceView
from invoice_inbox.store import sources
from invoice_inbox.store.models import Document, Message, Run, utcnow
from invoice_inbox.web import einvoice
from invoice_inbox.web.pages import document_trust
from web.conftest import Web

GERMAN: dict[str | tuple[str, str], str | tuple[str, str]] = {
    "Documents": "Dokumente",
    "new": "neu",
    "processed": "erledigt",
    "newest first": "neueste zuerst",
    "Mark ticked documents processed": "Angehakte Dokumente als erledigt markieren",
    "Run #%(id)s of %(source)s": "Abruf Nr. %(id)s von %(source)s",
    "Log of %(source)s": "Protokoll von %(source)s",
    "not imported": "nicht importiert",
    "partial": "teilweise",
    "schedule": "Zeitplan",
    ("%(count)s document queued", "%(count)s documents queued"): (
        "%(count)s Dokument eingereiht",
        "%(count)s Dokumente eingereiht",
    ),
    "Import anyway": "Trotzdem importieren",
    ("%(n)s document is marked as processed.", "%(n)s documents are marked as processed."): (
        "%(n)s Dokument ist als erledigt markiert.",
        "%(n)s Dokumente sind als erledigt markiert.",
    ),
    "Suppliers": "Lieferanten",
    "No blocked sender domains.": "Keine gesperrten Absenderdomänen.",
    "Webhooks": "Webhooks (de)",
    "a document joined the queue": "ein Dokument kam in die Warteschlange",
    "Needs attention now": "Braucht jetzt Aufmerksamkeit",
    "%(product)s – API documentation": "%(product)s – API-Dokumentation",
    "none": "keins",
    "Total with VAT": "Gesamtbetrag brutto",
    "SEPA credit transfer": "SEPA-Überweisung",
    "Cash": "Bar",
    "allowed senders": "erlaubte Absender",
    "temporary error": "vorübergehender Fehler",
}


@pytest.fixture
def german(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every page of the test speaks German from the catalogue above."""
    cat = Catalog(locale="de")
    for msgid, msgstr in GERMAN.items():
        cat.add(msgid, msgstr)
    path = tmp_path / "de.mo"
    with path.open("wb") as f:
        write_mo(f, cat)
    with path.open("rb") as f:
        found = Translations(f)
    monkeypatch.setattr(i18n, "translations", lambda locale: found)
    # the reader is German whether or not the browser's Accept-Language is looked at
    monkeypatch.setattr(i18n, "_LOCALE", ContextVar("test_locale", default="de"))


def stock(web: Web) -> tuple[int, int, int]:
    """(source id, run id, document id): a partial scheduled run with a mail that was not
    imported and one that was, whose document waits in the queue."""
    with web.app.db.session() as s:
        src = sources.add(
            s, name="ap", company_name="ACME", host="mail.invalid", port=993, username="u"
        )
        run = Run(
            source_id=src.id,
            trigger="schedule",
            status="partial",
            finished_at=utcnow(),
            messages_seen=2,
            imported=1,
            not_imported=1,
            documents_created=2,
            error="the folder Archive does not exist",
        )
        s.add(run)
        s.flush()
        ids = []
        for n, decision in enumerate(("not_imported", "import")):
            m = Message(
                source_id=src.id,
                run_id=run.id,
                folder="INBOX",
                uidvalidity=1,
                uid=n + 1,
                raw_sha256=hashlib.sha256(f"mail {n}".encode()).hexdigest(),
                raw_size=100,
                sender="billing@supplier.test",
                subject=f"Invoice {n}",
                decision=decision,
                hits=["size", "allowed-sender"],
                reason="not an allowed sender" if n == 0 else "imported",
            )
            s.add(m)
            s.flush()
            ids.append(m.id)
        d = Document(
            message_id=ids[1],
            company_id=src.company_id,
            sha256=hashlib.sha256(b"doc").hexdigest(),
            size=10,
            media_type="application/pdf",
            filename="inv-1.pdf",
            kind="pdf",
        )
        s.add(d)
        s.flush()
        return src.id, run.id, d.id


def test_the_queue_the_log_and_a_run_in_german(web: Web, german: None) -> None:
    source_id, run_id, doc_id = stock(web)
    web.user("clerk@x.test", "clerk", ("ACME",))
    b = web.browser("clerk@x.test")
    b.headers["Accept-Language"] = "de"

    queue = b.get("/documents").text
    assert "<h1>Dokumente</h1>" in queue
    assert 'value="new" selected>neu</option>' in queue
    assert ">neueste zuerst</option>" in queue
    assert "Angehakte Dokumente als erledigt markieren" in queue
    assert '<span class="badge info">neu</span>' in queue

    log = b.get(f"/sources/{source_id}/log").text
    assert "<h1>Protokoll von ap</h1>" in log
    assert "<td>Zeitplan</td>" in log and '<span class="badge warn">teilweise</span>' in log

    run = b.get(f"/runs/{run_id}").text
    assert f"<h1>Abruf Nr. {run_id} von ap</h1>" in run
    assert ">nicht importiert</span>" in run and ">not imported<" not in run
    assert "2 Dokumente eingereiht" in run
    assert ">Trotzdem importieren</button>" in run
    assert "size, erlaubte Absender</span>" in run  # the checks the mail went through

    r = b.form("/documents/processed", {"ids": [str(doc_id)], "back": "/documents"})
    assert r.status_code == 303
    assert unquote(r.cookies["ii_flash"]) == "1 Dokument ist als erledigt markiert."


def test_suppliers_webhooks_and_notifications_in_german(web: Web, german: None) -> None:
    web.company("ACME")
    web.user("admin@x.test")
    b = web.browser("admin@x.test")
    b.headers["Accept-Language"] = "de"

    suppliers = b.get("/suppliers").text
    assert "<h1>Lieferanten</h1>" in suppliers and "Keine gesperrten Absenderdomänen." in suppliers
    assert "<h1>Webhooks (de)</h1>" in b.get("/webhooks").text
    assert "ein Dokument kam in die Warteschlange" in b.get("/webhooks/new").text
    assert "<h2>Braucht jetzt Aufmerksamkeit</h2>" in b.get("/notifications").text
    assert "<title>invoice-inbox – API-Dokumentation</title>" in b.get("/docs").text


def test_sender_checks_say_their_results_in_words(german: None) -> None:
    stored = {"dkim": [], "spf": {"result": "temperror", "domain": "x.test"}, "dmarc": {}}
    stored["dmarc"] = {"result": "none"}
    found = dict(document_trust.checks(stored))
    assert found["SPF"] == "vorübergehender Fehler · x.test" and found["DMARC"] == "keins"


def test_an_e_invoice_s_totals_and_payment_means_in_words_but_not_its_own_text(
    german: None,
) -> None:
    view = InvoiceView(
        summary=EInvoice(format="xrechnung-ubl", document_type="invoice"),
        totals=(("Total with VAT", "119.00"),),
        accounts=(Account(means="SEPA credit transfer"), Account(means="Cash on Tuesday")),
    )
    shown = einvoice._spoken(view)
    assert shown.totals == (("Gesamtbetrag brutto", "119.00"),)
    assert [a.means for a in shown.accounts] == ["SEPA-Überweisung", "Cash on Tuesday"]
