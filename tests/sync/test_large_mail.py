"""A mail with a big attachment end to end (issue 17 item 3): fetched over IMAP, decided in a
worker, its document and raw mail written to the blob store, imported once."""

from __future__ import annotations

import hashlib

from builders import Attachment, make_mail, make_pdf, make_sized_pdf
from conftest import AP


def test_a_large_mail_is_imported_once_with_its_exact_document(ap: AP) -> None:
    scan = make_sized_pdf(6 * 1024 * 1024 + 3, seed=11)
    small = make_pdf("INV-7")
    big = make_mail(attachments=[Attachment("scan.pdf", scan), Attachment("INV-7.pdf", small)])
    ap.mailbox.append("INBOX", big)
    ap.mailbox.append("INBOX", make_mail(attachments=[Attachment("INV-8.pdf", make_pdf("8"))]))
    ap.add_source("--move-imported-to", "Imported")

    first = ap.ok("fetch", "ap", "--json").json()
    assert (first["messages_seen"], first["imported"], first["documents_created"]) == (2, 2, 3)
    docs = {d["filename"]: d for d in ap.documents()}
    assert docs["scan.pdf"]["sha256"] == hashlib.sha256(scan).hexdigest()
    assert docs["scan.pdf"]["size"] == len(scan)
    assert docs["INV-7.pdf"]["sha256"] == hashlib.sha256(small).hexdigest()
    blobs = ap.data_dir / "blobs"
    for data in (scan, small, big):
        digest = hashlib.sha256(data).hexdigest()
        assert (blobs / digest[:2] / digest).read_bytes() == data
    assert ap.mailbox.count("Imported") == 2 and ap.mailbox.count("INBOX") == 0

    second = ap.ok("fetch", "ap", "--json").json()
    assert (second["messages_seen"], second["documents_created"]) == (0, 0)
    assert len(ap.documents()) == 3
