"""IBANs: candidates in text (grouped, labelled, several countries) validated by schwifty; the IBAN
of a document (the e-invoice's seller_iban first, else the text layer of a PDF: the first pages
only); hostile or broken PDFs give no IBAN and never raise; decide puts it on the document."""

from __future__ import annotations

import io
import zlib

import pytest
from pypdf import PdfReader, PdfWriter
from weasyprint import HTML

from builders import Attachment, make_mail, make_pdf
from corpus import CORPUS
from invoice_inbox.pipeline import einvoice
from invoice_inbox.pipeline.decide import Policy, decide
from invoice_inbox.pipeline.einvoice import pdf_reader
from invoice_inbox.pipeline.trust.iban import (
    PAGES,
    document_iban,
    einvoice_iban,
    ibans_in_text,
    mask,
    normalize,
    pdf_text,
)
from pipeline.hostile_samples import MIB, deflated_zeros

DE = "DE89370400440532013000"
GB = "GB29NWBK60161331926819"
FR = "FR1420041010050500013M02606"
NL = "NL91ABNA0417164300"
AT = "AT611904300234573201"
CH = "CH9300762011623852957"
PL = "PL61109010140000071219812874"
FACTURX = CORPUS / "zugferd-corpus__XRECHNUNG_Einfach.pdf"  # seller_iban DE02120300000000202051
XRECHNUNG = CORPUS / "xrechnung-testsuite__01.02a-INVOICE_ubl.xml"  # DE79000000001234567890


def test_ibans_in_text_are_found_grouped_labelled_and_in_several_countries() -> None:
    text = f"""Rechnung 2026-11 / Bankverbindung: Commerzbank
    IBAN: DE89 3704 0044 0532 0130 00 BIC: COBADEFFXXX
    UK: {GB[:4]} {GB[4:8]} {GB[8:12]} {GB[12:16]} {GB[16:20]} {GB[20:]}, Payable to us.
    FR: FR14-2004-1010-0505-0001-3M02-606 / NL:NL91.ABNA.0417.1643.00
    IBAN-Nr.:{AT} (Raiffeisen) CH 93 kept apart: {CH}
    Konto PL61 1090 1014 0000 0712 1981 2874.
    Again: {DE}"""
    assert ibans_in_text(text) == [DE, GB, FR, NL, AT, CH, PL]


@pytest.mark.parametrize(
    "text",
    [
        "IBAN: DE89 3704 0044 0532 0130 01",  # wrong checksum
        "IBAN: DE89 3704 0044 0532 0130",  # too short for Germany
        "XX89 3704 0044 0532 0130 00",  # no such country
        "Order DE12345678, invoice FR2026-000123, VAT DE123456789",
        "ABDE89370400440532013000",  # glued to a word before it
        "",
    ],
)
def test_text_without_a_valid_iban_gives_none(text: str) -> None:
    assert ibans_in_text(text) == []


def test_normalize_and_mask() -> None:
    assert normalize("de89 3704 0044 0532 0130 00") == DE
    assert normalize("DE89 3704 0044 0532 0130 01") is None
    assert normalize(None) is None
    assert mask(DE) == "DE89 …3000"
    assert mask(GB) == "GB29 …6819"


def test_the_einvoice_iban_comes_first() -> None:
    facturx = FACTURX.read_bytes()
    invoice = einvoice.read_pdf(facturx)
    assert invoice is not None and invoice.seller_iban == "DE02120300000000202051"
    assert document_iban(facturx, invoice, pdf=True) == "DE02120300000000202051"
    xml = XRECHNUNG.read_bytes()
    assert document_iban(xml, einvoice.read_xml(xml), pdf=False) == "DE79000000001234567890"


def test_an_einvoice_account_that_is_no_iban_is_kept_as_written() -> None:
    xml = XRECHNUNG.read_bytes().replace(b"DE79000000001234567890", b"12 3456 7890")
    invoice = einvoice.read_xml(xml)
    assert einvoice_iban(invoice) == "1234567890"


def test_a_plain_pdf_gives_the_first_iban_in_its_text() -> None:
    pdf = make_pdf(f"Rechnung 4711\nBitte zahlen Sie auf\nIBAN: GB29 NWBK 6016 1331 9268 19\n{DE}")
    assert document_iban(pdf, None, pdf=True) == GB
    assert document_iban(make_pdf("Rechnung ohne Bankverbindung"), None, pdf=True) is None
    assert document_iban(pdf, None, pdf=False) is None  # not a PDF document: its bytes are not read


def test_a_typeset_pdf_with_the_iban_in_its_footer() -> None:
    html = f"""<html><body><h1>Invoice R-2026-77</h1><p>Web hosting: 119.00 EUR</p>
    <footer style="position: fixed; bottom: 0; font-size: 8pt">Supplier Ltd · Barclays ·
    IBAN <span>{GB[:4]}</span> <span>{GB[4:8]}</span> {GB[8:12]} {GB[12:16]} {GB[16:20]}
    {GB[20:]} · BIC NWBKGB2L</footer></body></html>"""
    pdf = HTML(string=html).write_pdf()
    assert ibans_in_text(pdf_text(pdf)) == [GB]


def _pages(texts: list[str]) -> bytes:
    html = "".join(f'<p style="break-after: page">{t}</p>' for t in texts)
    return HTML(string=f"<html><body>{html}</body></html>").write_pdf()


def test_only_the_first_pages_are_read() -> None:
    late = _pages([f"page {n}" for n in range(1, PAGES + 1)] + [f"IBAN {DE}"])
    assert document_iban(late, None, pdf=True) is None
    early = _pages([f"IBAN {DE}"] + [f"page {n}" for n in range(2, 30)])
    assert document_iban(early, None, pdf=True) == DE


def _one_page(content: bytes, filter: str = "") -> bytes:
    """A one-page PDF whose content stream is *content*, stored as given."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(content)}{filter} >>\nstream\n".encode() + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _encrypted(text: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(text))))
    writer.encrypt(user_password="secret", owner_password="owner")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


FLATE = " /Filter /FlateDecode"
# name: (PDF bytes, the IBAN found: None unless pypdf can repair the file and read its text)
HOSTILE: dict[str, tuple[bytes, str | None]] = {
    "content bomb (300 MiB of zeros deflated)": (
        _one_page(deflated_zeros(300 * MIB), filter=FLATE),
        None,
    ),
    "content stream that is not deflate": (_one_page(b"\x00garbage" * 100, filter=FLATE), None),
    "truncated": (make_pdf(f"IBAN {DE}")[:300], None),
    "header only, then garbage": (b"%PDF-1.7\n" + bytes(range(256)) * 50, None),
    "xref pointing nowhere (repaired)": (
        make_pdf(f"IBAN {DE}").replace(b"startxref\n", b"startxref\n99999"),
        DE,
    ),
    "encrypted with a password": (_encrypted(f"IBAN {DE}"), None),
    "not a PDF at all": (b"GIF89a" + bytes(1000), None),
    "empty": (b"", None),
    "text operators only": (_one_page(b"BT " + b"[(a) -10 (b)] TJ " * 20000 + b"ET"), None),
    "a small deflated page (the control)": (
        _one_page(
            zlib.compress(f"BT /F1 12 Tf 72 700 Td (IBAN {DE}) Tj ET".encode()), filter=FLATE
        ),
        DE,
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_or_broken_pdfs_never_raise(name: str) -> None:
    data, expected = HOSTILE[name]
    assert document_iban(data, None, pdf=True) == expected


def test_decide_puts_the_iban_on_the_documents() -> None:
    plain = make_pdf(f"Invoice 12\nIBAN {FR}")
    mail = make_mail(
        attachments=[
            Attachment("plain.pdf", plain),
            Attachment(FACTURX.name, FACTURX.read_bytes()),
            Attachment("xrechnung.xml", XRECHNUNG.read_bytes(), "application/xml"),
            Attachment("no-iban.pdf", make_pdf("Delivery note")),
        ]
    )
    d = decide(mail)
    assert [(doc.filename, doc.iban) for doc in d.documents] == [
        ("plain.pdf", FR),
        (FACTURX.name, "DE02120300000000202051"),
        ("xrechnung.xml", "DE79000000001234567890"),
        ("no-iban.pdf", None),
    ]


def test_a_mail_body_rendered_as_the_invoice_carries_the_iban_of_its_text() -> None:
    policy = Policy(body_fallback=True)
    text = make_mail(body=f"Rechnung 7: 119,00 EUR\nBitte an IBAN {GB[:4]} {GB[4:8]} {GB[8:]}")
    html = make_mail(body="", html=f"<p>Invoice 8</p><p>IBAN: <b>{FR}</b></p>")
    none = make_mail(body="Invoice 9, paid by card")
    found = [[d.iban for d in decide(raw, policy).documents] for raw in (text, html, none)]
    assert found == [[GB], [FR], [None]]


def test_a_pdf_without_its_end_marker_is_not_read_for_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """pypdf would search such a file backwards line by line for its end (1.5 ms of a 50 KB
    mail's decide in the ingest benchmark): without a %%EOF near the end it is not opened."""
    opened: list[int] = []
    real = pdf_reader._BoundedReader  # what iban reads PDFs with

    def counting(data: bytes, *args: object) -> object:
        opened.append(len(data))
        return real(data, *args)

    monkeypatch.setattr(pdf_reader, "_BoundedReader", counting)
    pdf = make_pdf(f"Rechnung 4711\nIBAN: {GB}")
    assert document_iban(pdf + b"\n" + b"x" * 1000, None, pdf=True) == GB  # a little junk after
    cut = pdf[: pdf.rindex(b"%%EOF")] + b"\n" + bytes(range(256)) * 200
    assert document_iban(cut, None, pdf=True) is None
    assert opened == [len(pdf) + 1001]  # the one without its end marker was never opened


def test_a_pdf_whose_pages_have_no_content_is_not_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page has text only through its /Contents, in the PDF's plain bytes or in an object
    stream: without either name the reader and its page tree are never built. The name counts
    however it is written: ``#xx`` escapes are the same name to pypdf."""
    opened: list[int] = []
    real = pdf_reader._BoundedReader  # what iban reads PDFs with

    def counting(data: bytes, *args: object) -> object:
        opened.append(len(data))
        return real(data, *args)

    monkeypatch.setattr(pdf_reader, "_BoundedReader", counting)
    pdf = make_pdf(f"Rechnung 4711\nIBAN: {GB}")
    escaped = pdf.replace(b"/Contents", b"/C#6fnt#65n#74s")
    assert escaped != pdf
    assert document_iban(escaped, None, pdf=True) == GB
    typeset = HTML(string=f"<p>IBAN {DE}</p>").write_pdf()  # its pages sit in object streams
    assert b"/Contents" not in typeset
    assert document_iban(typeset, None, pdf=True) == DE
    contentless = pdf.replace(b"/Contents 5 0 R", b"/Kontents 5 0 R")
    assert document_iban(contentless, None, pdf=True) is None
    assert opened == [len(escaped), len(typeset)]  # the one without page content never opened
