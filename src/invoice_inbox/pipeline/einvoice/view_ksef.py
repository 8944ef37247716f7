"""The readable view of a Polish KSeF invoice, FA(2) and FA(3): parties (``Podmiot1`` seller,
``Podmiot2`` buyer) and notes read here; lines, the VAT breakdown, totals and payment come from
the booking fields ``booking_ksef`` filled (``view_booking``). FA_RR farmer invoices get the
summary only.
"""

from __future__ import annotations

from lxml import etree

from .model import EInvoice
from .values import Namespaces, local_name, namespace
from .view_booking import invoice_view
from .view_model import (
    MAX_PARTS,
    InvoiceView,
    Party,
    address,
    cut,
    text,
    texts,
)


def read(root: etree._Element, summary: EInvoice, max_lines: int) -> InvoiceView | None:
    """The view of a KSeF ``Faktura`` (FA), else None."""
    uri = namespace(root)
    if local_name(root) != "Faktura" or not uri.startswith("http://crd.gov.pl/wzor/"):
        return None
    ns = {"k": uri}
    body = root.find("k:Fa", ns)
    if body is None:  # FA_RR and unknown forms: the summary is what we can read
        return InvoiceView(summary=summary, currency=summary.currency)
    payment = body.find("k:Platnosc", ns)
    terms = [cut(summary.payment.terms)] if summary.payment and summary.payment.terms else []
    if text(payment, ("k:Zaplacono",), ns) == "1":
        terms.append("Paid" + _on(text(payment, ("k:DataZaplaty",), ns)))
    return invoice_view(
        summary,
        max_lines,
        seller=_party(root.find("k:Podmiot1", ns), ns),
        buyer=_party(root.find("k:Podmiot2", ns), ns),
        payment_terms=tuple(t for t in terms if t),
        notes=_notes(root, body, ns),
    )


def _on(day: str | None) -> str:
    return f" on {day}" if day else ""


def _party(node: etree._Element | None, ns: Namespaces) -> Party:
    if node is None:
        return Party()
    ids = node.find("k:DaneIdentyfikacyjne", ns)
    prefix = text(node, ("k:PrefiksPodatnika",), ns) or ""
    nip = text(ids, ("k:NIP",), ns)
    eu_vat = text(ids, ("k:NrVatUE",), ns)
    vat_id = None
    if nip:
        vat_id = nip if nip.upper().startswith(prefix.upper()) else prefix + nip
    elif eu_vat:
        vat_id = (text(ids, ("k:KodUE",), ns) or "") + eu_vat
    others = [v for v in (text(ids, ("k:NrID",), ns),) if v]
    place = node.find("k:Adres", ns)
    return Party(
        name=text(ids, ("k:Nazwa", "k:PelnaNazwa"), ns),
        vat_id=vat_id,
        tax_ids=tuple(others),
        address=address(
            text(place, ("k:AdresL1",), ns),
            text(place, ("k:AdresL2",), ns),
            text(place, ("k:KodKraju",), ns),
        ),
        email=text(node, ("k:DaneKontaktowe/k:Email",), ns),
    )


def _notes(root: etree._Element, body: etree._Element, ns: Namespaces) -> tuple[str, ...]:
    notes = [
        f"{key}: {value}" if key else value
        for item in body.iterfind("k:DodatkowyOpis", ns)
        if (value := text(item, ("k:Wartosc",), ns))
        for key in (text(item, ("k:Klucz",), ns),)
    ]
    notes += texts(root, "k:Stopka/k:Informacje/k:StopkaFaktury", ns)
    return tuple(notes[:MAX_PARTS])
