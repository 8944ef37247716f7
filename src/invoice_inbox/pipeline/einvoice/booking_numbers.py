"""Only numbers in the booking core's figures: a value that is no xs:decimal ("NaN", "1e999",
"1,00", a word) becomes None, after the checks have reported it (``NOT-A-NUMBER``), so the JSON
a document carries always matches the published schema and no program reading it parses prose.

The header facts ``total`` and ``amount_due`` stay as written, as they always have.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, TypeVar

from .booking import AllowanceCharge, InvoiceLine
from .model import EInvoice

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")  # xs:decimal, as the schema says
MAX_CHARS = 60  # longer figures are not numbers a program can book (the checks say so too)

_TOTALS = (
    "line_total",
    "allowance_total",
    "charge_total",
    "tax_basis_total",
    "tax_total",
    "prepaid_amount",
    "rounding_amount",
)
_LINE = ("quantity", "unit_price", "price_base_quantity", "gross_price", "net_amount", "vat_rate")
_CHARGE = ("amount", "base_amount", "percent", "vat_rate")
_VAT = ("rate", "basis", "tax")

T = TypeVar("T")


def numbers_only(invoice: EInvoice) -> EInvoice:
    """*invoice* with every booking figure that is not a plain decimal number set to None
    (the same object when all are numbers, the usual case)."""
    changed: dict[str, Any] = _figures(invoice, _TOTALS)
    lines = tuple(_clean_line(line) for line in invoice.lines)
    if any(new is not old for new, old in zip(lines, invoice.lines, strict=True)):
        changed["lines"] = lines
    for name in ("allowances", "charges"):
        parts = tuple(_clean(part, _CHARGE) for part in getattr(invoice, name))
        if any(new is not old for new, old in zip(parts, getattr(invoice, name), strict=True)):
            changed[name] = parts
    taxes = tuple(_clean(row, _VAT) for row in invoice.vat_breakdown)
    if any(new is not old for new, old in zip(taxes, invoice.vat_breakdown, strict=True)):
        changed["vat_breakdown"] = taxes
    return replace(invoice, **changed) if changed else invoice


def is_number(value: str | None) -> bool:
    """Whether *value* is absent or a plain decimal number the schema allows."""
    return value is None or (len(value) <= MAX_CHARS and _DECIMAL.fullmatch(value) is not None)


def _figures(item: object, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: None for name in names if not is_number(getattr(item, name))}


def _clean(item: T, names: tuple[str, ...]) -> T:
    changed = _figures(item, names)
    return replace(item, **changed) if changed else item  # type: ignore[type-var]


def _clean_line(line: InvoiceLine) -> InvoiceLine:
    changed: dict[str, Any] = _figures(line, _LINE)
    for name in ("allowances", "charges"):
        parts: tuple[AllowanceCharge, ...] = getattr(line, name)
        cleaned = tuple(_clean(part, _CHARGE) for part in parts)
        if any(new is not old for new, old in zip(cleaned, parts, strict=True)):
            changed[name] = cleaned
    return replace(line, **changed) if changed else line
