"""End to end against Dovecot: the allowed senders' PDFs are imported, every mail is filed,
and a second run imports nothing."""

from __future__ import annotations

import hashlib
import imaplib
import time

from builders import Attachment, make_mail, make_pdf
from conftest import AP

FILED = ("--move-imported-to", "Invoices/{year}", "--move-not-imported-to", "Not imported")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_fetch_imports_allowed_pdfs_files_every_mail_and_is_idempotent(ap: AP) -> None:
    pdf1, pdf2, pdf3 = make_pdf("INV-1"), make_pdf("INV-2"), make_pdf("INV-3")
    date = "Tue, 03 Mar 2026 10:00:00 +0100"
    mails = {
        "a": make_mail(
            from_="billing@acme-supplies.example",
            date=date,
            attachments=[Attachment("INV-1.pdf", pdf1)],
        ),
        "b": make_mail(
            from_="Invoices <AR@Parts.Example>",
            date=date,
            attachments=[Attachment("INV-2.pdf", pdf2), Attachment("INV-3.pdf", pdf3)],
        ),
        "spam": make_mail(
            from_="spam@elsewhere.example",
            date=date,
            attachments=[Attachment("INV-9.pdf", make_pdf("INV-9"))],
        ),
        "nopdf": make_mail(
            from_="billing@acme-supplies.example",
            date=date,
            attachments=[Attachment("notes.txt", b"hello", "text/plain")],
        ),
        "noatt": make_mail(from_="billing@acme-supplies.example", date=date),
    }
    for raw in mails.values():
        ap.mailbox.append("INBOX", raw)
    ap.add_source(
        "--allow-sender",
        "billing@acme-supplies.example",
        "--allow-sender",
        "*@parts.example",
        *FILED,
    )

    first = ap.ok("fetch", "ap", "--json").json()
    assert (first["messages_seen"], first["imported"], first["not_imported"]) == (5, 2, 3)
    assert first["documents_created"] == 3

    docs = ap.documents()
    assert sorted((d["filename"], d["sha256"]) for d in docs) == sorted(
        [("INV-1.pdf", sha(pdf1)), ("INV-2.pdf", sha(pdf2)), ("INV-3.pdf", sha(pdf3))]
    )
    assert {d["sender"] for d in docs} == {"billing@acme-supplies.example", "ar@parts.example"}
    assert all(d["company"] == "ACME" and d["source"] == "ap" for d in docs)

    assert ap.mailbox.count("INBOX") == 0
    assert ap.mailbox.count("Invoices/2026") == 2
    assert ap.mailbox.count("Not imported") == 3
    reasons = {m["sender"]: m["reason"] for m in ap.messages() if m["decision"] != "import"}
    assert reasons["spam@elsewhere.example"] == (
        "sender spam@elsewhere.example is not on the allowed list"
    )

    second = ap.ok("fetch", "ap", "--json").json()
    assert (second["messages_seen"], second["documents_created"]) == (0, 0)
    assert len(ap.documents()) == 3
    runs = ap.ok("runs", "--json").json()
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert runs[1]["imported"] == 2 and runs[0]["imported"] == 0

    # new mail after the first runs is picked up, and only it
    ap.mailbox.append(
        "INBOX",
        make_mail(
            from_="billing@acme-supplies.example",
            attachments=[Attachment("INV-4.pdf", make_pdf("INV-4"))],
        ),
    )
    third = ap.ok("fetch", "ap", "--json").json()
    assert (third["messages_seen"], third["imported"]) == (1, 1)
    assert len(ap.documents()) == 4


def test_mail_stays_in_place_when_no_folders_are_set_and_is_not_marked_read(ap: AP) -> None:
    for i in range(3):
        ap.mailbox.append(
            "INBOX", make_mail(attachments=[Attachment(f"{i}.pdf", make_pdf(str(i)))])
        )
    ap.add_source()
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 3
    assert ap.mailbox.count("INBOX") == 3
    assert all("\\Seen" not in f for f in ap.mailbox.flags("INBOX").values())
    assert ap.ok("fetch", "ap", "--json").json()["messages_seen"] == 0
    assert len(ap.documents()) == 3


def test_unread_only_skips_read_mail_and_marks_handled_mail_read(ap: AP) -> None:
    read = ap.mailbox.append(
        "INBOX", make_mail(attachments=[Attachment("r.pdf", make_pdf("r"))]), ("\\Seen",)
    )
    unread = ap.mailbox.append("INBOX", make_mail(attachments=[Attachment("u.pdf", make_pdf("u"))]))
    ap.add_source("--unread-only")
    summary = ap.ok("fetch", "ap", "--json").json()
    assert (summary["messages_seen"], summary["imported"]) == (1, 1)
    assert [d["filename"] for d in ap.documents()] == ["u.pdf"]
    flags = ap.mailbox.flags("INBOX")
    assert "\\Seen" in flags[unread] and "\\Seen" in flags[read]


def test_since_skips_older_mail_and_several_folders_are_read(ap: AP) -> None:
    conn: imaplib.IMAP4 = ap.mailbox.imap()
    old = make_mail(attachments=[Attachment("old.pdf", make_pdf("old"))])
    conn.append(
        "INBOX", None, imaplib.Time2Internaldate(time.mktime((2020, 1, 5, 12, 0, 0, 0, 0, -1))), old
    )
    conn.logout()
    ap.mailbox.append("INBOX", make_mail(attachments=[Attachment("new.pdf", make_pdf("new"))]))
    ap.mailbox.append("Junk", make_mail(attachments=[Attachment("junk.pdf", make_pdf("junk"))]))
    ap.add_source(
        "--since",
        "2025-01-01",
        "--folder",
        "INBOX",
        "--folder",
        "Junk",
        "--move-imported-to",
        "Done",
    )
    summary = ap.ok("fetch", "ap", "--json").json()
    assert summary["imported"] == 2
    assert sorted(d["filename"] for d in ap.documents()) == ["junk.pdf", "new.pdf"]
    assert ap.mailbox.count("Done") == 2
    assert ap.mailbox.count("INBOX") == 1  # the old mail was not looked at


def test_documents_export_names_files_by_date_sender_and_name(ap: AP, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pdf = make_pdf("export")
    ap.mailbox.append(
        "INBOX",
        make_mail(
            from_="ar@parts.example",
            date="Fri, 06 Mar 2026 09:00:00 +0000",
            attachments=[Attachment("../INV 7.pdf", pdf)],
        ),
    )
    ap.add_source()
    ap.ok("fetch", "ap")
    out = tmp_path / "export"
    assert "1 files written" in ap.ok("documents", "export", "--to", str(out)).stdout
    files = list(out.iterdir())
    assert [f.name for f in files] == ["2026-03-06_ar@parts.example_INV 7.pdf"]
    assert files[0].read_bytes() == pdf
    assert "0 files written" in ap.ok("documents", "export", "--to", str(out)).stdout


def test_serve_once_fetches_every_active_source_and_says_where_data_lives(ap: AP) -> None:
    ap.mailbox.append("INBOX", make_mail(attachments=[Attachment("s.pdf", make_pdf("serve"))]))
    ap.add_source()
    ap.add_source("--inactive", name="off")
    r = ap.ok("serve", "--once")
    assert f"data in {ap.data_dir}" in r.stdout
    assert "1 active sources" in r.stdout
    assert [d["filename"] for d in ap.documents()] == ["s.pdf"]
    assert [run["source"] for run in ap.ok("runs", "--json").json()] == ["ap"]
