"""What the screens and the API say a run did (issue 13, findings 2 and 3), for mail fetched
from Dovecot: documents not queued because their bytes are queued already count as duplicates;
a run that imported mail and then met a missing folder is ``partial``, with its error."""

from __future__ import annotations

from html import unescape

from builders import Attachment, make_mail, make_pdf
from harness.dovecot import Mailbox
from invoice_inbox.runtime import runner
from invoice_inbox.store.models import Run
from web.conftest import Web
from web.test_web_log import cells


def invoice_mail(subject: str, name: str, pdf: bytes) -> bytes:
    return make_mail(subject=subject, attachments=[Attachment(name, pdf)])


def test_documents_already_in_the_queue_count_as_duplicates_on_the_screens_and_api(
    web: Web, mailbox: Mailbox
) -> None:
    known = make_pdf("INV-1 of Supplier GmbH")
    mailbox.append("INBOX", invoice_mail("Invoice 1", "INV-1.pdf", known))
    source_id = web.imap_source("ap", mailbox, "ACME", move_imported_to="Imported")
    runner.fetch(web.app, "ap")
    for subject in ("Reminder 1", "Second reminder", "Last reminder"):
        mailbox.append("INBOX", invoice_mail(subject, "INV-1.pdf", known))
    mailbox.append("INBOX", invoice_mail("Invoice 2", "INV-2.pdf", make_pdf("INV-2")))
    second = runner.fetch(web.app, "ap")
    assert (second.duplicates, second.documents_created) == (3, 1)

    web.user("clerk@x.test", "clerk", ("ACME",))
    b = web.browser("clerk@x.test")
    log = b.get(f"/sources/{source_id}/log")
    # seen, imported, not imported, quarantined, duplicates, documents
    assert cells(log.text, f"run-{second.run_id}")[5:11] == ["4", "4", "0", "0", "3", "1"]
    run_page = b.get(f"/runs/{second.run_id}").text
    assert "1 document queued; 3 duplicates not queued again" in run_page
    assert "3 duplicates" in cells(b.get("/sources").text, f"source-{source_id}")[4]

    run = web.api("clerk@x.test").get(f"/api/v1/runs/{second.run_id}").json()
    assert (run["messages_seen"], run["duplicates"], run["documents_created"]) == (4, 3, 1)


def test_a_run_that_imported_mail_then_met_a_missing_folder_is_partial(
    web: Web, mailbox: Mailbox
) -> None:
    for i in range(4):
        mailbox.append("INBOX", invoice_mail(f"Invoice {i}", f"INV-{i}.pdf", make_pdf(str(i))))
    source_id = web.imap_source(
        "ap", mailbox, "ACME", folders=["INBOX", "Gone"], move_imported_to="Imported"
    )
    web.user("clerk@x.test", "clerk", ("ACME",))
    api = web.api("clerk@x.test")

    r = api.post(f"/api/v1/sources/{source_id}/fetch", params={"wait": "true"})
    assert r.status_code == 200, r.text
    summary = r.json()
    assert (summary["status"], summary["imported"], summary["documents_created"]) == (
        "partial",
        4,
        4,
    )
    assert 'folder "Gone" does not exist' in summary["error"]
    assert mailbox.count("Imported") == 4
    with web.app.db.session() as s:
        run = s.get(Run, summary["run_id"])
        assert run is not None and run.status == "partial" and run.finished_at is not None
    assert api.get(f"/api/v1/runs/{summary['run_id']}").json()["status"] == "partial"

    b = web.browser("clerk@x.test")
    log = b.get(f"/sources/{source_id}/log").text
    row = cells(log, f"run-{summary['run_id']}")
    assert row[3] == "partial" and 'folder "Gone" does not exist' in unescape(row[11])
    assert '<span class="badge warn">partial</span>' in log
    run_page = b.get(f"/runs/{summary['run_id']}").text
    assert '<span class="badge warn">partial</span>' in run_page
    assert 'folder "Gone" does not exist' in unescape(run_page)
    sources_row = cells(b.get("/sources").text, f"source-{source_id}")
    assert "partial" in sources_row[4] and "4 imported" in sources_row[4]
    shown = api.get(f"/api/v1/sources/{source_id}").json()
    assert shown["active"] is True and shown["failures"] == 1
