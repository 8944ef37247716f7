"""Values as people read them on the pages: amounts with their currency's decimals
("1,234.50 EUR", "1,200 JPY"), document kinds and e-invoice formats as words ("E-invoice (PDF)",
"XRechnung (UBL)"), times in the viewer's time zone ("2026-11-21 15:03 CET"), and IBANs in
groups of four ("DE89 3704 0044 0532 0130 00") or short ("DE89 …3000").

Amounts are formatted with Babel (ISO 4217 minor units); a value written with more decimals than
its currency has keeps them, so nothing the invoice says is rounded away.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from invoice_inbox.i18n import formats

KIND_WORDS = {
    "pdf": "PDF",
    "einvoice_pdf": "E-invoice (PDF)",
    "einvoice_xml": "E-invoice (XML)",
    "body_pdf": "Mail text (PDF)",
    "image": "Image",
    "file": "File",
}

FORMAT_WORDS = {
    "facturx": "Factur-X",
    "zugferd": "ZUGFeRD",
    "xrechnung-ubl": "XRechnung (UBL)",
    "xrechnung-cii": "XRechnung (CII)",
    "peppol-bis3": "Peppol BIS (UBL)",
    "peppol-pint": "Peppol PINT (UBL)",
    "ubl": "UBL",
    "cii": "UN/CEFACT CII",
    "order-x": "Order-X",
}

DOCUMENT_TYPE_WORDS = {"invoice": "Invoice", "credit_note": "Credit note", "other": "Other"}

_KSEF = re.compile(r"ksef-fa(\d+)")


def kind_word(kind: str | None) -> str:
    """``einvoice_pdf`` → "E-invoice (PDF)"."""
    if not kind:
        return "–"
    return KIND_WORDS.get(kind) or kind.replace("_", " ").capitalize()


def format_word(value: str | None) -> str:
    """An e-invoice format id as its name: ``xrechnung-ubl`` → "XRechnung (UBL)",
    ``ksef-fa3`` → "KSeF FA(3)"."""
    if not value:
        return "–"
    if value in FORMAT_WORDS:
        return FORMAT_WORDS[value]
    if m := _KSEF.fullmatch(value):
        return f"KSeF FA({m.group(1)})"
    if value.startswith("ksef-"):
        return "KSeF " + value.removeprefix("ksef-").upper()
    if value.startswith("ubl-"):
        return "UBL " + value.removeprefix("ubl-").replace("-", " ").capitalize()
    return value.replace("-", " ")


def document_type_word(value: str | None) -> str:
    if not value:
        return "–"
    return DOCUMENT_TYPE_WORDS.get(value) or value.replace("_", " ").capitalize()


def iban(value: str | None) -> str:
    """An IBAN in groups of four, as printed on invoices; ``–`` for none."""
    compact = "".join((value or "").split()).upper()
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4)) or "–"


def iban_short(value: str | None) -> str:
    """An IBAN as its country, check digits and last four: ``DE89 …3000``."""
    compact = "".join((value or "").split()).upper()
    return f"{compact[:4]} …{compact[-4:]}" if len(compact) > 8 else (compact or "–")


def money(amount: str | Decimal | None, currency: str | None = None) -> str:
    """``("12.6", "EUR")`` → "12.60 EUR" (English; "12,60 €" in German): in the reader's locale,
    with the currency's decimals (JPY none, BHD three), never fewer than written; a value that is
    no number, or no currency code, is shown as written (templates escape it)."""
    return formats.amount(amount, currency)


def zone(name: str | None) -> tzinfo | None:
    """The time zone named *name* (IANA, e.g. "Europe/Berlin"); None for anything else."""
    name = (name or "").strip()
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone_names() -> list[str]:
    """Every time zone a person may choose, sorted."""
    return sorted(n for n in available_timezones() if "/" in n or n == "UTC")


def when(value: datetime | None, tz: tzinfo | None = None) -> str:
    """A time as ``2026-11-21 15:03 CET`` in *tz* (UTC when none), in the reader's locale
    ("21.11.2026 15:03 CET" in German); ``–`` for none."""
    return formats.when(value, tz)
