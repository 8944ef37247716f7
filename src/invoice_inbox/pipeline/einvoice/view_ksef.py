"""The readable view of a Polish KSeF invoice, FA(2) and FA(3): parties (``Podmiot1`` seller,
``Podmiot2`` buyer), lines (``FaWiersz``), the VAT breakdown from the ``P_13_x``/``P_14_x``
pairs, totals and payment (``Platnosc``). FA_RR farmer invoices get the summary only.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from lxml import etree

from .model import EInvoice
from .values import Namespaces, compact, local_name, namespace
from .view_model import (
    MAX_PARTS,
    Account,
    InvoiceView,
    Line,
    Party,
    TaxRow,
    address,
    capped,
    text,
    texts,
)

# (net field, VAT field, rate as shown) of the breakdown, in the form's order
_BREAKDOWN = (
    ("P_13_1", "P_14_1", "23 % or 22 %"),
    ("P_13_2", "P_14_2", "8 % or 7 %"),
    ("P_13_3", "P_14_3", "5 %"),
    ("P_13_4", "P_14_4", "4 % or 3 % (taxi flat rate)"),
    ("P_13_5", "P_14_5", "special procedure (OSS)"),
    ("P_13_6_1", None, "0 % (domestic)"),
    ("P_13_6_2", None, "0 % (intra-EU supply)"),
    ("P_13_6_3", None, "0 % (export)"),
    ("P_13_7", None, "exempt"),
    ("P_13_8", None, "not taxable in Poland"),
    ("P_13_9", None, "not taxable (art. 100)"),
    ("P_13_10", None, "reverse charge"),
    ("P_13_11", None, "margin scheme"),
)
# FormaPlatnosci
_MEANS = {
    "1": "Cash",
    "2": "Card",
    "3": "Voucher",
    "4": "Cheque",
    "5": "Credit",
    "6": "Bank transfer",
    "7": "Mobile payment",
}


def read(root: etree._Element, summary: EInvoice, max_lines: int) -> InvoiceView | None:
    """The view of a KSeF ``Faktura`` (FA), else None."""
    uri = namespace(root)
    if local_name(root) != "Faktura" or not uri.startswith("http://crd.gov.pl/wzor/"):
        return None
    ns = {"k": uri}
    body = root.find("k:Fa", ns)
    if body is None:  # FA_RR and unknown forms: the summary is what we can read
        return InvoiceView(summary=summary, currency=summary.currency)
    lines, more = _lines(body, ns, max_lines)
    taxes = _taxes(body, ns)
    payment = body.find("k:Platnosc", ns)
    terms = list(texts(payment, "k:TerminPlatnosci/k:TerminOpis", ns))
    if text(payment, ("k:Zaplacono",), ns) == "1":
        terms.append("Paid" + _on(text(payment, ("k:DataZaplaty",), ns)))
    return InvoiceView(
        summary=summary,
        currency=summary.currency,
        seller=_party(root.find("k:Podmiot1", ns), ns),
        buyer=_party(root.find("k:Podmiot2", ns), ns),
        lines=lines,
        more_lines=more,
        taxes=taxes,
        totals=_totals(body, taxes, ns),
        accounts=_accounts(payment, ns),
        payment_terms=tuple(terms),
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


def _lines(body: etree._Element, ns: Namespaces, max_lines: int) -> tuple[tuple[Line, ...], int]:
    rows, more = capped(body.iterfind("k:FaWiersz", ns), max_lines)
    return tuple(_line(row, ns) for row in rows), more


def _line(row: etree._Element, ns: Namespaces) -> Line:
    return Line(
        number=text(row, ("k:NrWierszaFa",), ns),
        name=text(row, ("k:P_7",), ns),
        quantity=text(row, ("k:P_8B",), ns),
        unit=text(row, ("k:P_8A",), ns),
        unit_price=text(row, ("k:P_9A", "k:P_9B"), ns),
        net_amount=text(row, ("k:P_11", "k:P_11A"), ns),
        vat_rate=text(row, ("k:P_12",), ns),
    )


def _taxes(body: etree._Element, ns: Namespaces) -> tuple[TaxRow, ...]:
    rows: list[TaxRow] = []
    for net_field, vat_field, rate in _BREAKDOWN:
        net = text(body, (f"k:{net_field}",), ns)
        vat = text(body, (f"k:{vat_field}",), ns) if vat_field else None
        if net or vat:
            rows.append(TaxRow(rate=rate, basis=net, amount=vat or ("0" if net else None)))
    return tuple(rows)


def _sum(values: list[str | None]) -> str | None:
    """The sum of the decimal strings, None when any is no number or there are none."""
    try:
        numbers = [Decimal(v) for v in values if v]
    except InvalidOperation:
        return None
    return str(sum(numbers)) if numbers else None


def _totals(
    body: etree._Element, taxes: tuple[TaxRow, ...], ns: Namespaces
) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    net = _sum([t.basis for t in taxes])
    vat = _sum([t.amount for t in taxes])
    if net:
        out.append(("Total without VAT", net))
    if vat:
        out.append(("VAT", vat))
    if total := text(body, ("k:P_15",), ns):
        out.append(("Total with VAT", total))
    if due := text(body, ("k:Rozliczenie/k:DoZaplaty",), ns):
        out.append(("Amount due", due))
    return tuple(out)


def _accounts(payment: etree._Element | None, ns: Namespaces) -> tuple[Account, ...]:
    if payment is None:
        return ()
    means = text(payment, ("k:FormaPlatnosci",), ns)
    means_word = _MEANS.get(means or "", means)
    out = [
        Account(
            means=means_word,
            iban=compact(text(account, ("k:NrRB",), ns)),
            bic=text(account, ("k:SWIFT",), ns),
            bank=text(account, ("k:NazwaBanku",), ns),
        )
        for path in ("k:RachunekBankowy", "k:RachunekBankowyFaktora")
        for account in payment.iterfind(path, ns)
    ]
    if not out and means_word:
        out.append(Account(means=means_word))
    return tuple(out[:MAX_PARTS])


def _notes(root: etree._Element, body: etree._Element, ns: Namespaces) -> tuple[str, ...]:
    notes = [
        f"{key}: {value}" if key else value
        for item in body.iterfind("k:DodatkowyOpis", ns)
        if (value := text(item, ("k:Wartosc",), ns))
        for key in (text(item, ("k:Klucz",), ns),)
    ]
    notes += texts(root, "k:Stopka/k:Informacje/k:StopkaFaktury", ns)
    return tuple(notes[:MAX_PARTS])
