"""The result type of this package: what an e-invoice (or a related e-business document) says."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from .booking import (
    SCHEMA_VERSION,
    AllowanceCharge,
    InvoiceLine,
    Payment,
    PrecedingInvoice,
    Problem,
    VatBreakdown,
)

INVOICE = "invoice"
CREDIT_NOTE = "credit_note"
OTHER = "other"


@dataclass(frozen=True, kw_only=True)
class EInvoice:
    """What one structured document says, every value a trimmed string as written.

    ``format`` names the syntax and flavour ("facturx", "xrechnung-ubl", "ksef-fa3", "order-x",
    ...), ``profile`` the guideline level when one is declared, ``document_type`` is "invoice",
    "credit_note" or "other" (orders, despatch advices, responses, pro-forma invoices).
    Dates are ISO ``yyyy-mm-dd``; amounts are decimal strings exactly as in the XML, in
    ``currency``. The booking core (lines, VAT breakdown, totals, references, payment: see
    ``booking``) is filled for invoices and credit notes; ``problems`` lists the calculation
    rules the figures break (empty when they add up or were not checked).
    """

    format: str
    profile: str | None = None
    document_type: str
    type_code: str | None = None
    number: str | None = None
    issue_date: str | None = None
    due_date: str | None = None
    seller_name: str | None = None
    seller_vat_id: str | None = None
    buyer_name: str | None = None
    total: str | None = None
    amount_due: str | None = None
    currency: str | None = None
    seller_iban: str | None = None
    # the booking core (EN 16931 BT numbers in ``booking``)
    buyer_reference: str | None = None  # BT-10, e.g. a Leitweg-ID
    order_reference: str | None = None  # BT-13
    contract_reference: str | None = None  # BT-12
    project_reference: str | None = None  # BT-11
    preceding_invoices: tuple[PrecedingInvoice, ...] = ()  # BG-3
    lines: tuple[InvoiceLine, ...] = ()  # BG-25; () for profiles without lines
    lines_omitted: int = 0  # lines beyond booking.MAX_BOOKING_LINES, counted, not kept
    line_total: str | None = None  # BT-106, sum of line net amounts
    allowance_total: str | None = None  # BT-107
    charge_total: str | None = None  # BT-108
    tax_basis_total: str | None = None  # BT-109, total without VAT
    tax_total: str | None = None  # BT-110, in the invoice currency
    prepaid_amount: str | None = None  # BT-113
    rounding_amount: str | None = None  # BT-114
    allowances: tuple[AllowanceCharge, ...] = ()  # BG-20
    charges: tuple[AllowanceCharge, ...] = ()  # BG-21
    vat_breakdown: tuple[VatBreakdown, ...] = ()  # BG-23
    payment: Payment | None = None  # BG-16 and the terms
    problems: tuple[Problem, ...] = ()

    @property
    def is_invoice(self) -> bool:
        """True for invoices and credit notes, the documents accounts payable books."""
        return self.document_type in (INVOICE, CREDIT_NOTE)

    def as_dict(self) -> dict[str, Any]:
        """All fields as a JSON-ready dict (the published schema's ``einvoice`` object):
        nested parts as objects, tuples as lists, a problem's figures as an object."""
        found = {field.name: _json(getattr(self, field.name)) for field in fields(self)}
        found["schema_version"] = SCHEMA_VERSION
        return found

    @property
    def key(self) -> str | None:
        """Duplicate-detection key ``seller|number|document_type``, None without seller or number.

        The seller is the VAT id (upper case, separators dropped) when there is one, else the
        name case-folded with runs of whitespace collapsed.
        """
        seller = _normal_vat_id(self.seller_vat_id) or _normal_name(self.seller_name)
        if not seller or not self.number:
            return None
        return f"{seller}|{self.number}|{self.document_type}"


def _json(value: Any) -> Any:
    if isinstance(value, Problem):
        return {"rule": value.rule, "message": value.message, "figures": dict(value.figures)}
    if is_dataclass(value) and not isinstance(value, type):
        return {field.name: _json(getattr(value, field.name)) for field in fields(value)}
    if isinstance(value, tuple):
        return [_json(item) for item in value]
    return value


def _normal_vat_id(value: str | None) -> str:
    return re.sub(r"[\s.\-/]", "", value or "").upper()


def _normal_name(value: str | None) -> str:
    return " ".join((value or "").split()).casefold()
