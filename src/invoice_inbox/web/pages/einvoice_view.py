"""Page: an e-invoice XML document as a PDF to download (``/documents/{id}/view.pdf``), for
e-invoices that came without one; the view itself is on the document page (``web.einvoice``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from invoice_inbox.web.einvoice import rendered_pdf
from invoice_inbox.web.security import PageUser, context

router = APIRouter()


@router.get("/documents/{document_id}/view.pdf")
def document_view_pdf(request: Request, page: PageUser, document_id: int) -> Response:
    app = context(request).app
    with app.db.session() as s:
        doc = page.access.document(s, document_id)
        return rendered_pdf(app, doc)
