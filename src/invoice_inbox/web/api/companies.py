"""API: the companies a user belongs to (admins: all), with their import address and counts;
admins add companies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from invoice_inbox.i18n import _
from invoice_inbox.pipeline.senders import InvalidPattern, normalize_pattern
from invoice_inbox.store import companies as companies_store
from invoice_inbox.store.documents import in_queue
from invoice_inbox.store.models import Company, Document, Source
from invoice_inbox.web.access import Access
from invoice_inbox.web.api.schemas import (
    ERRORS,
    FORBIDDEN,
    NEEDS_TOKEN,
    CompanyCounts,
    CompanyIn,
    CompanyOut,
    Error,
    bad_value,
)
from invoice_inbox.web.security import ApiUser, context

router = APIRouter(tags=["companies"], dependencies=NEEDS_TOKEN, responses=ERRORS)


def _counts(s: Session, access: Access, ids: Sequence[int]) -> dict[int, CompanyCounts]:
    """Three grouped queries for all the companies shown."""
    sources_q = access.limit_sources(
        select(Source.company_id, func.count()).where(Source.company_id.in_(ids))
    ).group_by(Source.company_id)
    sources = {cid: n for cid, n in s.execute(sources_q)}
    docs_q = select(Document.company_id, func.count()).where(
        Document.company_id.in_(ids), in_queue()
    )
    documents = {cid: n for cid, n in s.execute(docs_q.group_by(Document.company_id))}
    new_q = docs_q.where(Document.processed_at.is_(None)).group_by(Document.company_id)
    new = {cid: n for cid, n in s.execute(new_q)}
    return {
        i: CompanyCounts(
            sources=sources.get(i, 0), documents=documents.get(i, 0), new_documents=new.get(i, 0)
        )
        for i in ids
    }


def _out(s: Session, access: Access, found: Sequence[Company]) -> list[CompanyOut]:
    counts = _counts(s, access, [c.id for c in found])
    return [
        CompanyOut(
            id=c.id,
            name=c.name,
            import_address=companies_store.address(s, c),
            notify_emails=list(c.notify_emails or []),
            locale=c.locale,
            created_at=c.created_at,
            counts=counts[c.id],
        )
        for c in found
    ]


@router.get("/companies", response_model=list[CompanyOut])
def list_companies(request: Request, access: ApiUser) -> list[CompanyOut]:
    """The companies you belong to (administrators: every company), by name."""
    with context(request).app.db.session() as s:
        return _out(s, access, access.companies(s))


@router.get("/companies/{company_id}", response_model=CompanyOut)
def get_company(request: Request, access: ApiUser, company_id: int) -> CompanyOut:
    with context(request).app.db.session() as s:
        return _out(s, access, [access.company(s, company_id)])[0]


@router.post(
    "/companies",
    response_model=CompanyOut,
    status_code=201,
    responses={**FORBIDDEN, 409: {"model": Error, "description": "The name is taken."}},
)
def create_company(request: Request, access: ApiUser, body: CompanyIn) -> CompanyOut:
    """Add a company (administrators); it gets its central import address at once."""
    access.require_admin()
    name = body.name.strip()
    emails = []
    for i, value in enumerate(body.notify_emails):
        try:
            address = normalize_pattern(value)
        except InvalidPattern as exc:
            raise bad_value(f"notify_emails.{i}", str(exc)) from None
        if address.startswith("*@"):
            raise bad_value(f"notify_emails.{i}", _("takes an e-mail address, not a pattern"))
        emails.append(address)
    if not name:
        raise bad_value("name", _("a company needs a name"))
    with context(request).app.db.session() as s:
        if s.scalar(select(Company.id).where(Company.name == name)) is not None:
            raise HTTPException(
                409, _('a company named "%(name)s" exists already') % {"name": name}
            )
        company = Company(name=name, notify_emails=emails)
        s.add(company)
        s.flush()
        companies_store.import_source(s, company)
        return _out(s, access, [company])[0]


class CompanyChange(BaseModel):
    """Only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    locale: Literal["en", "de", "nl", "pl", "fr"] | None = None


@router.patch(
    "/companies/{company_id}",
    response_model=CompanyOut,
    responses=FORBIDDEN,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CompanyChange.model_json_schema()}},
        }
    },
)
def change_company(
    request: Request,
    access: ApiUser,
    company_id: int,
    body: Annotated[dict[str, Any], Body(include_in_schema=False)],
) -> CompanyOut:
    """Set the company's language (``locale``; null: English) for notifications to addresses
    that are no user's and webhook messages (administrators). Another company's is not found,
    whatever the body says: it is read only after the company."""
    with context(request).app.db.session() as s:
        company = access.company(s, company_id)
        access.require_admin()
        try:
            change = CompanyChange.model_validate(body)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        if "locale" in change.model_fields_set:
            company.locale = change.locale
        s.flush()
        return _out(s, access, [company])[0]
