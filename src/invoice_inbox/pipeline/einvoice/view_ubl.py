"""The readable view of a UBL 2.x invoice or credit note (EN 16931, XRechnung UBL, Peppol BIS
Billing 3.0, Peppol PINT): parties, lines, VAT breakdown, totals, payment."""

from __future__ import annotations

from itertools import chain, islice

from lxml import etree

from . import ubl
from .booking_ubl import NS as UBL_NS
from .model import EInvoice
from .values import Namespaces, compact, first, local_name, namespace
from .view_model import (
    MAX_PARTS,
    Account,
    InvoiceView,
    Line,
    LinePaths,
    Party,
    TaxRow,
    address,
    attribute,
    payment_means,
    read_lines,
    text,
    texts,
    town,
)

NS: Namespaces = UBL_NS
_LINES = ("cac:InvoiceLine", "cac:CreditNoteLine", "cac:DebitNoteLine")
_LINE = LinePaths(
    quantity=("cbc:InvoicedQuantity", "cbc:CreditedQuantity", "cbc:DebitedQuantity"),
    tax=("cac:Item/cac:ClassifiedTaxCategory", "cac:TaxCategory"),
    number=("cbc:ID",),
    name=("cac:Item/cbc:Name",),
    description=("cac:Item/cbc:Description",),
    unit_price=("cac:Price/cbc:PriceAmount",),
    net_amount=("cbc:LineExtensionAmount",),
    rate=("cbc:Percent",),
    category=("cbc:ID",),
)
_TOTALS = (
    ("LineExtensionAmount", "Sum of lines"),
    ("AllowanceTotalAmount", "Allowances"),
    ("ChargeTotalAmount", "Charges"),
    ("TaxExclusiveAmount", "Total without VAT"),
    ("TaxInclusiveAmount", "Total with VAT"),
    ("PrepaidAmount", "Paid in advance"),
    ("PayableRoundingAmount", "Rounding"),
    ("PayableAmount", "Amount due"),
)
_MONETARY = ("cac:LegalMonetaryTotal", "cac:RequestedMonetaryTotal")


def read(root: etree._Element, summary: EInvoice, max_lines: int) -> InvoiceView | None:
    """The view of a UBL document, else None."""
    name = local_name(root)
    if namespace(root) != f"{ubl._UBL}{name}-2":
        return None
    currency = summary.currency
    lines, more = _lines(root, max_lines)
    return InvoiceView(
        summary=summary,
        currency=currency,
        seller=_party(first(root, ubl._SELLER, NS)),
        buyer=_party(first(root, ubl._BUYER, NS)),
        lines=lines,
        more_lines=more,
        taxes=_taxes(root, currency),
        totals=_totals(root, currency),
        accounts=_accounts(root),
        payment_reference=text(root, ("cac:PaymentMeans/cbc:PaymentID",), NS),
        payment_terms=texts(root, "cac:PaymentTerms/cbc:Note", NS),
        notes=texts(root, "cbc:Note", NS),
    )


def _party(party: etree._Element | None) -> Party:
    if party is None:
        return Party()
    vat_id = ubl._vat_id(party)
    others = [
        value
        for value in (
            text(scheme, ("cbc:CompanyID",), NS)
            for scheme in party.iterfind("cac:PartyTaxScheme", NS)
        )
        if value and value != vat_id
    ]
    legal = text(party, ("cac:PartyLegalEntity/cbc:CompanyID",), NS)
    if legal and legal not in others and legal != vat_id:
        others.append(legal)
    place = party.find("cac:PostalAddress", NS)
    return Party(
        name=text(party, ubl._PARTY_NAME, NS),
        vat_id=vat_id,
        tax_ids=tuple(others[:MAX_PARTS]),
        address=address(
            text(place, ("cbc:StreetName",), NS),
            text(place, ("cbc:AdditionalStreetName",), NS),
            *texts(place, "cac:AddressLine/cbc:Line", NS)[:3],
            town(text(place, ("cbc:PostalZone",), NS), text(place, ("cbc:CityName",), NS)),
            text(place, ("cbc:CountrySubentity",), NS),
            text(place, ("cac:Country/cbc:IdentificationCode",), NS),
        ),
        email=text(party, ("cac:Contact/cbc:ElectronicMail",), NS),
    )


def _lines(root: etree._Element, max_lines: int) -> tuple[tuple[Line, ...], int]:
    items = chain.from_iterable(root.iterfind(path, NS) for path in _LINES)
    return read_lines(items, _LINE, NS, max_lines)


def _in_currency(elements: list[etree._Element], currency: str | None) -> etree._Element | None:
    """The one in the document currency (a tax total may repeat in the tax currency)."""
    for element in elements:
        unit = (element.get("currencyID") or "").strip()
        if not unit or unit == currency:
            return element
    return elements[0] if elements else None


def _taxes(root: etree._Element, currency: str | None) -> tuple[TaxRow, ...]:
    rows: list[TaxRow] = []
    for total in root.iterfind("cac:TaxTotal", NS):
        amount = total.find("cbc:TaxAmount", NS)
        if amount is not None and (amount.get("currencyID") or currency) != currency:
            continue  # the same taxes in the tax currency
        for sub in total.iterfind("cac:TaxSubtotal", NS):
            category = sub.find("cac:TaxCategory", NS)
            rows.append(
                TaxRow(
                    category=text(category, ("cbc:ID",), NS),
                    rate=text(category, ("cbc:Percent",), NS) or text(sub, ("cbc:Percent",), NS),
                    basis=text(sub, ("cbc:TaxableAmount",), NS),
                    amount=text(sub, ("cbc:TaxAmount",), NS),
                    reason=text(category, ("cbc:TaxExemptionReason",), NS),
                )
            )
            if len(rows) == MAX_PARTS:
                return tuple(rows)
    return tuple(rows)


def _totals(root: etree._Element, currency: str | None) -> tuple[tuple[str, str], ...]:
    monetary = first(root, _MONETARY, NS)
    out: list[tuple[str, str]] = []
    vat = _in_currency(root.findall("cac:TaxTotal/cbc:TaxAmount", NS), currency)
    for name, label in _TOTALS:
        value = text(monetary, (f"cbc:{name}",), NS)
        if name == "TaxInclusiveAmount" and vat is not None and (vat_text := text(vat, (".",), NS)):
            out.append(("VAT", vat_text))
        if value:
            out.append((label, value))
    return tuple(out)


def _accounts(root: etree._Element) -> tuple[Account, ...]:
    found = root.iterfind("cac:PaymentMeans", NS)
    return tuple(_account(means) for means in islice(found, MAX_PARTS))


def _account(means: etree._Element) -> Account:
    account = means.find("cac:PayeeFinancialAccount", NS)
    code = means.find("cbc:PaymentMeansCode", NS)
    return Account(
        means=payment_means(text(code, (".",), NS), attribute(code, "name")),
        iban=compact(text(account, ("cbc:ID",), NS)),
        bic=text(account, ("cac:FinancialInstitutionBranch/cbc:ID",), NS),
        name=text(account, ("cbc:Name",), NS),
    )
