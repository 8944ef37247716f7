"""What accounts payable books from, beyond the header facts: the EN 16931 core of an invoice.

These types hang off ``EInvoice`` (``lines``, ``vat_breakdown``, ``allowances``, ``charges``,
``preceding_invoices``, ``payment``, ``problems``). Every value is a trimmed string as written in
the XML: amounts are decimal strings in the invoice currency (``EInvoice.currency``), never floats;
rates are percentages as written ("19", "7.00"). The JSON form (``EInvoice.as_dict``) is described
by the published JSON Schema, whose version is ``SCHEMA_VERSION``.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 1  # of the einvoice JSON; raise it for any change that is not an addition

MAX_BOOKING_LINES = 10_000  # invoice lines kept on a document; ``lines_omitted`` counts the rest


@dataclass(frozen=True, kw_only=True)
class ItemIds:
    """An item's identifiers: the seller's (BT-155), the buyer's (BT-156), a standard one
    (BT-157, e.g. a GTIN) with its scheme (``0160`` for GTIN)."""

    seller: str | None = None
    buyer: str | None = None
    standard: str | None = None
    standard_scheme: str | None = None


@dataclass(frozen=True, kw_only=True)
class AllowanceCharge:
    """A document-level (BG-20/BG-21) or line-level (BG-27/BG-28) allowance or charge."""

    amount: str | None = None
    base_amount: str | None = None
    percent: str | None = None
    reason: str | None = None
    reason_code: str | None = None
    vat_category: str | None = None  # document level only
    vat_rate: str | None = None  # document level only


@dataclass(frozen=True, kw_only=True)
class InvoiceLine:
    """One invoice line (BG-25). ``net_amount`` is BT-131: quantity × (unit price / price base
    quantity) − line allowances + line charges."""

    id: str | None = None  # BT-126
    name: str | None = None  # BT-153
    description: str | None = None  # BT-154
    quantity: str | None = None  # BT-129
    unit: str | None = None  # BT-130, UN/ECE Rec 20 code ("C62", "HUR")
    unit_price: str | None = None  # BT-146, net price
    price_base_quantity: str | None = None  # BT-149
    gross_price: str | None = None  # BT-148
    net_amount: str | None = None  # BT-131
    vat_category: str | None = None  # BT-151 (S, Z, E, AE, K, G, O, L, M)
    vat_rate: str | None = None  # BT-152
    order_line_reference: str | None = None  # BT-132
    item_id: ItemIds | None = None
    allowances: tuple[AllowanceCharge, ...] = ()
    charges: tuple[AllowanceCharge, ...] = ()


@dataclass(frozen=True, kw_only=True)
class VatBreakdown:
    """One VAT category and rate of the breakdown (BG-23)."""

    category: str | None = None  # BT-118
    rate: str | None = None  # BT-119
    basis: str | None = None  # BT-116, taxable amount
    tax: str | None = None  # BT-117
    exemption_reason: str | None = None  # BT-120
    exemption_reason_code: str | None = None  # BT-121


@dataclass(frozen=True, kw_only=True)
class PrecedingInvoice:
    """An earlier invoice this one refers to (BG-3), as credit notes and corrections do."""

    number: str | None = None  # BT-25
    issue_date: str | None = None  # BT-26, ISO yyyy-mm-dd


@dataclass(frozen=True, kw_only=True)
class PaymentAccount:
    """An account to pay to (BG-17): an IBAN, or another account number (KSeF ``NrRB``)."""

    iban: str | None = None  # BT-84 when it is an IBAN
    account_number: str | None = None  # BT-84 when it is not
    bic: str | None = None  # BT-86
    name: str | None = None  # BT-85
    bank: str | None = None  # the bank's name where the syntax gives it (KSeF)


@dataclass(frozen=True, kw_only=True)
class Payment:
    """How to pay (BG-16): the means (UNTDID 4461 code, BT-81, and its text, BT-82), the terms
    (BT-20), the due date (BT-9), the remittance information (BT-83), the accounts (BG-17, the
    first one's IBAN and BIC repeated as ``iban``/``bic``), and a direct debit's mandate (BT-89)."""

    means_code: str | None = None
    means_text: str | None = None
    terms: str | None = None
    due_date: str | None = None
    reference: str | None = None
    iban: str | None = None
    bic: str | None = None
    accounts: tuple[PaymentAccount, ...] = ()
    mandate_reference: str | None = None


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A calculation rule the invoice breaks: ``rule`` ("BR-CO-15", "KSEF-P15"), an English
    ``message`` naming the figures ("BR-CO-15: tax basis 100.00 + tax 19.00 ≠ total 120.00"),
    and the figures themselves by name, as decimal strings, for other languages and programs."""

    rule: str
    message: str
    figures: tuple[tuple[str, str], ...] = ()
