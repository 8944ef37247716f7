"""The booking core of a KSeF FA(2)/FA(3) invoice (``Fa``): lines (``FaWiersz``), the VAT
breakdown from the ``P_13_x``/``P_14_x`` pairs, totals, payment (``Platnosc``), references.

KSeF rates and procedures map to EN 16931 VAT categories: a percentage is S (0 is Z), "0 KR" Z,
"0 WDT" K, "0 EX" G, "zw" E, "oo" and "np II" AE, "np"/"np I" O. ``P_14_xW`` (VAT in PLN on a
foreign-currency invoice) is not read: ``tax_total`` is in the invoice currency. A 26-digit
Polish account number (NRB) is also given as an IBAN ("PL" + NRB) when its check digits say so.
"""

from __future__ import annotations

import re
from decimal import Decimal
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
from .checks_base import amount, decimal_text
from .values import Namespaces, clean, compact, first_text, iso_date

# (net field, VAT field, category, rates the lines may give, default rate, exemption text, code)
_BREAKDOWN: tuple[
    tuple[str, str | None, str, tuple[str, ...], str | None, str | None, str | None], ...
] = (
    ("P_13_1", "P_14_1", "S", ("23", "22"), "23", None, None),
    ("P_13_2", "P_14_2", "S", ("8", "7"), "8", None, None),
    ("P_13_3", "P_14_3", "S", ("5",), "5", None, None),
    ("P_13_4", "P_14_4", "S", ("4", "3"), "4", None, None),
    ("P_13_5", "P_14_5", "S", (), None, "Special procedure (OSS)", None),
    ("P_13_6_1", None, "Z", (), "0", None, None),
    ("P_13_6_2", None, "K", (), "0", "Intra-community supply", "VATEX-EU-IC"),
    ("P_13_6_3", None, "G", (), "0", "Export outside the EU", "VATEX-EU-G"),
    ("P_13_7", None, "E", (), "0", "Exempt", None),
    ("P_13_8", None, "O", (), None, "Not taxable in Poland", "VATEX-EU-O"),
    ("P_13_9", None, "AE", (), "0", "Not taxable in Poland (art. 100)", "VATEX-EU-AE"),
    ("P_13_10", None, "AE", (), "0", "Reverse charge", "VATEX-EU-AE"),
    ("P_13_11", None, "E", (), "0", "Margin scheme", None),
)
_TAXED = ("P_14_1", "P_14_2", "P_14_3", "P_14_4", "P_14_5")
# P_12 words → (EN 16931 category, rate)
_RATE_WORDS = {
    "0 kr": ("Z", "0"),
    "0 wdt": ("K", "0"),
    "0 ex": ("G", "0"),
    "zw": ("E", "0"),
    "oo": ("AE", "0"),
    "np": ("O", None),
    "np i": ("O", None),
    "np ii": ("AE", "0"),
}
# FormaPlatnosci → (UNTDID 4461 code, text)
_MEANS = {
    "1": ("10", "Cash"),
    "2": ("48", "Card"),
    "3": ("ZZZ", "Voucher"),
    "4": ("20", "Cheque"),
    "5": ("ZZZ", "Credit"),
    "6": ("30", "Bank transfer"),
    "7": ("68", "Mobile payment"),
}
# Adnotacje/PMarzy flags → (VATEX code, text)
_MARGIN = (
    ("P_PMarzy_2", "VATEX-EU-D", "Margin scheme: travel agents"),
    ("P_PMarzy_3_1", "VATEX-EU-F", "Margin scheme: second-hand goods"),
    ("P_PMarzy_3_2", "VATEX-EU-I", "Margin scheme: works of art"),
    ("P_PMarzy_3_3", "VATEX-EU-J", "Margin scheme: collector's items and antiques"),
)
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
_NRB = re.compile(r"^\d{26}$")


def booking(root: etree._Element, body: etree._Element, ns: Namespaces) -> dict[str, Any]:
    """The ``EInvoice`` booking fields of the ``Fa`` element ``body`` (as keyword arguments)."""
    rows = body.iterfind("k:FaWiersz", ns)
    lines: list[InvoiceLine] = []
    omitted = 0
    for row in rows:
        if len(lines) < MAX_BOOKING_LINES:
            lines.append(_line(row, ns))
        else:
            omitted += 1
    breakdown = _breakdown(body, ns, lines)
    nets = [first_text(body, (f"k:{net}",), ns) for net, *_ in _BREAKDOWN]
    taxes = [first_text(body, (f"k:{vat}",), ns) for vat in _TAXED]
    total = first_text(body, ("k:P_15",), ns)
    payment_node = body.find("k:Platnosc", ns)
    prepaid, due = _prepaid_and_due(body, payment_node, total, ns)
    return {
        "lines": tuple(lines),
        "lines_omitted": omitted,
        "vat_breakdown": breakdown,
        "tax_basis_total": _sum(nets),
        "tax_total": _sum(taxes),
        "prepaid_amount": prepaid,
        "amount_due": due,
        "payment": _payment(body, payment_node, ns),
        "order_reference": first_text(
            body, ("k:WarunkiTransakcji/k:Zamowienia/k:NrZamowienia",), ns
        ),
        "contract_reference": first_text(body, ("k:WarunkiTransakcji/k:Umowy/k:NrUmowy",), ns),
        "buyer_reference": first_text(root, ("k:Podmiot2/k:NrKlienta",), ns),
        "preceding_invoices": _preceding(body, ns),
    }


def vat_category(p_12: str | None) -> tuple[str | None, str | None]:
    """A ``P_12`` rate as written ("23", "0 WDT", "zw") → (EN 16931 category, rate)."""
    word = " ".join((p_12 or "").split()).lower()
    if not word:
        return None, None
    if word in _RATE_WORDS:
        return _RATE_WORDS[word]
    number = _decimal(word)
    if number is None or number < 0:
        return None, None
    return ("Z" if number == 0 else "S"), word


def _line(row: etree._Element, ns: Namespaces) -> InvoiceLine:
    prefix = "{" + ns["k"] + "}"
    field: dict[str, str] = {}  # FaWiersz's children by local name, the first non-blank text
    for child in row.iterchildren(tag=etree.Element):
        tag = str(child.tag)
        local = tag[len(prefix) :]
        if tag.startswith(prefix) and local not in field and (value := clean(child)):
            field[local] = value
    category, rate = vat_category(field.get("P_12"))
    if category is None and (oss := field.get("P_12_XII")):
        category, rate = "S", decimal_text(oss)
    seller_id, gtin = field.get("Indeks"), field.get("GTIN")
    discount = decimal_text(field.get("P_10"))
    name = field.get("P_7")
    return InvoiceLine(
        id=field.get("NrWierszaFa"),
        name=" ".join(name.split()) if name else None,
        quantity=decimal_text(field.get("P_8B")),
        unit=field.get("P_8A"),
        unit_price=decimal_text(field.get("P_9A")),
        gross_price=decimal_text(field.get("P_9B")),
        net_amount=decimal_text(field.get("P_11") or field.get("P_11A")),
        vat_category=category,
        vat_rate=rate,
        item_id=(
            ItemIds(seller=seller_id, standard=gtin, standard_scheme="0160" if gtin else None)
            if seller_id or gtin
            else None
        ),
        allowances=(AllowanceCharge(amount=discount, reason="Discount"),) if discount else (),
    )


def _breakdown(
    body: etree._Element, ns: Namespaces, lines: list[InvoiceLine]
) -> tuple[VatBreakdown, ...]:
    rows: list[VatBreakdown] = []
    line_rates = {line.vat_rate for line in lines if line.vat_category == "S"}
    for net_field, vat_field, category, rates, default, reason, code in _BREAKDOWN:
        basis = decimal_text(first_text(body, (f"k:{net_field}",), ns))
        tax = decimal_text(first_text(body, (f"k:{vat_field}",), ns)) if vat_field else None
        if basis is None and tax is None:
            continue
        rate = next((r for r in rates if r in line_rates), default)
        if net_field == "P_13_7":
            reason = first_text(body, _EXEMPTION, ns) or reason
        elif net_field == "P_13_11":
            reason, code = _margin(body, ns)
        rows.append(
            VatBreakdown(
                category=category,
                rate=rate,
                basis=basis,
                tax=tax if vat_field else "0",
                exemption_reason=reason,
                exemption_reason_code=code,
            )
        )
    return tuple(rows)


_EXEMPTION = tuple(f"k:Adnotacje/k:Zwolnienie/k:P_19{x}" for x in "ABC")


def _margin(body: etree._Element, ns: Namespaces) -> tuple[str, str | None]:
    for flag, code, text in _MARGIN:
        if first_text(body, (f"k:Adnotacje/k:PMarzy/k:{flag}",), ns) == "1":
            return text, code
    return "Margin scheme", None


def _prepaid_and_due(
    body: etree._Element, payment: etree._Element | None, total: str | None, ns: Namespaces
) -> tuple[str | None, str | None]:
    """(paid already, amount due). The amount due is what the invoice asks: ``Rozliczenie/
    DoZaplaty`` when it settles charges and deductions, else ``P_15`` (as the header fact has
    always been read, paid or not). Paid already: all of it when ``Zaplacono`` is 1, the sum of
    the ``ZaplataCzesciowa`` amounts when ``ZnacznikZaplatyCzesciowej`` is set."""
    due = first_text(body, ("k:Rozliczenie/k:DoZaplaty",), ns) or total
    if payment is None or due is None:
        return None, due
    if first_text(payment, ("k:Zaplacono",), ns) == "1":
        return decimal_text(due), due
    if first_text(payment, ("k:ZnacznikZaplatyCzesciowej",), ns) in ("1", "2"):
        parts = [
            first_text(part, ("k:KwotaZaplatyCzesciowej",), ns)
            for part in payment.iterfind("k:ZaplataCzesciowa", ns)
        ]
        return _sum(parts), due
    return None, due


def _payment(body: etree._Element, node: etree._Element | None, ns: Namespaces) -> Payment | None:
    if node is None:
        return None
    form = first_text(node, ("k:FormaPlatnosci",), ns)
    code, text = _MEANS.get(form or "", (None, None))
    if form is None and first_text(node, ("k:PlatnoscInna",), ns) == "1":
        code, text = "ZZZ", first_text(node, ("k:OpisPlatnosci",), ns)
    accounts = tuple(
        _account(account, ns)
        for path in ("k:RachunekBankowy", "k:RachunekBankowyFaktora")
        for account in node.iterfind(path, ns)
    )
    return Payment(
        means_code=code,
        means_text=text,
        terms=_terms(node, ns),
        due_date=_due(node, ns),
        reference=first_text(node, ("k:IPKSeF",), ns),
        iban=accounts[0].iban if accounts else None,
        bic=accounts[0].bic if accounts else None,
        accounts=accounts,
    )


def _due(node: etree._Element, ns: Namespaces) -> str | None:
    for path in ("k:TerminPlatnosci/k:Termin", "k:TerminPlatnosci"):
        for element in node.iterfind(path, ns):
            if (day := iso_date("".join(element.itertext()).strip())) is not None:
                return day
    return None


def _terms(node: etree._Element, ns: Namespaces) -> str | None:
    """``TerminOpis``: FA(2) a text, FA(3) a count, a unit and the starting event."""
    found: list[str] = []
    for element in node.iterfind("k:TerminPlatnosci/k:TerminOpis", ns):
        parts = [" ".join(t.split()) for t in element.itertext() if t.strip()]
        if parts:
            found.append(" ".join(parts))
    return "; ".join(found) or None


def _account(node: etree._Element, ns: Namespaces) -> PaymentAccount:
    number = compact(first_text(node, ("k:NrRB",), ns))
    iban = None
    if number and _IBAN.match(number.upper()) and _mod97(number.upper()):
        iban, number = number.upper(), None
    elif number and _NRB.match(number) and _mod97("PL" + number):
        iban = "PL" + number
    return PaymentAccount(
        iban=iban,
        account_number=number,
        bic=first_text(node, ("k:SWIFT",), ns),
        bank=first_text(node, ("k:NazwaBanku",), ns),
    )


def _mod97(iban: str) -> bool:
    """ISO 13616's check: the IBAN with its first four characters moved last, letters as
    numbers (A = 10), is 1 modulo 97."""
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _preceding(body: etree._Element, ns: Namespaces) -> tuple[PrecedingInvoice, ...]:
    """The corrected invoices (``DaneFaKorygowanej``), and the advance invoices a final
    invoice settles (``FakturaZaliczkowa``)."""
    found = [
        PrecedingInvoice(
            number=first_text(item, ("k:NrFaKorygowanej",), ns),
            issue_date=iso_date(first_text(item, ("k:DataWystFaKorygowanej",), ns)),
        )
        for item in body.iterfind("k:DaneFaKorygowanej", ns)
    ]
    found += [
        PrecedingInvoice(number=number)
        for item in body.iterfind("k:FakturaZaliczkowa", ns)
        if (number := first_text(item, ("k:NrFaZaliczkowej", "k:NrKSeFFaZaliczkowej"), ns))
    ]
    return tuple(p for p in found if p.number or p.issue_date)


def _decimal(value: str | None) -> Decimal | None:
    return amount(value)


def _sum(values: list[str | None]) -> str | None:
    """The sum of the amounts given, None when there are none or one is not a number."""
    numbers = [_decimal(v) for v in values if v is not None]
    if not numbers or any(n is None for n in numbers):
        return None
    return format(sum(n for n in numbers if n is not None), "f")
