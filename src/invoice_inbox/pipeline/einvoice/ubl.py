"""Read OASIS UBL 2.x documents: invoices and credit notes (EN 16931, XRechnung UBL, Peppol BIS
Billing 3.0, Peppol PINT) and, as non-invoices, orders, despatch advices, application responses.

A UBL root lives in ``urn:oasis:names:specification:ubl:schema:xsd:<Root>-2``; that rule alone
recognises every UBL document, and the root name decides whether it can be an invoice.
"""

from __future__ import annotations

from lxml import etree

from .booking_ubl import NS, UBL, read_booking
from .codes import guideline_profile, untdid_document_type
from .model import CREDIT_NOTE, INVOICE, OTHER, EInvoice
from .values import (
    clean,
    compact,
    first,
    first_text,
    iso_date,
    kebab,
    local_name,
    namespace,
)

_UBL = UBL

# Roots that carry a payable or a credit, with the type when the type code does not say.
_BILLING_ROOTS = {
    "Invoice": INVOICE,
    "CreditNote": CREDIT_NOTE,
    "DebitNote": INVOICE,
    "SelfBilledInvoice": INVOICE,
    "SelfBilledCreditNote": CREDIT_NOTE,
    "FreightInvoice": INVOICE,
}
_TYPE_CODES = (
    "cbc:InvoiceTypeCode",
    "cbc:CreditNoteTypeCode",
    "cbc:OrderTypeCode",
    "cbc:DespatchAdviceTypeCode",
    "cbc:ResponseCode",
)
_SELLER = (
    "cac:AccountingSupplierParty/cac:Party",
    "cac:SellerSupplierParty/cac:Party",
    "cac:DespatchSupplierParty/cac:Party",
    "cac:SenderParty",
)
_BUYER = (
    "cac:AccountingCustomerParty/cac:Party",
    "cac:BuyerCustomerParty/cac:Party",
    "cac:DeliveryCustomerParty/cac:Party",
    "cac:ReceiverParty",
)
_PARTY_NAME = ("cac:PartyLegalEntity/cbc:RegistrationName", "cac:PartyName/cbc:Name")
_TOTALS = ("cac:LegalMonetaryTotal", "cac:RequestedMonetaryTotal", "cac:AnticipatedMonetaryTotal")
_DUE_DATES = (
    "cbc:DueDate",
    "cac:PaymentMeans/cbc:PaymentDueDate",
    "cac:PaymentTerms/cbc:PaymentDueDate",
)
_IBAN = ("cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID",)
# Tax schemes whose registration is the VAT id; GST is its name in Australia, NZ, Singapore.
_VAT_SCHEMES = ("VAT", "GST")


def read(root: etree._Element) -> EInvoice | None:
    """The document's facts when ``root`` is a UBL document, else None."""
    name = local_name(root)
    if namespace(root) != f"{_UBL}{name}-2":
        return None
    customization = first_text(root, ("cbc:CustomizationID",), NS)
    type_code = first_text(root, _TYPE_CODES, NS)
    seller = first(root, _SELLER, NS)
    total = _total_field(root, "cbc:TaxInclusiveAmount")
    if name in _BILLING_ROOTS:
        document_format = _billing_format(customization, first_text(root, ("cbc:ProfileID",), NS))
        document_type = untdid_document_type(type_code, _BILLING_ROOTS[name])
    else:
        document_format, document_type = "ubl-" + kebab(name), OTHER
    currency = first_text(root, ("cbc:DocumentCurrencyCode",), NS) or _unit(total)
    due_date = _due_date(root)
    booking = read_booking(root, currency, due_date) if document_type != OTHER else {}
    return EInvoice(
        format=document_format,
        profile=guideline_profile(customization),
        document_type=document_type,
        type_code=type_code,
        number=first_text(root, ("cbc:ID",), NS),
        issue_date=iso_date(first_text(root, ("cbc:IssueDate",), NS)),
        due_date=due_date,
        seller_name=first_text(seller, _PARTY_NAME, NS),
        seller_vat_id=_vat_id(seller),
        buyer_name=first_text(first(root, _BUYER, NS), _PARTY_NAME, NS),
        total=clean(total),
        amount_due=clean(_total_field(root, "cbc:PayableAmount")),
        currency=currency,
        seller_iban=compact(first_text(root, _IBAN, NS)),
        **booking,
    )


def _billing_format(customization: str | None, profile_id: str | None) -> str:
    customization = (customization or "").lower()
    ids = f"{customization} {(profile_id or '').lower()}"
    if "xrechnung" in customization:
        return "xrechnung-ubl"
    if "urn:peppol:pint" in ids:
        return "peppol-pint"
    if "urn:fdc:peppol.eu:2017:poacc:billing" in ids:
        return "peppol-bis3"
    return "ubl"


def _total_field(root: etree._Element, field: str) -> etree._Element | None:
    return first(root, tuple(f"{total}/{field}" for total in _TOTALS), NS)


def _due_date(root: etree._Element) -> str | None:
    for path in _DUE_DATES:
        for element in root.iterfind(path, NS):
            value = iso_date(clean(element))
            if value:
                return value
    return None


def _vat_id(party: etree._Element | None) -> str | None:
    if party is None:
        return None
    schemes = party.findall("cac:PartyTaxScheme", NS)
    for wanted in _VAT_SCHEMES:
        for scheme in schemes:
            if (first_text(scheme, ("cac:TaxScheme/cbc:ID",), NS) or "").upper() == wanted:
                value = first_text(scheme, ("cbc:CompanyID",), NS)
                if value:
                    return value
    return None


def _unit(amount: etree._Element | None) -> str | None:
    unit = None if amount is None else amount.get("currencyID")
    return (unit or "").strip() or None
