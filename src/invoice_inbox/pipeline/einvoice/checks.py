"""Do an e-invoice's figures add up? The EN 16931 calculation rules, and their KSeF equivalents.

``check(invoice)`` gives the invoice with ``problems`` filled: one ``Problem`` per broken rule,
with an English message naming the figures and the figures themselves. Amounts are compared at
two decimals (ROUND_HALF_UP), as the standard rounds. A rule is skipped when a figure it needs
is absent (a MINIMUM profile has no lines: no BR-CO-10); a figure that is not a plain decimal
number is reported once as ``NOT-A-NUMBER`` and the rules that need it are skipped.

Rules (ids as the CEN and Peppol validators name them):
BR-CO-10..16 (totals); PEPPOL-EN16931-R120 (a line's net amount is quantity × price / base
quantity − allowances + charges, within 0.02); BR-S-08, BR-Z-08, BR-E-08, BR-AE-08, BR-IC-08,
BR-G-08, BR-O-08, BR-AF-08, BR-AG-08 (a VAT category's taxable amount is the sum of its lines,
charges and allowances); BR-S-09, BR-AF-09, BR-AG-09 (its tax is basis × rate, within the
validators' tolerance of 1) and BR-Z-09, BR-E-09, BR-AE-09, BR-IC-09, BR-G-09, BR-O-09 (tax 0).
KSeF: KSEF-P11 (P_11 = P_8B × P_9A − P_10), KSEF-P13 (line amounts per rate = P_13_x),
KSEF-P14 (P_14_x = P_13_x × rate, 0.01 per line), KSEF-P15 (P_15 = ΣP_13 + ΣP_14): see
``checks_ksef``; the figures and the shared line rule are in ``checks_base``. Pure; never raises.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, localcontext

from .booking import Problem, VatBreakdown
from .checks_base import Numbers, amount, fmt, line_rule, numbers, percent, problem, r2
from .checks_ksef import ksef_problems
from .model import EInvoice

_CATEGORY_RULE = {
    "S": "BR-S",
    "Z": "BR-Z",
    "E": "BR-E",
    "AE": "BR-AE",
    "K": "BR-IC",
    "G": "BR-G",
    "O": "BR-O",
    "L": "BR-AF",
    "M": "BR-AG",
}
_RATED = frozenset({"S", "L", "M"})  # categories whose tax is basis × rate; the others owe 0


def check(invoice: EInvoice) -> EInvoice:
    """``invoice`` with ``problems`` listing the calculation rules its figures break."""
    if not invoice.is_invoice:
        return invoice
    try:
        with localcontext() as context:
            context.prec = 200  # exact for products of three figures of MAX_DIGITS
            found = problems(invoice)
    except ArithmeticError:  # a figure beyond Decimal's range: nothing can be said of it
        found = ()
    return replace(invoice, problems=found) if found else invoice


def problems(invoice: EInvoice) -> tuple[Problem, ...]:
    """The broken rules, in the order the rules are listed above."""
    figures = Numbers()
    if invoice.format.startswith("ksef-fa") and not invoice.format.startswith("ksef-fa-rr"):
        found = ksef_problems(invoice, figures)
    else:
        found = (
            _totals(invoice, figures) + line_rule(invoice, figures) + _categories(invoice, figures)
        )
    return tuple(figures.bad) + tuple(found)


def _totals(invoice: EInvoice, n: Numbers) -> list[Problem]:
    out: list[Problem] = []
    line_total = n.get("line_total", invoice.line_total)
    allowance_total = n.get("allowance_total", invoice.allowance_total)
    charge_total = n.get("charge_total", invoice.charge_total)
    basis = n.get("tax_basis_total", invoice.tax_basis_total)
    tax = n.get("tax_total", invoice.tax_total)
    total = n.get("total", invoice.total)
    prepaid = n.get("prepaid_amount", invoice.prepaid_amount)
    rounding = n.get("rounding_amount", invoice.rounding_amount)
    due = n.get("amount_due", invoice.amount_due)
    nets = numbers(n, "line net amount", [line.net_amount for line in invoice.lines])
    if line_total is not None and nets is not None and invoice.lines and not invoice.lines_omitted:
        found = sum(nets, Decimal(0))
        if r2(found) != r2(line_total):
            out.append(
                problem(
                    "BR-CO-10",
                    f"sum of line net amounts {fmt(found)} ≠ line total {fmt(line_total)}",
                    ("sum_of_lines", found),
                    ("line_total", line_total),
                )
            )
    for rule, word, given, parts in (
        ("BR-CO-11", "allowance", allowance_total, invoice.allowances),
        ("BR-CO-12", "charge", charge_total, invoice.charges),
    ):
        amounts = numbers(n, f"{word} amount", [part.amount for part in parts])
        if given is not None and amounts is not None:
            found = sum(amounts, Decimal(0))
            if r2(found) != r2(given):
                out.append(
                    problem(
                        rule,
                        f"sum of {word}s {fmt(found)} ≠ {word} total {fmt(given)}",
                        (f"sum_of_{word}s", found),
                        (f"{word}_total", given),
                    )
                )
    if basis is not None and line_total is not None:
        expected = line_total - (allowance_total or 0) + (charge_total or 0)
        if r2(expected) != r2(basis):
            out.append(
                problem(
                    "BR-CO-13",
                    f"line total {fmt(line_total)}"
                    f" − allowances {fmt(allowance_total or Decimal(0))}"
                    f" + charges {fmt(charge_total or Decimal(0))} ≠ tax basis {fmt(basis)}",
                    ("line_total", line_total),
                    ("allowance_total", allowance_total or Decimal(0)),
                    ("charge_total", charge_total or Decimal(0)),
                    ("tax_basis_total", basis),
                )
            )
    taxes = numbers(n, "VAT category tax", [row.tax for row in invoice.vat_breakdown])
    if tax is not None and taxes is not None and invoice.vat_breakdown:
        found = sum(taxes, Decimal(0))
        if r2(found) != r2(tax):
            out.append(
                problem(
                    "BR-CO-14",
                    f"sum of VAT category taxes {fmt(found)} ≠ tax total {fmt(tax)}",
                    ("sum_of_category_taxes", found),
                    ("tax_total", tax),
                )
            )
    if total is not None and basis is not None and tax is not None and r2(basis + tax) != r2(total):
        out.append(
            problem(
                "BR-CO-15",
                f"tax basis {fmt(basis)} + tax {fmt(tax)} ≠ total {fmt(total)}",
                ("tax_basis_total", basis),
                ("tax_total", tax),
                ("total", total),
            )
        )
    if total is not None and due is not None:
        expected = total - (prepaid or 0) + (rounding or 0)
        if r2(expected) != r2(due):
            out.append(
                problem(
                    "BR-CO-16",
                    f"total {fmt(total)} − prepaid {fmt(prepaid or Decimal(0))}"
                    f" + rounding {fmt(rounding or Decimal(0))} ≠ amount due {fmt(due)}",
                    ("total", total),
                    ("prepaid_amount", prepaid or Decimal(0)),
                    ("rounding_amount", rounding or Decimal(0)),
                    ("amount_due", due),
                )
            )
    return out


def _categories(invoice: EInvoice, n: Numbers) -> list[Problem]:
    """BR-x-08 (basis from lines, when every line is read with a category) and BR-x-09."""
    out: list[Problem] = []
    sums = _category_sums(invoice)
    for row in invoice.vat_breakdown:
        prefix = _CATEGORY_RULE.get((row.category or "").upper())
        basis = n.get("vat_category_basis", row.basis)
        tax = n.get("vat_category_tax", row.tax)
        rate = percent(row.rate)
        if prefix is None or basis is None:
            continue
        category = (row.category or "").upper()
        key = (category, rate if category in _RATED else None)
        if sums is not None and key in sums and r2(sums[key]) != r2(basis):
            out.append(
                problem(
                    f"{prefix}-08",
                    f"{_label(row)}: lines, allowances and charges {fmt(sums[key])}"
                    f" ≠ taxable amount {fmt(basis)}",
                    ("expected", sums[key]),
                    ("basis", basis),
                )
            )
        if tax is None:
            continue
        if category in _RATED:
            if rate is None:
                continue
            expected = r2(basis * rate / 100)
            if abs(abs(tax) - abs(expected)) < 1:  # the CEN validators' tolerance
                continue
        elif tax == 0:
            continue
        else:
            expected = Decimal(0)
        out.append(
            problem(
                f"{prefix}-09",
                f"{_label(row)}: taxable amount {fmt(basis)} × rate gives {fmt(expected)}"
                f" ≠ tax {fmt(tax)}",
                ("basis", basis),
                ("expected", expected),
                ("tax", tax),
            )
        )
    return out


def _label(row: VatBreakdown) -> str:
    return f"VAT {row.category} {row.rate} %" if row.rate else f"VAT {row.category}"


def _category_sums(invoice: EInvoice) -> dict[tuple[str, Decimal | None], Decimal] | None:
    """Σ line nets − allowances + charges per (category, rate), None when a line or part lacks
    a number, a category or (standard rated) a rate, or when lines were left out."""
    if not invoice.lines or invoice.lines_omitted:
        return None
    sums: dict[tuple[str, Decimal | None], Decimal] = {}
    parts: list[tuple[str | None, str | None, str | None, int]] = [
        (line.vat_category, line.vat_rate, line.net_amount, 1) for line in invoice.lines
    ]
    parts += [(a.vat_category, a.vat_rate, a.amount, -1) for a in invoice.allowances]
    parts += [(c.vat_category, c.vat_rate, c.amount, 1) for c in invoice.charges]
    for category, rate, value, sign in parts:
        number = amount(value)
        if not category or number is None:
            return None
        category = category.upper()
        key = (category, percent(rate) if category in _RATED else None)
        if category in _RATED and key[1] is None:
            return None
        sums[key] = sums.get(key, Decimal(0)) + sign * number
    return sums
