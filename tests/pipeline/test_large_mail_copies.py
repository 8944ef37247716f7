"""A big attachment is not copied on its way through ``decide`` (issue 17 item 3): the PDF
reader reads the decoded bytes themselves. What a copy costs is measured by
``benchmarks/large_attachment.py``; these tests hold the structure that avoids it and check that
the documents and decisions stay the same."""

from __future__ import annotations

import base64
import hashlib

from builders import Attachment, make_mail, make_sized_pdf
from invoice_inbox.pipeline.decide import Verdict, decide
from invoice_inbox.pipeline.einvoice import pdf_reader
from invoice_inbox.pipeline.limits import DEFAULT_LIMITS


def test_the_pdf_reader_reads_the_documents_own_bytes() -> None:
    data = make_sized_pdf(256 * 1024, seed=5)
    reader = pdf_reader._BoundedReader(data, DEFAULT_LIMITS.pdf_object_bytes)
    stream = reader.stream
    # pypdf sizes a stream through getbuffer() where it has one, and a buffer view of a
    # BytesIO that shares its bytes copies them
    assert not hasattr(stream, "getbuffer")
    stream.seek(0)
    assert stream.read() is data  # the shared bytes themselves, not a copy


def test_a_big_scan_is_imported_whole() -> None:
    pdf = make_sized_pdf(5 * 1024 * 1024 + 17, seed=9)
    raw = make_mail(attachments=[Attachment("scan.pdf", pdf)])
    assert base64.b64encode(pdf[:57]).decode() in raw.decode("ascii", "replace")
    d = decide(raw)
    assert d.verdict is Verdict.IMPORT
    assert [(doc.filename, doc.size, doc.sha256) for doc in d.documents] == [
        ("scan.pdf", len(pdf), hashlib.sha256(pdf).hexdigest())
    ]
    assert d.documents[0].data == pdf
