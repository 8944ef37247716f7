"""The whole of an e-invoice as a person reads it: parties with addresses and tax ids, the lines,
the VAT breakdown, the totals and the payment details, read from CII, UBL or KSeF XML.

``read_view(data)`` parses with the hardened parser (``xmlsafe``: no DTD, no entities, no
network) and asks the per-syntax readers (``view_cii``, ``view_ubl``, ``view_ksef``). Every value
is a trimmed string as written, cut at ``MAX_TEXT`` characters; the lines are bounded
(``max_lines``, the count of those left out is ``more_lines``), and so are the other repeated
parts. Pure: no database, no files, no network. Showing the values (escaped) is the caller's.
"""

from __future__ import annotations

from lxml import etree

from . import view_cii, view_ksef, view_ubl, xmlsafe
from .view_model import MAX_LINES, InvoiceView
from .vocabulary import _unwrap, read_root


def read_view(data: bytes, max_lines: int = MAX_LINES) -> InvoiceView | None:
    """The invoice in ``data``, or None when it is in no vocabulary we can show.

    Raises EInvoiceError when the XML is refused (DOCTYPE, over 20 MB) or not well-formed.
    """
    return view_of_root(xmlsafe.parse(data), max_lines)


def view_of_root(root: etree._Element, max_lines: int = MAX_LINES) -> InvoiceView | None:
    summary = read_root(root)
    if summary is None:
        return None
    payload = _unwrap(root)  # the document inside a Peppol SBDH envelope
    for reader in (view_cii.read, view_ubl.read, view_ksef.read):
        found = reader(payload, summary, max_lines)
        if found is not None:
            return found
    return InvoiceView(summary=summary, currency=summary.currency)
