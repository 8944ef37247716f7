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
from .booking_parts import ChargeTags, allowances_charges
from .values import Namespaces, children, clean, compact, iso_date, joined


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
    allowances, charges = allowances_charges(settlement, reader.charge_tags, document=True)
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
        ram = "{" + ns["ram"] + "}"
        self.ram = ram
        self.line_tag = ram + "IncludedSupplyChainTradeLineItem"
        self.charge_tags = ChargeTags(
            element=ram + "SpecifiedTradeAllowanceCharge",
            indicator=ram + "ChargeIndicator",
            amount=ram + "ActualAmount",
            base_amount=ram + "BasisAmount",
            percent=ram + "CalculationPercent",
            reason=ram + "Reason",
            reason_code=ram + "ReasonCode",
            tax=ram + "CategoryTradeTax",
            category=ram + "CategoryCode",
            rate=ram + names.rate.removeprefix("ram:"),
        )
        self.line_parts = tuple(
            ram + part.removeprefix("ram:")
            for part in (
                names.line_agreement,
                names.line_delivery,
                names.line_settlement,
                names.line_summation,
                names.rate,
            )
        )

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
        for item in transaction.iterchildren(self.line_tag):
            if self.is_sub_line(item):
                continue
            if len(kept) < MAX_BOOKING_LINES:
                kept.append(self.line(item))
            else:
                omitted += 1
        return tuple(kept), omitted

    def is_sub_line(self, item: etree._Element) -> bool:
        """An EXTENDED sub-invoice line (ParentLineID, or LineStatusReasonCode DETAIL or
        INFORMATION): its amount is in its GROUP line's, so it is no EN 16931 line (BG-25)."""
        document = children(item).get(self.ram + "AssociatedDocumentLineDocument")
        found = children(document)
        status = (clean(found.get(self.ram + "LineStatusReasonCode")) or "").upper()
        return found.get(self.ram + "ParentLineID") is not None or status in (
            "DETAIL",
            "INFORMATION",
        )

    def line(self, item: etree._Element) -> InvoiceLine:
        """One line item, each element's children indexed once (``children``), not found by path."""
        ram = self.ram
        agreement_tag, delivery_tag, settlement_tag, summation_tag, rate_tag = self.line_parts
        kids = children(item)
        agreement = children(kids.get(agreement_tag))
        settlement_element = kids.get(settlement_tag)
        settlement = children(settlement_element)
        quantity = children(kids.get(delivery_tag)).get(ram + "BilledQuantity")
        product = children(kids.get(ram + "SpecifiedTradeProduct"))
        net = children(agreement.get(ram + "NetPriceProductTradePrice"))
        gross = children(agreement.get(ram + "GrossPriceProductTradePrice"))
        tax = children(settlement.get(ram + "ApplicableTradeTax"))
        allowances, charges = allowances_charges(
            settlement_element, self.charge_tags, document=False
        )
        return InvoiceLine(
            id=clean(
                children(kids.get(ram + "AssociatedDocumentLineDocument")).get(ram + "LineID")
            ),
            name=clean(product.get(ram + "Name")),
            description=clean(product.get(ram + "Description")),
            quantity=clean(quantity),
            unit=_attribute(quantity, "unitCode"),
            unit_price=clean(net.get(ram + "ChargeAmount")),
            price_base_quantity=clean(net.get(ram + "BasisQuantity")),
            gross_price=clean(gross.get(ram + "ChargeAmount")),
            net_amount=clean(children(settlement.get(summation_tag)).get(ram + "LineTotalAmount")),
            vat_category=clean(tax.get(ram + "CategoryCode")),
            vat_rate=clean(tax.get(rate_tag)),
            order_line_reference=clean(
                children(agreement.get(ram + "BuyerOrderReferencedDocument")).get(ram + "LineID")
            ),
            item_id=self.item_ids(product),
            allowances=allowances,
            charges=charges,
        )

    def item_ids(self, product: dict[str, etree._Element]) -> ItemIds | None:
        if not product:
            return None
        ram = self.ram
        standard = product.get(ram + "GlobalID")
        ids = ItemIds(
            seller=clean(product.get(ram + "SellerAssignedID")),
            buyer=clean(product.get(ram + "BuyerAssignedID")),
            standard=clean(standard),
            standard_scheme=_attribute(standard, "schemeID"),
        )
        return ids if ids != ItemIds() else None

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
