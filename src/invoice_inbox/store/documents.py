"""The documents queue: listing documents with the mail they came from."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from invoice_inbox.store.models import Company, Document, Message, Source


@dataclass(frozen=True)
class DocumentView:
    id: int
    company: str
    source: str
    filename: str
    media_type: str
    sha256: str
    size: int
    kind: str
    message_id: str | None
    sender: str | None
    subject: str
    sent_at: datetime | None
    received_at: datetime

    def as_json(self) -> dict[str, object]:
        d = asdict(self)
        d["sent_at"] = self.sent_at.isoformat() if self.sent_at else None
        d["received_at"] = self.received_at.isoformat()
        return d


def listing(s: Session, *, source: str | None = None) -> list[DocumentView]:
    q = (
        select(Document, Message, Source.name, Company.name)
        .join(Message, Document.message_id == Message.id)
        .join(Source, Message.source_id == Source.id)
        .join(Company, Document.company_id == Company.id)
        .order_by(Document.id)
    )
    if source:
        q = q.where(Source.name == source)
    return [
        DocumentView(
            id=d.id,
            company=company,
            source=src,
            filename=d.filename,
            media_type=d.media_type,
            sha256=d.sha256,
            size=d.size,
            kind=d.kind,
            message_id=m.message_id,
            sender=m.sender,
            subject=m.subject,
            sent_at=m.sent_at,
            received_at=m.received_at,
        )
        for d, m, src, company in s.execute(q)
    ]
