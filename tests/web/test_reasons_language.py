"""Decision reasons in the reader's language (issue 20): the ledger keeps each mail's reason as
codes with parameters; the API gives the reason in the request's Accept-Language with the code
and parts always beside it (older rows: their English text, no code); the run page shows it in
the reader's language; a ``document.created`` webhook payload carries codes, and a ``message``
in the company's language when the company has one. Translations from a test catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from builders import Attachment, make_mail, make_pdf
from harness.dovecot import Mailbox
from invoice_inbox.runtime import runner
from invoice_inbox.store import events
from invoice_inbox.store.models import Company, Document, Message
from invoice_inbox.store.models_events import Event
from translated import install
from web.conftest import Web

ALLOWED = "billing@supplier.example"
UNKNOWN = "x@unknown.example"
INVOICE = make_mail(
    from_=ALLOWED, subject="Invoice 7", attachments=[Attachment("INV-7.pdf", make_pdf("7"))]
)
GERMAN = {
    "sender %(sender)s is not on the allowed list": "Absender %(sender)s ist nicht zugelassen",
    (
        "%(count)s document from %(sender)s: %(names)s",
        "%(count)s documents from %(sender)s: %(names)s",
    ): ("%(count)s Dokument von %(sender)s: %(names)s", "%(count)s Dokumente von %(sender)s"),
    "the same message was already handled (%(original)s)": "schon bearbeitet (%(original)s)",
    "A document joined the queue: %(file)s from %(sender)s (%(reason)s)": (
        "Neues Dokument %(file)s von %(sender)s (%(reason)s)"
    ),
}


@pytest.fixture
def fetched(web: Web, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Web:
    """ACME (German) fetched twice: an invoice, a mail from an unknown sender, the invoice again."""
    install(monkeypatch, tmp_path, "de", GERMAN)
    mailbox.append("INBOX", INVOICE)
    mailbox.append("INBOX", make_mail(from_=UNKNOWN, attachments=[]))
    web.imap_source("ap", mailbox, "ACME", allowed_senders=[ALLOWED], sender_auth="off")
    with web.app.db.session() as s:
        s.scalars(select(Company)).one().locale = "de"
    runner.fetch(web.app, "ap")
    mailbox.append("INBOX", INVOICE)
    runner.fetch(web.app, "ap")
    web.user("clerk@x.test", "clerk", ("ACME",))
    return web


def rows(web: Web) -> dict[str, Message]:
    with web.app.db.session() as s:
        found = {m.decision: m for m in s.scalars(select(Message))}
        s.expunge_all()
        return found


def test_the_ledger_keeps_each_reason_as_codes(fetched: Web) -> None:
    ledger = rows(fetched)
    assert ledger["import"].reason_parts == [
        {
            "code": "documents_found",
            "params": {"count": 1, "sender": ALLOWED, "names": "INV-7.pdf"},
        }
    ]
    assert ledger["not_imported"].reason_parts == [
        {"code": "sender_not_allowed", "params": {"sender": UNKNOWN}}
    ]
    copy = ledger["duplicate"]
    assert copy.reason == f"the same message was already handled ({ledger['import'].reason})"
    assert copy.reason_parts == [
        {"code": "duplicate", "params": {"original": ledger["import"].reason_parts}}
    ]


def messages(web: Web, **headers: str) -> dict[str, dict[str, Any]]:
    r = web.api("clerk@x.test").get("/api/v1/messages", headers=headers)
    assert r.status_code == 200, r.text
    return {m["decision"]: m for m in r.json()["items"]}


def test_the_api_answers_the_reason_in_the_requests_language_with_its_code(
    fetched: Web,
) -> None:
    german = messages(fetched, **{"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert german["not_imported"]["reason"] == f"Absender {UNKNOWN} ist nicht zugelassen"
    assert german["not_imported"]["reason_code"] == "sender_not_allowed"
    assert german["not_imported"]["reason_parts"] == [
        {"code": "sender_not_allowed", "params": {"sender": UNKNOWN}}
    ]
    imported = f"1 Dokument von {ALLOWED}: INV-7.pdf"
    assert german["import"]["reason"] == imported
    assert german["duplicate"]["reason"] == f"schon bearbeitet ({imported})"
    assert german["duplicate"]["reason_code"] == "duplicate"
    english = messages(fetched)
    ledger = rows(fetched)
    assert {k: m["reason"] for k, m in english.items()} == {k: m.reason for k, m in ledger.items()}
    one = fetched.api("clerk@x.test").get(
        f"/api/v1/messages/{ledger['import'].id}", headers={"Accept-Language": "de"}
    )
    assert one.json()["reason"] == imported


def test_a_row_decided_before_reason_codes_answers_its_english_reason(fetched: Web) -> None:
    with fetched.app.db.session() as s:
        row = s.scalars(select(Message).where(Message.decision == "not_imported")).one()
        row.reason_parts = None
    old = messages(fetched, **{"Accept-Language": "de"})["not_imported"]
    assert old["reason"] == f"sender {UNKNOWN} is not on the allowed list"
    assert (old["reason_code"], old["reason_parts"]) == (None, None)


def test_the_documents_api_gives_the_mail_s_reason_in_the_requests_language(
    fetched: Web,
) -> None:
    r = fetched.api("clerk@x.test").get("/api/v1/documents", headers={"Accept-Language": "de"})
    (doc,) = r.json()["items"]
    assert doc["message"]["reason"] == f"1 Dokument von {ALLOWED}: INV-7.pdf"
    assert doc["message"]["reason_code"] == "documents_found"


def test_webhook_payloads_carry_codes_and_a_message_in_the_company_s_language(
    fetched: Web,
) -> None:
    with fetched.app.db.session() as s:
        (payload,) = [e.payload for e in s.scalars(select(Event)) if e.kind == "document.created"]
        assert payload["document"]["reason_code"] == "documents_found"
        assert payload["document"]["reason_parts"][0]["params"]["names"] == "INV-7.pdf"
        assert payload["message"] == (
            f"Neues Dokument INV-7.pdf von {ALLOWED} (1 Dokument von {ALLOWED}: INV-7.pdf)"
        )
        s.scalars(select(Company)).one().locale = None  # no language: codes only
        doc = s.scalars(select(Document)).one()
        plain = events.document_payload(doc, doc.message, company="ACME", source="ap")
        assert "message" not in plain and plain["document"]["reason_code"] == "documents_found"


def test_the_run_and_document_pages_show_the_reason_in_the_reader_s_language(
    fetched: Web,
) -> None:
    ledger = rows(fetched)
    b = fetched.browser("clerk@x.test")
    german = {"Accept-Language": "de"}
    run_page = b.get(f"/runs/{ledger['not_imported'].run_id}", headers=german).text
    assert f"Absender {UNKNOWN} ist nicht zugelassen" in run_page
    assert "is not on the allowed list" not in run_page
    with fetched.app.db.session() as s:
        doc_id = s.scalars(select(Document.id)).one()
    doc_page = b.get(f"/documents/{doc_id}", headers=german).text
    assert f"1 Dokument von {ALLOWED}: INV-7.pdf" in doc_page
    assert f"1 document from {ALLOWED}" in b.get(f"/documents/{doc_id}").text
