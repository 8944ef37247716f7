"""The REST API's wire shape of a document's ``einvoice`` object: the booking core of EN 16931
(lines, VAT breakdown, totals, references, payment, problems). Each field's description is read
from the published JSON Schema (``static/schemas/einvoice-v1.schema.json``), so the OpenAPI
description and the schema say the same; a test keeps their fields equal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

SCHEMA_FILE = Path(__file__).parents[1] / "static" / "schemas" / "einvoice-v1.schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def _d(group: str, name: str) -> str:
    """The schema's description of field *name* of *group* (a ``$defs`` entry; "" the top)."""
    where = SCHEMA if not group else SCHEMA["$defs"][group]
    return str(where["properties"][name]["description"])


class ItemIdsOut(BaseModel):
    """An item's identifiers (BG-31 item information)."""

    seller: str | None = Field(None, description=_d("item_ids", "seller"))
    buyer: str | None = Field(None, description=_d("item_ids", "buyer"))
    standard: str | None = Field(None, description=_d("item_ids", "standard"))
    standard_scheme: str | None = Field(None, description=_d("item_ids", "standard_scheme"))


class AllowanceChargeOut(BaseModel):
    """An allowance or charge: document level (BG-20 allowance, BG-21 charge) or line level
    (BG-27, BG-28)."""

    amount: str | None = Field(None, description=_d("allowance_charge", "amount"))
    base_amount: str | None = Field(None, description=_d("allowance_charge", "base_amount"))
    percent: str | None = Field(None, description=_d("allowance_charge", "percent"))
    reason: str | None = Field(None, description=_d("allowance_charge", "reason"))
    reason_code: str | None = Field(None, description=_d("allowance_charge", "reason_code"))
    vat_category: str | None = Field(None, description=_d("allowance_charge", "vat_category"))
    vat_rate: str | None = Field(None, description=_d("allowance_charge", "vat_rate"))


class InvoiceLineOut(BaseModel):
    """One invoice line (BG-25)."""

    id: str | None = Field(None, description=_d("line", "id"))
    name: str | None = Field(None, description=_d("line", "name"))
    description: str | None = Field(None, description=_d("line", "description"))
    quantity: str | None = Field(None, description=_d("line", "quantity"))
    unit: str | None = Field(None, description=_d("line", "unit"))
    unit_price: str | None = Field(None, description=_d("line", "unit_price"))
    price_base_quantity: str | None = Field(None, description=_d("line", "price_base_quantity"))
    gross_price: str | None = Field(None, description=_d("line", "gross_price"))
    net_amount: str | None = Field(None, description=_d("line", "net_amount"))
    vat_category: str | None = Field(None, description=_d("line", "vat_category"))
    vat_rate: str | None = Field(None, description=_d("line", "vat_rate"))
    order_line_reference: str | None = Field(None, description=_d("line", "order_line_reference"))
    item_id: ItemIdsOut | None = Field(None, description=_d("line", "item_id"))
    allowances: list[AllowanceChargeOut] = Field([], description=_d("line", "allowances"))
    charges: list[AllowanceChargeOut] = Field([], description=_d("line", "charges"))


class VatBreakdownOut(BaseModel):
    """One VAT category and rate of the VAT breakdown (BG-23)."""

    category: str | None = Field(None, description=_d("vat_breakdown", "category"))
    rate: str | None = Field(None, description=_d("vat_breakdown", "rate"))
    basis: str | None = Field(None, description=_d("vat_breakdown", "basis"))
    tax: str | None = Field(None, description=_d("vat_breakdown", "tax"))
    exemption_reason: str | None = Field(None, description=_d("vat_breakdown", "exemption_reason"))
    exemption_reason_code: str | None = Field(
        None, description=_d("vat_breakdown", "exemption_reason_code")
    )


class PrecedingInvoiceOut(BaseModel):
    """An earlier invoice this one refers to (BG-3), as credit notes and corrections do."""

    number: str | None = Field(None, description=_d("preceding_invoice", "number"))
    issue_date: str | None = Field(None, description=_d("preceding_invoice", "issue_date"))


class PaymentAccountOut(BaseModel):
    """An account to pay to (BG-17 credit transfer)."""

    iban: str | None = Field(None, description=_d("payment_account", "iban"))
    account_number: str | None = Field(None, description=_d("payment_account", "account_number"))
    bic: str | None = Field(None, description=_d("payment_account", "bic"))
    name: str | None = Field(None, description=_d("payment_account", "name"))
    bank: str | None = Field(None, description=_d("payment_account", "bank"))


class PaymentOut(BaseModel):
    """How to pay (BG-16 payment instructions, with the payment terms BT-20 and due date BT-9)."""

    means_code: str | None = Field(None, description=_d("payment", "means_code"))
    means_text: str | None = Field(None, description=_d("payment", "means_text"))
    terms: str | None = Field(None, description=_d("payment", "terms"))
    due_date: str | None = Field(None, description=_d("payment", "due_date"))
    reference: str | None = Field(None, description=_d("payment", "reference"))
    iban: str | None = Field(None, description=_d("payment", "iban"))
    bic: str | None = Field(None, description=_d("payment", "bic"))
    accounts: list[PaymentAccountOut] = Field([], description=_d("payment", "accounts"))
    mandate_reference: str | None = Field(None, description=_d("payment", "mandate_reference"))


class ProblemOut(BaseModel):
    """A calculation rule the invoice's figures break."""

    rule: str = Field(description=_d("problem", "rule"))
    message: str = Field(description=_d("problem", "message"))
    figures: dict[str, str] = Field({}, description=_d("problem", "figures"))


class EInvoiceOut(BaseModel):
    """What a structured invoice says, in the terms of EN 16931 (BT: business term, BG: business
    group), as the JSON Schema /api/v1/schemas/einvoice-v1.json describes it. Every value is a
    string as written: amounts decimal strings in `currency`, never floats; dates ISO yyyy-mm-
    dd. A document stored before these fields existed has them empty (null, [] or 0)."""

    schema_version: int = Field(1, description=_d("", "schema_version"))
    format: str = Field(description=_d("", "format"))
    profile: str | None = Field(None, description=_d("", "profile"))
    document_type: str = Field(description=_d("", "document_type"))
    type_code: str | None = Field(None, description=_d("", "type_code"))
    number: str | None = Field(None, description=_d("", "number"))
    issue_date: str | None = Field(None, description=_d("", "issue_date"))
    due_date: str | None = Field(None, description=_d("", "due_date"))
    seller_name: str | None = Field(None, description=_d("", "seller_name"))
    seller_vat_id: str | None = Field(None, description=_d("", "seller_vat_id"))
    buyer_name: str | None = Field(None, description=_d("", "buyer_name"))
    total: str | None = Field(None, description=_d("", "total"))
    amount_due: str | None = Field(None, description=_d("", "amount_due"))
    currency: str | None = Field(None, description=_d("", "currency"))
    seller_iban: str | None = Field(None, description=_d("", "seller_iban"))
    buyer_reference: str | None = Field(None, description=_d("", "buyer_reference"))
    order_reference: str | None = Field(None, description=_d("", "order_reference"))
    contract_reference: str | None = Field(None, description=_d("", "contract_reference"))
    project_reference: str | None = Field(None, description=_d("", "project_reference"))
    preceding_invoices: list[PrecedingInvoiceOut] = Field(
        [], description=_d("", "preceding_invoices")
    )
    lines: list[InvoiceLineOut] = Field([], description=_d("", "lines"))
    lines_omitted: int = Field(0, description=_d("", "lines_omitted"))
    line_total: str | None = Field(None, description=_d("", "line_total"))
    allowance_total: str | None = Field(None, description=_d("", "allowance_total"))
    charge_total: str | None = Field(None, description=_d("", "charge_total"))
    tax_basis_total: str | None = Field(None, description=_d("", "tax_basis_total"))
    tax_total: str | None = Field(None, description=_d("", "tax_total"))
    prepaid_amount: str | None = Field(None, description=_d("", "prepaid_amount"))
    rounding_amount: str | None = Field(None, description=_d("", "rounding_amount"))
    allowances: list[AllowanceChargeOut] = Field([], description=_d("", "allowances"))
    charges: list[AllowanceChargeOut] = Field([], description=_d("", "charges"))
    vat_breakdown: list[VatBreakdownOut] = Field([], description=_d("", "vat_breakdown"))
    payment: PaymentOut | None = Field(None, description=_d("", "payment"))
    problems: list[ProblemOut] = Field([], description=_d("", "problems"))
