"""Read Polish KSeF structured invoices: the ``Faktura`` root in a ``http://crd.gov.pl/wzor/...``
namespace, FA(2) and FA(3) (and FA_RR(1) farmer invoices, partly: see ``_read_rr``).

The form is known from the namespace for the published FA(2) and FA(3) schemas; for any other
namespace date it is read from ``Naglowek/KodFormularza`` (``kodSystemowy="FA (3)"``) or from
the form code plus ``WariantFormularza``. The booking core (lines, VAT breakdown, totals,
payment, references) is read by ``booking_ksef``.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from .booking_ksef import booking
from .codes import ksef_document_type
from .model import EInvoice
from .values import Namespaces, clean, compact, first_text, iso_date, local_name, namespace

_CRD = "http://crd.gov.pl/wzor/"
_KNOWN_FORMS = {
    "http://crd.gov.pl/wzor/2023/06/29/12648/": "FA(2)",
    "http://crd.gov.pl/wzor/2025/06/25/13775/": "FA(3)",
}
_FORM = re.compile(r"^([A-Z_]+)\((\d+)\)$")

_SELLER_NAME = (
    "k:Podmiot1/k:DaneIdentyfikacyjne/k:Nazwa",
    "k:Podmiot1/k:DaneIdentyfikacyjne/k:PelnaNazwa",
)
_BUYER_NAME = (
    "k:Podmiot2/k:DaneIdentyfikacyjne/k:Nazwa",
    "k:Podmiot2/k:DaneIdentyfikacyjne/k:PelnaNazwa",
)
_DUE_DATE = ("k:Platnosc/k:TerminPlatnosci/k:Termin", "k:Platnosc/k:TerminPlatnosci")
_ACCOUNT = ("k:Platnosc/k:RachunekBankowy/k:NrRB", "k:Platnosc/k:RachunekBankowy1/k:NrRB")


def read(root: etree._Element) -> EInvoice | None:
    """The invoice's facts when ``root`` is a KSeF ``Faktura``, else None."""
    uri = namespace(root)
    if local_name(root) != "Faktura" or not uri.startswith(_CRD):
        return None
    ns = {"k": uri}
    form = _KNOWN_FORMS.get(uri) or _declared_form(root, ns) or "FA"
    if form.startswith("FA_RR"):
        return _read_rr(root, ns, form)
    body = root.find("k:Fa", ns)
    kind = first_text(body, ("k:RodzajFaktury",), ns)
    total = first_text(body, ("k:P_15",), ns)
    fields: dict[str, Any] = {} if body is None else booking(root, body, ns)
    fields.setdefault("amount_due", total)
    return EInvoice(
        format=_format(form),
        profile=form,
        document_type=ksef_document_type(kind),
        type_code=kind,
        number=first_text(body, ("k:P_2",), ns),
        issue_date=iso_date(first_text(body, ("k:P_1",), ns)),
        due_date=_due_date(body, ns),
        seller_name=first_text(root, _SELLER_NAME, ns),
        seller_vat_id=_seller_nip(root, ns),
        buyer_name=first_text(root, _BUYER_NAME, ns),
        total=total,
        currency=first_text(body, ("k:KodWaluty",), ns),
        seller_iban=compact(first_text(body, _ACCOUNT, ns)),
        **fields,
    )


def _read_rr(root: etree._Element, ns: Namespaces, form: str) -> EInvoice:
    """FA_RR: the buyer issues the invoice for a flat-rate farmer. Which ``Podmiot`` is the
    farmer is not settled in the samples we could read, so parties are left out."""
    body = root.find("k:FakturaRR", ns)
    kind = first_text(body, ("k:RodzajFaktury",), ns)
    total = first_text(body, ("k:P_12_1",), ns)
    return EInvoice(
        format=_format(form),
        profile=form,
        document_type=ksef_document_type(kind),
        type_code=kind,
        number=first_text(body, ("k:P_4C",), ns),
        issue_date=iso_date(first_text(body, ("k:P_4B",), ns)),
        due_date=_due_date(body, ns),
        total=total,
        amount_due=total,
        currency=first_text(body, ("k:KodWaluty",), ns),
        seller_iban=compact(first_text(body, _ACCOUNT, ns)),
    )


def _declared_form(root: etree._Element, ns: Namespaces) -> str | None:
    """ "FA(3)" from ``kodSystemowy="FA (3)"``, else from ``FA`` + ``WariantFormularza`` 3."""
    code = root.find("k:Naglowek/k:KodFormularza", ns)
    if code is None:
        return None
    system = "".join((code.get("kodSystemowy") or "").split()).upper()
    if _FORM.match(system):
        return system
    form = "".join((code.text or "").split()).upper()
    variant = first_text(root, ("k:Naglowek/k:WariantFormularza",), ns)
    if form and variant and variant.isdigit():
        return f"{form}({variant})"
    return form or None


def _format(form: str) -> str:
    """ "FA(3)" → "ksef-fa3", "FA_RR(1)" → "ksef-fa-rr"."""
    match = _FORM.match(form)
    if match is None:
        return "ksef-" + form.lower().replace("_", "-")
    name, version = match.groups()
    if name == "FA":
        return f"ksef-fa{version}"
    return "ksef-" + name.lower().replace("_", "-")


def _due_date(body: etree._Element | None, ns: Namespaces) -> str | None:
    if body is None:
        return None
    for path in _DUE_DATE:
        for element in body.iterfind(path, ns):
            value = iso_date(clean(element))
            if value:
                return value
    return None


def _seller_nip(root: etree._Element, ns: Namespaces) -> str | None:
    """Podmiot1's NIP, with the ``PrefiksPodatnika`` (e.g. "PL") in front only when given."""
    nip = first_text(root, ("k:Podmiot1/k:DaneIdentyfikacyjne/k:NIP",), ns)
    if nip is None:
        return None
    prefix = first_text(root, ("k:Podmiot1/k:PrefiksPodatnika",), ns) or ""
    return nip if nip.upper().startswith(prefix.upper()) else prefix + nip
