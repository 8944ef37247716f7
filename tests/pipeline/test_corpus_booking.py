"""``invoice-inbox inspect --json`` on every corpus e-invoice gives the booking facts that
``tests/corpus/BOOKING.tsv`` lists, read from the files themselves (the XML, or the XML a PDF
embeds): line count, tax basis total (BT-109), tax total (BT-110), amount due (BT-115), the VAT
breakdown (BG-23: category:rate:basis:tax;...), buyer reference (BT-10), order reference
(BT-13), payment means code (BT-81), IBAN (BT-84), and the calculation rules a file breaks.

KSeF files carry no EN 16931 category codes: their breakdown is written with the category and
rate each ``P_13_x`` field stands for in the FA(2)/FA(3) schema (P_13_1 S:23, P_13_7 E:0, ...);
a rate left empty is one the file does not state (OSS, not taxable), a tax left empty a field
the file does not give (read as none or zero)."""

from __future__ import annotations

import csv
from decimal import Decimal
from typing import Any

import pytest
from booking_schema import EINVOICES, schema_errors
from test_corpus import inspect

from corpus import CORPUS


def facts() -> dict[str, dict[str, str]]:
    with open(CORPUS / "BOOKING.tsv", newline="", encoding="utf-8") as f:
        return {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}


FACTS = facts()


def amount(value: str | None) -> Decimal | None:
    return Decimal(value) if value not in (None, "") else None


def same_amount(found: str | None, expected: str) -> bool:
    return amount(found) == amount(expected)


def breakdown_matches(found: list[dict[str, Any]], expected: str) -> bool:
    wanted = [entry.split(":") for entry in expected.split(";") if entry]
    if len(found) != len(wanted):
        return False
    left = list(found)
    for category, rate, basis, tax in wanted:
        match = next(
            (
                f
                for f in left
                if f["category"] == category
                and (not rate or amount(f["rate"]) == amount(rate))
                and same_amount(f["basis"], basis)
                and (amount(f["tax"]) or 0) == (amount(tax) or 0)
            ),
            None,
        )
        if match is None:
            return False
        left.remove(match)
    return True


def test_every_corpus_einvoice_has_its_booking_facts() -> None:
    assert sorted(FACTS) == EINVOICES


@pytest.mark.parametrize("name", EINVOICES)
def test_inspect_gives_the_booking_facts_of_the_file(name: str) -> None:
    row = FACTS[name]
    (doc,) = inspect(name)["documents"]
    einvoice = doc["einvoice"]
    assert schema_errors(einvoice) == []
    payment = einvoice["payment"] or {}
    found = {
        "lines": str(len(einvoice["lines"])),
        "buyer_reference": einvoice["buyer_reference"] or "",
        "order_reference": einvoice["order_reference"] or "",
        "payment_means": payment.get("means_code") or "",
        "iban": payment.get("iban") or "",
    }
    assert found == {key: row[key] for key in found}
    for key in ("tax_basis_total", "tax_total", "amount_due"):
        assert same_amount(einvoice[key], row[key]), (key, einvoice[key], row[key])
    assert breakdown_matches(einvoice["vat_breakdown"], row["vat_breakdown"]), einvoice[
        "vat_breakdown"
    ]
    rules = sorted({p["rule"] for p in einvoice["problems"]})
    assert rules == sorted(r for r in row["expected_problems"].split(",") if r)
