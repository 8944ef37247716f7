"""Pages: the suppliers of the user's companies (name, VAT id, sender domains, IBANs confirmed
or not, documents, last seen; filtered by company), one supplier's page with its recent
documents, and an admin's edits: name, VAT id and domains, an IBAN confirmed, removed or
added, two suppliers merged (after a confirm step), a blocked sender domain unblocked.

Everyone sees the suppliers of their companies; only admins change them. A supplier of another
company does not exist for a user (404). The store (``store.suppliers``) checks every value
and says what is wrong in one sentence, which comes back as the flash or next to the field.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from invoice_inbox.i18n import N_
from invoice_inbox.i18n import gettext as _
from invoice_inbox.store import suppliers
from invoice_inbox.store.errors import StoreError
from invoice_inbox.store.models import Document, Message
from invoice_inbox.store.models_trust import Supplier
from invoice_inbox.web import readable
from invoice_inbox.web.access import Access, NotFound
from invoice_inbox.web.pages import document_trust
from invoice_inbox.web.security import PageUser, context
from invoice_inbox.web.templating import redirect, render

router = APIRouter()

Text = Annotated[str, Form()]
RECENT = 20  # documents listed on a supplier's page


def _company_id(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


def _supplier(s: Session, access: Access, supplier_id: int) -> Supplier:
    """The supplier, if the user sees its company; else 404."""
    found = s.get(Supplier, supplier_id)
    if found is None or not access.sees_company(found.company_id):
        raise NotFound(_("no such supplier"))
    return found


@router.get("/suppliers")
def suppliers_page(request: Request, page: PageUser, company: str = "") -> Response:
    access = page.access
    with context(request).app.db.session() as s:
        companies = access.companies(s)
        wanted = _company_id(company)
        ids = [c.id for c in companies if wanted is None or c.id == wanted]
        return render(
            request,
            "suppliers.html",
            page,
            nav="suppliers",
            companies=companies,
            company_filter="" if wanted is None else str(wanted),
            rows=suppliers.list_for(s, ids),
            blocked=suppliers.blocked_for(s, ids),
            back=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        )


def _recent(
    s: Session, access: Access, supplier_id: int
) -> list[tuple[Document, Message, list[document_trust.Badge]]]:
    """The supplier's latest documents the user may see, with their trust badges."""
    q = (
        select(Document, Message)
        .join(Message, Document.message_id == Message.id)
        .where(Document.supplier_id == supplier_id)
        .order_by(Document.id.desc())
        .limit(RECENT)
    )
    rows = s.execute(access.limit_documents(q)).all()
    return [(d, m, document_trust.badges(d, m, mode=m.source.sender_auth)) for d, m in rows]


def _supplier_page(
    request: Request,
    page: PageUser,
    s: Session,
    supplier: Supplier,
    *,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    info = suppliers.get(s, supplier.id)
    others = [
        o
        for o in suppliers.list_for(s, [supplier.company_id])
        if o.id != supplier.id  # merge candidates: the same company's
    ]
    shown = {"name": info.name, "vat_id": info.vat_id or "", "domains": "\n".join(info.domains)}
    return render(
        request,
        "supplier.html",
        page,
        nav="suppliers",
        info=info,
        shown=shown | (typed or {}),
        errors=errors or {},
        others=others,
        documents=_recent(s, page.access, supplier.id),
        blocked=suppliers.blocked_for(s, [supplier.company_id]),
        back=f"/suppliers/{supplier.id}",
        status_code=status_code,
    )


@router.get("/suppliers/{supplier_id}")
def supplier_page(request: Request, page: PageUser, supplier_id: int) -> Response:
    with context(request).app.db.session() as s:
        return _supplier_page(request, page, s, _supplier(s, page.access, supplier_id))


def _field_of(problem: str) -> str:
    if "domain" in problem:
        return "domains"
    if "VAT" in problem or "vat" in problem:
        return "vat_id"
    return "name"


@router.post("/suppliers/{supplier_id}")
def save_supplier(
    request: Request,
    page: PageUser,
    supplier_id: int,
    name: Text = "",
    vat_id: Text = "",
    domains: Text = "",
) -> Response:
    """Rename the supplier, set its VAT id, replace its sender domains (one per line)."""
    typed = {"name": name, "vat_id": vat_id, "domains": domains}
    db = context(request).app.db
    try:
        with db.session() as s:  # a refused change is rolled back whole
            _supplier(s, page.access, supplier_id)
            page.access.require_admin()
            suppliers.update(s, supplier_id, name=name, vat_id=vat_id, domains=domains.splitlines())
    except StoreError as exc:
        problem = str(exc).strip().rstrip(".") + "."
        if "." not in problem.split(" ", 1)[0][:-1]:  # a domain first keeps its case
            problem = problem[:1].upper() + problem[1:]
        errors = {_field_of(problem): problem}
        with db.session() as s:
            supplier = _supplier(s, page.access, supplier_id)
            return _supplier_page(
                request, page, s, supplier, errors=errors, typed=typed, status_code=422
            )
    return redirect(f"/suppliers/{supplier_id}", flash=_("Saved."))


def _iban_action(
    request: Request, page: PageUser, supplier_id: int, what: str, iban: str
) -> Response:
    """Confirm, remove or add an IBAN of the supplier; a wrong one is said in the flash."""
    actions = {
        "confirm": (suppliers.confirm_iban, N_("%(iban)s is confirmed.")),
        "remove": (
            suppliers.remove_iban,
            N_("%(iban)s is removed: a document asking payment to it is flagged."),
        ),
        "add": (suppliers.add_iban, N_("%(iban)s is added as a confirmed IBAN.")),
    }
    act, done = actions[what]
    back = f"/suppliers/{supplier_id}#ibans"
    try:
        with context(request).app.db.session() as s:
            _supplier(s, page.access, supplier_id)
            page.access.require_admin()
            if not iban.strip():
                return redirect(back, flash=_("Type the IBAN first."), request=request)
            act(s, supplier_id, iban)
    except StoreError as exc:
        flash = _("Not done: %(why)s.") % {"why": str(exc).rstrip(".")}
        return redirect(back, flash=flash, request=request)
    return redirect(back, flash=_(done) % {"iban": readable.iban(iban)}, request=request)


@router.post("/suppliers/{supplier_id}/ibans/confirm")
def confirm_iban(request: Request, page: PageUser, supplier_id: int, iban: Text = "") -> Response:
    return _iban_action(request, page, supplier_id, "confirm", iban)


@router.post("/suppliers/{supplier_id}/ibans/remove")
def remove_iban(request: Request, page: PageUser, supplier_id: int, iban: Text = "") -> Response:
    return _iban_action(request, page, supplier_id, "remove", iban)


@router.post("/suppliers/{supplier_id}/ibans/add")
def add_iban(request: Request, page: PageUser, supplier_id: int, iban: Text = "") -> Response:
    return _iban_action(request, page, supplier_id, "add", iban)


@router.post("/suppliers/{supplier_id}/merge")
def merge_supplier(
    request: Request, page: PageUser, supplier_id: int, other: Text = "", confirm: Text = ""
) -> Response:
    """Merge another supplier of the same company into this one (its documents, domains and
    IBANs move here; it is gone)."""
    back = f"/suppliers/{supplier_id}#merge"
    try:
        with context(request).app.db.session() as s:
            _supplier(s, page.access, supplier_id)
            page.access.require_admin()
            other_id = _company_id(other)
            if other_id is None:
                flash = _("Choose the supplier to merge into this one.")
                return redirect(back, flash=flash, request=request)
            name = _supplier(s, page.access, other_id).name
            if confirm != "yes":
                flash = _('Tick "Yes, merge" to merge the two suppliers.')
                return redirect(back, flash=flash, request=request)
            info = suppliers.merge(s, supplier_id, other_id)
    except StoreError as exc:
        flash = _("Not merged: %(why)s.") % {"why": str(exc).rstrip(".")}
        return redirect(back, flash=flash, request=request)
    flash = _("%(other)s is merged into %(supplier)s.") % {"other": name, "supplier": info.name}
    return redirect(f"/suppliers/{supplier_id}", flash=flash, request=request)


@router.post("/suppliers/blocked/unblock")
def unblock(
    request: Request, page: PageUser, company: Text = "", domain: Text = "", back: Text = ""
) -> Response:
    """Import mail from a blocked sender domain again."""
    target = back if back.startswith("/suppliers") and not back.startswith("//") else "/suppliers"
    company_id = _company_id(company)
    if company_id is None:
        raise NotFound(_("no such company"))
    try:
        with context(request).app.db.session() as s:
            page.access.company(s, company_id)
            page.access.require_admin()
            suppliers.unblock(s, company_id, domain)
    except StoreError as exc:
        return redirect(target, flash=f"{str(exc).rstrip('.')}.", request=request)
    flash = _("%(domain)s is no longer blocked: its mail is imported again.") % {
        "domain": domain.strip().lower()
    }
    return redirect(target, flash=flash, request=request)
