"""From a not-imported mail on the log: "Import anyway" imports its documents exactly once and
files the mail as imported on the server; "Allow this sender" adds the sender to the source and
its not-imported mail is re-checked in the background. Clerks and admins only; viewers get 403,
other companies' mail does not exist (404). Against Dovecot, over the app's real routes."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import unquote

from sqlalchemy import func, select

from builders import Attachment, make_mail, make_pdf
from harness.dovecot import Mailbox
from invoice_inbox.runtime import lease, runner
from invoice_inbox.runtime.auto_recheck import Rechecker
from invoice_inbox.store.models import Document, Message, Run, Source, utcnow
from invoice_inbox.web.templating import FLASH_COOKIE
from web.conftest import Web

ALLOWED = "billing@supplier.example"
UNKNOWN = "billing@new-supplier.example"


def invoice(sender: str, name: str) -> bytes:
    return make_mail(
        from_=sender, subject=f"Invoice {name}", attachments=[Attachment(name, make_pdf(name))]
    )


def ap_with_one_unknown_sender(web: Web, mailbox: Mailbox) -> tuple[int, int]:
    """(source id, message id) of a fetched source whose one mail was not imported."""
    mailbox.append("INBOX", invoice(UNKNOWN, "NEW-1.pdf"))
    source_id = web.imap_source(
        "ap",
        mailbox,
        "ACME",
        allowed_senders=[ALLOWED],
        move_imported_to="Invoices",
        move_not_imported_to="Not imported",
    )
    summary = runner.fetch(web.app, "ap")
    assert (summary.imported, summary.not_imported) == (0, 1)
    assert mailbox.count("Not imported") == 1
    with web.app.db.session() as s:
        return source_id, s.scalars(select(Message.id)).one()


def documents(web: Web) -> list[tuple[str, int]]:
    with web.app.db.session() as s:
        return [(d.filename, d.message_id) for d in s.scalars(select(Document))]


def ledger_row(web: Web, message_id: int) -> Message:
    with web.app.db.session() as s:
        row = s.get(Message, message_id)
        assert row is not None
        return row


def flash(response: Any) -> str:
    """The one-time message the answer leaves for the next page."""
    return unquote(response.cookies.get(FLASH_COOKIE, ""))


def test_import_anyway_on_the_run_page_queues_the_documents_once_and_files_the_mail(
    web: Web, mailbox: Mailbox
) -> None:
    _, message_id = ap_with_one_unknown_sender(web, mailbox)
    web.user("clerk@x.test", "clerk", ("ACME",))
    b = web.browser("clerk@x.test")
    run_id = ledger_row(web, message_id).run_id
    page = b.get(f"/runs/{run_id}")
    assert f'action="/messages/{message_id}/import-anyway"' in page.text
    assert f'action="/messages/{message_id}/allow-sender"' in page.text

    r = b.form(f"/messages/{message_id}/import-anyway")
    assert r.status_code == 303
    assert r.headers["location"] == f"/runs/{run_id}#message-{message_id}"
    assert "Imported: 1 document added to the queue" in flash(r)
    assert documents(web) == [("NEW-1.pdf", message_id)]
    assert (mailbox.count("Invoices"), mailbox.count("Not imported")) == (1, 0)
    row = ledger_row(web, message_id)
    assert row.decision == "import" and row.filed_to == "Invoices"
    today = f"{utcnow():%Y-%m-%d}"
    assert row.reason.startswith(f"imported by clerk@x.test on {today} (Import anyway): ")
    assert [p["code"] for p in row.reason_parts or []] == ["imported_anyway", "documents_found"]
    assert "import-anyway" in row.hits

    again = b.form(f"/messages/{message_id}/import-anyway")  # a second press
    assert again.status_code == 303 and "imported already" in flash(again)
    assert documents(web) == [("NEW-1.pdf", message_id)]
    assert (mailbox.count("Invoices"), mailbox.count("Not imported")) == (1, 0)
    shown = b.get(f"/runs/{run_id}")
    assert f'action="/messages/{message_id}/import-anyway"' not in shown.text  # imported now
    assert "NEW-1.pdf" in shown.text


def test_two_clerks_importing_the_same_mail_at_once_queue_it_once(
    web: Web, mailbox: Mailbox
) -> None:
    _, message_id = ap_with_one_unknown_sender(web, mailbox)
    web.user("clerk@x.test", "clerk", ("ACME",))
    web.user("admin@x.test", "admin")
    clients = [web.api("clerk@x.test"), web.api("admin@x.test"), web.api("clerk@x.test")]
    start = threading.Barrier(len(clients))
    answers: list[int] = []

    def press(client: Any) -> None:
        start.wait()
        answers.append(client.post(f"/api/v1/messages/{message_id}/import").status_code)

    threads = [threading.Thread(target=press, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 409, 409]
    assert documents(web) == [("NEW-1.pdf", message_id)]
    assert (mailbox.count("Invoices"), mailbox.count("Not imported")) == (1, 0)
    again = clients[0].post(f"/api/v1/messages/{message_id}/import")
    assert again.status_code == 409 and again.json()["detail"] == "this mail is imported already"
    assert len(documents(web)) == 1


def test_the_api_import_names_what_it_did(web: Web, mailbox: Mailbox) -> None:
    _, message_id = ap_with_one_unknown_sender(web, mailbox)
    web.user("clerk@x.test", "clerk", ("ACME",))
    r = web.api("clerk@x.test").post(f"/api/v1/messages/{message_id}/import")
    assert r.status_code == 200, r.text
    body = r.json()
    with web.app.db.session() as s:
        doc_ids = list(s.scalars(select(Document.id)))
    assert body["documents"] == doc_ids and len(doc_ids) == 1
    assert (body["documents_created"], body["duplicates"]) == (1, 0)
    assert body["filed_to"] == "Invoices" and body["filing_errors"] == []
    assert body["reason"].endswith(f"(Import anyway): 1 document from {UNKNOWN}: NEW-1.pdf")


def test_a_mail_with_no_document_has_its_text_imported_as_a_pdf(web: Web, mailbox: Mailbox) -> None:
    mailbox.append("INBOX", make_mail(from_=ALLOWED, subject="Invoice 7 in the text"))
    web.imap_source("ap", mailbox, "ACME", allowed_senders=[ALLOWED])
    runner.fetch(web.app, "ap")
    with web.app.db.session() as s:
        row = s.scalars(select(Message)).one()
        assert row.decision == "not_imported" and row.reason == "no attachment"
        message_id = row.id
    web.user("admin@x.test", "admin")
    r = web.api("admin@x.test").post(f"/api/v1/messages/{message_id}/import")
    assert r.status_code == 200, r.text
    with web.app.db.session() as s:
        doc = s.scalars(select(Document)).one()
        assert (doc.kind, doc.filename) == ("body_pdf", "Invoice 7 in the text.pdf")
    assert web.app.blobs.get(doc.sha256).startswith(b"%PDF")


def test_allow_this_sender_adds_it_and_the_background_recheck_imports_its_mail(
    web: Web, mailbox: Mailbox
) -> None:
    source_id, message_id = ap_with_one_unknown_sender(web, mailbox)
    mailbox.append("INBOX", invoice(UNKNOWN, "NEW-2.pdf"))  # another mail of that sender
    assert runner.fetch(web.app, "ap").not_imported == 1
    assert Rechecker(web.app).tick() == []  # nothing changed yet
    web.user("clerk@x.test", "clerk", ("ACME",))
    b = web.browser("clerk@x.test")

    r = b.form(f"/messages/{message_id}/allow-sender")
    assert r.status_code == 303, r.text
    assert "re-checked in the background" in flash(r)
    with web.app.db.session() as s:
        src = s.get(Source, source_id)
        assert src is not None and src.allowed_senders == [ALLOWED, UNKNOWN]
    assert documents(web) == []  # the page does not import: the background does

    rechecker = Rechecker(web.app)
    assert rechecker.tick() == ["ap"]
    assert sorted(name for name, _ in documents(web)) == ["NEW-1.pdf", "NEW-2.pdf"]
    assert (mailbox.count("Invoices"), mailbox.count("Not imported")) == (2, 0)
    assert rechecker.tick() == []  # once per change
    with web.app.db.session() as s:
        triggers = list(s.scalars(select(Run.trigger).where(Run.source_id == source_id)))
    assert triggers.count("recheck") == 1

    again = b.form(f"/messages/{message_id}/allow-sender")
    assert "already" in flash(again)


def test_viewers_may_not_and_other_companies_mail_does_not_exist(
    web: Web, mailbox: Mailbox
) -> None:
    _, message_id = ap_with_one_unknown_sender(web, mailbox)
    web.user("viewer@x.test", "viewer", ("ACME",))
    web.user("other@x.test", "clerk", ("Other GmbH",))
    viewer = web.browser("viewer@x.test")
    run_id = ledger_row(web, message_id).run_id
    assert "Import anyway" not in viewer.get(f"/runs/{run_id}").text
    for action in ("import-anyway", "allow-sender"):
        assert viewer.form(f"/messages/{message_id}/{action}").status_code == 403
        assert (
            web.browser("other@x.test").form(f"/messages/{message_id}/{action}").status_code == 404
        )
    for action in ("import", "allow-sender"):
        assert (
            web.api("viewer@x.test").post(f"/api/v1/messages/{message_id}/{action}").status_code
            == 403
        )
        assert (
            web.api("other@x.test").post(f"/api/v1/messages/{message_id}/{action}").status_code
            == 404
        )
    assert web.api("viewer@x.test").post("/api/v1/messages/999999/import").status_code == 404
    assert documents(web) == []
    assert ledger_row(web, message_id).decision == "not_imported"
    with web.app.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 0


def test_while_the_source_is_being_fetched_the_import_waits_for_it(
    web: Web, mailbox: Mailbox
) -> None:
    source_id, message_id = ap_with_one_unknown_sender(web, mailbox)
    web.user("clerk@x.test", "clerk", ("ACME",))
    api = web.api("clerk@x.test")
    fetching = lease.new_owner()
    lease.acquire(web.app.db, source_id, fetching)  # a fetch holds the source
    try:
        busy = api.post(f"/api/v1/messages/{message_id}/import")
        assert busy.status_code == 409 and "being fetched" in busy.json()["detail"]
        assert documents(web) == [] and ledger_row(web, message_id).decision == "not_imported"
    finally:
        lease.release(web.app.db, source_id, fetching)
    assert api.post(f"/api/v1/messages/{message_id}/import").status_code == 200
    assert len(documents(web)) == 1
