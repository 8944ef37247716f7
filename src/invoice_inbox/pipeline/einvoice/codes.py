"""Code lists: which document type a type code means, and which profile a guideline ID names."""

from __future__ import annotations

import re

from .model import CREDIT_NOTE, INVOICE, OTHER

# UNTDID 1001 codes EN 16931 (and Peppol BIS / PINT) accept for invoices ...
_INVOICE_CODES = frozenset(
    [
        "71",
        "80",
        "82",
        "84",
        "102",
        "130",
        "202",
        "203",
        "204",
        "211",
        "218",
        "219",
        "295",
        "326",
        "331",
        "380",
        "382",
        "383",
        "384",
        "385",
        "386",
        "387",
        "388",
        "389",
        "390",
        "393",
        "394",
        "395",
        "456",
        "457",
        "527",
        "553",
        "575",
        "623",
        "633",
        "751",
        "780",
        "817",
        "870",
        "875",
        "876",
        "877",
        "935",
    ]
)
# ... and for credit notes.
_CREDIT_NOTE_CODES = frozenset(
    ["81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "532"]
)
# Codes that appear in invoice-shaped documents but ask for no payment booking: pro-forma
# invoice, order, order change, order response, despatch advice.
_OTHER_CODES = frozenset(["325", "220", "230", "231", "351"])


def untdid_document_type(code: str | None, default: str) -> str:
    """The document type a UNTDID 1001 code means; ``default`` (from the root) when unknown."""
    if code in _CREDIT_NOTE_CODES:
        return CREDIT_NOTE
    if code in _INVOICE_CODES:
        return INVOICE
    if code in _OTHER_CODES:
        return OTHER
    return default


def ksef_document_type(kind: str | None) -> str:
    """The document type of a KSeF ``RodzajFaktury`` (VAT, ZAL, ROZ, UPR, KOR, KOR_ZAL, ...).

    Corrections (KOR, KOR_ZAL, KOR_ROZ, KOR_VAT_RR) are reported as credit notes.
    """
    if kind and kind.upper().startswith("KOR"):
        return CREDIT_NOTE
    return INVOICE


# Checked in order: "basicwl" before "basic", the specific levels before plain EN 16931.
_PROFILE_PATTERNS = (
    (re.compile(r"xrechnung"), "XRECHNUNG"),
    (re.compile(r"[:#]extended\b"), "EXTENDED"),
    (re.compile(r"[:#]basic\s*wl\b"), "BASIC WL"),
    (re.compile(r"[:#]basic\b"), "BASIC"),
    (re.compile(r"[:#]minimum\b"), "MINIMUM"),
    (re.compile(r"[:#]comfort\b"), "COMFORT"),
    (re.compile(r"[:#]en16931\b"), "EN16931"),
    (re.compile(r"^urn:cen\.eu:en16931:2017"), "EN16931"),
)


def guideline_profile(guideline: str | None) -> str | None:
    """The profile a CII guideline or UBL customization ID names; None when none we know.

    ``urn:factur-x.eu:1p0:basicwl`` → "BASIC WL", ``urn:cen.eu:en16931:2017`` → "EN16931".
    """
    value = (guideline or "").strip().lower()
    for pattern, profile in _PROFILE_PATTERNS:
        if pattern.search(value):
            return profile
    return None
