"""Figures for the consistency checks (``checks``, ``checks_ksef``): amounts read as Decimals
(xs:decimal numbers only: no exponents, NaN or infinities, at most ``MAX_DIGITS`` characters),
rounded half up to cents, problems written from them, and the line rule both syntaxes share (a
line's amount is quantity × price / base quantity − allowances + charges).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from .booking import InvoiceLine, Problem
from .model import EInvoice

CENT = Decimal("0.01")
MAX_LINE_PROBLEMS = 10  # line rules reported one by one; the rest are counted in one problem

_PLAIN = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")  # xs:decimal
MAX_DIGITS = 60  # longer figures are not checked (reported as not a number)


def amount(value: str | None) -> Decimal | None:
    """``value`` as a Decimal when it is a plain decimal number ("-12.50"), else None."""
    if value is None:
        return None
    value = value.strip()
    return Decimal(value) if len(value) <= MAX_DIGITS and _PLAIN.match(value) else None


def decimal_text(value: str | None) -> str | None:
    """``value`` trimmed when it is an xs:decimal ``amount`` reads, else None."""
    return None if value is None or amount(value) is None else value.strip()


def r2(value: Decimal) -> Decimal:
    """Rounded to two decimals, half up, as EN 16931 rounds."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class Numbers:
    """Reads figures once, remembering those that are not numbers (one problem each)."""

    def __init__(self) -> None:
        self.bad: list[Problem] = []

    def get(self, name: str, value: str | None) -> Decimal | None:
        number = amount(value)
        if value is not None and number is None and len(self.bad) < MAX_LINE_PROBLEMS:
            shown = value if len(value) <= 40 else value[:39] + "…"
            self.bad.append(
                Problem(
                    rule="NOT-A-NUMBER",
                    message=f"NOT-A-NUMBER: {name.replace('_', ' ')} {shown!r} is not a number",
                    figures=((name, shown),),
                )
            )
        return number


def fmt(value: Decimal) -> str:
    return str(r2(value))


def problem(rule: str, text: str, *figures: tuple[str, Decimal]) -> Problem:
    return Problem(
        rule=rule, message=f"{rule}: {text}", figures=tuple((k, fmt(v)) for k, v in figures)
    )


def numbers(n: Numbers, name: str, values: Iterable[str | None]) -> list[Decimal] | None:
    """Every value as a number; None when one is absent or not a number."""
    out: list[Decimal] = []
    for value in values:
        number = n.get(name.replace(" ", "_"), value)
        if number is None:
            return None
        out.append(number)
    return out


def _line_sum(n: Numbers, parts: Iterable[object]) -> Decimal | None:
    values = [getattr(part, "amount", None) for part in parts]
    found = numbers(n, "line allowance or charge", values)
    return None if found is None else r2(sum(found, Decimal(0)))


def line_rule(invoice: EInvoice, n: Numbers, rule: str = "PEPPOL-EN16931-R120") -> list[Problem]:
    """Lines whose net amount is not quantity × price / base − allowances + charges (± 0.02)."""
    broken: list[Problem] = []
    count = 0
    for index, line in enumerate(invoice.lines, start=1):
        found = _lineproblem(line, index, n, rule)
        if found is None:
            continue
        count += 1
        if len(broken) < MAX_LINE_PROBLEMS:
            broken.append(found)
    if count > len(broken):
        more = count - len(broken)
        broken.append(
            Problem(
                rule=rule,
                message=f"{rule}: {more} more lines do not multiply out",
                figures=(("more_lines", str(more)),),
            )
        )
    return broken


def _lineproblem(line: InvoiceLine, index: int, n: Numbers, rule: str) -> Problem | None:
    quantity = amount(line.quantity)
    net = n.get("line_net_amount", line.net_amount)
    price = amount(line.unit_price)
    if price is None and rule == "KSEF-P11":
        price = amount(line.gross_price)  # P_11A = P_8B × P_9B − P_10 on gross-based invoices
    base = amount(line.price_base_quantity) if line.price_base_quantity else Decimal(1)
    allowances = _line_sum(n, line.allowances)
    charges = _line_sum(n, line.charges)
    if None in (quantity, net, price, base, allowances, charges) or not base:
        return None
    assert quantity is not None and net is not None and price is not None and base is not None
    assert allowances is not None and charges is not None
    expected = quantity * price / base - allowances + charges
    if abs(expected - net) <= 2 * CENT:
        return None
    per = f" / {base:f}" if line.price_base_quantity else ""
    less = f" − {fmt(allowances)}" if allowances else ""
    more = f" + {fmt(charges)}" if charges else ""
    name = (line.id or str(index))[:40]
    return Problem(
        rule=rule,
        message=(
            f"{rule}: line {name}: quantity {quantity:f} × price {price:f}{per}{less}{more}"
            f" = {fmt(expected)} ≠ net amount {fmt(net)}"
        ),
        figures=(
            ("line", name),
            ("quantity", format(quantity, "f")),
            ("price", format(price, "f")),
            ("price_base_quantity", format(base, "f")),
            ("allowances", fmt(allowances)),
            ("charges", fmt(charges)),
            ("expected", fmt(expected)),
            ("net_amount", fmt(net)),
        ),
    )


def percent(value: str | None) -> Decimal | None:
    return amount(value)
