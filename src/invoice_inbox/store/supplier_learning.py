"""Learning suppliers from committed mail: :func:`learn` runs in the transaction that commits a
ledger row and its documents (after they are flushed and marked against the queue).

For each document of the mail that is not an exact duplicate and has no supplier yet:

- the supplier is found by the e-invoice seller's VAT id, else by the sender domain (the
  forwarded mail's sender for a document that came in a forward); it is made when new, named
  after the e-invoice seller, else the sender's display name, else the domain. A free-mail
  domain never identifies a supplier by itself, nor does a look-alike domain;
- the document is linked, counted, and the supplier's first and last seen dates kept;
- its IBAN is compared with the supplier's known ones: among them, it is seen once more; none
  known yet, it is recorded unconfirmed; otherwise the document is flagged "changed" with the
  known ones, and a notification and one ``supplier.bank_details_changed`` event go out.

A mail whose sender authentication failed, or from a look-alike domain, teaches nothing (no new
domain, no first IBAN), but its documents are still compared. A mail from a look-alike domain
gets one notification "looks like supplier.test".

Each document is handled once: a linked document is never looked at again (recheck, re-runs).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import cast

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, selectinload

from invoice_inbox import freemail
from invoice_inbox.store import supplier_alerts
from invoice_inbox.store.models import Document, Message, utcnow
from invoice_inbox.store.models_trust import Supplier, SupplierDomain, SupplierIban
from invoice_inbox.store.new_rows import LedgerRow, QueueDocument

_VAT_NOISE = re.compile(r"[\s.\-/]")
# asked for each document learned from, of the few domains a company's mail comes from
is_freemail = functools.lru_cache(maxsize=4096)(freemail.is_freemail)


@functools.lru_cache(maxsize=4096)  # asked several times per document, of a few senders
def domain_of(address: str | None) -> str | None:
    """The domain of an address or ``*@domain`` pattern, lower case; None without one."""
    if not address or "@" not in address:
        return None
    domain = address.rsplit("@", 1)[1].strip().strip(">").rstrip(".").lower()
    return domain if domain and len(domain) <= 253 else None  # 253: the longest DNS name


def normal_vat_id(value: str | None) -> str | None:
    """A VAT id upper case without spaces, dots, hyphens or slashes; None when empty."""
    if not value:
        return None
    compact = _VAT_NOISE.sub("", value).upper()
    return compact[:40] or None


def sender_domain(doc: QueueDocument, row: LedgerRow | None) -> str | None:
    """Who sent *doc*: the forwarded mail's sender when it came in a forward, else the mail's."""
    return domain_of(doc.origin_sender) or domain_of(row.sender if row else None)


def _exact_duplicate(doc: QueueDocument) -> bool:
    return doc.duplicate_kind == "exact" and doc.duplicate_of_id is not None


def learn(
    s: Session,
    row: LedgerRow,
    *,
    company_id: int,
    sender_name: str | None = None,
    now: datetime | None = None,
) -> None:
    """Learn from *row* (flushed, or inserted by ``store.new_rows``, with its documents): see
    the module's docstring."""
    now = now or utcnow()
    if row.lookalike_of:  # supplier_alerts reads the same columns of a new row
        supplier_alerts.lookalike_sender(s, cast(Message, row), now=now)
    docs = [d for d in row.documents if d.supplier_id is None and not _exact_duplicate(d)]
    if not docs:
        return
    teach = row.sender_auth != "fail" and not row.lookalike_of
    for doc in docs:
        domain = sender_domain(doc, row)
        supplier = _supplier_for(s, company_id, doc, domain, teach=teach, name=sender_name)
        if supplier is None:
            continue
        doc.supplier_id = supplier.id
        supplier.documents_count = (supplier.documents_count or 0) + 1
        supplier.last_seen = max(supplier.last_seen or now, now)
        if doc.iban:
            _compare_iban(s, supplier, doc, row, teach=teach, now=now)


def learn_many(
    s: Session,
    rows: Iterable[tuple[LedgerRow, str | None]],
    *,
    company_id: int,
    now: datetime | None = None,
    then: Callable[[LedgerRow], object] | None = None,
) -> None:
    """:func:`learn` from each of *rows* (flushed ledger rows with their senders' display
    names), in order, after finding the suppliers of all their VAT ids and sender domains in
    one query each (a batch's mails come from a few suppliers: no query per mail). *then* is
    called with each row right after it is learned (``events.DocumentsCreated.add``: its
    payloads name the supplier as it is at that point, as with :func:`learn` mail by mail)."""
    rows = list(rows)
    _prefetch(s, company_id, [row for row, _ in rows])
    for row, name in rows:
        learn(s, row, company_id=company_id, sender_name=name, now=now)
        if then is not None:
            then(row)


# _prefetch's queries, built once; the lists are bound as they are (expanding parameters)
_BY_VAT_IDS = (
    select(Supplier.vat_id, Supplier.id)
    .where(
        Supplier.company_id == bindparam("company_id"),
        Supplier.vat_id.in_(bindparam("vat_ids", expanding=True)),
    )
    .order_by(Supplier.id)
)
_DOMAIN_OWNERS = select(SupplierDomain.domain, SupplierDomain.supplier_id).where(
    SupplierDomain.company_id == bindparam("company_id"),
    SupplierDomain.domain.in_(bindparam("domains", expanding=True)),
)
_SUPPLIERS = select(Supplier).where(Supplier.id.in_(bindparam("ids", expanding=True)))
_SUPPLIERS_WITH_IBANS = _SUPPLIERS.options(selectinload(Supplier.ibans))


def _prefetch(s: Session, company_id: int, rows: list[LedgerRow]) -> None:
    """Fill this transaction's cache (:func:`_cache`) with what :func:`_by_vat_id` and
    :func:`_by_domain` would find for the documents of *rows* that :func:`learn` looks at."""
    cache = _cache(s)
    vat_ids: set[str] = set()
    domains: set[str] = set()
    ibans = False
    for row in rows:
        for doc in row.documents:
            if doc.supplier_id is not None or _exact_duplicate(doc):
                continue
            ibans = ibans or bool(doc.iban)
            vat_id = normal_vat_id((doc.einvoice or {}).get("seller_vat_id"))
            if vat_id and (company_id, "vat", vat_id) not in cache:
                vat_ids.add(vat_id)
            domain = sender_domain(doc, row)
            if domain and (company_id, "domain", domain) not in cache:
                domains.add(domain)
    domains = {domain for domain in domains if not is_freemail(domain)}  # each domain once
    by_vat: dict[str, int] = {}
    if vat_ids:
        found = s.execute(_BY_VAT_IDS, {"company_id": company_id, "vat_ids": sorted(vat_ids)})
        for vat_id, supplier_id in found:
            assert vat_id is not None  # selected where it is one of vat_ids
            by_vat.setdefault(vat_id, supplier_id)
    by_domain: dict[str, int | None] = {}
    if domains:
        parents = {domain: _parents(domain) for domain in domains}
        wanted = sorted({parent for found in parents.values() for parent in found})
        owner: dict[str, int] = {}
        for i in range(0, len(wanted), 500):
            found_owners = s.execute(
                _DOMAIN_OWNERS, {"company_id": company_id, "domains": wanted[i : i + 500]}
            )
            owner.update((domain, supplier_id) for domain, supplier_id in found_owners)
        for domain, chain in parents.items():
            by_domain[domain] = next((owner[d] for d in chain if d in owner), None)
    ids = {*by_vat.values(), *(i for i in by_domain.values() if i is not None)}
    query = _SUPPLIERS_WITH_IBANS if ibans else _SUPPLIERS
    found_suppliers = s.scalars(query, {"ids": sorted(ids)}) if ids else ()
    suppliers = {supplier.id: supplier for supplier in found_suppliers}
    for vat_id in vat_ids:
        cache[(company_id, "vat", vat_id)] = suppliers.get(by_vat.get(vat_id, -1))
    for domain, owner_id in by_domain.items():
        cache[(company_id, "domain", domain)] = (
            None if owner_id is None else suppliers.get(owner_id)
        )


def _parents(domain: str) -> list[str]:
    """*domain* and its parent domains, nearest first, without the top-level one."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def _supplier_for(
    s: Session,
    company_id: int,
    doc: QueueDocument,
    domain: str | None,
    *,
    teach: bool,
    name: str | None,
) -> Supplier | None:
    invoice = doc.einvoice or {}
    vat_id = normal_vat_id(invoice.get("seller_vat_id"))
    usable = domain if domain and not is_freemail(domain) else None
    by_domain = _by_domain(s, company_id, usable) if usable else None
    supplier = None
    if vat_id:
        supplier = _by_vat_id(s, company_id, vat_id)
        if supplier is None and by_domain is not None and by_domain.vat_id is None:
            supplier = by_domain  # known by its domain; now its VAT id too
            supplier.vat_id = vat_id
            _cache(s)[(company_id, "vat", vat_id)] = supplier
    elif by_domain is not None:
        supplier = by_domain
    seller = (invoice.get("seller_name") or "").strip()
    if supplier is not None and seller and supplier.name == usable:
        supplier.name = seller[:300]  # named after its domain until its invoice said better
    if supplier is None:
        if not vat_id and not (usable and teach):
            return None  # nothing trustworthy to know it by
        now = utcnow()
        shown = invoice.get("seller_name") or name or usable or vat_id or ""
        supplier = Supplier(
            company_id=company_id,
            name=shown.strip()[:300],
            vat_id=vat_id,
            first_seen=now,
            last_seen=now,
            documents_count=0,
        )
        s.add(supplier)
        s.flush()
        if vat_id:
            _cache(s)[(company_id, "vat", vat_id)] = supplier
    if usable and teach and by_domain is None:
        s.add(SupplierDomain(supplier_id=supplier.id, company_id=company_id, domain=usable))
        cache = _cache(s)
        for key in [k for k, v in cache.items() if v is None]:
            del cache[key]  # "no supplier" may have become this one (a parent domain)
        cache[(company_id, "domain", usable)] = supplier
    return supplier


def _cache(s: Session) -> dict[tuple[int, str, str], Supplier | None]:
    """What this transaction found already: (company, "vat" | "domain", value) -> supplier or
    None. A fetch commits a batch of mails, often from the same few suppliers, in one; holding
    the suppliers here also keeps them (and their loaded IBANs) in the session, which only
    holds clean objects weakly."""
    # Session.info is a dict of Any: SQLAlchemy leaves what goes in it to its users
    return s.info.setdefault("supplier_learning", {})  # type: ignore[no-any-return]


def _by_vat_id(s: Session, company_id: int, vat_id: str) -> Supplier | None:
    cache, key = _cache(s), (company_id, "vat", vat_id)
    if key not in cache:
        cache[key] = s.scalars(
            select(Supplier)
            .where(Supplier.company_id == company_id, Supplier.vat_id == vat_id)
            .order_by(Supplier.id)
        ).first()
    return cache[key]


def _by_domain(s: Session, company_id: int, domain: str) -> Supplier | None:
    """The supplier of *domain*, or of the nearest parent domain of it."""
    cache, key = _cache(s), (company_id, "domain", domain)
    if key not in cache:
        candidates = _parents(domain)
        rows = s.execute(
            select(SupplierDomain.domain, SupplierDomain.supplier_id).where(
                SupplierDomain.company_id == company_id, SupplierDomain.domain.in_(candidates)
            )
        ).all()
        owner = dict(rows)
        found = next((owner[d] for d in candidates if d in owner), None)
        cache[key] = None if found is None else s.get(Supplier, found)
    return cache[key]


def _compare_iban(
    s: Session,
    supplier: Supplier,
    doc: QueueDocument,
    row: LedgerRow,
    *,
    teach: bool,
    now: datetime,
) -> None:
    known = list(supplier.ibans)
    same = next((i for i in known if i.iban == doc.iban), None)
    if same is not None:
        same.seen_count = (same.seen_count or 0) + 1
        same.last_seen = now
        return
    if not known:
        if teach:
            supplier.ibans.append(
                SupplierIban(
                    iban=doc.iban, confirmed=False, first_seen=now, last_seen=now, seen_count=1
                )
            )
        return
    doc.bank_alert = "changed"
    doc.bank_alert_known = [i.iban for i in known]
    supplier_alerts.bank_details_changed(
        s, cast(Document, doc), cast(Message, row), supplier, now=now
    )
