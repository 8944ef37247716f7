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

from invoice_inbox.i18n import N_, formats
from invoice_inbox.i18n import gettext as _

# English words marked with N_ and translated when shown (the reader's locale)
KIND_WORDS = {
    "pdf": N_("PDF"),
    "einvoice_pdf": N_("E-invoice (PDF)"),
    "einvoice_xml": N_("E-invoice (XML)"),
    "body_pdf": N_("Mail text (PDF)"),
    "image": N_("Image"),
    "file": N_("File"),
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

DOCUMENT_TYPE_WORDS = {
    "invoice": N_("Invoice"),
    "credit_note": N_("Credit note"),
    "other": N_("Other"),
}

# codes shown on the pages, as words: a German page never shows "not_imported"
VERDICT_WORDS = {
    "import": N_("imported"),
    "not_imported": N_("not imported"),
    "quarantined": N_("quarantined"),
    "duplicate": N_("duplicate"),
}
RUN_STATUS_WORDS = {
    "running": N_("running"),
    "succeeded": N_("succeeded"),
    "failed": N_("failed"),
    "partial": N_("partial"),
}
TRIGGER_WORDS = {
    "manual": N_("manual"),
    "schedule": N_("schedule"),
    "instant": N_("instant pickup"),
    "smtp": N_("SMTP delivery"),
}
QUEUE_STATUS_WORDS = {"new": N_("new"), "processed": N_("processed"), "all": N_("all")}
DELIVERY_STATE_WORDS = {  # a webhook delivery
    "pending": N_("pending"),
    "delivered": N_("delivered"),
    "failed": N_("failed"),
}
NOTIFICATION_KIND_WORDS = {
    "source_deactivated": N_("source switched off"),
    "needs_attention": N_("needs attention"),
    "bank_details_changed": N_("bank details changed"),
    "lookalike_sender": N_("look-alike sender"),
}
CHECK_WORDS = {  # the decision's checks a mail went through (pipeline.decide.CHECKS)
    "size": N_("size"),
    "allowed-sender": N_("allowed senders"),
    "rules": N_("rules"),
    "has-attachment": N_("attachment"),
    "documents": N_("documents"),
}
SENDER_MODE_WORDS = {"off": N_("Off"), "flag": N_("Flag"), "require": N_("Require")}
AUTH_STATE_WORDS = {  # a source's credentials
    "ok": N_("signed in"),
    "needs_authentication": N_("needs sign-in"),
    "needs_reauthentication": N_("needs sign-in again"),
    "login_refused": N_("login refused"),
}

_KSEF = re.compile(r"ksef-fa(\d+)")


def kind_word(kind: str | None) -> str:
    """``einvoice_pdf`` → "E-invoice (PDF)"."""
    if not kind:
        return "–"
    return _(KIND_WORDS[kind]) if kind in KIND_WORDS else kind.replace("_", " ").capitalize()


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
    if value in DOCUMENT_TYPE_WORDS:
        return _(DOCUMENT_TYPE_WORDS[value])
    return value.replace("_", " ").capitalize()


def _word(words: dict[str, str], code: str | None) -> str:
    """*code* as its translated word; an unknown code as written (spaces for underscores)."""
    if not code:
        return "–"
    return _(words[code]) if code in words else code.replace("_", " ")


def verdict_word(code: str | None) -> str:
    """A mail's decision: ``not_imported`` → "not imported" (translated)."""
    return _word(VERDICT_WORDS, code)


def run_status_word(code: str | None) -> str:
    """A run's status: ``succeeded``, ``partial`` … as words."""
    return _word(RUN_STATUS_WORDS, code)


def trigger_word(code: str | None) -> str:
    """What started a run: ``schedule``, ``manual``, ``instant``, ``smtp``."""
    return _word(TRIGGER_WORDS, code)


def queue_status_word(code: str | None) -> str:
    """A queue filter's status: ``new``, ``processed``, ``all``."""
    return _word(QUEUE_STATUS_WORDS, code)


def delivery_state_word(code: str | None) -> str:
    """A webhook delivery's state: ``pending``, ``delivered``, ``failed``."""
    return _word(DELIVERY_STATE_WORDS, code)


def notification_kind_word(code: str | None) -> str:
    """What a notification is about: ``source_deactivated`` → "source switched off"."""
    return _word(NOTIFICATION_KIND_WORDS, code)


def check_word(code: str | None) -> str:
    """A decision check a mail went through: ``allowed-sender`` → "allowed senders"."""
    return _word(CHECK_WORDS, code)


def sender_mode_word(code: str | None) -> str:
    """A source's sender-authentication policy: ``off``, ``flag``, ``require``."""
    return _word(SENDER_MODE_WORDS, code)


def auth_state_word(code: str | None) -> str:
    """A source's sign-in state: ``needs_reauthentication`` → "needs sign-in again"."""
    return _word(AUTH_STATE_WORDS, code)


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
