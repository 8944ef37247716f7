"""Read the booking core of a UBL 2.1 invoice or credit note (EN 16931, XRechnung UBL, Peppol BIS
3, Peppol PINT): references, lines, document allowances and charges, VAT breakdown, totals and
payment, as the ``EInvoice`` fields named in ``booking``.

One pass over the root's children and each line's children; values are trimmed strings as written.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from .booking import (
    MAX_BOOKING_LINES,
    AllowanceCharge,
    InvoiceLine,
    ItemIds,
    Payment,
    PaymentAccount,
    PrecedingInvoice,
    VatBreakdown,
)
from .values import Namespaces, clean, compact, first_text, is_iban, iso_date, joined

UBL = "urn:oasis:names:specification:ubl:schema:xsd:"
NS: Namespaces = {
    "cbc": UBL + "CommonBasicComponents-2",
    "cac": UBL + "CommonAggregateComponents-2",
}
_LINES = ("cac:InvoiceLine", "cac:CreditNoteLine", "cac:DebitNoteLine")
_QUANTITIES = ("cbc:InvoicedQuantity", "cbc:CreditedQuantity", "cbc:DebitedQuantity")
_LINE_TAX = ("cac:Item/cac:ClassifiedTaxCategory", "cac:TaxCategory")
_MONETARY = ("cac:LegalMonetaryTotal", "cac:RequestedMonetaryTotal")


def read_booking(
    root: etree._Element, currency: str | None, due_date: str | None
) -> dict[str, Any]:
    """The booking fields of ``EInvoice`` a UBL invoice or credit note holds."""
    monetary = _first(root, _MONETARY)
    allowances, charges = _allowances_charges(root, document=True)
    lines, omitted = _lines(root)
    tax_total, vat = _taxes(root, currency)
    return {
        "buyer_reference": _text(root, "cbc:BuyerReference"),
        "order_reference": _text(root, "cac:OrderReference/cbc:ID"),
        "contract_reference": _text(root, "cac:ContractDocumentReference/cbc:ID"),
        "project_reference": _text(root, "cac:ProjectReference/cbc:ID"),
        "preceding_invoices": tuple(
            PrecedingInvoice(
                number=_text(reference, "cbc:ID"),
                issue_date=iso_date(_text(reference, "cbc:IssueDate")),
            )
            for reference in root.iterfind("cac:BillingReference/cac:InvoiceDocumentReference", NS)
        ),
        "lines": lines,
        "lines_omitted": omitted,
        "line_total": _text(monetary, "cbc:LineExtensionAmount"),
        "allowance_total": _text(monetary, "cbc:AllowanceTotalAmount"),
        "charge_total": _text(monetary, "cbc:ChargeTotalAmount"),
        "tax_basis_total": _text(monetary, "cbc:TaxExclusiveAmount"),
        "tax_total": tax_total,
        "prepaid_amount": _text(monetary, "cbc:PrepaidAmount"),
        "rounding_amount": _text(monetary, "cbc:PayableRoundingAmount"),
        "allowances": allowances,
        "charges": charges,
        "vat_breakdown": vat,
        "payment": _payment(root, due_date),
    }


def _text(node: etree._Element | None, path: str) -> str | None:
    return None if node is None else clean(node.find(path, NS))


def _first(node: etree._Element, paths: tuple[str, ...]) -> etree._Element | None:
    for path in paths:
        found = node.find(path, NS)
        if found is not None:
            return found
    return None


def _lines(root: etree._Element) -> tuple[tuple[InvoiceLine, ...], int]:
    kept: list[InvoiceLine] = []
    omitted = 0
    for path in _LINES:
        for line in root.iterfind(path, NS):
            if len(kept) < MAX_BOOKING_LINES:
                kept.append(_line(line))
            else:
                omitted += 1
    return tuple(kept), omitted


def _line(line: etree._Element) -> InvoiceLine:
    quantity = _first(line, _QUANTITIES)
    tax = _first(line, _LINE_TAX)
    item = line.find("cac:Item", NS)
    price = line.find("cac:Price", NS)
    allowances, charges = _allowances_charges(line, document=False)
    return InvoiceLine(
        id=_text(line, "cbc:ID"),
        name=_text(item, "cbc:Name"),
        description=_text(item, "cbc:Description"),
        quantity=clean(quantity),
        unit=_attribute(quantity, "unitCode"),
        unit_price=_text(price, "cbc:PriceAmount"),
        price_base_quantity=_text(price, "cbc:BaseQuantity"),
        gross_price=_text(price, "cac:AllowanceCharge/cbc:BaseAmount"),
        net_amount=_text(line, "cbc:LineExtensionAmount"),
        vat_category=_text(tax, "cbc:ID"),
        vat_rate=_text(tax, "cbc:Percent"),
        order_line_reference=_text(line, "cac:OrderLineReference/cbc:LineID"),
        item_id=_item_ids(item),
        allowances=allowances,
        charges=charges,
    )


def _item_ids(item: etree._Element | None) -> ItemIds | None:
    if item is None:
        return None
    standard = item.find("cac:StandardItemIdentification/cbc:ID", NS)
    ids = ItemIds(
        seller=_text(item, "cac:SellersItemIdentification/cbc:ID"),
        buyer=_text(item, "cac:BuyersItemIdentification/cbc:ID"),
        standard=clean(standard),
        standard_scheme=_attribute(standard, "schemeID"),
    )
    return ids if ids != ItemIds() else None


def _attribute(element: etree._Element | None, name: str) -> str | None:
    value = None if element is None else element.get(name)
    return (value or "").strip() or None


def _allowances_charges(
    node: etree._Element, document: bool
) -> tuple[tuple[AllowanceCharge, ...], tuple[AllowanceCharge, ...]]:
    """The node's own ``cac:AllowanceCharge`` children, split by ``cbc:ChargeIndicator``."""
    allowances: list[AllowanceCharge] = []
    charges: list[AllowanceCharge] = []
    for element in node.iterfind("cac:AllowanceCharge", NS):
        tax = element.find("cac:TaxCategory", NS) if document else None
        found = AllowanceCharge(
            amount=_text(element, "cbc:Amount"),
            base_amount=_text(element, "cbc:BaseAmount"),
            percent=_text(element, "cbc:MultiplierFactorNumeric"),
            reason=_text(element, "cbc:AllowanceChargeReason"),
            reason_code=_text(element, "cbc:AllowanceChargeReasonCode"),
            vat_category=_text(tax, "cbc:ID"),
            vat_rate=_text(tax, "cbc:Percent"),
        )
        is_charge = (_text(element, "cbc:ChargeIndicator") or "").lower() == "true"
        (charges if is_charge else allowances).append(found)
    return tuple(allowances), tuple(charges)


def _taxes(
    root: etree._Element, currency: str | None
) -> tuple[str | None, tuple[VatBreakdown, ...]]:
    """BT-110 and the breakdown: from the ``cac:TaxTotal`` in the document currency (a second one
    may give the tax in the tax currency, BT-111), else the first one."""
    totals = root.findall("cac:TaxTotal", NS)
    chosen = None
    for total in totals:
        amount = total.find("cbc:TaxAmount", NS)
        unit = _attribute(amount, "currencyID")
        if unit is None or unit == currency:
            chosen = total
            break
    if chosen is None and totals:
        chosen = totals[0]
    if chosen is None:
        return None, ()
    rows = tuple(_vat(sub) for sub in chosen.iterfind("cac:TaxSubtotal", NS))
    return _text(chosen, "cbc:TaxAmount"), rows


def _vat(sub: etree._Element) -> VatBreakdown:
    category = sub.find("cac:TaxCategory", NS)
    return VatBreakdown(
        category=_text(category, "cbc:ID"),
        rate=_text(category, "cbc:Percent") or _text(sub, "cbc:Percent"),
        basis=_text(sub, "cbc:TaxableAmount"),
        tax=_text(sub, "cbc:TaxAmount"),
        exemption_reason=_text(category, "cbc:TaxExemptionReason"),
        exemption_reason_code=_text(category, "cbc:TaxExemptionReasonCode"),
    )


def _payment(root: etree._Element, due_date: str | None) -> Payment | None:
    means = root.findall("cac:PaymentMeans", NS)
    code = None if not means else means[0].find("cbc:PaymentMeansCode", NS)
    accounts = tuple(
        _account(account)
        for element in means
        if (account := element.find("cac:PayeeFinancialAccount", NS)) is not None
    )
    payment = Payment(
        means_code=clean(code),
        means_text=_attribute(code, "name"),
        terms=joined(root.iterfind("cac:PaymentTerms/cbc:Note", NS)),
        due_date=due_date,
        reference=first_text(root, ("cac:PaymentMeans/cbc:PaymentID",), NS),
        iban=accounts[0].iban if accounts else None,
        bic=accounts[0].bic if accounts else None,
        accounts=accounts,
        mandate_reference=first_text(root, ("cac:PaymentMeans/cac:PaymentMandate/cbc:ID",), NS),
    )
    return None if payment == Payment() else payment


def _account(account: etree._Element) -> PaymentAccount:
    number = compact(_text(account, "cbc:ID"))
    iban = number if is_iban(number) else None
    return PaymentAccount(
        iban=iban,
        account_number=None if iban else number,
        bic=_text(account, "cac:FinancialInstitutionBranch/cbc:ID"),
        name=_text(account, "cbc:Name"),
    )
