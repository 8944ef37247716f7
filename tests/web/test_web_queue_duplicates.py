"""Exact duplicates stay out of the payable queue (issue 13, finding 1): the same PDF in two
mails fetched from Dovecot is listed once on ``/documents`` and in ``GET /api/v1/documents``,
announced once to webhooks, shown on the original's page as "also received in" the second mail,
and its own page (linked from the run log) offers nothing to book."""

from __future__ import annotations

import re

from sqlalchemy import select

from builders import Attachment, make_mail, make_pdf
from corpus import CORPUS
from harness.dovecot import Mailbox
from invoice_inbox.runtime import runner
from invoice_inbox.store import events
from invoice_inbox.store.models import Document, Message
from invoice_inbox.store.models_events import Event
from web.conftest import Web

XRECHNUNG = CORPUS / "xrechnung-testsuite__01.02a-INVOICE_ubl.xml"


def listed_ids(html: str) -> list[int]:
    """The document ids in the queue table, in page order."""
    return [int(i) for i in re.findall(r'<tr id="document-(\d+)"', html)]


def doc_ids(web: Web) -> dict[str, int]:
    with web.app.db.session() as s:
        return {d.filename: d.id for d in s.scalars(select(Document))}


def test_the_same_pdf_in_two_mails_is_queued_once_and_shown_where_it_came_again(
    web: Web, mailbox: Mailbox
) -> None:
    pdf = make_pdf("INV-5 of Supplier GmbH")
    mailbox.append(
        "INBOX", make_mail(subject="Invoice 5", attachments=[Attachment("INV-5.pdf", pdf)])
    )
    mailbox.append(
        "INBOX",
        make_mail(subject="Reminder: invoice 5", attachments=[Attachment("INV-5 again.pdf", pdf)]),
    )
    web.imap_source("ap", mailbox, "ACME")
    summary = runner.fetch(web.app, "ap")
    ids = doc_ids(web)
    first, again = ids["INV-5.pdf"], ids["INV-5 again.pdf"]
    with web.app.db.session() as s:
        assert s.get(Document, again).duplicate_kind == "exact"  # type: ignore[union-attr]
        created = [
            e.payload["document"]["id"]  # type: ignore[index]
            for e in s.scalars(select(Event).where(Event.kind == events.DOCUMENT_CREATED))
        ]
        reminder_row = s.scalars(select(Message).where(Message.subject.like("Reminder%"))).one()
    assert created == [first], "webhooks hear of the invoice once"

    web.user("clerk@x.test", "clerk", ("ACME",))
    api = web.api("clerk@x.test")
    for status in ("new", "all"):
        r = api.get("/api/v1/documents", params={"status": status})
        assert r.status_code == 200, r.text
        assert [d["id"] for d in r.json()["items"]] == [first], status

    b = web.browser("clerk@x.test")
    for status in ("new", "all"):
        assert listed_ids(b.get("/documents", params={"status": status}).text) == [first], status

    # the log of the run says what became of the second copy
    run = b.get(f"/runs/{summary.run_id}")
    assert f'href="/documents/{again}"' in run.text
    assert f"exact duplicate of document #{first}" in run.text

    # the original's page names the mail it came again in, with its run
    original = b.get(f"/documents/{first}")
    assert "Also received in" in original.text
    assert "Reminder: invoice 5" in original.text
    assert f'href="/runs/{reminder_row.run_id}"' in original.text
    assert f'href="/documents/{again}"' in original.text

    # the copy's own page (linked from the log) works, but offers nothing to book
    copy = b.get(f"/documents/{again}")
    assert copy.status_code == 200
    assert f'action="/documents/{again}/processed"' not in copy.text
    assert "Mark as processed" not in copy.text
    assert "is an exact duplicate of" in copy.text
    assert f'<a href="/documents/{first}">document #{first} INV-5.pdf</a>' in copy.text
    b.form(f"/documents/{again}/processed", {"back": f"/documents/{again}"})
    detail = api.get(f"/api/v1/documents/{again}").json()
    assert (detail["status"], detail["duplicate_of"]) == ("duplicate", first)
    refused = api.post(f"/api/v1/documents/{again}/ack")
    assert refused.status_code == 409
    assert f"#{first}" in refused.json()["detail"]
    with web.app.db.session() as s:
        assert s.get(Document, again).processed_at is None  # type: ignore[union-attr]
    assert api.get(f"/api/v1/documents/{first}").json()["duplicated_by"] == [again]

    # booking the original leaves nothing new, and "processed" lists it once
    assert api.post(f"/api/v1/documents/{first}/ack").status_code == 200
    assert api.get("/api/v1/documents").json()["items"] == []
    processed = api.get("/api/v1/documents", params={"status": "processed"}).json()["items"]
    assert [d["id"] for d in processed] == [first]
    counts = api.get("/api/v1/companies").json()[0]["counts"]
    assert (counts["documents"], counts["new_documents"]) == (1, 0)


def test_a_probable_duplicate_stays_in_the_queue_flagged(web: Web, mailbox: Mailbox) -> None:
    """Other bytes of the same e-invoice are queued (a person decides), with their flag."""
    xml = XRECHNUNG.read_bytes()
    resent = xml.replace(b"?>", b"?><!-- sent again -->", 1)
    for subject, name, data in [("R-77", "r77.xml", xml), ("R-77 again", "r77-b.xml", resent)]:
        mailbox.append(
            "INBOX",
            make_mail(subject=subject, attachments=[Attachment(name, data, "text/xml")]),
        )
    web.imap_source("ap", mailbox, "ACME", require_pdf=False)
    runner.fetch(web.app, "ap")
    ids = doc_ids(web)
    web.user("clerk@x.test", "clerk", ("ACME",))
    items = web.api("clerk@x.test").get("/api/v1/documents").json()["items"]
    by_name = {d["filename"]: d for d in items}
    assert set(by_name) == {"r77.xml", "r77-b.xml"}, items
    assert by_name["r77-b.xml"]["duplicate_kind"] == "probable"
    assert by_name["r77-b.xml"]["duplicate_of"] == ids["r77.xml"]
    assert by_name["r77-b.xml"]["status"] == "new"
