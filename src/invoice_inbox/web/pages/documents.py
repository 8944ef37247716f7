"""Pages: the documents queue (filtered, newest first or sorted by amount or due date), one
document with its PDF and the mail it came in, its file and the original mail as downloads, and
marking it processed (or new again): one at a time, or the ticked ones at once. Marked on its
own page, a document leads to the next new document of the queue it was opened from. Trust
flags (sender, look-alike, bank details) are badges in the queue, which filters by them, and
panels on the document's page (``document_trust``).

An exact duplicate is not in the queue; its page (linked from the run log) says whose copy it
is and offers no "mark processed". The original's page lists the mails its bytes came again in.

A file is served inline only when it is a PDF; anything else is an attachment. Every file
response carries ``nosniff`` and a sandboxing CSP, so a hostile file cannot run as this site.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Form, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from invoice_inbox.i18n import N_, ngettext
from invoice_inbox.i18n import gettext as _
from invoice_inbox.pipeline.extract import Kind
from invoice_inbox.store import queue, trust_flags
from invoice_inbox.store.documents import PROBABLE, is_exact_duplicate
from invoice_inbox.store.models import Document, Source, utcnow
from invoice_inbox.web import readable
from invoice_inbox.web.files import content_disposition, stored_blob
from invoice_inbox.web.pages import document_trust
from invoice_inbox.web.security import Page, PageUser, context
from invoice_inbox.web.templating import redirect, render

router = APIRouter()

PDF = "application/pdf"
# sent with their own type (always as attachments); any other type goes as octet-stream
DOWNLOAD_TYPES = {
    "application/xml",
    "text/xml",
    "image/png",
    "image/jpeg",
    "image/tiff",
    "image/gif",
    "image/webp",
}
# the file may not run scripts, submit forms or reach this site's cookies and storage

# the queue's orders as the sort menu offers them (English; translated when shown)
SORT_LABELS = {
    "": N_("newest first"),
    "amount": N_("amount, lowest first"),
    "-amount": N_("amount, highest first"),
    "due_date": N_("due date, soonest first"),
    "-due_date": N_("due date, latest first"),
}

# the e-invoice fields in reading order, with their labels; other keys follow as they come
EINVOICE_LABELS = {
    "format": N_("Format"),
    "profile": N_("Profile"),
    "document_type": N_("Document type"),
    "type_code": N_("Type code"),
    "number": N_("Number"),
    "issue_date": N_("Issue date"),
    "due_date": N_("Due date"),
    "seller_name": N_("Seller"),
    "seller_vat_id": N_("Seller VAT id"),
    "seller_iban": N_("Seller IBAN"),
    "buyer_name": N_("Buyer"),
    "buyer_reference": N_("Buyer reference"),
    "order_reference": N_("Order reference"),
    "contract_reference": N_("Contract reference"),
    "project_reference": N_("Project reference"),
    "line_total": N_("Sum of the lines"),
    "allowance_total": N_("Allowances"),
    "charge_total": N_("Charges"),
    "tax_basis_total": N_("Total without VAT"),
    "tax_total": N_("VAT"),
    "total": N_("Total"),
    "prepaid_amount": N_("Paid in advance"),
    "rounding_amount": N_("Rounding"),
    "amount_due": N_("Amount due"),
    "currency": N_("Currency"),
}
AMOUNTS = (
    "line_total",
    "allowance_total",
    "charge_total",
    "tax_basis_total",
    "tax_total",
    "total",
    "prepaid_amount",
    "rounding_amount",
    "amount_due",
)


def _label(key: str) -> str:
    if key in EINVOICE_LABELS:
        return _(EINVOICE_LABELS[key])
    return key.replace("_", " ").capitalize()


def einvoice_facts(fields: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(label, value) of the e-invoice's facts that have a value, known ones first: texts only;
    the booking core's lines, VAT breakdown and payment are the readable view's."""
    if not fields:
        return []
    known = [k for k in EINVOICE_LABELS if k in fields]
    order = known + [k for k in fields if k not in EINVOICE_LABELS]
    return [
        (_label(k), _shown(k, fields))
        for k in order
        if isinstance(fields[k], str) and fields[k] and k != "schema_version"
    ]


def _shown(key: str, fields: dict[str, Any]) -> str:
    """An e-invoice value as people read it: amounts with their currency, formats by name."""
    value = fields[key]
    if key in AMOUNTS:
        return readable.money(value, fields.get("currency"))
    if key == "format":
        return readable.format_word(value)
    if key == "document_type":
        return readable.document_type_word(value)
    return str(value)


def _int(value: str | None) -> int | None:
    """An id from the query string; anything else (empty, "²", 30 digits) is no id."""
    value = (value or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


def _day(value: str, problems: list[str], what: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(
            _("%(field)s: %(value)s is not a date (yyyy-mm-dd); it was left out.")
            % {"field": _(what), "value": repr(value)}
        )
        return None


def queue_filter(params: Mapping[str, str], problems: list[str] | None = None) -> queue.QueueFilter:
    """The queue a person asked for with the query string *params*; what is not understood is
    left out (and said in *problems*)."""
    problems = [] if problems is None else problems
    status, kind, sort, flag = (
        params.get("status", queue.NEW),
        params.get("kind", ""),
        params.get("sort", ""),
        params.get("flag", ""),
    )
    return queue.QueueFilter(
        company_id=_int(params.get("company")),
        source_id=_int(params.get("source")),
        status=status if status in queue.STATUSES else queue.NEW,
        kind=kind if kind in set(Kind) else None,
        received_from=_day(params.get("received_from", ""), problems, N_("Received from")),
        received_to=_day(params.get("received_to", ""), problems, N_("Received to")),
        sort=sort if sort in queue.SORTS else "",
        flag=flag if flag in trust_flags.FLAGS else None,
    )


def filter_params(f: queue.QueueFilter) -> dict[str, str]:
    """The query string of *f*, without its empty values."""
    shown = {
        "company": "" if f.company_id is None else str(f.company_id),
        "source": "" if f.source_id is None else str(f.source_id),
        "status": f.status,
        "kind": f.kind or "",
        "received_from": f.received_from.isoformat() if f.received_from else "",
        "received_to": f.received_to.isoformat() if f.received_to else "",
        "sort": f.sort,
        "flag": f.flag or "",
    }
    return {k: v for k, v in shown.items() if v}


@router.get("/documents")
def documents_page(request: Request, page: PageUser) -> Response:
    problems: list[str] = []
    params = dict(request.query_params)
    f = queue_filter(params, problems)
    kept = filter_params(f)
    access = page.access
    with context(request).app.db.session() as s:
        q = access.limit_documents(queue.queue_query(f))
        older_url = newest_url = None
        if f.sort:
            after = queue.Cursor.parse(params.get("after", ""))
            rows, cursor = queue.sorted_page(s, q, f.sort, after=after)
            if cursor is not None:
                older_url = f"/documents?{urlencode({**kept, 'after': str(cursor)})}"
            if after is not None:
                newest_url = f"/documents?{urlencode(kept)}"
        else:
            before = _int(params.get("before"))
            rows, older = queue.queue_page(s, q, before=before)
            if older:
                older_url = f"/documents?{urlencode({**kept, 'before': older})}"
            if before is not None:
                newest_url = f"/documents?{urlencode(kept)}"
        return render(
            request,
            "documents.html",
            page,
            nav="documents",
            rows=rows,
            trust={
                r.document.id: document_trust.badges(
                    r.document, r.message, mode=r.message.source.sender_auth
                )
                for r in rows
            },
            flags={code: _(words) for code, words in trust_flags.FLAGS.items()},
            filters={
                **dict.fromkeys(("company", "source", "kind", "sort", "flag"), ""),
                **filter_params(f),
            },
            problems=problems,
            companies=access.companies(s),
            sources=list(s.scalars(access.limit_sources(select(Source).order_by(Source.name)))),
            statuses=queue.STATUSES,
            kinds=list(Kind),
            sorts={value: _(label) for value, label in SORT_LABELS.items()},
            older_url=older_url,
            newest_url=newest_url,
            queue_query=urlencode(kept),
            back=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        )


@router.get("/documents/{document_id}")
def document_page(
    request: Request, page: PageUser, document_id: int, queue_string: str = Query("", alias="queue")
) -> Response:
    access = page.access
    # the queue the document was opened from: "Mark as processed" leads to its next document
    from_queue = urlencode(filter_params(queue_filter(dict(parse_qsl(queue_string[:2000])))))
    with context(request).app.db.session() as s:
        doc = access.document(s, document_id)
        message = doc.message
        original = s.get(Document, doc.duplicate_of_id) if doc.duplicate_of_id else None
        if original is not None and not access.sees_company(original.company_id):
            original = None
        return render(
            request,
            "document.html",
            page,
            nav="documents",
            doc=doc,
            message=message,
            source=message.source,
            company=message.source.company.name,
            uses_source=access.uses_source(message.source),
            facts=einvoice_facts(doc.einvoice),
            original=original,
            exact_copy=is_exact_duplicate(doc),
            receipts=[
                r
                for r in queue.also_received_in(s, doc.id)
                if access.sees_company(r.document.company_id)
            ],
            probable=[
                d
                for d in queue.duplicated_by(s, doc.id)
                if d.duplicate_kind == PROBABLE and access.sees_company(d.company_id)
            ],
            is_pdf=doc.media_type == PDF,
            queue_query=from_queue,
            queue_url=_queue_url(queue_filter(dict(parse_qsl(from_queue)))),
            **document_trust.panels(s, access, doc, message),
        )


@router.get("/documents/{document_id}/file")
def documentstored_file(
    request: Request, page: PageUser, document_id: int, download: str = ""
) -> Response:
    app = context(request).app
    with app.db.session() as s:
        doc = page.access.document(s, document_id)
        sha, media, filename = doc.sha256, doc.media_type, doc.filename
    inline = media == PDF and download in ("", "0")
    if media != PDF and media not in DOWNLOAD_TYPES:
        media = "application/octet-stream"
    disposition = content_disposition("inline" if inline else "attachment", filename)
    missing = _("the file of this document is no longer stored")
    return stored_blob(app.blobs, sha, media, disposition, missing=missing)


@router.get("/documents/{document_id}/mail")
def document_mail(request: Request, page: PageUser, document_id: int) -> Response:
    app = context(request).app
    with app.db.session() as s:
        doc = page.access.document(s, document_id)
        sha, message_id = doc.message.raw_sha256, doc.message.id
    disposition = content_disposition("attachment", f"mail-{message_id}.eml")
    missing = _("the original mail of this document is no longer stored")
    return stored_blob(app.blobs, sha, "message/rfc822", disposition, missing=missing)


def _back(target: str, document_id: int) -> str:
    """Where to go after marking: the queue page the button was on, else the document."""
    if target.startswith("/documents") and not target.startswith("//") and "\\" not in target:
        return target
    return f"/documents/{document_id}"


def _queue_url(f: queue.QueueFilter) -> str:
    kept = filter_params(f)
    if kept.get("status") == queue.NEW:
        del kept["status"]
    return f"/documents?{urlencode(kept)}" if kept else "/documents"


def _next_url(s: Session, page: Page, doc: Document, queue_string: str) -> tuple[str, str]:
    """Where to go after *doc* is processed from its page: the next new document of the queue
    the page was opened from (its query string), else that queue; and what to say."""
    f = queue_filter(dict(parse_qsl(queue_string[:2000])))
    q = page.access.limit_documents(queue.queue_query(replace(f, status=queue.NEW)))
    following = queue.next_new(s, q, doc, f.sort)
    if following is None:
        return _queue_url(f), _("No new documents are left in this queue.")
    link = f"/documents/{following.id}"
    if kept := urlencode(filter_params(f)):
        link += "?" + urlencode({"queue": kept})
    return link, _("Next: %(name)s.") % {"name": following.filename}


@router.post("/documents/{document_id}/processed")
def document_processed(
    request: Request,
    page: PageUser,
    document_id: int,
    back: Annotated[str, Form()] = "",
    queue_string: Annotated[str | None, Form(alias="queue")] = None,
) -> Response:
    with context(request).app.db.session() as s:
        doc = page.access.document(s, document_id)
        page.access.require_fetch()
        if is_exact_duplicate(doc):  # not in the queue: the original is what gets booked
            flash = _(
                "%(name)s is an exact duplicate of document #%(id)s; mark document #%(id)s instead."
            ) % {"name": doc.filename, "id": doc.duplicate_of_id}
            return redirect(f"/documents/{document_id}", flash=flash, request=request)
        if doc.processed_at is None:  # the first acknowledgement stands
            queue.mark_processed(doc, page.access.email, utcnow())
        flash = _("%(name)s is marked as processed.") % {"name": doc.filename}
        target = _back(back, document_id)
        if queue_string is not None and not back:  # from the document's page: the next one
            target, more = _next_url(s, page, doc, queue_string)
            flash += " " + more
    return redirect(target, flash=flash, request=request)


@router.post("/documents/processed")
def documents_processed(
    request: Request,
    page: PageUser,
    ids: Annotated[list[str] | None, Form()] = None,
    back: Annotated[str, Form()] = "",
) -> Response:
    """Mark the ticked documents processed: those of the user's companies that are in the
    queue; an exact duplicate is refused (its original is what gets booked)."""
    page.access.require_fetch()
    wanted = {i for i in map(_int, (ids or [])[:500]) if i is not None}
    done: list[str] = []
    refused: list[str] = []
    with context(request).app.db.session() as s:
        q = page.access.limit_documents(select(Document).where(Document.id.in_(wanted)))
        found = {d.id: d for d in s.scalars(q.order_by(Document.id))}
        now = utcnow()
        for doc in found.values():
            if is_exact_duplicate(doc):
                refused.append(
                    _("%(name)s (an exact duplicate of document #%(id)s)")
                    % {"name": doc.filename, "id": doc.duplicate_of_id}
                )
                continue
            if doc.processed_at is None:
                queue.mark_processed(doc, page.access.email, now)
            done.append(doc.filename)
    if not wanted:
        flash = _("Tick the documents to mark as processed first.")
    else:
        flash = ngettext(
            "%(n)s document is marked as processed.",
            "%(n)s documents are marked as processed.",
            len(done),
        ) % {"n": len(done)}
    if refused:
        flash += " " + _("Not marked: %(documents)s.") % {"documents": "; ".join(refused)}
    if missing := len(wanted) - len(found):
        flash += " " + ngettext(
            "%(n)s of the ticked documents does not exist or is not yours.",
            "%(n)s of the ticked documents do not exist or are not yours.",
            missing,
        ) % {"n": missing}
    target = back if back and _back(back, 0) == back else "/documents"
    return redirect(target, flash=flash, request=request)


@router.post("/documents/{document_id}/new")
def document_new(
    request: Request, page: PageUser, document_id: int, back: Annotated[str, Form()] = ""
) -> Response:
    with context(request).app.db.session() as s:
        doc = page.access.document(s, document_id)
        page.access.require_fetch()
        queue.mark_new(doc)
        name = doc.filename
    flash = _("%(name)s is back in the queue of new documents.") % {"name": name}
    return redirect(_back(back, document_id), flash=flash, request=request)
