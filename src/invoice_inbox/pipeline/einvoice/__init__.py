"""Recognise and read e-invoices from bytes: UBL, CII, ZUGFeRD/Factur-X PDFs and KSeF; and read an
e-invoice XML whole (``read_view``: parties, lines, VAT breakdown, totals, payment) to show it.

Pure functions: no database, no files, no network. XML is parsed without DTDs or entities,
and any document that declares a DOCTYPE is refused (see ``xmlsafe``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoice_inbox import lazy_names

from .errors import EInvoiceError
from .pdf import embedded_xml_name, read_pdf

if TYPE_CHECKING:
    from .model import EInvoice
    from .view import read_view
    from .view_model import InvoiceView
    from .vocabulary import read_xml
    from .xmlsafe import looks_like_xml

# Imported on first use: the XML readers and the invoice view are a third of a decide worker's
# start (and of the fetch process's), and most mail carries a plain PDF that needs none of them.
__getattr__ = lazy_names(
    __name__,
    {
        "EInvoice": ".model",
        "InvoiceView": ".view_model",
        "looks_like_xml": ".xmlsafe",
        "read_view": ".view",
        "read_xml": ".vocabulary",
    },
)


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
