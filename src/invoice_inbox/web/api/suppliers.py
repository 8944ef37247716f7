"""API: the supplier registry of your companies: list and read suppliers; rename them, set
their VAT id and sender domains, confirm, add or remove an IBAN, merge two (administrators);
the sender domains a company blocked after a fraud, and unblocking one (administrators).

Scoped like every listing: a user sees only their companies' suppliers, and anything else
answers 404. A wrong value (an IBAN that fails its checksum, a domain that is not one) is one
sentence naming the field (422); a domain that belongs to another supplier answers 409.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from invoice_inbox.store import errors as store_errors
from invoice_inbox.store import suppliers
from invoice_inbox.web.access import Access, NotFound
from invoice_inbox.web.api.schemas import (
    ERRORS,
    FORBIDDEN,
    NEEDS_TOKEN,
    Error,
    Responses,
    bad_value,
)
from invoice_inbox.web.api.schemas_suppliers import (
    BlockedOut,
    IbanIn,
    MergeIn,
    SupplierIn,
    SupplierOut,
)
from invoice_inbox.web.security import ApiUser, context

router = APIRouter(tags=["suppliers"], dependencies=NEEDS_TOKEN, responses=ERRORS)

TAKEN: Responses = {409: {"model": Error, "description": "A domain belongs to another supplier."}}


@contextmanager
def store_errors_as_http(field: str) -> Iterator[None]:
    """The store's sentences as answers: no such thing 404, taken 409, else 422 on *field*."""
    try:
        yield
    except store_errors.NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except store_errors.AlreadyExists as exc:
        raise HTTPException(409, str(exc)) from None
    except store_errors.StoreError as exc:
        raise bad_value(field, str(exc)) from None


def _company_ids(s: Session, access: Access, company_id: int | None) -> list[int]:
    if company_id is not None:
        return [access.company(s, company_id).id]
    return [c.id for c in access.companies(s)]


def _supplier(s: Session, access: Access, supplier_id: int) -> SupplierOut:
    """The supplier, if one of the user's companies has it; else 404."""
    try:
        info = suppliers.get(s, supplier_id)
    except store_errors.NotFound:
        raise NotFound("no such supplier") from None
    if not access.sees_company(info.company_id):
        raise NotFound("no such supplier")
    return SupplierOut.of(info)


@router.get("/suppliers", response_model=list[SupplierOut])
def list_suppliers(
    request: Request, access: ApiUser, company_id: int | None = None
) -> list[SupplierOut]:
    """The suppliers of your companies, by company and name; *company_id* narrows to one.
    ``open_alerts`` counts their documents whose bank details changed and wait for a decision
    (``POST /documents/{id}/confirm-iban`` or ``/mark-fraud``)."""
    with context(request).app.db.session() as s:
        ids = _company_ids(s, access, company_id)
        return [SupplierOut.of(info) for info in suppliers.list_for(s, ids)]


@router.get("/suppliers/{supplier_id}", response_model=SupplierOut)
def get_supplier(request: Request, access: ApiUser, supplier_id: int) -> SupplierOut:
    """One supplier: its sender domains, known IBANs (confirmed or not), documents and open
    bank-detail alerts."""
    with context(request).app.db.session() as s:
        return _supplier(s, access, supplier_id)


@router.patch(
    "/suppliers/{supplier_id}", response_model=SupplierOut, responses={**FORBIDDEN, **TAKEN}
)
def change_supplier(
    request: Request, access: ApiUser, supplier_id: int, body: SupplierIn
) -> SupplierOut:
    """Rename a supplier, set its VAT id (``""`` clears it) or replace its sender domains
    (administrators); what is left out stays."""
    with context(request).app.db.session() as s:
        _supplier(s, access, supplier_id)
        access.require_admin()
        field = "domains" if body.domains is not None else "name"
        with store_errors_as_http(field):
            info = suppliers.update(
                s, supplier_id, name=body.name, vat_id=body.vat_id, domains=body.domains
            )
        return SupplierOut.of(info)


@router.post(
    "/suppliers/{supplier_id}/ibans",
    response_model=SupplierOut,
    status_code=201,
    responses=FORBIDDEN,
)
def add_iban(request: Request, access: ApiUser, supplier_id: int, body: IbanIn) -> SupplierOut:
    """Add an IBAN the supplier is known to use (administrators): known and confirmed, so its
    documents asking payment to it raise no alert."""
    with context(request).app.db.session() as s:
        _supplier(s, access, supplier_id)
        access.require_admin()
        with store_errors_as_http("iban"):
            return SupplierOut.of(suppliers.add_iban(s, supplier_id, body.iban))


@router.post(
    "/suppliers/{supplier_id}/ibans/{iban}/confirm",
    response_model=SupplierOut,
    responses=FORBIDDEN,
)
def confirm_iban(request: Request, access: ApiUser, supplier_id: int, iban: str) -> SupplierOut:
    """Confirm one of its IBANs, known or asked for by a flagged document (administrators);
    the alerts of its documents asking payment to it become ``confirmed``."""
    with context(request).app.db.session() as s:
        _supplier(s, access, supplier_id)
        access.require_admin()
        with store_errors_as_http("iban"):
            return SupplierOut.of(suppliers.confirm_iban(s, supplier_id, iban, by=access.email))


@router.delete(
    "/suppliers/{supplier_id}/ibans/{iban}", response_model=SupplierOut, responses=FORBIDDEN
)
def remove_iban(request: Request, access: ApiUser, supplier_id: int, iban: str) -> SupplierOut:
    """The IBAN is no longer known as the supplier's (administrators): a document asking
    payment to it raises an alert again."""
    with context(request).app.db.session() as s:
        _supplier(s, access, supplier_id)
        access.require_admin()
        with store_errors_as_http("iban"):
            return SupplierOut.of(suppliers.remove_iban(s, supplier_id, iban))


@router.post("/suppliers/{supplier_id}/merge", response_model=SupplierOut, responses={**FORBIDDEN})
def merge_suppliers(
    request: Request, access: ApiUser, supplier_id: int, body: MergeIn
) -> SupplierOut:
    """Merge supplier *other_id* into this one (administrators): its documents, domains and
    IBANs move here, counts and dates are combined, and it is deleted."""
    with context(request).app.db.session() as s:
        _supplier(s, access, supplier_id)
        _supplier(s, access, body.other_id)
        access.require_admin()
        with store_errors_as_http("other_id"):
            return SupplierOut.of(suppliers.merge(s, supplier_id, body.other_id))


@router.get("/companies/{company_id}/blocked-senders", response_model=list[BlockedOut])
def list_blocked(request: Request, access: ApiUser, company_id: int) -> list[BlockedOut]:
    """The sender domains the company imports nothing from, whatever a source's policy: each
    was blocked when a document from it was marked as fraud."""
    with context(request).app.db.session() as s:
        access.company(s, company_id)
        found = suppliers.blocked_for(s, [company_id])
        return [BlockedOut.model_validate(b, from_attributes=True) for b in found]


@router.delete(
    "/companies/{company_id}/blocked-senders/{domain}", status_code=204, responses=FORBIDDEN
)
def unblock(request: Request, access: ApiUser, company_id: int, domain: str) -> Response:
    """Import from the domain again (administrators)."""
    with context(request).app.db.session() as s:
        access.company(s, company_id)
        access.require_admin()
        with store_errors_as_http("domain"):
            suppliers.unblock(s, company_id, domain)
    return Response(status_code=204)
