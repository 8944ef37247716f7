"""The readable view of a UN/CEFACT CII invoice (EN 16931, Factur-X/ZUGFeRD 2, XRechnung CII)
and of a ZUGFeRD 1.0 CrossIndustryDocument: the parties and notes read here; lines, VAT
breakdown, totals and payment from the summary's booking fields (``view_booking``).

The layouts and namespace versions are the summary reader's (``cii``); where ZUGFeRD 1 names an
element differently, both paths are tried.
"""

from __future__ import annotations

from lxml import etree

from . import cii
from .model import EInvoice
from .values import Namespaces, namespace
from .view_booking import invoice_view
from .view_model import MAX_PARTS, InvoiceView, Party, address, text, texts, town


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
    return invoice_view(
        summary,
        max_lines,
        seller=_party(_child(agreement, "ram:SellerTradeParty", ns), ns),
        buyer=_party(_child(agreement, "ram:BuyerTradeParty", ns), ns),
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
