"""Read UN/CEFACT cross-industry XML: CII invoices (EN 16931, Factur-X, ZUGFeRD 2, XRechnung CII),
ZUGFeRD 1.0 CrossIndustryDocument, and Order-X / other CII messages, which are not invoices.

The ``ram``/``udt`` namespace versions differ (``:100`` in CII D16B to D22B, ``:12``/``:15`` in
ZUGFeRD 1, ``:128`` in Order-X), so they are taken from the document; the element paths are the
two layouts below, ZUGFeRD 1 naming its header parts differently.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from .booking_cii import D16B, ZUGFERD1, Parts, amount_in, read_booking
from .codes import guideline_profile, untdid_document_type
from .model import INVOICE, OTHER, EInvoice
from .values import (
    Namespaces,
    clean,
    compact,
    first_text,
    iso_date,
    kebab,
    local_name,
    namespace,
)

_STANDARD = "urn:un:unece:uncefact:data:standard:"
_RAM = _STANDARD + "ReusableAggregateBusinessInformationEntity:"
_UDT = _STANDARD + "UnqualifiedDataType:"
_ZUGFERD1 = "urn:ferd:CrossIndustryDocument:"
_SCRDM = "urn:un:unece:uncefact:data:SCRDMCCBDA"


@dataclass(frozen=True)
class _Layout:
    context: str
    header: str
    transaction: str
    agreement: str
    settlement: str
    summation: str


_CII = _Layout(
    context="rsm:ExchangedDocumentContext",
    header="rsm:ExchangedDocument",
    transaction="rsm:SupplyChainTradeTransaction",
    agreement="ram:ApplicableHeaderTradeAgreement",
    settlement="ram:ApplicableHeaderTradeSettlement",
    summation="ram:SpecifiedTradeSettlementHeaderMonetarySummation",
)
_ZUGFERD1_LAYOUT = _Layout(
    context="rsm:SpecifiedExchangedDocumentContext",
    header="rsm:HeaderExchangedDocument",
    transaction="rsm:SpecifiedSupplyChainTradeTransaction",
    agreement="ram:ApplicableSupplyChainTradeAgreement",
    settlement="ram:ApplicableSupplyChainTradeSettlement",
    summation="ram:SpecifiedTradeSettlementMonetarySummation",
)

_GUIDELINE = ("ram:GuidelineSpecifiedDocumentContextParameter/ram:ID",)
_DATE = "udt:DateTimeString"
_IBAN = (
    "ram:SpecifiedTradeSettlementPaymentMeans/ram:PayeePartyCreditorFinancialAccount/ram:IBANID",
)
_DUE_DATES = f"ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/{_DATE}"


def read(root: etree._Element) -> EInvoice | None:
    """The document's facts when ``root`` is a CII family root, else None."""
    found = _classify(root)
    if found is None:
        return None
    layout, message_format = found
    ns = {
        "rsm": namespace(root),
        "ram": _namespace_in_use(root, _RAM) or _RAM + "100",
        "udt": _namespace_in_use(root, _UDT) or _UDT + "100",
    }
    header = root.find(layout.header, ns)
    transaction = root.find(layout.transaction, ns)
    agreement = _child(transaction, layout.agreement, ns)
    settlement = _child(transaction, layout.settlement, ns)
    summation = _child(settlement, layout.summation, ns)
    seller = _child(agreement, "ram:SellerTradeParty", ns)
    guideline = first_text(root.find(layout.context, ns), _GUIDELINE, ns)
    type_code = first_text(header, ("ram:TypeCode",), ns)
    currency = first_text(settlement, ("ram:InvoiceCurrencyCode", "ram:OrderCurrencyCode"), ns)
    total = amount_in(summation, "GrandTotalAmount", currency, ns)
    due_date = _first_date(settlement, _DUE_DATES, ns)
    booking = {}
    if message_format is None:
        document_format = _invoice_format(layout, guideline)
        document_type = untdid_document_type(type_code, INVOICE)
        names = ZUGFERD1 if layout is _ZUGFERD1_LAYOUT else D16B
        parts = Parts(ns, names, transaction, agreement, settlement, summation)
        if document_type != OTHER:
            booking = read_booking(parts, currency, due_date)
    else:
        document_format, document_type = message_format, OTHER
    return EInvoice(
        format=document_format,
        profile=guideline_profile(guideline),
        document_type=document_type,
        type_code=type_code,
        number=first_text(header, ("ram:ID",), ns),
        issue_date=_first_date(header, f"ram:IssueDateTime/{_DATE}", ns),
        due_date=due_date,
        seller_name=first_text(seller, ("ram:Name",), ns),
        seller_vat_id=_vat_id(seller, ns),
        buyer_name=first_text(agreement, ("ram:BuyerTradeParty/ram:Name",), ns),
        total=total,
        amount_due=amount_in(summation, "DuePayableAmount", currency, ns),
        currency=currency or _currency_of(summation, "GrandTotalAmount", ns),
        seller_iban=compact(first_text(settlement, _IBAN, ns)),
        **booking,
    )


def _classify(root: etree._Element) -> tuple[_Layout, str | None] | None:
    """The layout, and the format when the root is a non-invoice message; None if not CII."""
    uri, name = namespace(root), local_name(root)
    if name == "CrossIndustryInvoice" and uri.startswith(_STANDARD):
        return _CII, None
    if name == "CrossIndustryDocument" and uri.startswith(_ZUGFERD1):
        return _ZUGFERD1_LAYOUT, None
    if uri.startswith(_SCRDM):
        return _CII, _scrdm_format(name)
    if name.startswith("CrossIndustry") and uri.startswith(_STANDARD):
        return _CII, "cii-" + (kebab(name.removeprefix("CrossIndustry")) or "message")
    return None


def _scrdm_format(name: str) -> str:
    """Order-X is the CIO message structure (orders, order changes, order responses)."""
    if "CIO" in name:
        return "order-x"
    if "CIDA" in name:
        return "cii-despatch-advice"
    return "cii-message"


def _invoice_format(layout: _Layout, guideline: str | None) -> str:
    value = (guideline or "").lower()
    if "xrechnung" in value:
        return "xrechnung-cii"
    if "factur-x" in value:
        return "facturx"
    if layout is _ZUGFERD1_LAYOUT or "zugferd" in value or value.startswith("urn:ferd:"):
        return "zugferd"
    return "cii"


def _namespace_in_use(root: etree._Element, prefix: str) -> str | None:
    """The first namespace starting with ``prefix``: declared on the root, else used below it."""
    for uri in root.nsmap.values():
        if uri and uri.startswith(prefix):
            return uri
    marker = "{" + prefix
    for element in root.iter():
        tag = element.tag
        if isinstance(tag, str) and tag.startswith(marker):
            return namespace(element)
    return None


def _child(node: etree._Element | None, path: str, ns: Namespaces) -> etree._Element | None:
    return None if node is None else node.find(path, ns)


def _first_date(node: etree._Element | None, path: str, ns: Namespaces) -> str | None:
    if node is None:
        return None
    for element in node.iterfind(path, ns):
        value = iso_date(clean(element), element.get("format"))
        if value:
            return value
    return None


def _currency_of(summation: etree._Element | None, name: str, ns: Namespaces) -> str | None:
    element = _child(summation, f"ram:{name}", ns)
    unit = "" if element is None else element.get("currencyID") or ""
    return unit.strip() or None


def _vat_id(seller: etree._Element | None, ns: Namespaces) -> str | None:
    """The seller's tax registration with scheme "VA" (VAT); tax numbers ("FC") are skipped."""
    if seller is None:
        return None
    for element in seller.iterfind("ram:SpecifiedTaxRegistration/ram:ID", ns):
        if (element.get("schemeID") or "").strip().upper() == "VA" and (value := clean(element)):
            return value
    return None
