"""Read the booking core of a UN/CEFACT CII invoice (CII D16B: EN 16931, Factur-X/ZUGFeRD 2.x in
every profile, XRechnung CII) or a ZUGFeRD 1.0 CrossIndustryDocument: references, lines, document
allowances and charges, VAT breakdown, totals and payment, as ``EInvoice`` fields.

The two layouts name the same parts differently (``Names``); the namespace map is the caller's,
taken from the document. MINIMUM and BASIC WL have no line items, so their ``lines`` are ().
"""

from __future__ import annotations

from dataclasses import dataclass
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
from .values import Namespaces, clean, compact, iso_date, joined


@dataclass(frozen=True)
class Names:
    """Where one layout keeps a line's parts, its tax rates and its document ids."""

    line_agreement: str
    line_delivery: str
    line_settlement: str
    line_summation: str
    rate: str
    document_id: str


D16B = Names(
    line_agreement="ram:SpecifiedLineTradeAgreement",
    line_delivery="ram:SpecifiedLineTradeDelivery",
    line_settlement="ram:SpecifiedLineTradeSettlement",
    line_summation="ram:SpecifiedTradeSettlementLineMonetarySummation",
    rate="ram:RateApplicablePercent",
    document_id="ram:IssuerAssignedID",
)
ZUGFERD1 = Names(
    line_agreement="ram:SpecifiedSupplyChainTradeAgreement",
    line_delivery="ram:SpecifiedSupplyChainTradeDelivery",
    line_settlement="ram:SpecifiedSupplyChainTradeSettlement",
    line_summation="ram:SpecifiedTradeSettlementMonetarySummation",
    rate="ram:ApplicablePercent",
    document_id="ram:ID",
)


@dataclass(frozen=True)
class Parts:
    """The header parts of one CII document (any may be missing) and its namespace map."""

    ns: Namespaces
    names: Names
    transaction: etree._Element | None
    agreement: etree._Element | None
    settlement: etree._Element | None
    summation: etree._Element | None


def read_booking(parts: Parts, currency: str | None, due_date: str | None) -> dict[str, Any]:
    """The booking fields of ``EInvoice`` a CII invoice holds."""
    reader = _Reader(parts.ns, parts.names)
    agreement, settlement, summation = parts.agreement, parts.settlement, parts.summation
    lines, omitted = reader.lines(parts.transaction)
    allowances, charges = reader.allowances_charges(settlement, document=True)
    return {
        "buyer_reference": reader.text(agreement, "ram:BuyerReference"),
        "order_reference": reader.document_id(agreement, "ram:BuyerOrderReferencedDocument"),
        "contract_reference": reader.document_id(agreement, "ram:ContractReferencedDocument"),
        "project_reference": reader.text(agreement, "ram:SpecifiedProcuringProject/ram:ID"),
        "preceding_invoices": reader.preceding(settlement),
        "lines": lines,
        "lines_omitted": omitted,
        "line_total": amount_in(summation, "LineTotalAmount", currency, parts.ns),
        "allowance_total": amount_in(summation, "AllowanceTotalAmount", currency, parts.ns),
        "charge_total": amount_in(summation, "ChargeTotalAmount", currency, parts.ns),
        "tax_basis_total": amount_in(summation, "TaxBasisTotalAmount", currency, parts.ns),
        "tax_total": amount_in(summation, "TaxTotalAmount", currency, parts.ns),
        "prepaid_amount": amount_in(summation, "TotalPrepaidAmount", currency, parts.ns),
        "rounding_amount": amount_in(summation, "RoundingAmount", currency, parts.ns),
        "allowances": allowances,
        "charges": charges + reader.logistics_charges(settlement),
        "vat_breakdown": reader.vat_breakdown(settlement),
        "payment": reader.payment(settlement, due_date),
    }


def amount_in(
    summation: etree._Element | None, name: str, currency: str | None, ns: Namespaces
) -> str | None:
    """The summation's amount ``name`` in the document currency (an amount may repeat in the tax
    currency): the one whose currencyID is ``currency`` or absent, else the first."""
    if summation is None:
        return None
    amounts = [
        (element.get("currencyID"), value)
        for element in summation.iterfind(f"ram:{name}", ns)
        if (value := clean(element))
    ]
    for unit, value in amounts:
        if unit is None or unit.strip() == currency:
            return value
    return amounts[0][1] if amounts else None


class _Reader:
    def __init__(self, ns: Namespaces, names: Names) -> None:
        self.ns = ns
        self.names = names

    def text(self, node: etree._Element | None, path: str) -> str | None:
        return None if node is None else clean(node.find(path, self.ns))

    def document_id(self, node: etree._Element | None, path: str) -> str | None:
        return self.text(node, f"{path}/{self.names.document_id}")

    def preceding(self, settlement: etree._Element | None) -> tuple[PrecedingInvoice, ...]:
        if settlement is None:
            return ()
        return tuple(
            PrecedingInvoice(
                number=self.text(reference, self.names.document_id),
                issue_date=_date(reference.find("ram:FormattedIssueDateTime/*", self.ns)),
            )
            for reference in settlement.iterfind("ram:InvoiceReferencedDocument", self.ns)
        )

    def lines(self, transaction: etree._Element | None) -> tuple[tuple[InvoiceLine, ...], int]:
        if transaction is None:
            return (), 0
        kept: list[InvoiceLine] = []
        omitted = 0
        for item in transaction.iterfind("ram:IncludedSupplyChainTradeLineItem", self.ns):
            if len(kept) < MAX_BOOKING_LINES:
                kept.append(self.line(item))
            else:
                omitted += 1
        return tuple(kept), omitted

    def line(self, item: etree._Element) -> InvoiceLine:
        names, ns = self.names, self.ns
        agreement = item.find(names.line_agreement, ns)
        settlement = item.find(names.line_settlement, ns)
        quantity = item.find(f"{names.line_delivery}/ram:BilledQuantity", ns)
        product = item.find("ram:SpecifiedTradeProduct", ns)
        net = None if agreement is None else agreement.find("ram:NetPriceProductTradePrice", ns)
        tax = None if settlement is None else settlement.find("ram:ApplicableTradeTax", ns)
        allowances, charges = self.allowances_charges(settlement, document=False)
        return InvoiceLine(
            id=self.text(item, "ram:AssociatedDocumentLineDocument/ram:LineID"),
            name=self.text(product, "ram:Name"),
            description=self.text(product, "ram:Description"),
            quantity=clean(quantity),
            unit=_attribute(quantity, "unitCode"),
            unit_price=self.text(net, "ram:ChargeAmount"),
            price_base_quantity=self.text(net, "ram:BasisQuantity"),
            gross_price=self.text(agreement, "ram:GrossPriceProductTradePrice/ram:ChargeAmount"),
            net_amount=self.text(settlement, f"{names.line_summation}/ram:LineTotalAmount"),
            vat_category=self.text(tax, "ram:CategoryCode"),
            vat_rate=self.text(tax, names.rate),
            order_line_reference=self.text(
                agreement, "ram:BuyerOrderReferencedDocument/ram:LineID"
            ),
            item_id=self.item_ids(product),
            allowances=allowances,
            charges=charges,
        )

    def item_ids(self, product: etree._Element | None) -> ItemIds | None:
        if product is None:
            return None
        standard = product.find("ram:GlobalID", self.ns)
        ids = ItemIds(
            seller=self.text(product, "ram:SellerAssignedID"),
            buyer=self.text(product, "ram:BuyerAssignedID"),
            standard=clean(standard),
            standard_scheme=_attribute(standard, "schemeID"),
        )
        return ids if ids != ItemIds() else None

    def allowances_charges(
        self, node: etree._Element | None, document: bool
    ) -> tuple[tuple[AllowanceCharge, ...], tuple[AllowanceCharge, ...]]:
        """The node's ``ram:SpecifiedTradeAllowanceCharge``, split by their charge indicator."""
        allowances: list[AllowanceCharge] = []
        charges: list[AllowanceCharge] = []
        if node is None:
            return (), ()
        for element in node.iterfind("ram:SpecifiedTradeAllowanceCharge", self.ns):
            tax = element.find("ram:CategoryTradeTax", self.ns) if document else None
            found = AllowanceCharge(
                amount=self.text(element, "ram:ActualAmount"),
                base_amount=self.text(element, "ram:BasisAmount"),
                percent=self.text(element, "ram:CalculationPercent"),
                reason=self.text(element, "ram:Reason"),
                reason_code=self.text(element, "ram:ReasonCode"),
                vat_category=self.text(tax, "ram:CategoryCode"),
                vat_rate=self.text(tax, self.names.rate),
            )
            indicator = (self.text(element, "ram:ChargeIndicator/udt:Indicator") or "").lower()
            (charges if indicator == "true" else allowances).append(found)
        return tuple(allowances), tuple(charges)

    def logistics_charges(self, settlement: etree._Element | None) -> tuple[AllowanceCharge, ...]:
        """ZUGFeRD 1 and EXTENDED state freight and similar charges as logistics service charges."""
        if settlement is None:
            return ()
        return tuple(
            AllowanceCharge(
                amount=self.text(element, "ram:AppliedAmount"),
                reason=self.text(element, "ram:Description"),
                vat_category=self.text(element, "ram:AppliedTradeTax/ram:CategoryCode"),
                vat_rate=self.text(element, f"ram:AppliedTradeTax/{self.names.rate}"),
            )
            for element in settlement.iterfind("ram:SpecifiedLogisticsServiceCharge", self.ns)
        )

    def vat_breakdown(self, settlement: etree._Element | None) -> tuple[VatBreakdown, ...]:
        if settlement is None:
            return ()
        return tuple(
            VatBreakdown(
                category=self.text(tax, "ram:CategoryCode"),
                rate=self.text(tax, self.names.rate),
                basis=self.text(tax, "ram:BasisAmount"),
                tax=self.text(tax, "ram:CalculatedAmount"),
                exemption_reason=self.text(tax, "ram:ExemptionReason"),
                exemption_reason_code=self.text(tax, "ram:ExemptionReasonCode"),
            )
            for tax in settlement.iterfind("ram:ApplicableTradeTax", self.ns)
        )

    def payment(self, settlement: etree._Element | None, due_date: str | None) -> Payment | None:
        if settlement is None:
            return None if due_date is None else Payment(due_date=due_date)
        ns = self.ns
        means = settlement.findall("ram:SpecifiedTradeSettlementPaymentMeans", ns)
        accounts = tuple(
            self.account(element)
            for element in means
            if element.find("ram:PayeePartyCreditorFinancialAccount", ns) is not None
        )
        terms = settlement.findall("ram:SpecifiedTradePaymentTerms", ns)
        payment = Payment(
            means_code=self.text(means[0], "ram:TypeCode") if means else None,
            means_text=self.text(means[0], "ram:Information") if means else None,
            terms=joined(term.find("ram:Description", ns) for term in terms),
            due_date=due_date,
            reference=self.text(settlement, "ram:PaymentReference"),
            iban=accounts[0].iban if accounts else None,
            bic=accounts[0].bic if accounts else None,
            accounts=accounts,
            mandate_reference=next(
                (v for term in terms if (v := self.text(term, "ram:DirectDebitMandateID"))), None
            ),
        )
        return None if payment == Payment() else payment

    def account(self, means: etree._Element) -> PaymentAccount:
        account = means.find("ram:PayeePartyCreditorFinancialAccount", self.ns)
        return PaymentAccount(
            iban=compact(self.text(account, "ram:IBANID")),
            account_number=self.text(account, "ram:ProprietaryID"),
            bic=self.text(means, "ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID"),
            name=self.text(account, "ram:AccountName"),
        )


def _attribute(element: etree._Element | None, name: str) -> str | None:
    value = None if element is None else element.get(name)
    return (value or "").strip() or None


def _date(element: etree._Element | None) -> str | None:
    return None if element is None else iso_date(clean(element), element.get("format"))
