"""What a run says it did, in ``fetch``'s summary and ``runs`` (issue 13, findings 2 and 3), on a
real Dovecot: documents that were not queued because their bytes are in the queue already count
as duplicates; a run that filed mail and then met a missing folder is ``partial``, with its error
and exit status 3, and it does not switch its source off."""

from __future__ import annotations

from builders import Attachment, make_mail, make_pdf
from conftest import AP

FILED = ("--move-imported-to", "Imported", "--move-not-imported-to", "Not imported")
SUPPLIER = "billing@supplier.example"


def invoice_mail(subject: str, name: str, pdf: bytes) -> bytes:
    return make_mail(from_=SUPPLIER, subject=subject, attachments=[Attachment(name, pdf)])


def test_a_run_counts_documents_already_in_the_queue_as_duplicates(ap: AP) -> None:
    known = make_pdf("INV-1 of Supplier GmbH")
    ap.mailbox.append("INBOX", invoice_mail("Invoice 1", "INV-1.pdf", known))
    ap.add_source(*FILED)
    ap.ok("fetch", "ap")

    for subject in ("Reminder 1", "Second reminder", "Last reminder"):  # other mails, same PDF
        ap.mailbox.append("INBOX", invoice_mail(subject, "INV-1.pdf", known))
    ap.mailbox.append("INBOX", invoice_mail("Invoice 2", "INV-2.pdf", make_pdf("INV-2")))
    out = ap.ok("fetch", "ap").stdout
    assert "4 new messages, 4 imported" in out
    assert "3 duplicates" in out and "1 documents" in out, out

    run = ap.ok("runs", "--json").json()[0]
    assert (run["messages_seen"], run["imported"], run["duplicates"]) == (4, 4, 3)
    assert run["documents_created"] == 1
    again = ap.ok("fetch", "ap", "--json").json()
    assert (again["messages_seen"], again["duplicates"], again["documents_created"]) == (0, 0, 0)


def test_a_run_that_filed_mail_then_met_a_missing_folder_is_partial(ap: AP) -> None:
    for i in range(4):
        ap.mailbox.append("INBOX", invoice_mail(f"Invoice {i}", f"INV-{i}.pdf", make_pdf(str(i))))
    ap.add_source("--folder", "INBOX", "--folder", "Gone", "--max-failures", "1", *FILED)

    r = ap.run("fetch", "ap")
    assert r.code == 3, (r.code, r.stdout, r.stderr)
    assert "ap: 4 new messages, 4 imported" in r.stdout
    assert "partial" in r.stdout
    assert 'folder "Gone" does not exist' in r.stderr
    assert "Traceback" not in r.stderr
    assert ap.mailbox.count("Imported") == 4 and ap.mailbox.count("INBOX") == 0

    run = ap.ok("runs", "--json").json()[0]
    assert (run["status"], run["imported"], run["documents_created"]) == ("partial", 4, 4)
    assert 'folder "Gone" does not exist' in run["error"]
    shown = ap.ok("source", "show", "ap", "--json").json()
    assert shown["active"] is True, "a run that imported mail never switches its source off"
    assert shown["failures"] == 1 and 'folder "Gone"' in shown["last_error"]
    assert any('folder "Gone"' in w for w in shown["warnings"])

    # the next run gets nothing done: that one failed, and the failure rules apply
    r = ap.run("fetch", "ap")
    assert r.code == 1 and 'folder "Gone" does not exist' in r.stderr
    assert ap.ok("runs", "--json").json()[0]["status"] == "failed"
    assert ap.ok("source", "show", "ap", "--json").json()["active"] is False


def test_fetch_all_reports_a_partial_run_among_the_others(ap: AP) -> None:
    ap.mailbox.append("INBOX", invoice_mail("Invoice 1", "INV-1.pdf", make_pdf("1")))
    ap.add_source("--folder", "INBOX", "--folder", "Gone", *FILED)
    r = ap.run("fetch", "--all", "--json")
    assert r.code == 3, (r.code, r.stdout, r.stderr)
    [result] = r.json()
    assert (result["status"], result["imported"]) == ("partial", 1)
    assert 'folder "Gone" does not exist' in result["error"]
