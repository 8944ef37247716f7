"""Read the booking core of a UBL 2.1 invoice or credit note (EN 16931, XRechnung UBL, Peppol BIS
3, Peppol PINT): references, lines, document allowances and charges, VAT breakdown, totals and
payment, as the ``EInvoice`` fields named in ``booking``.

Lines are read in one pass over each element's children (``children``), not by a path per field;
values are trimmed strings as written.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from .booking import (
    MAX_BOOKING_LINES,
    InvoiceLine,
    ItemIds,
    Payment,
    PaymentAccount,
    PrecedingInvoice,
    VatBreakdown,
)
from .booking_parts import ChargeTags, allowances_charges
from .values import Namespaces, children, clean, compact, first_text, is_iban, iso_date, joined

UBL = "urn:oasis:names:specification:ubl:schema:xsd:"
NS: Namespaces = {
    "cbc": UBL + "CommonBasicComponents-2",
    "cac": UBL + "CommonAggregateComponents-2",
}
_CBC = "{" + NS["cbc"] + "}"
_CAC = "{" + NS["cac"] + "}"
_LINE_TAGS = frozenset(_CAC + name for name in ("InvoiceLine", "CreditNoteLine", "DebitNoteLine"))
_CHARGE_TAGS = ChargeTags(
    element=_CAC + "AllowanceCharge",
    indicator=_CBC + "ChargeIndicator",
    amount=_CBC + "Amount",
    base_amount=_CBC + "BaseAmount",
    percent=_CBC + "MultiplierFactorNumeric",
    reason=_CBC + "AllowanceChargeReason",
    reason_code=_CBC + "AllowanceChargeReasonCode",
    tax=_CAC + "TaxCategory",
    category=_CBC + "ID",
    rate=_CBC + "Percent",
)
_QUANTITY_TAGS = tuple(
    _CBC + name for name in ("InvoicedQuantity", "CreditedQuantity", "DebitedQuantity")
)
_MONETARY = ("cac:LegalMonetaryTotal", "cac:RequestedMonetaryTotal")


def read_booking(
    root: etree._Element, currency: str | None, due_date: str | None
) -> dict[str, Any]:
    """The booking fields of ``EInvoice`` a UBL invoice or credit note holds."""
    monetary = _first(root, _MONETARY)
    allowances, charges = allowances_charges(root, _CHARGE_TAGS, document=True)
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
    for line in root:
        if line.tag in _LINE_TAGS:
            if len(kept) < MAX_BOOKING_LINES:
                kept.append(_line(line))
            else:
                omitted += 1
    return tuple(kept), omitted


def _line(line: etree._Element) -> InvoiceLine:
    """One line, each element's children indexed once (``children``) rather than found by path."""
    kids = children(line)
    quantity = _pick(kids, _QUANTITY_TAGS)
    item = children(kids.get(_CAC + "Item"))
    price = children(kids.get(_CAC + "Price"))
    classified = item.get(_CAC + "ClassifiedTaxCategory")
    tax = children(classified if classified is not None else kids.get(_CAC + "TaxCategory"))
    allowances, charges = allowances_charges(line, _CHARGE_TAGS, document=False)
    return InvoiceLine(
        id=clean(kids.get(_CBC + "ID")),
        name=clean(item.get(_CBC + "Name")),
        description=clean(item.get(_CBC + "Description")),
        quantity=clean(quantity),
        unit=_attribute(quantity, "unitCode"),
        unit_price=clean(price.get(_CBC + "PriceAmount")),
        price_base_quantity=clean(price.get(_CBC + "BaseQuantity")),
        gross_price=_text(price.get(_CAC + "AllowanceCharge"), "cbc:BaseAmount"),
        net_amount=clean(kids.get(_CBC + "LineExtensionAmount")),
        vat_category=clean(tax.get(_CBC + "ID")),
        vat_rate=clean(tax.get(_CBC + "Percent")),
        order_line_reference=_text(kids.get(_CAC + "OrderLineReference"), "cbc:LineID"),
        item_id=_item_ids(item),
        allowances=allowances,
        charges=charges,
    )


def _pick(kids: dict[str, etree._Element], tags: tuple[str, ...]) -> etree._Element | None:
    for tag in tags:
        found = kids.get(tag)
        if found is not None:
            return found
    return None


def _item_ids(item: dict[str, etree._Element]) -> ItemIds | None:
    if not item:
        return None
    standard = _child(item.get(_CAC + "StandardItemIdentification"), _CBC + "ID")
    ids = ItemIds(
        seller=_text(item.get(_CAC + "SellersItemIdentification"), "cbc:ID"),
        buyer=_text(item.get(_CAC + "BuyersItemIdentification"), "cbc:ID"),
        standard=clean(standard),
        standard_scheme=_attribute(standard, "schemeID"),
    )
    return ids if ids != ItemIds() else None


def _child(node: etree._Element | None, tag: str) -> etree._Element | None:
    return None if node is None else children(node).get(tag)


def _attribute(element: etree._Element | None, name: str) -> str | None:
    value = None if element is None else element.get(name)
    return (value or "").strip() or None


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
    number = _text(account, "cbc:ID")
    iban = compact(number) if is_iban(compact(number)) else None
    return PaymentAccount(
        iban=iban,
        account_number=None if iban else number,
        bic=_text(account, "cac:FinancialInstitutionBranch/cbc:ID"),
        name=_text(account, "cbc:Name"),
    )
