"""The KSeF equivalents of the EN 16931 calculation rules, for FA(2)/FA(3) invoices:
KSEF-P11 (a line's P_11 = P_8B × P_9A − P_10, within 0.02; P_9B for gross-priced lines),
KSEF-P13 (the line amounts of each rate add up to its P_13_x; VAT and UPR invoices, net-priced),
KSEF-P14 (P_14_x = P_13_x × rate, within 0.01 per line of that rate; either of the two rates a
field stands for, 23/22, 8/7, 4/3), KSEF-P15 (P_15 = ΣP_13 + ΣP_14).
"""

from __future__ import annotations

from decimal import Decimal

from .booking import Problem
from .checks_base import CENT, Numbers, amount, fmt, line_rule, percent, problem, r2
from .model import EInvoice

_KSEF_SAME_FIELD = {Decimal(22): Decimal(23), Decimal(7): Decimal(8), Decimal(3): Decimal(4)}
_KSEF_CHECKED_KINDS = frozenset({"VAT", "UPR"})  # corrections and advance invoices differ


def ksef_problems(invoice: EInvoice, n: Numbers) -> list[Problem]:
    """The KSeF rules the invoice breaks."""
    kind = (invoice.type_code or "").upper()
    out: list[Problem] = []
    if kind in _KSEF_CHECKED_KINDS:
        out += line_rule(invoice, n, rule="KSEF-P11")
        out += _ksef_p13(invoice, n)
    for row in invoice.vat_breakdown:
        basis = n.get("P_13", row.basis)
        tax = n.get("P_14", row.tax)
        rate = percent(row.rate)
        if row.category != "S" or rate is None or basis is None or tax is None:
            continue
        rates = [rate] + [old for old, new in _KSEF_SAME_FIELD.items() if new == rate]
        slack = CENT * max(1, sum(1 for line in invoice.lines if percent(line.vat_rate) in rates))
        if any(abs(r2(basis * r / 100) - tax) <= slack for r in rates):
            continue
        expected = r2(basis * rate / 100)
        out.append(
            problem(
                "KSEF-P14",
                f"P_13 {fmt(basis)} × {row.rate} % = {fmt(expected)} ≠ P_14 {fmt(tax)}",
                ("P_13", basis),
                ("expected", expected),
                ("P_14", tax),
            )
        )
    total = n.get("total", invoice.total)
    basis_total = amount(invoice.tax_basis_total)
    if total is not None and basis_total is not None:
        tax_total = amount(invoice.tax_total) or Decimal(0)
        if r2(basis_total + tax_total) != r2(total):
            out.append(
                problem(
                    "KSEF-P15",
                    f"ΣP_13 {fmt(basis_total)} + ΣP_14 {fmt(tax_total)} ≠ P_15 {fmt(total)}",
                    ("tax_basis_total", basis_total),
                    ("tax_total", tax_total),
                    ("total", total),
                )
            )
    return out


def _ksef_key(category: str | None, rate: str | None) -> tuple[str | None, Decimal | None]:
    number = percent(rate) if category == "S" else None
    return category, _KSEF_SAME_FIELD.get(number, number) if number is not None else None


def _ksef_p13(invoice: EInvoice, n: Numbers) -> list[Problem]:
    """Line amounts per rate against the P_13_x they belong to (net-priced invoices only)."""
    if not invoice.lines or invoice.lines_omitted or not invoice.vat_breakdown:
        return []
    lines: dict[tuple[str | None, Decimal | None], Decimal] = {}
    for line in invoice.lines:
        net = amount(line.net_amount)
        if net is None or line.vat_category is None:
            return []
        if line.unit_price is None and line.gross_price is not None:
            return []  # gross-based: P_11A holds gross amounts, P_13 the net
        key = _ksef_key(line.vat_category, line.vat_rate)
        lines[key] = lines.get(key, Decimal(0)) + net
    rows: dict[tuple[str | None, Decimal | None], Decimal] = {}
    for row in invoice.vat_breakdown:
        basis = amount(row.basis)
        if basis is None:
            return []
        key = _ksef_key(row.category, row.rate)
        rows[key] = rows.get(key, Decimal(0)) + basis
    out: list[Problem] = []
    for key in sorted(set(lines) | set(rows), key=str):
        found, given = lines.get(key, Decimal(0)), rows.get(key, Decimal(0))
        if r2(found) == r2(given):
            continue
        category, rate = key
        label = f"{rate} %" if category == "S" and rate is not None else f"category {category}"
        out.append(
            problem(
                "KSEF-P13",
                f"{label}: sum of line amounts (P_11) {fmt(found)} ≠ P_13 {fmt(given)}",
                ("sum_of_lines", found),
                ("P_13", given),
            )
        )
    return out
