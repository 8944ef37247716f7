"""The decision for one message: allowed senders, attachment and PDF checks, reasons."""

from __future__ import annotations

import hashlib

import pytest

from builders import Attachment, make_mail, make_nested_mail, make_pdf
from invoice_inbox.pipeline.decide import CHECKS, Policy, Verdict, decide
from invoice_inbox.pipeline.rules import Rule

PDF = make_pdf("Invoice 4711")


def invoice_mail(**kw: object) -> bytes:
    kw.setdefault("attachments", [Attachment("INV-4711.pdf", PDF)])
    return make_mail(**kw)  # type: ignore[arg-type]


def test_pdf_attachment_from_allowed_sender_is_imported() -> None:
    d = decide(invoice_mail(), Policy(allowed_senders=("billing@supplier.example",)))
    assert d.verdict is Verdict.IMPORT
    assert [(x.filename, x.media_type, x.data) for x in d.documents] == [
        ("INV-4711.pdf", "application/pdf", PDF)
    ]
    assert "INV-4711.pdf" in d.reason
    assert d.misses == ("size", "allowed-sender", "rules", "has-attachment", "documents")


def test_sender_not_on_list_is_not_imported_with_reason() -> None:
    d = decide(
        invoice_mail(from_="Mallory <x@y.com>"), Policy(allowed_senders=("*@supplier.example",))
    )
    assert d.verdict is Verdict.NOT_IMPORTED
    assert d.reason == "sender x@y.com is not on the allowed list"
    assert d.hits == ("allowed-sender",)
    assert d.documents == ()


@pytest.mark.parametrize(
    ("sender", "patterns", "allowed"),
    [
        ("Billing@Supplier.Example", ("*@supplier.example",), True),
        ("billing@supplier.example", ("BILLING@supplier.example",), True),
        ("billing@sub.supplier.example", ("*@supplier.example",), False),
        ("billing@supplier.example.evil", ("*@supplier.example",), False),
        ("other@supplier.example", ("billing@supplier.example",), False),
        ("anyone@anywhere.example", (), True),
    ],
)
def test_allowed_sender_patterns(sender: str, patterns: tuple[str, ...], allowed: bool) -> None:
    d = decide(invoice_mail(from_=sender), Policy(allowed_senders=patterns))
    assert (d.verdict is Verdict.IMPORT) is allowed


def test_mail_without_attachment_is_not_imported() -> None:
    d = decide(make_mail(attachments=[]))
    assert (d.verdict, d.reason) == (Verdict.NOT_IMPORTED, "no attachment")


def test_pdf_is_judged_by_bytes_not_name_or_type() -> None:
    disguised = Attachment("scan.txt", PDF, content_type="text/plain")
    d = decide(make_mail(attachments=[disguised]))
    assert d.verdict is Verdict.IMPORT
    assert d.documents[0].media_type == "application/pdf"

    fake = Attachment("invoice.pdf", b"this is not a pdf at all", content_type="application/pdf")
    d = decide(make_mail(attachments=[fake]))
    assert d.verdict is Verdict.NOT_IMPORTED
    assert d.reason == "no PDF or e-invoice attachment (found: invoice.pdf)"


def test_inline_and_nested_pdfs_become_documents() -> None:
    inline = Attachment("inline.pdf", PDF, disposition="inline")
    assert decide(make_mail(attachments=[inline])).verdict is Verdict.IMPORT
    for inner in ("related", "alternative"):
        nested = decide(make_nested_mail(inner=inner, pdf=PDF, filename="deep.pdf"))
        assert nested.verdict is Verdict.IMPORT
        assert [(x.filename, x.data) for x in nested.documents] == [("deep.pdf", PDF)]


def test_same_pdf_attached_twice_is_one_document_two_pdfs_are_two() -> None:
    other = make_pdf("Invoice 4712")
    d = decide(
        make_mail(
            attachments=[
                Attachment("a.pdf", PDF),
                Attachment("copy-of-a.pdf", PDF),
                Attachment("b.pdf", other),
            ]
        )
    )
    assert [x.filename for x in d.documents] == ["a.pdf", "b.pdf"]


def test_unsafe_attachment_names_are_sanitized() -> None:
    d = decide(make_mail(attachments=[Attachment("../../etc/pass\x01wd.pdf", PDF)]))
    assert d.documents[0].filename == "pass_wd.pdf"


def test_non_pdf_attachments_are_documents_only_when_the_source_allows_them() -> None:
    mail = make_mail(attachments=[Attachment("scan.png", b"\x89PNG\r\n\x1a\n....", "image/png")])
    assert decide(mail).verdict is Verdict.NOT_IMPORTED
    d = decide(mail, Policy(require_pdf=False))
    assert d.verdict is Verdict.IMPORT
    assert d.documents[0].media_type == "image/png"
    exe = make_mail(
        attachments=[Attachment("setup.pdf.exe", b"MZ\x90\x00" * 10, "application/pdf")]
    )
    assert decide(exe, Policy(require_pdf=False)).verdict is Verdict.NOT_IMPORTED


def test_garbage_is_never_an_exception() -> None:
    for raw in (b"", b"\x00\xff" * 100, b"Subject: x\r\n\r\n", b"From: <>\r\n\r\nbody"):
        d = decide(raw, Policy(allowed_senders=("*@a.example",)))
        assert d.verdict in (Verdict.NOT_IMPORTED, Verdict.QUARANTINED)
        assert d.reason


def test_every_check_has_a_unique_name_and_a_docstring() -> None:
    names = [name for name, _ in CHECKS]
    assert len(names) == len(set(names))
    assert all(check.__doc__ and check.__doc__.strip() for _, check in CHECKS)


def test_a_mail_over_the_size_limit_is_quarantined_unparsed() -> None:
    mail = make_mail(attachments=[Attachment("big.pdf", PDF + bytes(200_000))])
    d = decide(mail, Policy(max_message_bytes=100_000))
    assert d.verdict is Verdict.QUARANTINED
    size = len(mail) / 1024 / 1024
    assert d.reason == f"the message is {size:,.1f} MB; the limit is 0.1 MB"
    assert d.hits == ("size",) and d.headers is not None
    assert decide(mail).verdict is Verdict.IMPORT


def test_a_rule_named_on_its_documents_keeps_their_digest() -> None:
    """A matching rule is written on each document (a copy): the digest found while taking the
    same file only once is carried over, not computed again for the copy."""
    pdf = make_pdf("Invoice 7")
    raw = make_mail(attachments=[Attachment("a.pdf", pdf)])
    d = decide(raw, Policy(rules=(Rule.make("supplier", "billing@supplier.example"),)))
    (doc,) = d.documents
    assert doc.rule == "supplier"
    assert "sha256" in doc.__dict__  # already known, not computed by the next reader
    assert doc.sha256 == hashlib.sha256(pdf).hexdigest()
