"""The supplier registry of a company: learned from imported documents (``learn``) and allowed
senders, edited by admins (IBANs confirmed, added or removed, suppliers renamed or merged).

A supplier is found by its e-invoice seller VAT id, else by the mail's From domain (a free-mail
domain never identifies one by itself, nor does a look-alike domain). Its *known* IBANs are
its ``SupplierIban`` rows: confirmed by an admin, or seen on a document that was not flagged.
A document asking payment to another IBAN, when some are known, gets ``bank_alert="changed"``,
a notification and one ``supplier.bank_details_changed`` event (``store.supplier_alerts``); a
first IBAN is recorded unconfirmed.

Every admin action raises a ``StoreError`` with one plain sentence for a wrong id or IBAN.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy import delete, func, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from invoice_inbox.freemail import is_freemail
from invoice_inbox.i18n import _
from invoice_inbox.store.errors import AlreadyExists, NotFound, StoreError
from invoice_inbox.store.models import Document, Message, utcnow
from invoice_inbox.store.models_trust import BlockedSender, Supplier, SupplierDomain, SupplierIban
from invoice_inbox.store.rowcount import rowcount
from invoice_inbox.store.supplier_learning import (
    domain_of,
    learn,
    learn_many,
    normal_vat_id,
    sender_domain,
)
from invoice_inbox.store.supplier_views import (
    FRAUD_REASON,
    BlockedInfo,
    IbanInfo,
    SupplierInfo,
    blocked_domains,
    blocked_for,
    get,
    known_domains,
    list_for,
    reason_words,
    seed_from_allowed_senders,
    supplier_row,
)

__all__ = [
    "BlockedInfo",
    "IbanInfo",
    "SupplierInfo",
    "add_iban",
    "blocked_domains",
    "blocked_for",
    "confirm_document_iban",
    "confirm_iban",
    "domain_of",
    "get",
    "known_domains",
    "learn",
    "learn_many",
    "list_for",
    "mark_fraud",
    "merge",
    "reason_words",
    "remove_iban",
    "seed_from_allowed_senders",
    "sender_domain",
    "unblock",
    "update",
]

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


# -- admin actions ------------------------------------------------------------------------------


def _compact(value: str) -> str:
    return "".join(ch for ch in value if ch.isalnum()).upper()


def _valid_iban(value: str) -> str:
    """*value* as a compact IBAN (schwifty: country, length, format, checksum)."""
    try:
        return IBAN(_compact(value)).compact
    except (SchwiftyException, ValueError):
        raise StoreError(
            _("%(iban)s is not a valid IBAN") % {"iban": repr(value.strip())}
        ) from None


def _iban_row(supplier: Supplier, iban: str) -> SupplierIban | None:
    return next((i for i in supplier.ibans if i.iban == iban), None)


def _know(supplier: Supplier, iban: str, *, confirmed: bool, by: str | None = None) -> SupplierIban:
    row = _iban_row(supplier, iban)
    if row is None:
        now = utcnow()
        row = SupplierIban(iban=iban, confirmed=False, first_seen=now, last_seen=now)
        row.seen_count = 0
        supplier.ibans.append(row)
    if confirmed and not row.confirmed:
        row.confirmed = True
        row.confirmed_by, row.confirmed_at = by, utcnow()
    return row


def _document(s: Session, document_id: int) -> Document:
    doc = s.get(Document, document_id)
    if doc is None:
        raise NotFound(_("there is no document #%(id)s") % {"id": document_id})
    return doc


def confirm_document_iban(s: Session, document_id: int, *, by: str) -> SupplierInfo:
    """The document's IBAN becomes known and confirmed for its supplier; its alert (if any)
    becomes "confirmed", as do the open alerts of the supplier's other documents with it."""
    doc = _document(s, document_id)
    if doc.supplier_id is None or not doc.iban:
        raise StoreError(
            _("document #%(id)s has no supplier IBAN to confirm") % {"id": document_id}
        )
    supplier = supplier_row(s, doc.supplier_id)
    _know(supplier, doc.iban, confirmed=True, by=by)
    _resolve(s, supplier.id, doc.iban, by=by)
    if doc.bank_alert == "fraud":
        doc.bank_alert = "confirmed"
        doc.bank_alert_by, doc.bank_alert_at = by, utcnow()
    s.flush()
    return get(s, supplier.id)


def _resolve(s: Session, supplier_id: int, iban: str, *, by: str | None) -> None:
    s.execute(
        sql_update(Document)
        .where(
            Document.supplier_id == supplier_id,
            Document.iban == iban,
            Document.bank_alert == "changed",
        )
        .values(bank_alert="confirmed", bank_alert_by=by, bank_alert_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )


def mark_fraud(s: Session, document_id: int, *, by: str) -> str | None:
    """The document's alert becomes "fraud", its IBAN is no longer known for its supplier,
    and its sender domain is blocked for the company (not a free-mail domain: anyone has an
    address there). Returns the blocked domain, or None when none was blocked."""
    doc = _document(s, document_id)
    doc.bank_alert = "fraud"
    doc.bank_alert_by, doc.bank_alert_at = by, utcnow()
    if doc.supplier_id is not None and doc.iban:
        supplier = supplier_row(s, doc.supplier_id)
        row = _iban_row(supplier, doc.iban)
        if row is not None:
            supplier.ibans.remove(row)
    domain = sender_domain(doc, s.get(Message, doc.message_id))
    if not domain or is_freemail(domain):
        s.flush()
        return None
    exists = s.scalar(
        select(BlockedSender).where(
            BlockedSender.company_id == doc.company_id, BlockedSender.domain == domain
        )
    )
    if exists is None:
        s.add(
            BlockedSender(
                company_id=doc.company_id,
                domain=domain,
                reason=FRAUD_REASON % {"document": doc.id, "by": by},  # English; see reason_words
                document_id=doc.id,
                created_at=utcnow(),
            )
        )
    s.flush()
    return domain


def unblock(s: Session, company_id: int, domain: str) -> None:
    domain = domain.strip().lower()
    done = s.execute(
        delete(BlockedSender).where(
            BlockedSender.company_id == company_id, BlockedSender.domain == domain
        )
    )
    if not rowcount(done):
        raise NotFound(_("%(domain)s is not blocked for this company") % {"domain": domain})


def confirm_iban(s: Session, supplier_id: int, iban: str, *, by: str | None = None) -> SupplierInfo:
    """Confirm a known IBAN, or one of the supplier's flagged documents (their alerts become
    "confirmed")."""
    supplier = supplier_row(s, supplier_id)
    value = _compact(iban)
    pending = s.scalar(
        select(func.count(Document.id)).where(
            Document.supplier_id == supplier_id,
            Document.iban == value,
            Document.bank_alert == "changed",
        )
    )
    if _iban_row(supplier, value) is None and not pending:
        raise NotFound(
            _("supplier #%(id)s has no IBAN %(iban)s") % {"id": supplier_id, "iban": iban}
        )
    _know(supplier, value, confirmed=True, by=by)
    _resolve(s, supplier_id, value, by=by)
    s.flush()
    return get(s, supplier_id)


def remove_iban(s: Session, supplier_id: int, iban: str) -> SupplierInfo:
    """The IBAN is no longer known: a next document asking payment to it is flagged."""
    supplier = supplier_row(s, supplier_id)
    value = _compact(iban)
    row = _iban_row(supplier, value)
    if row is None:
        raise NotFound(
            _("supplier #%(id)s has no IBAN %(iban)s") % {"id": supplier_id, "iban": iban}
        )
    supplier.ibans.remove(row)
    s.flush()
    return get(s, supplier_id)


def add_iban(s: Session, supplier_id: int, iban: str) -> SupplierInfo:
    """An IBAN an admin knows the supplier's: known and confirmed."""
    supplier = supplier_row(s, supplier_id)
    _know(supplier, _valid_iban(iban), confirmed=True)
    s.flush()
    return get(s, supplier_id)


def update(
    s: Session,
    supplier_id: int,
    *,
    name: str | None = None,
    vat_id: str | None = None,
    domains: Iterable[str] | None = None,
) -> SupplierInfo:
    """Rename, set the VAT id ("" clears it) or replace the sender domains of a supplier."""
    supplier = supplier_row(s, supplier_id)
    if name is not None:
        name = name.strip()
        if not name:
            raise StoreError(_("a supplier needs a name"))
        supplier.name = name[:300]
    if vat_id is not None:
        supplier.vat_id = normal_vat_id(vat_id)
    if domains is not None:
        wanted = _domains(domains)
        taken = s.execute(
            select(SupplierDomain.domain, Supplier.name)
            .join(Supplier, SupplierDomain.supplier_id == Supplier.id)
            .where(
                SupplierDomain.company_id == supplier.company_id,
                SupplierDomain.domain.in_(wanted),
                SupplierDomain.supplier_id != supplier.id,
            )
        ).first()
        if taken is not None:
            raise AlreadyExists(
                _("%(domain)s is a domain of the supplier %(supplier)s already")
                % {"domain": taken[0], "supplier": taken[1]}
            )
        current = {d.domain: d for d in supplier.domains}
        for domain, row in current.items():
            if domain not in wanted:
                supplier.domains.remove(row)
        s.flush()  # a domain removed before one is added back elsewhere
        for domain in wanted:
            if domain not in current:
                supplier.domains.append(
                    SupplierDomain(company_id=supplier.company_id, domain=domain)
                )
    s.flush()
    return get(s, supplier_id)


def _domains(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        domain = value.strip().lower().rstrip(".").removeprefix("*@")
        if not domain:
            continue
        if not _DOMAIN.match(domain):
            raise StoreError(_("%(value)s is not a domain name") % {"value": repr(value)})
        if domain not in out:
            out.append(domain)
    return out


def merge(s: Session, keep_id: int, other_id: int) -> SupplierInfo:
    """Move *other*'s documents, domains and IBANs to *keep* and delete *other*; counts and
    dates are combined, a missing VAT id is taken over."""
    if keep_id == other_id:
        raise StoreError(_("a supplier cannot be merged with itself"))
    keep, other = supplier_row(s, keep_id), supplier_row(s, other_id)
    if keep.company_id != other.company_id:
        raise StoreError(_("only suppliers of the same company can be merged"))
    s.execute(
        sql_update(Document)
        .where(Document.supplier_id == other.id)
        .values(supplier_id=keep.id)
        .execution_options(synchronize_session="fetch")
    )
    for row in list(other.domains):
        other.domains.remove(row)
        s.flush()
        keep.domains.append(SupplierDomain(company_id=keep.company_id, domain=row.domain))
    for known in list(other.ibans):
        mine = _iban_row(keep, known.iban)
        if mine is None:
            mine = _know(keep, known.iban, confirmed=False)
            mine.first_seen, mine.last_seen = known.first_seen, known.last_seen
            mine.seen_count = known.seen_count
        else:
            mine.first_seen = min(mine.first_seen, known.first_seen)
            mine.last_seen = max(mine.last_seen, known.last_seen)
            mine.seen_count += known.seen_count
        if known.confirmed and not mine.confirmed:  # keeps who confirmed it, and when
            mine.confirmed = True
            mine.confirmed_by, mine.confirmed_at = known.confirmed_by, known.confirmed_at
    keep.documents_count += other.documents_count
    keep.first_seen = min(keep.first_seen, other.first_seen)
    keep.last_seen = max(keep.last_seen, other.last_seen)
    keep.vat_id = keep.vat_id or other.vat_id
    s.delete(other)
    s.flush()
    return get(s, keep.id)
