"""API: the documents queue of your companies: list and filter it, read one document with its
e-invoice fields and the mail it came in, download its file, and acknowledge it (administrators
and clerks), which takes it out of the "new" queue. Each document says what it shows about
trust (sender authentication, look-alike sender, IBAN and bank-detail alert, supplier, flags);
an administrator confirms its new bank details or marks it as fraud.

An exact duplicate (the same bytes as a queued document) is never listed; its detail, linked
from the run log, says ``status: duplicate`` and cannot be acknowledged (409): the original is
what gets booked, and its detail lists where the bytes came again (``also_received_in``).

A file is always sent as an attachment with ``nosniff`` and a sandboxing CSP, so a hostile
file cannot run as this site even when a browser opens the URL.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from invoice_inbox.i18n import _
from invoice_inbox.pipeline.extract import Kind
from invoice_inbox.store import queue, suppliers, trust_flags
from invoice_inbox.store.documents import is_exact_duplicate
from invoice_inbox.store.errors import StoreError
from invoice_inbox.store.models import Company, Document, Source, utcnow
from invoice_inbox.web.access import Access, NotFound
from invoice_inbox.web.api.schemas import (
    DEFAULT_LIMIT,
    ERRORS,
    FORBIDDEN,
    NEEDS_TOKEN,
    Cursor,
    Error,
    Limit,
    Page,
    Responses,
    bad_value,
    keyset,
)
from invoice_inbox.web.api.schemas_documents import (
    DocumentDetail,
    DocumentOut,
    Flag,
    MessageSummary,
    ReceivedAgain,
)
from invoice_inbox.web.api.schemas_suppliers import FraudOut
from invoice_inbox.web.api.suppliers import store_errors_as_http
from invoice_inbox.web.einvoice import rendered_pdf
from invoice_inbox.web.files import content_disposition, stored_blob
from invoice_inbox.web.security import ApiUser, context

router = APIRouter(tags=["documents"], dependencies=NEEDS_TOKEN, responses=ERRORS)

Sort = Annotated[
    Literal["amount", "-amount", "due_date", "-due_date"] | None,
    Query(description="Order by the e-invoice's total or due date; `-` first: highest first."),
]

_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")


def _detail(s: Session, access: Access, doc: Document) -> DocumentDetail:
    m = doc.message
    company = s.get(Company, doc.company_id)
    assert company is not None
    out = DocumentOut.of(doc, m, m.source.name, company.name)
    repeats = [d.id for d in queue.duplicated_by(s, doc.id) if access.sees_company(d.company_id)]
    again = [
        ReceivedAgain(
            document_id=r.document.id,
            source_id=r.source.id,
            source=r.source.name,
            run_id=r.message.run_id,
            message=MessageSummary(
                **{k: getattr(r.message, k) for k in MessageSummary.model_fields}
            ),
        )
        for r in queue.also_received_in(s, doc.id)
        if access.sees_company(r.document.company_id)
    ]
    return DocumentDetail(**dict(out), duplicated_by=repeats, also_received_in=again)


_DUPLICATE: Responses = {
    409: {"model": Error, "description": "An exact duplicate: book the original."}
}


def _bookable(doc: Document) -> None:
    """Refuse to acknowledge a copy that is not in the queue."""
    if is_exact_duplicate(doc):
        raise HTTPException(
            409,
            _(
                "document %(id)s is an exact duplicate of #%(original)s and not in the queue;"
                " acknowledge #%(original)s"
            )
            % {"id": doc.id, "original": doc.duplicate_of_id},
        )


@router.get("/documents", response_model=Page[DocumentOut])
def list_documents(
    request: Request,
    access: ApiUser,
    company_id: int | None = None,
    source_id: int | None = None,
    status: Literal["new", "processed", "all"] = "new",
    kind: Kind | None = None,
    received_from: date | None = None,
    received_to: date | None = None,
    sort: Sort = None,
    flag: Annotated[
        Flag | None,
        Query(description="Only documents with this flag (see `flags`)."),
    ] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[DocumentOut]:
    """The queue, newest first; never an exact duplicate (the same bytes as a queued
    document), whatever the *status*. *status* ``new`` (the default) is what accounts payable
    has not acknowledged yet; *received_from* and *received_to* are days (UTC) of the mail's
    arrival, both inclusive. *sort* orders by the e-invoice's total (``amount``) or due date
    (``due_date``), ``-`` first for highest or latest first; documents without one come last.
    *flag* keeps the documents not to be trusted blindly: ``sender_not_authenticated``,
    ``lookalike_sender`` or ``bank_details_changed``."""
    with context(request).app.db.session() as s:
        if company_id is not None:
            access.company(s, company_id)
        if source_id is not None:
            src = s.get(Source, source_id)
            if src is None or not access.sees_company(src.company_id):
                raise NotFound(_("no such source"))
        f = queue.QueueFilter(
            company_id=company_id,
            source_id=source_id,
            status=status,
            kind=kind,
            received_from=received_from,
            received_to=received_to,
            sort=sort or "",
            flag=flag,
        )
        q = access.limit_documents(queue.queue_query(f))
        if sort:
            page, last = queue.sorted_page(
                s, q, sort, after=_sorted_cursor(sort, cursor), size=limit
            )
            names = trust_flags.supplier_names(s, (r.document for r in page))
            modes = trust_flags.source_modes(s, (r.message for r in page))
            items = [
                DocumentOut.of(r.document, r.message, r.source, r.company, names, modes)
                for r in page
            ]
            return Page[DocumentOut](
                items=items, next_cursor=None if last is None else _encode(sort, last)
            )
        rows, after = keyset(s, q, Document.id, listing="documents", cursor=cursor, limit=limit)
        names = trust_flags.supplier_names(s, (r[0] for r in rows))
        modes = trust_flags.source_modes(s, (r[1] for r in rows))
        items = [
            DocumentOut.of(d, m, src_name, company, names, modes)
            for d, m, src_name, company in rows
        ]
        return Page[DocumentOut](items=items, next_cursor=after)


def _encode(sort: str, last: queue.Cursor) -> str:
    return base64.urlsafe_b64encode(f"documents{sort}:{last}".encode()).decode().rstrip("=")


def _sorted_cursor(sort: str, cursor: str | None) -> queue.Cursor | None:
    """The place a sorted page starts after, from the previous page's ``next_cursor``."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        text = ""
    listing, _, rest = text.partition(":")
    found = queue.Cursor.parse(rest) if listing == f"documents{sort}" else None
    if found is None:
        raise bad_value("cursor", "is not a cursor of this listing: pass next_cursor unchanged")
    return found


@router.get("/documents/{document_id}", response_model=DocumentDetail)
def get_document(request: Request, access: ApiUser, document_id: int) -> DocumentDetail:
    with context(request).app.db.session() as s:
        return _detail(s, access, access.document(s, document_id))


@router.get(
    "/documents/{document_id}/file",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file."}},
)
def get_document_file(request: Request, access: ApiUser, document_id: int) -> Response:
    """The document's exact bytes, as an attachment with its media type."""
    app = context(request).app
    with app.db.session() as s:
        doc = access.document(s, document_id)
        sha, media_type, filename = doc.sha256, doc.media_type.lower(), doc.filename
    if not _MEDIA_TYPE.fullmatch(media_type):
        media_type = "application/octet-stream"
    disposition = content_disposition("attachment", filename)
    missing = "the file of this document is no longer stored"
    return stored_blob(app.blobs, sha, media_type, disposition, missing=missing)


@router.get(
    "/documents/{document_id}/rendered.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The invoice as a PDF."},
        422: {"model": Error, "description": "Too large to render."},
    },
)
def get_rendered_pdf(request: Request, access: ApiUser, document_id: int) -> Response:
    """An e-invoice XML document (XRechnung, Peppol, UBL, CII, KSeF) rendered as a PDF to read:
    parties, lines (the first 300), VAT breakdown, totals, payment. 404 for any other document
    (a PDF is its own file)."""
    app = context(request).app
    with app.db.session() as s:
        return rendered_pdf(app, access.document(s, document_id))


@router.post(
    "/documents/{document_id}/ack",
    response_model=DocumentDetail,
    responses={**FORBIDDEN, **_DUPLICATE},
)
def acknowledge(request: Request, access: ApiUser, document_id: int) -> DocumentDetail:
    """Mark the document as processed (administrators and clerks). Acknowledging it again
    changes nothing: it keeps the first time and who it was. An exact duplicate is refused
    (409): acknowledge its original."""
    with context(request).app.db.session() as s:
        doc = access.document(s, document_id)
        access.require_fetch()
        _bookable(doc)
        if doc.processed_at is None:
            queue.mark_processed(doc, access.email, utcnow())
        return _detail(s, access, doc)


@router.delete(
    "/documents/{document_id}/ack",
    response_model=DocumentDetail,
    responses={**FORBIDDEN, **_DUPLICATE},
)
def unacknowledge(request: Request, access: ApiUser, document_id: int) -> DocumentDetail:
    """Put the document back into the "new" queue (administrators and clerks); not an exact
    duplicate, which is never in the queue (409)."""
    with context(request).app.db.session() as s:
        doc = access.document(s, document_id)
        access.require_fetch()
        _bookable(doc)
        queue.mark_new(doc)
        return _detail(s, access, doc)


_NOTHING_TO_CONFIRM: Responses = {409: {"model": Error, "description": "It has no supplier IBAN."}}


@router.post(
    "/documents/{document_id}/confirm-iban",
    response_model=DocumentDetail,
    responses={**FORBIDDEN, **_NOTHING_TO_CONFIRM},
)
def confirm_document_iban(request: Request, access: ApiUser, document_id: int) -> DocumentDetail:
    """Confirm the document's new bank details (administrators): its IBAN becomes known and
    confirmed for its supplier, and the alerts of its documents asking payment to it become
    ``confirmed``."""
    with context(request).app.db.session() as s:
        doc = access.document(s, document_id)
        access.require_admin()
        try:
            suppliers.confirm_document_iban(s, doc.id, by=access.email)
        except StoreError as exc:
            raise HTTPException(409, str(exc)) from None
        s.refresh(doc)
        return _detail(s, access, doc)


@router.post("/documents/{document_id}/mark-fraud", response_model=FraudOut, responses=FORBIDDEN)
def mark_fraud(request: Request, access: ApiUser, document_id: int) -> FraudOut:
    """Mark the document as fraud (administrators): its bank-detail alert says ``fraud``, its
    IBAN is no longer known for its supplier, and its sender domain is blocked for the company
    (not a free-mail domain): mail from it is not imported, whatever the source's policy.
    ``DELETE /companies/{id}/blocked-senders/{domain}`` undoes the block."""
    with context(request).app.db.session() as s:
        doc = access.document(s, document_id)
        access.require_admin()
        with store_errors_as_http("document_id"):
            blocked = suppliers.mark_fraud(s, doc.id, by=access.email)
        s.refresh(doc)
        return FraudOut(blocked_domain=blocked, document=_detail(s, access, doc))
