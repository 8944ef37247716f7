"""The booking core carries numbers only: a figure that is no xs:decimal in the XML is reported by
the checks (NOT-A-NUMBER) and left out (None) of the fields, so the JSON matches the schema."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from invoice_inbox.pipeline.einvoice import read_xml
from invoice_inbox.pipeline.einvoice.booking import AllowanceCharge, InvoiceLine, VatBreakdown
from invoice_inbox.pipeline.einvoice.booking_numbers import (
    _CHARGE,
    _LINE,
    _TOTALS,
    _VAT,
    is_number,
    numbers_only,
)
from invoice_inbox.pipeline.einvoice.model import EInvoice

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CII = CORPUS / "cen-en16931__CII_example8.xml"
UBL = CORPUS / "cen-en16931__ubl-tc434-example1.xml"


def test_the_names_it_cleans_are_fields_of_the_model() -> None:
    assert set(_VAT) <= {f.name for f in fields(VatBreakdown)}
    assert set(_CHARGE) <= {f.name for f in fields(AllowanceCharge)}
    assert set(_LINE) <= {f.name for f in fields(InvoiceLine)}
    assert set(_TOTALS) <= {f.name for f in fields(EInvoice)}


def test_plain_decimals_are_numbers_and_nothing_else_is() -> None:
    for value in ("0", "-12.50", "+3.", ".5", "100.00", None):
        assert is_number(value), value
    for value in ("NaN", "1e999", "1,00", "abc", "", " 1", "--1", "1" * 61, "Infinity"):
        assert not is_number(value), value


def test_a_valid_invoice_is_left_as_it_is() -> None:
    invoice = read_xml(CII.read_bytes())
    assert invoice is not None
    assert numbers_only(invoice) is invoice


def test_words_in_cii_figures_are_reported_and_left_out() -> None:
    data = CII.read_bytes()
    first_net = data.index(b"<ram:LineTotalAmount>") + len(b"<ram:LineTotalAmount>")
    end = data.index(b"<", first_net)
    broken = data[:first_net] + b"NaN" + data[end:]
    basis = broken.index(b"<ram:BasisAmount>") + len(b"<ram:BasisAmount>")
    broken = broken[:basis] + b"1e999" + broken[broken.index(b"<", basis) :]
    invoice = read_xml(broken)
    assert invoice is not None
    assert invoice.lines[0].net_amount is None
    assert invoice.vat_breakdown[0].basis is None
    assert "NOT-A-NUMBER" in {p.rule for p in invoice.problems}


def test_words_in_ubl_totals_are_left_out() -> None:
    data = UBL.read_bytes().replace(b"<cbc:TaxExclusiveAmount", b"<cbc:TaxExclusiveAmount", 1)
    start = data.index(b">", data.index(b"<cbc:TaxExclusiveAmount")) + 1
    broken = data[:start] + b"1,00" + data[data.index(b"<", start) :]
    invoice = read_xml(broken)
    assert invoice is not None
    assert invoice.tax_basis_total is None
    assert "NOT-A-NUMBER" in {p.rule for p in invoice.problems}
