"""The readable view of a UN/CEFACT CII invoice (EN 16931, Factur-X/ZUGFeRD 2, XRechnung CII)
and of a ZUGFeRD 1.0 CrossIndustryDocument: parties, lines, VAT breakdown, totals, payment.

The layouts and namespace versions are the summary reader's (``cii``); where ZUGFeRD 1 names an
element differently, both paths are tried.
"""

from __future__ import annotations

from itertools import islice

from lxml import etree

from . import cii
from .booking_cii import amount_in
from .model import EInvoice
from .values import Namespaces, compact, namespace
from .view_model import (
    MAX_PARTS,
    Account,
    InvoiceView,
    Line,
    LinePaths,
    Party,
    TaxRow,
    address,
    payment_means,
    read_lines,
    text,
    texts,
    town,
)

_RATE = ("ram:RateApplicablePercent", "ram:ApplicablePercent")
_LINE = LinePaths(
    quantity=(
        "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity",
        "ram:SpecifiedSupplyChainTradeDelivery/ram:BilledQuantity",
    ),
    tax=(
        "ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax",
        "ram:SpecifiedSupplyChainTradeSettlement/ram:ApplicableTradeTax",
    ),
    number=("ram:AssociatedDocumentLineDocument/ram:LineID",),
    name=("ram:SpecifiedTradeProduct/ram:Name",),
    description=("ram:SpecifiedTradeProduct/ram:Description",),
    unit_price=(
        "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount",
        "ram:SpecifiedSupplyChainTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount",
    ),
    net_amount=(
        "ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeSettlementLineMonetarySummation"
        "/ram:LineTotalAmount",
        "ram:SpecifiedSupplyChainTradeSettlement/ram:SpecifiedTradeSettlementMonetarySummation"
        "/ram:LineTotalAmount",
    ),
    rate=_RATE,
    category=("ram:CategoryCode",),
)
# (element in the header summation, label), in reading order
_TOTALS = (
    ("LineTotalAmount", "Sum of lines"),
    ("AllowanceTotalAmount", "Allowances"),
    ("ChargeTotalAmount", "Charges"),
    ("TaxBasisTotalAmount", "Total without VAT"),
    ("TaxTotalAmount", "VAT"),
    ("GrandTotalAmount", "Total with VAT"),
    ("TotalPrepaidAmount", "Paid in advance"),
    ("RoundingAmount", "Rounding"),
    ("DuePayableAmount", "Amount due"),
)


def read(root: etree._Element, summary: EInvoice, max_lines: int) -> InvoiceView | None:
    """The view of a CII family invoice, else None."""
    found = cii._classify(root)
    if found is None:
        return None
    layout = found[0]
    ns = {
        "rsm": namespace(root),
        "ram": cii._namespace_in_use(root, cii._RAM) or cii._RAM + "100",
        "udt": cii._namespace_in_use(root, cii._UDT) or cii._UDT + "100",
    }
    header = root.find(layout.header, ns)
    transaction = root.find(layout.transaction, ns)
    agreement = _child(transaction, layout.agreement, ns)
    settlement = _child(transaction, layout.settlement, ns)
    summation = _child(settlement, layout.summation, ns)
    currency = summary.currency
    lines, more = _lines(transaction, ns, max_lines)
    return InvoiceView(
        summary=summary,
        currency=currency,
        seller=_party(_child(agreement, "ram:SellerTradeParty", ns), ns),
        buyer=_party(_child(agreement, "ram:BuyerTradeParty", ns), ns),
        lines=lines,
        more_lines=more,
        taxes=_taxes(settlement, ns),
        totals=_totals(summation, currency, ns),
        accounts=_accounts(settlement, ns),
        payment_reference=text(settlement, ("ram:PaymentReference",), ns),
        payment_terms=texts(settlement, "ram:SpecifiedTradePaymentTerms/ram:Description", ns),
        notes=texts(header, "ram:IncludedNote/ram:Content", ns),
    )


def _child(node: etree._Element | None, path: str, ns: Namespaces) -> etree._Element | None:
    return None if node is None else node.find(path, ns)


def _party(node: etree._Element | None, ns: Namespaces) -> Party:
    if node is None:
        return Party()
    vat_id = None
    others: list[str] = []
    for element in node.iterfind("ram:SpecifiedTaxRegistration/ram:ID", ns):
        value = text(element, (".",), ns)
        if not value:
            continue
        if (element.get("schemeID") or "").strip().upper() == "VA" and vat_id is None:
            vat_id = value
        else:
            others.append(value)
    legal = text(node, ("ram:SpecifiedLegalOrganization/ram:ID",), ns)
    if legal:
        others.append(legal)
    place = node.find("ram:PostalTradeAddress", ns)
    return Party(
        name=text(node, ("ram:Name",), ns),
        vat_id=vat_id,
        tax_ids=tuple(others[:MAX_PARTS]),
        address=address(
            text(place, ("ram:LineOne",), ns),
            text(place, ("ram:LineTwo",), ns),
            text(place, ("ram:LineThree",), ns),
            town(text(place, ("ram:PostcodeCode",), ns), text(place, ("ram:CityName",), ns)),
            text(place, ("ram:CountrySubDivisionName",), ns),
            text(place, ("ram:CountryID",), ns),
        ),
        email=text(
            node,
            (
                "ram:URIUniversalCommunication/ram:URIID",
                "ram:DefinedTradeContact/ram:EmailURIUniversalCommunication/ram:URIID",
            ),
            ns,
        ),
    )


def _lines(
    transaction: etree._Element | None, ns: Namespaces, max_lines: int
) -> tuple[tuple[Line, ...], int]:
    if transaction is None:
        return (), 0
    items = transaction.iterfind("ram:IncludedSupplyChainTradeLineItem", ns)
    return read_lines(items, _LINE, ns, max_lines)


def _taxes(settlement: etree._Element | None, ns: Namespaces) -> tuple[TaxRow, ...]:
    if settlement is None:
        return ()
    rows = [
        TaxRow(
            category=text(tax, ("ram:CategoryCode",), ns),
            rate=text(tax, _RATE, ns),
            basis=text(tax, ("ram:BasisAmount",), ns),
            amount=text(tax, ("ram:CalculatedAmount",), ns),
            reason=text(tax, ("ram:ExemptionReason",), ns),
        )
        for tax in settlement.iterfind("ram:ApplicableTradeTax", ns)
    ]
    return tuple(rows[:MAX_PARTS])


def _totals(
    summation: etree._Element | None, currency: str | None, ns: Namespaces
) -> tuple[tuple[str, str], ...]:
    if summation is None:
        return ()
    out: list[tuple[str, str]] = []
    for name, label in _TOTALS:
        value = amount_in(summation, name, currency, ns)
        if value:
            out.append((label, value))
    return tuple(out)


def _accounts(settlement: etree._Element | None, ns: Namespaces) -> tuple[Account, ...]:
    if settlement is None:
        return ()
    found = settlement.iterfind("ram:SpecifiedTradeSettlementPaymentMeans", ns)
    return tuple(_account(means, ns) for means in islice(found, MAX_PARTS))


def _account(means: etree._Element, ns: Namespaces) -> Account:
    account = means.find("ram:PayeePartyCreditorFinancialAccount", ns)
    return Account(
        means=payment_means(
            text(means, ("ram:TypeCode",), ns), text(means, ("ram:Information",), ns)
        ),
        iban=compact(text(account, ("ram:IBANID", "ram:ProprietaryID"), ns)),
        bic=text(means, ("ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID",), ns),
        name=text(account, ("ram:AccountName",), ns),
    )
