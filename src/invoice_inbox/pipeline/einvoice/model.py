"""The result type of this package: what an e-invoice (or a related e-business document) says."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

INVOICE = "invoice"
CREDIT_NOTE = "credit_note"
OTHER = "other"


@dataclass(frozen=True, kw_only=True)
class EInvoice:
    """Header facts of one structured document, every value a trimmed string as written.

    ``format`` names the syntax and flavour ("facturx", "xrechnung-ubl", "ksef-fa3", "order-x",
    ...), ``profile`` the guideline level when one is declared, ``document_type`` is "invoice",
    "credit_note" or "other" (orders, despatch advices, responses, pro-forma invoices).
    Dates are ISO ``yyyy-mm-dd``; amounts are decimal strings exactly as in the XML.
    """

    format: str
    profile: str | None = None
    document_type: str
    type_code: str | None = None
    number: str | None = None
    issue_date: str | None = None
    due_date: str | None = None
    seller_name: str | None = None
    seller_vat_id: str | None = None
    buyer_name: str | None = None
    total: str | None = None
    amount_due: str | None = None
    currency: str | None = None
    seller_iban: str | None = None

    @property
    def is_invoice(self) -> bool:
        """True for invoices and credit notes, the documents accounts payable books."""
        return self.document_type in (INVOICE, CREDIT_NOTE)

    def as_dict(self) -> dict[str, str | None]:
        """All fields as a JSON-ready dict."""
        return {field.name: getattr(self, field.name) for field in fields(self)}

    @property
    def key(self) -> str | None:
        """Duplicate-detection key ``seller|number|document_type``, None without seller or number.

        The seller is the VAT id (upper case, separators dropped) when there is one, else the
        name case-folded with runs of whitespace collapsed.
        """
        seller = _normal_vat_id(self.seller_vat_id) or _normal_name(self.seller_name)
        if not seller or not self.number:
            return None
        return f"{seller}|{self.number}|{self.document_type}"


def _normal_vat_id(value: str | None) -> str:
    return re.sub(r"[\s.\-/]", "", value or "").upper()


def _normal_name(value: str | None) -> str:
    return " ".join((value or "").split()).casefold()
