"""Reading the supplier registry: the suppliers of companies as the screens and the API show
them, the blocked sender domains, and what decides a mail (known and blocked domains).
``store.suppliers`` is the one module surfaces import; it re-exports these."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, bindparam, func, literal_column, null, select, union_all
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.expression import BindParameter, CompoundSelect

from invoice_inbox.freemail import is_freemail
from invoice_inbox.i18n import N_, gettext
from invoice_inbox.store.errors import NotFound
from invoice_inbox.store.models import Company, Document, Source, utcnow
from invoice_inbox.store.models_trust import BlockedSender, Supplier, SupplierDomain
from invoice_inbox.store.supplier_learning import domain_of


@dataclass(frozen=True)
class IbanInfo:
    iban: str
    confirmed: bool  # by an admin; otherwise known because seen on a document not flagged
    first_seen: datetime
    last_seen: datetime
    seen_count: int


@dataclass(frozen=True)
class SupplierInfo:
    """A supplier as the screens and the API show it."""

    id: int
    company_id: int
    company: str
    name: str
    vat_id: str | None
    domains: list[str]
    ibans: list[IbanInfo]  # the known ones
    first_seen: datetime
    last_seen: datetime
    documents_count: int
    open_alerts: int  # documents flagged "changed" an admin has not decided on yet
    pending_ibans: list[str]  # IBANs of those documents, not known


@dataclass(frozen=True)
class BlockedInfo:
    company_id: int
    company: str
    domain: str
    reason: str
    document_id: int | None
    created_at: datetime


# -- what decides a mail ------------------------------------------------------------------------


def known_domains(s: Session, company_id: int) -> set[str]:
    """The company's supplier domains and the domains of its sources' allowed senders
    (``*@domain`` and addresses alike), free-mail domains left out: what look-alikes imitate."""
    found = set(
        s.scalars(select(SupplierDomain.domain).where(SupplierDomain.company_id == company_id))
    )
    for patterns in s.scalars(
        select(Source.allowed_senders).where(Source.company_id == company_id)
    ):
        for pattern in patterns or []:
            domain = domain_of(pattern)
            if domain and not is_freemail(domain):
                found.add(domain)
    return found


# what a run's sender check reads for every batch (``sender_domains``), built once: building and
# compiling the statements cost more than running them
_COMPANY: BindParameter[int] = bindparam("company_id", type_=Integer)
# (kind, domain, reason); the reason is NULL on the known rows
_KNOWN_AND_BLOCKED: CompoundSelect[str, str, str] = union_all(
    select(literal_column("'known'"), SupplierDomain.domain, null()).where(
        SupplierDomain.company_id == _COMPANY
    ),
    select(literal_column("'blocked'"), BlockedSender.domain, BlockedSender.reason).where(
        BlockedSender.company_id == _COMPANY
    ),
)
_ALLOWED = select(Source.allowed_senders).where(Source.company_id == _COMPANY)


def sender_domains(s: Session, company_id: int) -> tuple[set[str], dict[str, str]]:
    """``known_domains`` and ``blocked_domains`` together, in two statements."""
    known: set[str] = set()
    blocked: dict[str, str] = {}
    conn = s.connection()
    for kind, domain, reason in conn.execute(_KNOWN_AND_BLOCKED, {"company_id": company_id}):
        if kind == "known":
            known.add(domain)
        else:
            blocked[domain] = reason
    for patterns in conn.execute(_ALLOWED, {"company_id": company_id}).scalars():
        for pattern in patterns or []:
            allowed = domain_of(pattern)
            if allowed and not is_freemail(allowed):
                known.add(allowed)
    return known, blocked


# why a domain was blocked, as stored (English); ``reason_words`` gives it in the reader's language
FRAUD_REASON = N_("document #%(document)s marked as fraud by %(by)s")
_FRAUD = re.compile(r"document #(\d+) marked as fraud by (.+)", re.DOTALL)


def reason_words(reason: str | None) -> str:
    """A blocked domain's stored reason in the current locale (other reasons as they are)."""
    found = _FRAUD.fullmatch(reason or "")
    if found is None:
        return reason or ""
    return gettext(FRAUD_REASON) % {"document": found.group(1), "by": found.group(2)}


def blocked_domains(s: Session, company_id: int) -> dict[str, str]:
    """The sender domains the company blocked, each with the reason."""
    rows = s.execute(
        select(BlockedSender.domain, BlockedSender.reason).where(
            BlockedSender.company_id == company_id
        )
    )
    return {domain: reason for domain, reason in rows}


def seed_from_allowed_senders(s: Session, company_id: int) -> int:
    """A supplier for each allowed-sender domain of the company's sources that belongs to none
    yet (free-mail domains left out); returns how many were made."""
    taken = set(
        s.scalars(select(SupplierDomain.domain).where(SupplierDomain.company_id == company_id))
    )
    made = 0
    for patterns in s.scalars(
        select(Source.allowed_senders).where(Source.company_id == company_id)
    ):
        for pattern in patterns or []:
            domain = domain_of(pattern)
            if not domain or domain in taken or is_freemail(domain):
                continue
            now = utcnow()
            supplier = Supplier(
                company_id=company_id, name=domain, first_seen=now, last_seen=now, documents_count=0
            )
            supplier.domains.append(SupplierDomain(company_id=company_id, domain=domain))
            s.add(supplier)
            taken.add(domain)
            made += 1
    s.flush()
    return made


# -- reading ------------------------------------------------------------------------------------


def _pending(s: Session, supplier_ids: list[int]) -> dict[int, list[str | None]]:
    """The IBANs of each supplier's documents flagged "changed", in arrival order."""
    found: dict[int, list[str | None]] = {i: [] for i in supplier_ids}
    rows = s.execute(
        select(Document.supplier_id, Document.iban)
        .where(Document.supplier_id.in_(supplier_ids), Document.bank_alert == "changed")
        .order_by(Document.id)
    )
    for supplier_id, iban in rows:
        assert supplier_id is not None  # selected where it is one of supplier_ids
        found[supplier_id].append(iban)
    return found


def _info(supplier: Supplier, company: str, pending: list[str | None]) -> SupplierInfo:
    return SupplierInfo(
        id=supplier.id,
        company_id=supplier.company_id,
        company=company,
        name=supplier.name,
        vat_id=supplier.vat_id,
        domains=sorted(d.domain for d in supplier.domains),
        ibans=[
            IbanInfo(i.iban, i.confirmed, i.first_seen, i.last_seen, i.seen_count)
            for i in supplier.ibans
        ],
        first_seen=supplier.first_seen,
        last_seen=supplier.last_seen,
        documents_count=supplier.documents_count,
        open_alerts=len(pending),
        pending_ibans=list(dict.fromkeys(i for i in pending if i)),
    )


def list_for(s: Session, company_ids: Iterable[int]) -> list[SupplierInfo]:
    """The suppliers of these companies, by company and name."""
    rows = list(
        s.execute(
            select(Supplier, Company.name)
            .join(Company, Supplier.company_id == Company.id)
            .where(Supplier.company_id.in_(list(company_ids)))
            .options(selectinload(Supplier.domains), selectinload(Supplier.ibans))
            .order_by(Company.name, func.lower(Supplier.name), Supplier.id)
        )
    )
    pending = _pending(s, [supplier.id for supplier, _ in rows])
    return [_info(supplier, company, pending[supplier.id]) for supplier, company in rows]


def supplier_row(s: Session, supplier_id: int) -> Supplier:
    supplier = s.get(Supplier, supplier_id)
    if supplier is None:
        raise NotFound(gettext("there is no supplier #%(id)s") % {"id": supplier_id})
    return supplier


def get(s: Session, supplier_id: int) -> SupplierInfo:
    supplier = supplier_row(s, supplier_id)
    company = s.get(Company, supplier.company_id)
    pending = _pending(s, [supplier.id])[supplier.id]
    return _info(supplier, company.name if company else "", pending)


def blocked_for(s: Session, company_ids: Iterable[int]) -> list[BlockedInfo]:
    rows = s.execute(
        select(BlockedSender, Company.name)
        .join(Company, BlockedSender.company_id == Company.id)
        .where(BlockedSender.company_id.in_(list(company_ids)))
        .order_by(Company.name, BlockedSender.domain)
    )
    return [
        BlockedInfo(b.company_id, c, b.domain, b.reason, b.document_id, b.created_at)
        for b, c in rows
    ]
