"""Pages: companies (seen by their users, changed by administrators).

List, create, rename; the central import address with a button that replaces it; who gets the
company's notifications (everyone with access, plus extra addresses an administrator adds or
removes); and delete, after a confirmation page that names what goes with the company: its
mailboxes, documents and mails (the stored files stay for a clean-up of unreferenced blobs).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from invoice_inbox.i18n import LOCALES, ngettext
from invoice_inbox.i18n import gettext as _
from invoice_inbox.pipeline.senders import InvalidPattern, normalize_pattern
from invoice_inbox.runtime import configure
from invoice_inbox.store import companies as company_store
from invoice_inbox.store import notifications
from invoice_inbox.store import sources as source_store
from invoice_inbox.store.models import Company, Source, User
from invoice_inbox.web.access import Access
from invoice_inbox.web.pages.sources import BADGES
from invoice_inbox.web.security import Page, PageUser, context
from invoice_inbox.web.templating import redirect, render

router = APIRouter()

COMPANY_NAME_MAX = 200
MAX_RECIPIENTS = 50
Text = Annotated[str, Form()]


def _company_name_problem(s: Session, name: str, *, other_than: int | None = None) -> str | None:
    if not name:
        return _("Give the company a name.")
    if len(name) > COMPANY_NAME_MAX:
        return _("The name may have at most %(n)s characters.") % {"n": COMPANY_NAME_MAX}
    q = select(Company.id).where(func.lower(Company.name) == name.lower())
    if other_than is not None:
        q = q.where(Company.id != other_than)
    if s.scalar(q) is not None:
        return _('There is already a company named "%(name)s".') % {"name": name}
    return None


def _visible_sources(s: Session, access: Access, company: Company) -> list[Source]:
    q = select(Source).where(Source.company_id == company.id).order_by(Source.name)
    return list(s.scalars(access.limit_sources(q)))


def _users_of(s: Session, company: Company) -> list[User]:
    q = select(User).where(User.companies.any(Company.id == company.id)).order_by(User.email)
    return list(s.scalars(q))


def _status(src: Source) -> tuple[str, str]:
    """(words, badge) of a source's status, as on the sources list."""
    key, words = configure.status(src)
    return words, BADGES.get(key, "")


def _companies_page(
    request: Request,
    page: Page,
    *,
    status_code: int = 200,
    name: str = "",
    errors: dict[str, str] | None = None,
) -> Response:
    with context(request).app.db.session() as s:
        rows = []
        for c in page.access.companies(s):
            company_store.import_source(s, c)  # every company has its import address
            mailboxes = [
                src
                for src in _visible_sources(s, page.access, c)
                if src.protocol != company_store.IMPORT_PROTOCOL
            ]
            rows.append(
                {
                    "company": c,
                    "sources": len(mailboxes),
                    "users": _users_of(s, c),
                    "address": company_store.address(s, c),
                }
            )
        return render(
            request,
            "companies.html",
            page,
            status_code=status_code,
            nav="companies",
            rows=rows,
            domain=company_store.setting(s, company_store.SMTP_DOMAIN),
            typed_name=name,
            errors=errors or {},
        )


@router.get("/companies")
def companies_page(request: Request, page: PageUser) -> Response:
    return _companies_page(request, page)


@router.post("/companies")
def create_company(request: Request, page: PageUser, name: Text = "") -> Response:
    page.access.require_admin()
    name = name.strip()
    with context(request).app.db.session() as s:
        problem = _company_name_problem(s, name)
        if problem is None:
            c = source_store.company(s, name, create=True)
            company_store.import_source(s, c)
            company_id = c.id
    if problem:
        return _companies_page(request, page, status_code=422, name=name, errors={"name": problem})
    flash = _('The company "%(name)s" is created.') % {"name": name}
    return redirect(f"/companies/{company_id}", flash=flash)


def _company_page(
    request: Request,
    page: Page,
    company_id: int,
    *,
    status_code: int = 200,
    name: str | None = None,
    recipient: str = "",
    errors: dict[str, str] | None = None,
) -> Response:
    with context(request).app.db.session() as s:
        c = page.access.company(s, company_id)
        importer = company_store.import_source(s, c)
        return render(
            request,
            "company.html",
            page,
            status_code=status_code,
            nav="companies",
            company=c,
            typed_name=c.name if name is None else name,
            typed_recipient=recipient,
            errors=errors or {},
            users=_users_of(s, c),
            recipients=notifications.recipients(s, c),
            email_relay=notifications.channels(s)["email"],
            sources=[
                (x, *_status(x)) for x in _visible_sources(s, page.access, c) if x.id != importer.id
            ],
            importer=importer if page.access.uses_source(importer) else None,
            address=company_store.address(s, c),
        )


@router.get("/companies/{company_id}")
def company_page(request: Request, page: PageUser, company_id: int) -> Response:
    return _company_page(request, page, company_id)


@router.post("/companies/{company_id}")
def rename_company(request: Request, page: PageUser, company_id: int, name: Text = "") -> Response:
    page.access.require_admin()
    name = name.strip()
    with context(request).app.db.session() as s:
        c = page.access.company(s, company_id)
        problem = _company_name_problem(s, name, other_than=c.id)
        if problem is None:
            c.name = name
    if problem:
        return _company_page(
            request, page, company_id, status_code=422, name=name, errors={"name": problem}
        )
    flash = _('The company is now called "%(name)s".') % {"name": name}
    return redirect(f"/companies/{company_id}", flash=flash)


@router.post("/companies/{company_id}/address")
def regenerate_address(request: Request, page: PageUser, company_id: int) -> Response:
    page.access.require_admin()
    with context(request).app.db.session() as s:
        c = page.access.company(s, company_id)
        company_store.regenerate(s, c)
        address = company_store.address(s, c)
    if address:
        flash = _(
            "The new import address is %(address)s; mail to the old one is refused from now on."
        ) % {"address": address}
    else:
        flash = _(
            "The company has a new import address; mail to the old one is refused from now on."
        )
    return redirect(f"/companies/{company_id}", flash=flash, request=request)


# -- notification recipients -------------------------------------------------------------------


def _recipient_problem(c: Company, typed: str) -> tuple[str | None, str]:
    """(problem, the address as it is kept) for an extra recipient typed on the page."""
    if not typed:
        return _("Give an e-mail address."), typed
    try:
        address = normalize_pattern(typed)
    except InvalidPattern as exc:
        return f"{str(exc)[:1].upper()}{str(exc)[1:].rstrip('.')}.", typed
    if address.startswith("*@"):
        return _("Give one e-mail address, not a whole domain."), typed
    if address.lower() in {a.lower() for a in c.notify_emails or []}:
        return _("%(address)s gets the notifications already.") % {"address": address}, typed
    if len(c.notify_emails or []) >= MAX_RECIPIENTS:
        return _("A company may have at most %(n)s extra addresses.") % {"n": MAX_RECIPIENTS}, typed
    return None, address


@router.post("/companies/{company_id}/recipients")
def add_recipient(
    request: Request, page: PageUser, company_id: int, address: Text = ""
) -> Response:
    page.access.require_admin()
    typed = address.strip()
    with context(request).app.db.session() as s:
        c = page.access.company(s, company_id)
        problem, address = _recipient_problem(c, typed)
        if problem is None:
            c.notify_emails = [*(c.notify_emails or []), address]
    if problem:
        return _company_page(
            request,
            page,
            company_id,
            status_code=422,
            recipient=typed,
            errors={"recipient": problem},
        )
    return redirect(
        f"/companies/{company_id}#recipients",
        flash=_("%(address)s gets this company's notifications from now on.")
        % {"address": address},
    )


@router.post("/companies/{company_id}/recipients/remove")
def remove_recipient(
    request: Request, page: PageUser, company_id: int, address: Text = ""
) -> Response:
    page.access.require_admin()
    with context(request).app.db.session() as s:
        c = page.access.company(s, company_id)
        kept = [a for a in c.notify_emails or [] if a.lower() != address.strip().lower()]
        removed = len(kept) != len(c.notify_emails or [])
        c.notify_emails = kept
    flash = (
        _("%(address)s no longer gets this company's notifications.")
        if removed
        else _("%(address)s was not one of the company's extra addresses.")
    ) % {"address": address}
    return redirect(f"/companies/{company_id}#recipients", flash=flash)


@router.post("/companies/{company_id}/locale")
def set_company_locale(
    request: Request, page: PageUser, company_id: int, locale: Text = ""
) -> Response:
    """The language of notifications to the company's addresses that are no user's, and of its
    webhooks' message (company_language.html); empty: English, webhooks without a message."""
    page.access.require_admin()
    chosen = locale.strip() or None
    if chosen is not None and chosen not in LOCALES:
        raise HTTPException(
            422, _("%(value)s is not a language of this product.") % {"value": repr(chosen[:16])}
        )
    with context(request).app.db.session() as s:
        page.access.company(s, company_id).locale = chosen
    return redirect(f"/companies/{company_id}#recipients", flash=_("The language is saved."))


# -- delete ------------------------------------------------------------------------------------


@router.get("/companies/{company_id}/delete")
def confirm_delete(request: Request, page: PageUser, company_id: int) -> Response:
    page.access.require_admin()
    with context(request).app.db.session() as s:
        c = page.access.company(s, company_id)
        return render(
            request,
            "company_delete.html",
            page,
            nav="companies",
            company=c,
            gone=company_store.footprint(s, c),
            address=company_store.address(s, c),
        )


@router.post("/companies/{company_id}/delete")
def delete_company(request: Request, page: PageUser, company_id: int) -> Response:
    page.access.require_admin()
    with context(request).app.db.session() as s:
        c = page.access.company(s, company_id)
        name = c.name
        gone = company_store.delete(s, c)
    n = len(gone.sources)
    return redirect(
        "/companies",
        flash=_('The company "%(name)s" is deleted, with %(sources)s, %(documents)s and %(mails)s.')
        % {
            "name": name,
            "sources": ngettext("%(n)s source", "%(n)s sources", n) % {"n": n},
            "documents": ngettext("%(n)s document", "%(n)s documents", gone.documents)
            % {"n": gone.documents},
            "mails": ngettext("%(n)s mail", "%(n)s mails", gone.mails) % {"n": gone.mails},
        },
    )
