"""The readable view of a UBL 2.x invoice or credit note (EN 16931, XRechnung UBL, Peppol BIS
Billing 3.0, Peppol PINT): the parties and notes read here; lines, VAT breakdown, totals and
payment from the summary's booking fields (``view_booking``)."""

from __future__ import annotations

from lxml import etree

from . import ubl
from .booking_ubl import NS as UBL_NS
from .model import EInvoice
from .values import Namespaces, first, local_name, namespace
from .view_booking import invoice_view
from .view_model import MAX_PARTS, InvoiceView, Party, address, text, texts, town

NS: Namespaces = UBL_NS


def read(root: etree._Element, summary: EInvoice, max_lines: int) -> InvoiceView | None:
    """The view of a UBL document, else None."""
    name = local_name(root)
    if namespace(root) != f"{ubl._UBL}{name}-2":
        return None
    return invoice_view(
        summary,
        max_lines,
        seller=_party(first(root, ubl._SELLER, NS)),
        buyer=_party(first(root, ubl._BUYER, NS)),
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
