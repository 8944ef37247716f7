"""Recognise and read e-invoices from bytes: UBL, CII, ZUGFeRD/Factur-X PDFs and KSeF; and read an
e-invoice XML whole (``read_view``: parties, lines, VAT breakdown, totals, payment) to show it.

Pure functions: no database, no files, no network. XML is parsed without DTDs or entities,
and any document that declares a DOCTYPE is refused (see ``xmlsafe``).
"""

from __future__ import annotations

from .errors import EInvoiceError
from .model import EInvoice
from .pdf import embedded_xml_name, read_pdf
from .view import read_view
from .view_model import InvoiceView
from .vocabulary import read_xml
from .xmlsafe import looks_like_xml

__all__ = [
    "EInvoice",
    "EInvoiceError",
    "InvoiceView",
    "embedded_xml_name",
    "looks_like_xml",
    "read_pdf",
    "read_view",
    "read_xml",
]
