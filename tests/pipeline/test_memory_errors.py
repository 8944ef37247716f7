"""Running out of memory inside a container or PDF reader is the memory limit, not damage.

A decide worker runs under ``RLIMIT_AS``; when a step on hostile bytes asks for more, Python
raises ``MemoryError`` wherever it happens to be. The readers that turn "any failure" into
"unreadable" must let it through, so the worker reports the memory limit (and the run moves on)
instead of a misleading "archive could not be read" or a PDF treated as having no e-invoice.
"""

from __future__ import annotations

import pytest

from builders import Attachment, make_mail, make_pdf, make_tnef, make_zip
from corpus import CORPUS
from invoice_inbox.pipeline import containers, tnef
from invoice_inbox.pipeline.decide import Policy, decide
from invoice_inbox.pipeline.einvoice import pdf_reader

SENDER = "billing@supplier.example"
POLICY = Policy(allowed_senders=(SENDER,))


def _out_of_memory(*args: object, **kwargs: object) -> None:
    raise MemoryError


def _mail(name: str, data: bytes) -> bytes:
    return make_mail(from_=SENDER, subject="Invoice", attachments=[Attachment(name, data)])


def test_a_zip_that_exhausts_memory_raises_it(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _mail("invoices.zip", make_zip({"INV-1.pdf": make_pdf("1")}))
    assert decide(raw, POLICY).verdict == "import"  # the archive itself is fine
    monkeypatch.setattr(containers.zipfile, "ZipFile", _out_of_memory)
    with pytest.raises(MemoryError):
        decide(raw, POLICY)


def test_a_winmail_dat_that_exhausts_memory_raises_it(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _mail("winmail.dat", make_tnef({"INV-1.pdf": make_pdf("1")}))
    assert decide(raw, POLICY).verdict == "import"
    monkeypatch.setattr(tnef, "TNEF", _out_of_memory)
    with pytest.raises(MemoryError):
        decide(raw, POLICY)


def test_a_pdf_that_exhausts_memory_raises_it(monkeypatch: pytest.MonkeyPatch) -> None:
    data = (CORPUS / "zugferd-corpus__XRECHNUNG_Einfach.pdf").read_bytes()  # a ZUGFeRD PDF
    raw = _mail("INV-1.pdf", data)
    assert decide(raw, POLICY).verdict == "import"
    monkeypatch.setattr(pdf_reader, "_BoundedReader", _out_of_memory)
    with pytest.raises(MemoryError):
        decide(raw, POLICY)
