"""The parts of an e-invoice as the readable view shows them (``view``): parties, lines, VAT
breakdown, totals, payment; every value a trimmed string as written, cut at ``MAX_TEXT``.

Also the readers the per-syntax views share: collapsed and cut texts and a bounded list with the
count of what it left out (``capped``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import TypeVar

from lxml import etree

from .model import EInvoice
from .values import Namespaces, first_text

MAX_LINES = 1000  # lines read for the page; the rest are counted
MAX_TEXT = 2000  # characters of one value (a note, an item description)
MAX_PARTS = 50  # tax rows, notes, payment accounts

T = TypeVar("T")


@dataclass(frozen=True)
class Party:
    name: str | None = None
    vat_id: str | None = None
    tax_ids: tuple[str, ...] = ()  # other registrations (tax number, NIP, legal id)
    address: tuple[str, ...] = ()  # lines in reading order, the country code last
    email: str | None = None


@dataclass(frozen=True)
class Line:
    number: str | None = None
    name: str | None = None
    description: str | None = None
    quantity: str | None = None
    unit: str | None = None
    unit_price: str | None = None
    net_amount: str | None = None
    vat_rate: str | None = None  # a percentage ("19") or a word ("zw", "exempt")
    vat_category: str | None = None


@dataclass(frozen=True)
class TaxRow:
    category: str | None = None
    rate: str | None = None
    basis: str | None = None
    amount: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Account:
    means: str | None = None  # how: "SEPA credit transfer", a code as written
    iban: str | None = None
    bic: str | None = None
    name: str | None = None
    bank: str | None = None


@dataclass(frozen=True)
class InvoiceView:
    summary: EInvoice
    currency: str | None = None
    seller: Party = Party()
    buyer: Party = Party()
    lines: tuple[Line, ...] = ()
    more_lines: int = 0  # lines in the document beyond ``lines``
    taxes: tuple[TaxRow, ...] = ()
    totals: tuple[tuple[str, str], ...] = ()  # (label, amount), in reading order
    accounts: tuple[Account, ...] = ()
    payment_reference: str | None = None
    payment_terms: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


# UNTDID 4461 payment means, the codes seen on invoices
PAYMENT_MEANS = {
    "1": "Not defined",
    "10": "Cash",
    "20": "Cheque",
    "30": "Credit transfer",
    "31": "Debit transfer",
    "42": "Payment to bank account",
    "48": "Bank card",
    "49": "Direct debit",
    "54": "Credit card",
    "55": "Debit card",
    "57": "Standing agreement",
    "58": "SEPA credit transfer",
    "59": "SEPA direct debit",
    "68": "Online payment service",
    "97": "Clearing between partners",
    "ZZZ": "Mutually defined",
}


def payment_means(code: str | None, text: str | None = None) -> str | None:
    """``58`` → "SEPA credit transfer"; the text the invoice gives wins over the code's name."""
    if text:
        return text
    if not code:
        return None
    return PAYMENT_MEANS.get(code, f"Code {code}")


def cut(value: str | None) -> str | None:
    """``value`` with runs of whitespace collapsed, at most ``MAX_TEXT`` characters."""
    if value is None:
        return None
    value = " ".join(value.split())
    if len(value) > MAX_TEXT:
        value = value[: MAX_TEXT - 1] + "…"
    return value or None


def text(node: etree._Element | None, paths: tuple[str, ...], ns: Namespaces) -> str | None:
    """The first non-blank text the paths select, collapsed and cut."""
    return first_text(node, paths, ns, read=_cut_text)


def _cut_text(element: etree._Element) -> str | None:
    return cut("".join(element.itertext()))


def texts(node: etree._Element | None, path: str, ns: Namespaces) -> tuple[str, ...]:
    """Every non-blank text ``path`` selects (at most ``MAX_PARTS``), collapsed and cut."""
    if node is None:
        return ()
    found: list[str] = []
    for element in node.iterfind(path, ns):
        value = _cut_text(element)
        if value:
            found.append(value)
            if len(found) == MAX_PARTS:
                break
    return tuple(found)


def address(*parts: str | None) -> tuple[str, ...]:
    """The non-empty address parts, in order."""
    return tuple(p for p in parts if p)


def attribute(element: etree._Element | None, name: str) -> str | None:
    """The element's attribute ``name``, trimmed and cut; None when missing or blank."""
    return None if element is None else cut(element.get(name))


def town(postcode: str | None, city: str | None) -> str | None:
    """``"10115 Berlin"``: the postcode and the city that are given, None when neither is."""
    return " ".join(p for p in (postcode, city) if p) or None


def capped(items: Iterable[T], limit: int) -> tuple[list[T], int]:
    """The first ``limit`` items, and how many more there are (counted, not kept)."""
    rest = iter(items)
    kept = list(islice(rest, max(limit, 0)))
    return kept, sum(1 for _ in rest)
