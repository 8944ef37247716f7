"""E-invoices from bytes: every XML and PDF of the test corpus read to the manifest's facts,
the document families that are not invoices told apart, and hostile XML refused."""

from __future__ import annotations

import csv
import json
import logging
from decimal import Decimal
from pathlib import Path

import einvoice_samples as samples
import pytest
from lxml import etree

from corpus import CORPUS
from invoice_inbox.pipeline.einvoice import (
    EInvoice,
    EInvoiceError,
    embedded_xml_name,
    looks_like_xml,
    read_pdf,
    read_xml,
)
from invoice_inbox.pipeline.einvoice.xmlsafe import safe_parser

DOCTYPE_REFUSED = "XML declares a DOCTYPE (entities are refused)"


def _unescape(cell: str) -> str:
    """Undo the manifest's cell escapes (``\\t``, ``\\r``, ``\\n``, ``\\\\``)."""
    table = {"t": "\t", "r": "\r", "n": "\n", "\\": "\\"}
    out, chars = [], iter(cell)
    for char in chars:
        out.append(table.get(next(chars, ""), "") if char == "\\" else char)
    return "".join(out)


def _manifest() -> list[dict[str, str]]:
    with open(CORPUS / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [{key: _unescape(value or "") for key, value in row.items()} for row in rows]


ROWS = {row["file"]: row for row in _manifest() if row["file"].endswith((".xml", ".pdf"))}
INVOICE_FILES = sorted(name for name, row in ROWS.items() if row["expected_invoice_number"])
PDF_PROFILES = {
    "facturx-pdf-minimum": "MINIMUM",
    "facturx-pdf-basicwl": "BASIC WL",
    "facturx-pdf-basic": "BASIC",
    "facturx-pdf-en16931": "EN16931",
    "facturx-pdf-extended": "EXTENDED",
    "facturx-pdf-xrechnung": "XRECHNUNG",
    "zugferd1-pdf": "COMFORT",
}
XML_FORMATS = {
    "zugferd1-xml": "zugferd",
    "xrechnung-ubl": "xrechnung-ubl",
    "xrechnung-cii": "xrechnung-cii",
    "peppol-bis3-ubl": "peppol-bis3",
    "peppol-pint-ubl": "peppol-pint",
    "en16931-ubl": "ubl",
    "en16931-cii": "cii",
    "ksef-fa2": "ksef-fa2",
    "ksef-fa3": "ksef-fa3",
}
KSEF_PROFILES = {"ksef-fa2": "FA(2)", "ksef-fa3": "FA(3)"}
# UNTDID 1001 credit note codes; every other code in the manifest is an invoice.
CREDIT_NOTE_CODES = {"81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "532"}


def read(name: str) -> EInvoice | None:
    data = (CORPUS / name).read_bytes()
    return read_pdf(data) if name.endswith(".pdf") else read_xml(data)


def notes(row: dict[str, str]) -> dict[str, str]:
    """The manifest's ``key value`` notes we check: document type, issue date, amount due."""
    found = {}
    for note in row["notes"].split(" || "):
        for key in ("document type ", "issue date ", "amount due/payable ", "seller NIP "):
            if note.startswith(key):
                found[key.strip()] = note.removeprefix(key).split()[0]
    return found


def expected_format(row: dict[str, str]) -> str | None:
    """Our format name for a manifest row: PDFs by their embedded file name, CII XML by its
    guideline, the rest by category (None for a category this table does not know)."""
    category = row["category"]
    if category.endswith("-pdf") or category.startswith("facturx-pdf"):
        return "facturx" if "factur-x.xml|" in row["expected_attachments"] else "zugferd"
    if category == "cii-xml":
        return "facturx" if "factur-x" in row["expected_format"] else "cii"
    return XML_FORMATS.get(category)


def expected_document_type(type_code: str) -> str:
    """Credit notes by UNTDID 1001 code, KSeF corrections (KOR...) too; else an invoice."""
    credit = type_code in CREDIT_NOTE_CODES or type_code.upper().startswith("KOR")
    return "credit_note" if credit else "invoice"


def corpus_file(name: str) -> bytes:
    """A corpus file's bytes; the test is skipped when this corpus does not have it."""
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{name} is not in the corpus at {CORPUS}")
    return path.read_bytes()


def test_corpus_is_present() -> None:
    assert len(INVOICE_FILES) >= 10, f"expected the corpus at {CORPUS}"
    assert all((CORPUS / name).is_file() for name in ROWS)


@pytest.mark.parametrize("name", INVOICE_FILES)
def test_corpus_invoice_matches_manifest(name: str) -> None:
    row = ROWS[name]
    invoice = read(name)
    assert invoice is not None
    assert invoice.number == row["expected_invoice_number"]
    assert invoice.seller_name == row["expected_seller_name"]
    assert invoice.total is not None
    assert Decimal(invoice.total) == Decimal(row["expected_total_amount"])
    assert invoice.currency == row["expected_currency"]
    assert invoice.is_invoice
    if (document_format := expected_format(row)) is not None:
        assert invoice.format == document_format
    if row["category"] in KSEF_PROFILES:
        assert invoice.profile == KSEF_PROFILES[row["category"]]


@pytest.mark.parametrize("name", INVOICE_FILES)
def test_corpus_invoice_type_dates_and_amount_due(name: str) -> None:
    invoice = read(name)
    assert invoice is not None
    facts = notes(ROWS[name])
    if "document type" in facts:
        assert invoice.type_code == facts["document type"]
        assert invoice.document_type == expected_document_type(facts["document type"])
    if "issue date" in facts:
        issue = facts["issue date"]
        iso = issue if "-" in issue else f"{issue[:4]}-{issue[4:6]}-{issue[6:]}"
        assert invoice.issue_date == iso
    assert invoice.amount_due is not None
    due = facts.get("amount due/payable", invoice.total)
    assert Decimal(invoice.amount_due) == Decimal(due)
    if "seller NIP" in facts:
        assert invoice.seller_vat_id in (facts["seller NIP"], "PL" + facts["seller NIP"])


@pytest.mark.parametrize("name", sorted(n for n in ROWS if ROWS[n]["category"] in PDF_PROFILES))
def test_corpus_pdf_profile(name: str) -> None:
    invoice = read(name)
    assert invoice is not None
    assert invoice.profile == PDF_PROFILES[ROWS[name]["category"]]
    assert embedded_xml_name((CORPUS / name).read_bytes()) in ROWS[name]["expected_attachments"]


@pytest.mark.parametrize("name", sorted(n for n in ROWS if ROWS[n]["category"] == "pdf-no-xml"))
def test_plain_pdf_has_no_einvoice(name: str) -> None:
    data = (CORPUS / name).read_bytes()
    assert read_pdf(data) is None
    assert embedded_xml_name(data) is None


# Values read by hand from the files (the manifest does not list them).
HAND_READ = [
    (
        "horstoeko-zugferd__pdf_fx_minimum_1.pdf",
        {"amount_due": "100.00", "seller_vat_id": "FR11123456782", "buyer_name": "LE CLIENT"},
    ),
    (
        "zugferd-corpus__Facture_FR_BASICWL.pdf",
        {
            "amount_due": "470.15",
            "due_date": "2017-12-13",
            "seller_iban": "FR2012421242124212421242124",
            "buyer_name": "Ma jolie boutique",
        },
    ),
    (
        "zugferd-corpus__ZUGFeRD_1p0_COMFORT_Einfach.pdf",
        {
            "due_date": "2013-04-04",
            "seller_vat_id": "DE123456789",  # the "FC" tax number beside it is not a VAT id
            "seller_iban": "DE08700901001234567890",
            "buyer_name": "Kunden AG Mitte",
        },
    ),
    ("horstoeko-zugferd__pdf_zf_extended_1.pdf", {"seller_vat_id": None, "due_date": None}),
    (
        "akretion-facturx__zugferd-comfort.xml",
        {"profile": "COMFORT", "due_date": "2013-04-04", "seller_vat_id": "DE123456789"},
    ),
    (
        "cen-en16931__ubl-tc434-example1.xml",
        {
            "seller_vat_id": "NL8200.98.395.B.01",
            "seller_iban": "NL57RABO0107307510",
            "buyer_name": "ODIN 59",
            "due_date": "2015-01-09",
            "profile": "EN16931",
        },
    ),
    (
        "phive-rules__pint-aunz__AU_GST_Only_-_Prepaid.xml",
        {"amount_due": "6.83", "due_date": "2019-11-30", "buyer_name": "Buyer CDE Pty Ltd"},
    ),
    (
        "cen-en16931__issue116.xml",  # Peppol BIS 3.0
        {
            "seller_vat_id": "SE123456789001",
            "buyer_name": "Project services AB",
            "due_date": "2018-03-07",
        },
    ),
    (
        "xrechnung-testsuite__01.07a-INVOICE_uncefact.xml",
        {"due_date": "2016-08-14", "seller_vat_id": "DE123456789", "profile": "XRECHNUNG"},
    ),
    (
        "ksef-fop__fa2-podstawowa__FA_2_Przyklad_9.xml",
        {
            "profile": "FA(2)",
            "due_date": "2022-03-15",
            "seller_iban": "73111111111111111111111111",
            "buyer_name": "Gmina Bzdziszewo",
        },
    ),
    (
        "ksef-fop__fa3-podstawowa__FA_3_complex.xml",
        {
            "profile": "FA(3)",
            "seller_vat_id": "PL5451824119",  # Podmiot1/PrefiksPodatnika is "PL"
            "due_date": "2025-12-30",
            "seller_iban": "12345678901234567890123456",
            "buyer_name": "XYZ Spółka Cywilna",
        },
    ),
    ("ksef-fop__fa3-podstawowa__FA_3_Przyklad_5.xml", {"seller_vat_id": "5451824119"}),
]


@pytest.mark.parametrize(("name", "expected"), HAND_READ, ids=[name for name, _ in HAND_READ])
def test_corpus_fields_read_by_hand(name: str, expected: dict[str, str | None]) -> None:
    data = corpus_file(name)
    invoice = read_pdf(data) if name.endswith(".pdf") else read_xml(data)
    assert invoice is not None
    assert {key: getattr(invoice, key) for key in expected} == expected


def test_same_invoice_as_xml_and_as_pdf_has_the_same_key() -> None:
    xml = read_xml(corpus_file("akretion-facturx__zugferd-comfort.xml"))
    pdf = read_pdf(corpus_file("zugferd-corpus__ZUGFeRD_1p0_COMFORT_Einfach.pdf"))
    assert xml is not None and pdf is not None
    assert xml.key == pdf.key == "DE123456789|471102|invoice"


# --- documents that are credit notes, or no invoice at all ---------------------------------


def test_ubl_credit_note() -> None:
    note = read_xml(samples.UBL_CREDIT_NOTE)
    assert note is not None
    assert (note.format, note.document_type, note.type_code) == (
        "peppol-bis3",
        "credit_note",
        "381",
    )
    assert note.number == "CN-2024-007"  # trimmed
    assert note.seller_name == "Widgets GmbH"  # the legal name wins over the trading name
    assert (note.total, note.amount_due, note.currency) == ("119.00", "119.00", "EUR")
    assert note.due_date == "2024-03-31"
    assert note.seller_iban == "DE02120300000000202051"
    assert note.is_invoice
    assert note.key == "DE999999999|CN-2024-007|credit_note"


def test_cii_credit_note_by_type_code() -> None:
    note = read_xml(samples.cii_invoice(type_code="381"))
    assert note is not None
    assert (note.format, note.document_type, note.type_code) == ("cii", "credit_note", "381")
    assert note.seller_name == "Gutschrift Lieferant GmbH"
    assert note.seller_vat_id == "DE123456789"
    assert note.issue_date == "2024-02-29"
    assert note.is_invoice


def test_cii_proforma_is_not_an_invoice() -> None:
    proforma = read_xml(samples.cii_invoice(type_code="325"))
    assert proforma is not None
    assert proforma.document_type == "other"
    assert not proforma.is_invoice


@pytest.mark.parametrize(
    ("guideline", "document_format", "profile"),
    [
        ("urn:factur-x.eu:1p0:minimum", "facturx", "MINIMUM"),
        ("urn:factur-x.eu:1p0:basicwl", "facturx", "BASIC WL"),
        ("urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic", "facturx", "BASIC"),
        ("urn:cen.eu:en16931:2017#conformant#urn:zugferd.de:2p0:extended", "zugferd", "EXTENDED"),
        (
            "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0",
            "xrechnung-cii",
            "XRECHNUNG",
        ),
        ("urn:cen.eu:en16931:2017", "cii", "EN16931"),
        ("urn:example:private-guideline", "cii", None),
    ],
)
def test_cii_format_and_profile_from_guideline(
    guideline: str, document_format: str, profile: str | None
) -> None:
    invoice = read_xml(samples.cii_invoice(guideline=guideline))
    assert invoice is not None
    assert (invoice.format, invoice.profile) == (document_format, profile)


def test_cii_amounts_in_the_invoice_currency() -> None:
    invoice = read_xml(samples.cii_invoice())
    assert invoice is not None
    assert (invoice.total, invoice.amount_due, invoice.currency) == ("59.50", "59.50", "EUR")


def test_order_x_is_recognised_but_not_an_invoice() -> None:
    order = read_xml(samples.ORDER_X)
    assert order is not None
    assert (order.format, order.document_type, order.type_code) == ("order-x", "other", "220")
    assert not order.is_invoice
    assert order.number == "PO-4711"
    assert order.seller_name == "Timber Supplies SA"
    assert order.buyer_name == "Carpentry Co"
    assert order.currency == "EUR"
    assert order.issue_date == "2024-01-05"


def test_ubl_order_is_recognised_but_not_an_invoice() -> None:
    order = read_xml(samples.UBL_ORDER)
    assert order is not None
    assert (order.format, order.document_type, order.type_code) == ("ubl-order", "other", "220")
    assert not order.is_invoice
    assert (order.seller_name, order.buyer_name) == ("Medical Gloves AB", "Hospital Procurement")
    assert (order.amount_due, order.currency) == ("1250", "SEK")


def test_ubl_invoice_inside_a_peppol_envelope() -> None:
    invoice = read_xml(samples.UBL_INVOICE_IN_SBDH)
    assert invoice is not None
    assert (invoice.format, invoice.number, invoice.total) == ("peppol-bis3", "INV-88", "1250.00")
    assert invoice.seller_name == "Fjord Fisk AS"


def test_ksef_correction_in_an_unknown_namespace_date() -> None:
    correction = read_xml(samples.KSEF_CORRECTION_FUTURE_NAMESPACE)
    assert correction is not None
    assert (correction.format, correction.profile) == ("ksef-fa3", "FA(3)")
    assert (correction.document_type, correction.type_code) == ("credit_note", "KOR")
    assert (correction.number, correction.total, correction.currency) == (
        "KOR/2026/03/1",
        "-123.00",
        "PLN",
    )
    assert correction.seller_vat_id == "1234563218"
    assert correction.buyer_name == "Sklep Jan Nowak"


def test_unknown_xml_is_none() -> None:
    assert read_xml(samples.NOT_AN_EINVOICE) is None


def test_not_well_formed_xml_is_an_error_with_one_line_reason() -> None:
    with pytest.raises(EInvoiceError) as caught:
        read_xml(samples.NOT_WELL_FORMED)
    message = str(caught.value)
    assert message.startswith("XML is not well-formed: ")
    assert "mismatch" in message
    assert "\n" not in message


def test_empty_bytes_are_not_well_formed() -> None:
    with pytest.raises(EInvoiceError, match=r"^XML is not well-formed: "):
        read_xml(b"")


# --- hostile XML -----------------------------------------------------------------------------


@pytest.fixture
def secret_file(tmp_path: Path) -> tuple[str, str]:
    """A local file an XXE would like to read: (file:// URL, its contents)."""
    secret = "s3cr3t-" + tmp_path.name
    path = tmp_path / "secret.txt"
    path.write_text(secret)
    return path.as_uri(), secret


def test_xxe_is_refused_and_the_file_never_read(secret_file: tuple[str, str]) -> None:
    url, secret = secret_file
    with pytest.raises(EInvoiceError) as caught:
        read_xml(samples.xxe(url))
    assert str(caught.value) == DOCTYPE_REFUSED
    assert secret not in repr(caught.value) + repr(caught.value.__cause__)


def test_safe_parser_alone_does_not_expand_an_external_entity(secret_file: tuple[str, str]) -> None:
    url, secret = secret_file
    root = etree.fromstring(samples.xxe(url), safe_parser())
    assert secret.encode() not in etree.tostring(root)


def test_doctype_pointing_at_an_external_dtd_is_refused(secret_file: tuple[str, str]) -> None:
    url, _ = secret_file
    data = f'<?xml version="1.0"?><!DOCTYPE Invoice SYSTEM "{url}"><Invoice/>'.encode()
    with pytest.raises(EInvoiceError, match=r"^XML declares a DOCTYPE \(entities are refused\)$"):
        read_xml(data)


def test_billion_laughs_is_refused() -> None:
    with pytest.raises(EInvoiceError) as caught:
        read_xml(samples.BILLION_LAUGHS)
    assert str(caught.value) == DOCTYPE_REFUSED


def test_doctype_in_utf16_is_refused() -> None:
    data = samples.BILLION_LAUGHS.replace(b'version="1.0"', b'version="1.0" encoding="UTF-16"')
    with pytest.raises(EInvoiceError) as caught:
        read_xml(data.decode().encode("utf-16"))
    assert str(caught.value) == DOCTYPE_REFUSED


def test_doctype_text_inside_the_document_is_not_a_doctype() -> None:
    data = samples.cii_invoice().replace(
        b"<ram:ID>GS-2024-11</ram:ID>", b"<ram:ID><![CDATA[<!DOCTYPE x>]]>GS</ram:ID>"
    )
    invoice = read_xml(data)
    assert invoice is not None
    assert invoice.number == "<!DOCTYPE x>GS"


def test_xml_over_20_mb_is_refused() -> None:
    data = b"<a>" + b" " * (20 * 1024 * 1024) + b"</a>"
    with pytest.raises(EInvoiceError, match="larger than the 20 MB limit"):
        read_xml(data)


# --- PDFs ----------------------------------------------------------------------------------


def test_pdf_with_xxe_factur_x_is_refused(secret_file: tuple[str, str]) -> None:
    url, secret = secret_file
    pdf = samples.pdf_with_files(("factur-x.xml", samples.xxe(url)))
    with pytest.raises(EInvoiceError) as caught:
        read_pdf(pdf)
    assert str(caught.value) == DOCTYPE_REFUSED
    assert secret not in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.7\n" + bytes(range(256)) * 20, b"%PDF-1.4\n%%EOF", b"not a pdf at all", b""],
    ids=["garbage-body", "no-objects", "no-header", "empty"],
)
def test_broken_pdf_is_none_and_quiet(data: bytes, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert read_pdf(data) is None
    assert not [record for record in caplog.records if record.name.startswith("pypdf")]


def test_pdf_container_name_decides_facturx_or_zugferd() -> None:
    xml = samples.cii_invoice(guideline="urn:factur-x.eu:1p0:basicwl")
    as_facturx = read_pdf(samples.pdf_with_files(("factur-x.xml", xml)))
    as_zugferd = read_pdf(samples.pdf_with_files(("ZUGFeRD-invoice.xml", xml)))
    assert as_facturx is not None and as_zugferd is not None
    assert (as_facturx.format, as_facturx.profile) == ("facturx", "BASIC WL")
    assert (as_zugferd.format, as_zugferd.profile) == ("zugferd", "BASIC WL")


def test_pdf_known_name_is_preferred_over_other_xml() -> None:
    pdf = samples.pdf_with_files(
        ("a-credit-note.xml", samples.UBL_CREDIT_NOTE), ("factur-x.xml", samples.cii_invoice())
    )
    assert embedded_xml_name(pdf) == "factur-x.xml"
    invoice = read_pdf(pdf)
    assert invoice is not None
    assert invoice.number == "GS-2024-11"


def test_pdf_with_any_xml_name_that_is_an_einvoice() -> None:
    pdf = samples.pdf_with_files(
        ("notes.xml", samples.NOT_AN_EINVOICE), ("rechnung.xml", samples.UBL_CREDIT_NOTE)
    )
    invoice = read_pdf(pdf)
    assert invoice is not None
    assert (invoice.format, invoice.document_type) == ("peppol-bis3", "credit_note")
    assert embedded_xml_name(pdf) == "rechnung.xml"


def test_pdf_with_only_associated_files() -> None:
    pdf = samples.pdf_with_files(("factur-x.xml", samples.cii_invoice()), only_af=True)
    invoice = read_pdf(pdf)
    assert invoice is not None
    assert (invoice.format, invoice.number) == ("facturx", "GS-2024-11")


def test_pdf_with_malformed_or_foreign_xml_is_none() -> None:
    pdf = samples.pdf_with_files(
        ("factur-x.xml", samples.NOT_WELL_FORMED), ("data.xml", samples.NOT_AN_EINVOICE)
    )
    assert read_pdf(pdf) is None


def test_pdf_with_order_x_is_not_an_invoice() -> None:
    order = read_pdf(samples.pdf_with_files(("order-x.xml", samples.ORDER_X)))
    assert order is not None
    assert (order.format, order.document_type) == ("order-x", "other")


# --- sniffing and the result type ----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'<?xml version="1.0"?><a/>', True),
        (b"\xef\xbb\xbf\r\n  <Invoice/>", True),
        ('<?xml version="1.0" encoding="UTF-16"?><a/>'.encode("utf-16"), True),
        ("<Faktura/>".encode("utf-16-be"), True),
        (b"<!-- comment --><a/>", True),
        (b"<_x/>", True),
        (b"%PDF-1.7", False),
        (b"Dear customer, <b>", False),
        (b"< a>", False),
        (b"<", False),
        (b"", False),
    ],
)
def test_looks_like_xml(data: bytes, expected: bool) -> None:
    assert looks_like_xml(data) is expected


def test_as_dict_is_json_ready_and_complete() -> None:
    invoice = read_xml(samples.UBL_CREDIT_NOTE)
    assert invoice is not None
    as_dict = invoice.as_dict()
    assert list(as_dict) == [
        "format",
        "profile",
        "document_type",
        "type_code",
        "number",
        "issue_date",
        "due_date",
        "seller_name",
        "seller_vat_id",
        "buyer_name",
        "total",
        "amount_due",
        "currency",
        "seller_iban",
        "buyer_reference",
        "order_reference",
        "contract_reference",
        "project_reference",
        "preceding_invoices",
        "lines",
        "lines_omitted",
        "line_total",
        "allowance_total",
        "charge_total",
        "tax_basis_total",
        "tax_total",
        "prepaid_amount",
        "rounding_amount",
        "allowances",
        "charges",
        "vat_breakdown",
        "payment",
        "problems",
        "schema_version",
    ]
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["total"] == "119.00"


def test_key_falls_back_to_the_normalised_seller_name() -> None:
    invoice = EInvoice(
        format="ubl", document_type="invoice", number="7", seller_name="  ACME   Tools\nLtd "
    )
    assert invoice.key == "acme tools ltd|7|invoice"
    assert EInvoice(format="ubl", document_type="invoice", seller_name="ACME").key is None
    assert EInvoice(format="ubl", document_type="invoice", number="7").key is None
    spaced = EInvoice(format="ubl", document_type="invoice", number="7", seller_vat_id="de 123")
    assert spaced.key == "DE123|7|invoice"


def test_pdfs_without_embedded_files_are_not_parsed_but_every_einvoice_pdf_is() -> None:
    from invoice_inbox.pipeline.einvoice.pdf import may_embed_files

    assert not may_embed_files(b"%PDF-1.4\n" + bytes(range(256)) * 100)
    assert may_embed_files(b"%PDF-1.5\n1 0 obj << /Type /ObjStm /N 3 >> stream")
    for name in (b"/EmbeddedFiles", b"/AF", b"/ObjStm"):  # each alone, anywhere in the bytes
        assert may_embed_files(bytes(range(256)) * 10 + name + bytes(range(256))), name
    assert not may_embed_files(b"%PDF-1.4\n/Embedded /A /ObjSt /Af")
    einvoice_pdfs = [p for p in CORPUS.glob("*.pdf") if "plain" not in p.name]
    assert einvoice_pdfs
    for path in einvoice_pdfs:
        assert may_embed_files(path.read_bytes()), path.name


def test_one_pass_marks_answer_as_the_two_searches() -> None:
    """``marks`` finds in one pass what ``may_embed_files`` and the IBAN reader's page-content
    search find in two: on every name alone and together, escaped, cut short, after noise."""
    from invoice_inbox.pipeline.einvoice.pdf import marks, may_embed_files
    from invoice_inbox.pipeline.trust.iban import _MAY_HAVE_CONTENT

    noise = bytes(range(256)) * 4
    names = [
        b"/EmbeddedFiles",
        b"/EmbeddedFile",
        b"/AF",
        b"/ObjStm",
        b"/Obj#53tm",
        b"/Contents",
        b"/C#6fnt#65n#74s",
        b"/C#6Fntents",
        b"/Content",
        b"/Af",
        b"/ObjSt",
        b"//AF",
        b"/#41F",
    ]
    samples_ = [noise, b""] + [noise + n + noise for n in names]
    samples_ += [noise + a + b" " + b + noise for a in names for b in names]
    samples_ += [p.read_bytes() for p in sorted(CORPUS.glob("*.pdf"))]
    for data in samples_:
        found = marks(data)
        assert found.embeds == may_embed_files(data), data[1024:1100]
        assert found.content == (_MAY_HAVE_CONTENT.search(data) is not None), data[1024:1100]
