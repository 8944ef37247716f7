"""Consistency checks (checks.py): the EN 16931 calculation rules and their KSeF equivalents on
every corpus e-invoice, on hand-changed copies of valid UBL, CII and KSeF invoices, on made-up
figures, and never an exception on random ones."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus import CORPUS
from invoice_inbox.pipeline.einvoice import read_pdf, read_xml
from invoice_inbox.pipeline.einvoice.booking import (
    AllowanceCharge,
    InvoiceLine,
    Problem,
    VatBreakdown,
)
from invoice_inbox.pipeline.einvoice.checks import check
from invoice_inbox.pipeline.einvoice.model import EInvoice

UBL = "xrechnung-testsuite__01.02a-INVOICE_ubl.xml"
CII = "xrechnung-testsuite__01.02a-INVOICE_uncefact.xml"
KSEF = "ksef-fop__fa3-podstawowa__FA_3_Przyklad_5.xml"

R120 = "PEPPOL-EN16931-R120"
# Corpus files whose figures do not add up, each checked by hand against the XML:
BROKEN = {
    # BasisQuantity equals the price on every line (16000 × 0.00880 / 0.00880): R120 fails
    "cen-en16931__CII_example8.xml": {R120},
    # line 20: quantity 6 × 18.33 but net amount -109.98
    "cen-en16931__ubl-tc434-example1.xml": {R120},
    # MINIMUM: GrandTotalAmount 110.00, DuePayableAmount 100.00, no prepaid amount
    "horstoeko-zugferd__pdf_fx_minimum_1.pdf": {"BR-CO-16"},
    # lines 1 and 2: 10000 kWh × 0.0520 = 520.00 but LineTotalAmount 52.00 (and 20.50)
    "horstoeko-zugferd__pdf_zf_extended_1.pdf": {R120},
    # line 1: 20 × 4.10 = 82.00, LineTotalAmount 81.90
    "zugferd-corpus__Facture_FR_BASIC.pdf": {R120},
    # a test fixture: lines 1-3 do not multiply out, ΣP_13 5950 + ΣP_14 382 ≠ P_15 5962
    "ksef-fop__fa3-podstawowa__FA_3_complex.xml": {"KSEF-P11", "KSEF-P15"},
}


def invoices() -> list[str]:
    return [
        path.name
        for path in sorted(CORPUS.iterdir())
        if path.suffix in (".xml", ".pdf")
        and (invoice := read(path.name)) is not None
        and invoice.is_invoice
    ]


def read(name: str, *changes: tuple[bytes, bytes, int]) -> EInvoice | None:
    data = (CORPUS / name).read_bytes()
    for old, new, nth in changes:  # replace the nth occurrence (0 = first)
        parts = data.split(old)
        assert len(parts) > nth + 1, old
        data = old.join(parts[: nth + 1]) + new + old.join(parts[nth + 1 :])
    return read_pdf(data) if name.endswith(".pdf") else read_xml(data)


def rules(name: str, *changes: tuple[bytes, bytes, int]) -> set[str]:
    invoice = read(name, *changes)
    assert invoice is not None
    return {problem.rule for problem in invoice.problems}


@pytest.mark.parametrize("name", invoices())
def test_every_corpus_invoice_adds_up_or_breaks_the_rules_read_by_hand(name: str) -> None:
    # phive-rules__zugferd-2.5.2-extended__factur-x-22.xml: 2 GROUP lines (1050.00 + 450.00 =
    # LineTotalAmount 1500.00) and 4 DETAIL sub-lines the reader leaves out: nothing broken
    assert rules(name) == BROKEN.get(name, set())


def test_the_corpus_has_the_files_this_test_names() -> None:
    assert set(BROKEN) <= set(invoices())
    assert {UBL, CII, KSEF} <= set(invoices())


@pytest.mark.parametrize(
    ("name", "changes", "expected"),
    [
        # payable amount off by one cent
        (UBL, [(b">12.6</cbc:PayableAmount>", b">12.61</cbc:PayableAmount>", 0)], {"BR-CO-16"}),
        (
            CII,
            [(b">12.6</ram:DuePayableAmount>", b">12.61</ram:DuePayableAmount>", 0)],
            {"BR-CO-16"},
        ),
        # a line net amount that does not multiply out (beyond R120's 0.02; nor adds up)
        (
            UBL,
            [(b">11.78</cbc:LineExtensionAmount>", b">11.88</cbc:LineExtensionAmount>", 1)],
            {R120, "BR-CO-10", "BR-S-08"},
        ),
        (
            CII,
            [(b"<ram:LineTotalAmount>11.78<", b"<ram:LineTotalAmount>11.88<", 0)],
            {R120, "BR-CO-10", "BR-S-08"},
        ),
        # a VAT category amount off by one cent
        (UBL, [(b">0.82</cbc:TaxAmount>", b">0.83</cbc:TaxAmount>", 1)], {"BR-CO-14"}),
        (
            CII,
            [(b">0.82</ram:CalculatedAmount>", b">0.83</ram:CalculatedAmount>", 0)],
            {"BR-CO-14"},
        ),
        # the tax total off: BR-CO-14 and BR-CO-15
        (
            CII,
            [(b">0.82</ram:TaxTotalAmount>", b">0.92</ram:TaxTotalAmount>", 0)],
            {"BR-CO-14", "BR-CO-15"},
        ),
        # a VAT amount beyond the validators' tolerance of 1 for basis × rate
        (
            CII,
            [
                (b">0.82</ram:CalculatedAmount>", b">2.82</ram:CalculatedAmount>", 0),
                (b">0.82</ram:TaxTotalAmount>", b">2.82</ram:TaxTotalAmount>", 0),
            ],
            {"BR-S-09", "BR-CO-15"},
        ),
        # KSeF: P_15 off by one cent; P_14 off; a line's P_11 that does not multiply out
        (KSEF, [(b"<P_15>955.71<", b"<P_15>955.72<", 0)], {"KSEF-P15"}),
        (KSEF, [(b"<P_14_1>178.71<", b"<P_14_1>178.81<", 0)], {"KSEF-P14", "KSEF-P15"}),
        (KSEF, [(b"<P_11>222<", b"<P_11>223<", 0)], {"KSEF-P11", "KSEF-P13"}),
        (KSEF, [(b"<P_15>955.71<", b"<P_15>lots<", 0)], {"NOT-A-NUMBER"}),
    ],
)
def test_a_hand_changed_copy_is_flagged_with_the_rule(
    name: str, changes: list[tuple[bytes, bytes, int]], expected: set[str]
) -> None:
    assert rules(name) == set()
    assert rules(name, *changes) == expected


def test_messages_name_the_figures() -> None:
    invoice = read(UBL, (b">12.6</cbc:PayableAmount>", b">12.61</cbc:PayableAmount>", 0))
    assert invoice is not None
    assert invoice.problems == (
        Problem(
            rule="BR-CO-16",
            message="BR-CO-16: total 12.60 − prepaid 0.00 + rounding 0.00 ≠ amount due 12.61",
            figures=(
                ("total", "12.60"),
                ("prepaid_amount", "0.00"),
                ("rounding_amount", "0.00"),
                ("amount_due", "12.61"),
            ),
        ),
    )
    ksef = read(KSEF, (b"<P_11>222<", b"<P_11>223<", 0))
    assert ksef is not None
    assert [p.message for p in ksef.problems] == [
        "KSEF-P11: line 1: quantity 1 × price 222 = 222.00 ≠ net amount 223.00",
        "KSEF-P13: 23 %: sum of line amounts (P_11) 778.00 ≠ P_13 777.00",
    ]


BASE = EInvoice(
    format="ubl",
    document_type="invoice",
    line_total="100.00",
    tax_basis_total="100.00",
    tax_total="19.00",
    total="119.00",
    amount_due="119.00",
    lines=(
        InvoiceLine(
            id="1",
            quantity="4",
            unit_price="25",
            net_amount="100.00",
            vat_category="S",
            vat_rate="19",
        ),
    ),
    vat_breakdown=(VatBreakdown(category="S", rate="19", basis="100.00", tax="19.00"),),
)


def problems(invoice: EInvoice) -> list[str]:
    return [problem.message for problem in check(invoice).problems]


def test_made_up_figures() -> None:
    assert problems(BASE) == []
    assert problems(replace(BASE, total="120.00", amount_due="120.00")) == [
        "BR-CO-15: tax basis 100.00 + tax 19.00 ≠ total 120.00"
    ]
    with_allowance = replace(
        BASE,
        allowances=(AllowanceCharge(amount="10", vat_category="S", vat_rate="19"),),
        allowance_total="10.00",
        charge_total="5.00",
        tax_basis_total="90.00",
    )
    assert problems(with_allowance) == [
        "BR-CO-12: sum of charges 0.00 ≠ charge total 5.00",
        "BR-CO-13: line total 100.00 − allowances 10.00 + charges 5.00 ≠ tax basis 90.00",
        "BR-CO-15: tax basis 90.00 + tax 19.00 ≠ total 119.00",
        "BR-S-08: VAT S 19 %: lines, allowances and charges 90.00 ≠ taxable amount 100.00",
    ]
    zero = replace(
        BASE,
        vat_breakdown=(VatBreakdown(category="Z", rate="0", basis="100.00", tax="19.00"),),
        lines=(replace(BASE.lines[0], vat_category="Z", vat_rate="0"),),
    )
    assert problems(zero) == [
        "BR-Z-09: VAT Z 0 %: taxable amount 100.00 × rate gives 0.00 ≠ tax 19.00"
    ]
    # rounding is half up at two decimals: 100.005 → 100.01 (half even would give 100.00)
    half = replace(
        BASE,
        lines=(replace(BASE.lines[0], quantity="1", unit_price="100.005", net_amount="100.005"),),
        line_total="100.01",
        tax_basis_total="100.01",
        total="119.01",
        amount_due="119.01",
        vat_breakdown=(VatBreakdown(category="S", rate="19", basis="100.01", tax="19.00"),),
    )
    assert problems(half) == []
    assert problems(replace(half, line_total="100.00", tax_basis_total="100.00")) == [
        "BR-CO-10: sum of line net amounts 100.01 ≠ line total 100.00",
        "BR-CO-15: tax basis 100.00 + tax 19.00 ≠ total 119.01",
    ]


def test_rules_are_skipped_when_their_figures_are_absent() -> None:
    minimum = EInvoice(
        format="facturx", document_type="invoice", total="119.00", amount_due="119.00"
    )
    assert problems(minimum) == []  # no lines, no tax basis: no BR-CO-10, 13, 14, 15
    assert problems(replace(BASE, lines=(), lines_omitted=0)) == []
    assert problems(replace(BASE, document_type="other", total="1")) == []  # orders are not checked
    halves = (
        replace(BASE.lines[0], quantity="2", net_amount="50.00"),
        replace(BASE.lines[0], id="2", quantity="2", net_amount="50.00", vat_rate=None),
    )
    assert problems(replace(BASE, lines=halves)) == []  # a line without its rate: no BR-S-08
    lines_left_out = replace(BASE, line_total="200.00", tax_basis_total="200.00", lines_omitted=3)
    assert "BR-CO-10" not in {p.rule for p in check(lines_left_out).problems}


def test_figures_that_are_not_numbers_are_reported_once_and_skip_their_rules() -> None:
    hostile = replace(BASE, total="NaN", tax_total="1e999999", amount_due="12,50")
    assert [p.rule for p in check(hostile).problems] == ["NOT-A-NUMBER"] * 3
    assert problems(hostile)[0] == "NOT-A-NUMBER: tax total '1e999999' is not a number"


DECIMALISH = st.one_of(
    st.none(),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.from_regex(r"\A[+-]?\d{0,25}(\.\d{0,25})?\Z"),
    st.text(alphabet="0123456789.,-+eE xNaInfity", max_size=30),
)


@settings(max_examples=300, deadline=None)
@given(
    amounts=st.lists(DECIMALISH, min_size=9, max_size=9),
    line=st.lists(DECIMALISH, min_size=5, max_size=5),
    row=st.lists(DECIMALISH, min_size=3, max_size=3),
    category=st.sampled_from(["S", "Z", "E", "AE", "K", "G", "O", "L", "M", "X", "", None]),
    syntax=st.sampled_from(["ubl", "cii", "ksef-fa3"]),
)
def test_checks_never_raise_on_random_figures(
    amounts: list[str | None],
    line: list[str | None],
    row: list[str | None],
    category: str | None,
    syntax: str,
) -> None:
    names = ["line_total", "allowance_total", "charge_total", "tax_basis_total", "tax_total"]
    names += ["total", "prepaid_amount", "rounding_amount", "amount_due"]
    invoice = EInvoice(
        format=syntax,
        document_type="invoice",
        type_code="VAT",
        lines=(
            InvoiceLine(
                quantity=line[0],
                unit_price=line[1],
                price_base_quantity=line[2],
                net_amount=line[3],
                vat_category=category,
                vat_rate=line[4],
                allowances=(AllowanceCharge(amount=row[0]),),
            ),
        ),
        vat_breakdown=(VatBreakdown(category=category, rate=row[0], basis=row[1], tax=row[2]),),
        allowances=(AllowanceCharge(amount=row[2], vat_category=category, vat_rate=line[4]),),
        **dict(zip(names, amounts, strict=True)),
    )
    for problem in check(invoice).problems:
        assert problem.message.startswith(problem.rule + ": ")
