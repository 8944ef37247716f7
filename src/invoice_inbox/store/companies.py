"""Companies' central import addresses (inbound SMTP) and service-wide settings.

Each company gets one address whose local part is its *import token*, e.g.
``acme-k7p2q9vd4mxh@invoices.example.com``: a readable slug of the name plus twelve random
characters (31^12, about 8 * 10^17 values), so addresses cannot be guessed from the company name
nor found by trying (the receiver also hangs up on a sender of unknown recipients). Addresses
made with six characters by older versions keep working. Mail to it is read by the company's
import source (protocol ``smtp``), which has allowed senders and rules like any mailbox.

Deleting a company (``delete``) removes its sources, their mails and documents, its
notifications, events and webhooks in one transaction (the database's ON DELETE CASCADE). The
stored files (raw mails, PDFs) stay in the blob store: they are content-addressed and may be
shared with another company's documents, so they are left for a clean-up of unreferenced blobs.
"""

from __future__ import annotations

import difflib
import re
import secrets
import unicodedata
from dataclasses import dataclass

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from invoice_inbox.i18n import N_
from invoice_inbox.store.models import Company, Document, Message, Source
from invoice_inbox.store.models_state import Setting

SMTP_DOMAIN = "smtp_domain"
IMPORT_PROTOCOL = "smtp"
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud and typed by people
TOKEN_LENGTH = 12
# the import source's description, made with it (shown in the reader's language: web.words)
IMPORT_DESCRIPTION = N_("mail sent to the central import address of %(company)s")


def slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:24] or "company"


def _new_token(company: Company) -> str:
    return f"{slug(company.name)}-{''.join(secrets.choice(_ALPHABET) for _ in range(TOKEN_LENGTH))}"


def import_source(s: Session, company: Company) -> Source:
    """The company's import source, created (with its address) when missing."""
    found = s.scalar(
        select(Source).where(Source.company_id == company.id, Source.protocol == IMPORT_PROTOCOL)
    )
    if company.import_token is None:
        company.import_token = _new_token(company)
    if found is not None:
        return found
    name = f"{slug(company.name)}-import"
    n = 1
    while s.scalar(select(Source.id).where(Source.name == name)) is not None:
        n += 1
        name = f"{slug(company.name)}-import-{n}"
    src = Source(
        name=name,
        company=company,
        description=IMPORT_DESCRIPTION % {"company": company.name},
        provider="smtp",
        protocol=IMPORT_PROTOCOL,
        auth="none",
        host="",
        port=0,
        security="none",
        username="",
        schedule="manual",
    )
    s.add(src)
    s.flush()
    return src


def regenerate(s: Session, company: Company) -> str:
    """Give the company a new import address; the old one is refused from now on."""
    import_source(s, company)
    company.import_token = _new_token(company)
    return company.import_token


def resolve(s: Session, local_part: str) -> str | None:
    """The import source's name for an address's local part, or None."""
    company = s.scalar(select(Company).where(Company.import_token == local_part.lower()))
    if company is None:
        return None
    return import_source(s, company).name


def address(s: Session, company: Company) -> str | None:
    domain = setting(s, SMTP_DOMAIN)
    if company.import_token is None or not domain:
        return None
    return f"{company.import_token}@{domain}"


def setting(s: Session, key: str) -> str | None:
    row = s.get(Setting, key)
    return row.value if row else None


def set_setting(s: Session, key: str, value: str) -> None:
    row = s.get(Setting, key)
    if row is None:
        s.add(Setting(key=key, value=value))
    else:
        row.value = value


@dataclass(frozen=True)
class Footprint:
    """What deleting a company takes with it."""

    sources: list[str]  # the names of its mailboxes (its import address not counted)
    documents: int
    mails: int


def footprint(s: Session, company: Company) -> Footprint:
    names = s.scalars(
        select(Source.name)
        .where(Source.company_id == company.id, Source.protocol != IMPORT_PROTOCOL)
        .order_by(Source.name)
    )
    ids = select(Source.id).where(Source.company_id == company.id)
    mails = s.scalar(select(func.count(Message.id)).where(Message.source_id.in_(ids)))
    documents = s.scalar(select(func.count(Document.id)).where(Document.company_id == company.id))
    return Footprint(list(names), documents or 0, mails or 0)


def delete(s: Session, company: Company) -> Footprint:
    """Delete *company* with everything that is its own; returns what went."""
    gone = footprint(s, company)
    company_id = company.id
    s.flush()
    s.expunge_all()  # the rows below go by cascade, behind the ORM's back
    s.execute(sql_delete(Company).where(Company.id == company_id))
    return gone


def closest_name(s: Session, name: str) -> str | None:
    """The existing company whose name is spelt most like *name*, if one is close."""
    names = list(s.scalars(select(Company.name)))
    folded = {n.casefold(): n for n in names}
    if name.casefold() in folded:
        return folded[name.casefold()]
    found = difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=0.6)
    return folded[found[0]] if found else None
