"""An e-invoice XML document as an invoice a person reads: the view on the document page and
its PDF, for the page (``/documents/{id}/view.pdf``) and the API (``rendered.pdf``).

The view is read from the stored file on each request (``pipeline.einvoice.view``, the
hardened XML parser); the page shows up to ``MAX_LINES`` lines, the PDF ``PDF_LINES`` with their
texts cut at ``PDF_LINE_TEXT`` characters (to stay within the render bounds; past them the
answer is 422), and both say how many more lines there are. The document page's template calls
``einvoice_view(request, doc)`` (a template global), so the page's route needs no change.
Everything shown comes from an untrusted file and is escaped by the templates.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from fastapi import HTTPException, Request
from fastapi.responses import Response

from invoice_inbox.i18n import N_
from invoice_inbox.i18n import gettext as _
from invoice_inbox.pipeline.einvoice import EInvoiceError
from invoice_inbox.pipeline.einvoice.view import read_view
from invoice_inbox.pipeline.einvoice.view_model import MAX_LINES, InvoiceView, Line
from invoice_inbox.pipeline.extract import Kind
from invoice_inbox.pipeline.limits import LimitExceeded
from invoice_inbox.pipeline.render_html import RenderError, html_to_pdf
from invoice_inbox.runtime.context import App
from invoice_inbox.store.blobs import BlobNotFound, BlobStoreError
from invoice_inbox.store.models import Document
from invoice_inbox.web.access import NotFound
from invoice_inbox.web.files import FILE_CSP, content_disposition
from invoice_inbox.web.templating import templates

log = logging.getLogger(__name__)

PDF_LINES = 300  # lines in the PDF (the page shows MAX_LINES), within render_pages
PDF_LINE_TEXT = 300  # characters of an item's name and description in the PDF
# the labels of the totals and the names of payment means the view readers give
# (pipeline.einvoice.view_booking, view_model.PAYMENT_MEANS, KSeF's forms), marked here for the
# catalogues and translated by :func:`_spoken` (invoice text is never looked up)
TOTAL_LABELS = (
    N_("Sum of lines"),
    N_("Allowances"),
    N_("Charges"),
    N_("Total without VAT"),
    N_("VAT"),
    N_("Total with VAT"),
    N_("Paid in advance"),
    N_("Rounding"),
    N_("Amount due"),
)
MEANS_WORDS = frozenset(
    {
        N_("Not defined"),
        N_("Cash"),
        N_("Cheque"),
        N_("Credit transfer"),
        N_("Debit transfer"),
        N_("Payment to bank account"),
        N_("Bank card"),
        N_("Direct debit"),
        N_("Credit card"),
        N_("Debit card"),
        N_("Standing agreement"),
        N_("SEPA credit transfer"),
        N_("SEPA direct debit"),
        N_("Online payment service"),
        N_("Clearing between partners"),
        N_("Mutually defined"),
        N_("Card"),
        N_("Voucher"),
        N_("Credit"),
        N_("Bank transfer"),
        N_("Mobile payment"),
    }
)


def einvoice_view(app: App, doc: Document, max_lines: int = MAX_LINES) -> InvoiceView | None:
    """The invoice (or credit note) in *doc* when it is an e-invoice XML file we can read,
    else None (orders, despatch advices and other e-business documents included)."""
    if doc.kind != Kind.EINVOICE_XML:
        return None
    try:
        data = app.blobs.get(doc.sha256)
    except BlobNotFound:
        return None
    except BlobStoreError as exc:  # the page shows without the invoice
        log.warning("e-invoice %s not read: %s", doc.sha256, exc)
        return None
    try:
        view = read_view(data, max_lines)
    except EInvoiceError:
        return None
    if view is None or not view.summary.is_invoice:  # not orders
        return None
    return _spoken(view)


def _spoken(view: InvoiceView) -> InvoiceView:
    """*view* with the totals' labels and the payment means' names in the reader's language."""
    totals = tuple((_(label), amount) for label, amount in view.totals)
    accounts = tuple(
        replace(a, means=_(a.means)) if a.means in MEANS_WORDS else a for a in view.accounts
    )
    return replace(view, totals=totals, accounts=accounts)


def _template_view(request: Request, doc: Document) -> InvoiceView | None:
    return einvoice_view(request.app.state.web.app, doc)


templates.env.globals["einvoice_view"] = _template_view


def pdf_name(doc: Document) -> str:
    """``invoice.xml`` → ``invoice.pdf``."""
    stem = doc.filename.rsplit(".", 1)[0] if "." in doc.filename else doc.filename
    return f"{stem or 'invoice'}.pdf"


def _cut(value: str | None) -> str | None:
    if value is None or len(value) <= PDF_LINE_TEXT:
        return value
    return value[: PDF_LINE_TEXT - 1] + "…"


def _short(line: Line) -> Line:
    """The line with its texts cut for the PDF (the page shows them whole)."""
    return replace(line, name=_cut(line.name), description=_cut(line.description))


def rendered_pdf(app: App, doc: Document) -> Response:
    """The PDF of *doc*'s e-invoice as a download; 404 when it is no e-invoice XML we can
    read, 422 when it is too large to lay out."""
    view = einvoice_view(app, doc, PDF_LINES)
    if view is None:
        raise NotFound(_("this document is no e-invoice XML that can be shown as an invoice"))
    view = replace(view, lines=tuple(_short(line) for line in view.lines))
    markup = templates.get_template("einvoice_print.html").render(view=view, filename=doc.filename)
    try:
        pdf = html_to_pdf(markup)
    except (LimitExceeded, RenderError) as exc:
        log.warning("rendering document %s as PDF failed: %s", doc.id, exc)
        raise HTTPException(422, _("this e-invoice is too large to render as a PDF")) from exc
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": content_disposition("attachment", pdf_name(doc)),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": FILE_CSP,
        },
    )
