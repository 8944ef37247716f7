"""Reading an e-invoice XML whole to show it (issue 14 item 13): refused as the summary reader
refuses (DOCTYPE, entities), a Peppol envelope opened, a UBL credit note's lines, repeated parts
and long texts bounded, and the view agreeing with the summary on every corpus invoice."""

from __future__ import annotations

import pytest

from corpus import CORPUS
from invoice_inbox.pipeline.einvoice import EInvoiceError, read_view, read_xml
from invoice_inbox.pipeline.einvoice.view_model import MAX_TEXT

UBL = CORPUS / "cen-en16931__ubl-tc434-example1.xml"
SBDH = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"


def test_a_doctype_or_an_entity_is_refused_never_expanded() -> None:
    data = UBL.read_bytes().replace(
        b"<Invoice ",
        b'<!DOCTYPE Invoice [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<Invoice ',
        1,
    )
    with pytest.raises(EInvoiceError, match="DOCTYPE"):
        read_view(data)


def test_a_peppol_envelope_is_opened() -> None:
    body = UBL.read_bytes().split(b"-->", 1)[1].split(b"?>", 1)[-1]
    wrapped = (
        (
            f'<StandardBusinessDocument xmlns="{SBDH}"><StandardBusinessDocumentHeader>'
            "<HeaderVersion>1.0</HeaderVersion></StandardBusinessDocumentHeader>"
        ).encode()
        + body
        + b"</StandardBusinessDocument>"
    )
    view = read_view(wrapped)
    assert view is not None and view.summary.number == "12115118"
    assert len(view.lines) == 20 and view.seller.name == "De Koksmaat"


def test_a_ubl_credit_note_has_its_lines() -> None:
    data = (
        b'<CreditNote xmlns="urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2" '
        b'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2" '
        b'xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2">'
        b"<cbc:ID>CN-1</cbc:ID><cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>"
        b'<cac:CreditNoteLine><cbc:ID>1</cbc:ID><cbc:CreditedQuantity unitCode="H87">2'
        b'</cbc:CreditedQuantity><cbc:LineExtensionAmount currencyID="EUR">-10.00'
        b"</cbc:LineExtensionAmount><cac:Item><cbc:Name>Returned chair</cbc:Name></cac:Item>"
        b"</cac:CreditNoteLine></CreditNote>"
    )
    view = read_view(data)
    assert view is not None and view.summary.document_type == "credit_note"
    (line,) = view.lines
    assert (line.name, line.quantity, line.unit, line.net_amount) == (
        "Returned chair",
        "2",
        "H87",
        "-10.00",
    )


def test_lines_and_long_texts_are_bounded() -> None:
    data = UBL.read_bytes().replace(
        b"<cbc:Name>PATAT FRITES 10MM 10KG</cbc:Name>",
        b"<cbc:Name>" + b"x" * (MAX_TEXT * 3) + b"</cbc:Name>",
    )
    view = read_view(data, max_lines=5)
    assert view is not None
    assert len(view.lines) == 5 and view.more_lines == 15
    assert view.lines[0].name is not None and len(view.lines[0].name) == MAX_TEXT
    assert view.lines[0].name.endswith("…")


@pytest.mark.parametrize(
    "name",
    sorted(
        p.name
        for p in CORPUS.glob("*.xml")
        if (s := read_xml(p.read_bytes())) is not None and s.is_invoice
    ),
)
def test_every_corpus_invoice_reads_and_agrees_with_its_summary(name: str) -> None:
    data = (CORPUS / name).read_bytes()
    summary = read_xml(data)
    view = read_view(data)
    assert view is not None and view.summary == summary
    if summary is not None and summary.seller_name:
        assert view.seller.name == summary.seller_name
    if summary is not None and summary.total and not summary.format.startswith("ksef-fa-rr"):
        assert summary.total in dict(view.totals).values()


@pytest.mark.parametrize(
    "name",
    sorted(
        p.name
        for p in CORPUS.glob("*.xml")
        if (s := read_xml(p.read_bytes())) is not None and s.is_invoice and s.lines
    ),
)
def test_the_view_shows_the_booking_fields(name: str) -> None:
    """Issue 19 item 3: lines, VAT rows, totals and accounts are the summary's booking fields."""
    data = (CORPUS / name).read_bytes()
    view = read_view(data)
    assert view is not None
    summary = view.summary
    assert [(line.number, line.net_amount) for line in view.lines] == [
        (line.id, line.net_amount) for line in summary.lines
    ]
    assert [(row.rate, row.basis, row.amount) for row in view.taxes] == [
        (row.rate, row.basis, row.tax) for row in summary.vat_breakdown
    ]
    if summary.tax_total:
        assert ("VAT", summary.tax_total) in view.totals
    if summary.payment is not None and summary.payment.accounts:
        assert [account.bic for account in view.accounts] == [
            account.bic for account in summary.payment.accounts
        ]
