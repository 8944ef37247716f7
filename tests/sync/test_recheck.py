"""``invoice-inbox recheck``: mail a source did not import is decided again with its current
settings; what qualifies now is imported exactly once and filed as imported, on Dovecot and the
Graph and Gmail stand-ins."""

from __future__ import annotations

import pytest

from builders import Attachment, make_mail, make_pdf
from conftest import AP, CloudAP
from invoice_inbox.runtime import lease
from invoice_inbox.runtime.context import App
from invoice_inbox.store import sources
from invoice_inbox.store.blob_folder import FolderBlobStore

KNOWN, NEW = "billing@known.example", "billing@new-supplier.example"


def invoice(sender: str, filename: str, pdf: bytes | None = None, subject: str = "") -> bytes:
    return make_mail(
        from_=sender,
        subject=subject or f"Invoice {filename}",
        attachments=[Attachment(filename, pdf or make_pdf(filename))],
    )


def by_subject(ap: AP) -> dict[str, dict]:
    return {m["subject"]: m for m in ap.messages()}


def delete_everything_in(ap: AP, folder: str) -> None:
    """Another client deletes the folder's mail for good."""
    if isinstance(ap, CloudAP):
        for message_id in ap.mailbox.ids(folder):
            ap.mailbox.delete(message_id)
        return
    conn = ap.mailbox.imap()
    conn.select(f'"{folder}"')
    conn.store("1:*", "+FLAGS", "(\\Deleted)")
    conn.expunge()
    conn.logout()


@pytest.mark.parametrize("imported_to", ["Imported", None], ids=["to-folder", "left-in-inbox"])
def test_a_newly_allowed_sender_is_imported_once_and_filed_as_imported(
    any_ap: AP, imported_to: str | None
) -> None:
    any_ap.mailbox.append("INBOX", invoice(KNOWN, "A.pdf"))
    any_ap.mailbox.append("INBOX", invoice(NEW, "B.pdf"))
    filing = ("--move-imported-to", imported_to) if imported_to else ()
    any_ap.add_source("--allow-sender", KNOWN, "--move-not-imported-to", "Not imported", *filing)
    first = any_ap.ok("fetch", "ap", "--json").json()
    assert (first["imported"], first["not_imported"]) == (1, 1)
    assert any_ap.mailbox.count("Not imported") == 1

    any_ap.ok(
        "source", "set", "ap", "--allow-sender", KNOWN, "--allow-sender", "*@new-supplier.example"
    )
    summary = any_ap.ok("recheck", "ap", "--json").json()
    assert summary == {
        "run_id": summary["run_id"],
        "source": "ap",
        "checked": 1,
        "imported": 1,
        "documents_created": 1,
        "duplicates": 0,
        "still_not_imported": 0,
        "filed": 1,
        "filing_errors": [],
        "missing_raw": [],
    }
    assert sorted(d["filename"] for d in any_ap.documents()) == ["A.pdf", "B.pdf"]
    assert any_ap.mailbox.count("Not imported") == 0
    assert any_ap.mailbox.count(imported_to or "INBOX") == 2
    row = by_subject(any_ap)["Invoice B.pdf"]
    assert row["decision"] == "import" and row["documents"] == 1
    # flagged: nothing in the test DNS proves the sender (the source's policy is flag)
    assert row["reason"].startswith(
        f"re-checked: 1 document from {NEW}: B.pdf; sender not authenticated: "
    )
    assert row["filed_to"] == imported_to
    run = any_ap.ok("runs", "--json").json()[0]
    assert (run["id"], run["trigger"], run["status"]) == (summary["run_id"], "recheck", "succeeded")
    assert (run["messages_seen"], run["imported"], run["documents_created"]) == (1, 1, 1)

    again = any_ap.ok("recheck", "ap", "--json").json()
    assert (again["checked"], again["imported"], again["filed"]) == (0, 0, 0)
    later = any_ap.ok("fetch", "ap", "--json").json()
    assert later["imported"] == 0 and later["documents_created"] == 0
    assert sorted(d["filename"] for d in any_ap.documents()) == ["A.pdf", "B.pdf"]


def test_a_rule_added_later_imports_the_body_and_other_mail_keeps_its_reason(ap: AP) -> None:
    ap.mailbox.append(
        "INBOX",
        make_mail(from_="billing@hoster.example", subject="Invoice 12", body="Amount: 12 EUR"),
    )
    ap.mailbox.append("INBOX", make_mail(from_="friend@elsewhere.example", subject="lunch?"))
    ap.add_source("--move-imported-to", "Imported")  # mail not imported stays in INBOX
    assert ap.ok("fetch", "ap", "--json").json()["not_imported"] == 2
    before = by_subject(ap)
    assert before["Invoice 12"]["reason"] == before["lunch?"]["reason"] == "no attachment"

    rule = ("text-invoices", "--sender", "billing@hoster.example", "--action", "body")
    ap.ok("rule", "add", "ap", *rule)
    summary = ap.ok("recheck", "ap", "--json").json()
    assert (summary["checked"], summary["imported"], summary["still_not_imported"]) == (2, 1, 1)
    assert summary["filed"] == 1 and summary["filing_errors"] == []  # by its uid in INBOX
    [doc] = ap.documents()
    assert (doc["filename"], doc["kind"], doc["rule"]) == (
        "Invoice 12.pdf",
        "body_pdf",
        "text-invoices",
    )
    after = by_subject(ap)
    assert after["Invoice 12"]["decision"] == "import"
    assert after["Invoice 12"]["reason"].startswith(
        "re-checked: rule 'text-invoices': 1 document from billing@hoster.example: Invoice 12.pdf"
        "; sender not authenticated: "
    )
    codes = [p["code"] for p in after["Invoice 12"]["reason_parts"]]
    assert codes == ["rechecked", "rule", "documents_found", "sender_not_authenticated"]
    assert after["Invoice 12"]["reason_code"] == "rechecked"
    assert after["lunch?"] == before["lunch?"], "a mail still not qualifying is left untouched"
    assert (ap.mailbox.count("INBOX"), ap.mailbox.count("Imported")) == (1, 1)


def test_a_pdf_already_in_the_queue_is_an_exact_duplicate_not_queued_twice(ap: AP) -> None:
    known_pdf, new_pdf = make_pdf("sent twice"), make_pdf("new supplier, sent twice")
    ap.mailbox.append("INBOX", invoice(KNOWN, "X.pdf", known_pdf, subject="first"))
    ap.mailbox.append("INBOX", invoice(NEW, "X-copy.pdf", known_pdf, subject="same pdf"))
    ap.mailbox.append("INBOX", invoice(NEW, "Y.pdf", new_pdf, subject="new 1"))
    ap.mailbox.append("INBOX", invoice(NEW, "Y.pdf", new_pdf, subject="new 2"))
    ap.add_source("--allow-sender", KNOWN, "--move-not-imported-to", "Not imported")
    ap.ok("fetch", "ap")

    ap.ok("source", "set", "ap", "--allow-sender", "")
    summary = ap.ok("recheck", "ap", "--json").json()
    assert (summary["imported"], summary["documents_created"], summary["filed"]) == (3, 1, 3)
    assert summary["duplicates"] == 2  # X-copy.pdf and the second Y.pdf: not queued
    assert sorted(d["filename"] for d in ap.documents()) == ["X.pdf", "Y.pdf"]  # the queue
    listed = ap.ok("documents", "list", "--with-duplicates", "--json").json()
    docs = {(d["filename"], d["subject"]): d for d in listed}
    original = docs["X.pdf", "first"]
    repeat = docs["X-copy.pdf", "same pdf"]
    assert (repeat["duplicate_of"], repeat["duplicate_kind"]) == (original["id"], "exact")
    y1, y2 = docs["Y.pdf", "new 1"], docs["Y.pdf", "new 2"]
    assert y1["duplicate_of"] is None
    assert (y2["duplicate_of"], y2["duplicate_kind"]) == (y1["id"], "exact")
    queued = [d for d in docs.values() if d["duplicate_kind"] != "exact"]
    assert sorted(d["filename"] for d in queued) == ["X.pdf", "Y.pdf"]
    assert by_subject(ap)["same pdf"]["reason"].endswith(
        f"; already in the queue: X-copy.pdf (exact duplicate of #{original['id']})"
    )
    assert ap.mailbox.count("INBOX") == 4 and ap.mailbox.count("Not imported") == 0


def test_mail_gone_from_the_server_is_still_imported_and_the_filing_error_reported(
    any_ap: AP,
) -> None:
    any_ap.mailbox.append("INBOX", invoice(NEW, "B.pdf"))
    any_ap.add_source(
        *("--allow-sender", KNOWN, "--move-imported-to", "Imported"),
        *("--move-not-imported-to", "Not imported"),
    )
    any_ap.ok("fetch", "ap")
    delete_everything_in(any_ap, "Not imported")
    any_ap.ok("source", "set", "ap", "--allow-sender", NEW)

    summary = any_ap.ok("recheck", "ap", "--json").json()
    assert (summary["imported"], summary["documents_created"], summary["filed"]) == (1, 1, 0)
    [problem] = summary["filing_errors"]
    assert problem.startswith("message ") and '"Invoice B.pdf" from billing@new-supplier' in problem
    assert 'not found in "Not imported"' in problem
    assert [d["filename"] for d in any_ap.documents()] == ["B.pdf"]
    row = by_subject(any_ap)["Invoice B.pdf"]
    assert row["decision"] == "import" and row["filed_to"] == "Not imported", "where it was last"
    assert any_ap.ok("runs", "--json").json()[0]["status"] == "succeeded"

    human = any_ap.ok("recheck", "ap")
    assert human.stdout.strip() == (
        "ap: 0 not-imported messages re-checked, 0 imported now (0 documents), "
        "0 still not imported, 0 filed as imported"
    )


def test_a_mail_whose_raw_bytes_are_missing_is_reported_not_fatal(ap: AP) -> None:
    ap.mailbox.append("INBOX", invoice(NEW, "B.pdf"))
    ap.mailbox.append("INBOX", invoice(NEW, "C.pdf"))
    ap.add_source("--allow-sender", KNOWN)
    ap.ok("fetch", "ap")
    lost = by_subject(ap)["Invoice B.pdf"]
    FolderBlobStore(ap.data_dir / "blobs").path(lost["raw_sha256"]).unlink()
    ap.ok("source", "set", "ap", "--allow-sender", NEW)

    r = ap.ok("recheck", "ap")
    assert r.stdout.strip() == (
        "ap: 1 not-imported messages re-checked, 1 imported now (1 documents), "
        "0 still not imported, 0 filed as imported, 1 without their raw mail"
    )
    assert f"message {lost['id']}" in r.stderr and "not in the blob store" in r.stderr
    assert [d["filename"] for d in ap.documents()] == ["C.pdf"]
    assert by_subject(ap)["Invoice B.pdf"]["decision"] == "not_imported"


def test_recheck_mistakes_are_one_sentence(ap: AP) -> None:
    ap.add_source()
    r = ap.run("recheck", "nosuch")
    assert r.code == 1
    assert r.stderr.startswith('error: no source named "nosuch"') and r.stderr.count("\n") == 1
    app = App.open(ap.data_dir)
    try:
        with app.db.session() as s:
            source_id = sources.get(s, "ap").id
        lease.acquire(app.db, source_id, "elsewhere.example:4242:fetching")
    finally:
        app.close()
    busy = ap.run("recheck", "ap")
    assert busy.code == 1
    assert busy.stderr.startswith("error: source is being fetched by another process (pid 4242)")
