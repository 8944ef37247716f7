"""Claims on mail delivered to an import address (``inbound_claim``), so that several SMTP
receivers on one database store a mail delivered twice only once.

Before a delivery is stored, its keys (the raw SHA-256, and the Message-ID with the envelope
sender) are inserted in one transaction; the unique (source, key) constraint lets exactly one
delivery of the same mail win, whatever process it runs in, and the loser reads the winner's
claim: stored already (``message_id`` set: the ledger row to call it a duplicate of), still
being stored (``owner`` set), or left behind by a process that died (pending for longer than
``STALE``: deleted with a conditional DELETE, and the claim tried again). A store that fails
gives its claims back. Claims older than the window are purged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from invoice_inbox.store.db import Database
from invoice_inbox.store.models import Message, utcnow
from invoice_inbox.store.models_state import InboundClaim
from invoice_inbox.store.rowcount import rowcount

WINDOW = timedelta(days=7)  # longer than a sending MTA keeps retrying (Postfix: 5 days)
STALE = timedelta(minutes=10)  # a pending claim this old lost its process (as a lease's TTL)


@dataclass(frozen=True)
class Held:
    """Another delivery's claim on one of the keys."""

    id: int
    key: str
    owner: str | None
    message_id: int | None  # the ledger row it was stored as, once stored
    created_at: datetime

    def stale(self, now: datetime) -> bool:
        return self.message_id is None and self.created_at < now - STALE


def claim(db: Database, source_id: int, keys: list[str], owner: str) -> Held | None:
    """Claim every key for *owner* (None), or the claim that is in the way: a stored one first.
    None is also returned when the claim in the way vanished meanwhile: call again."""
    now = utcnow()
    try:
        with db.session() as s:
            s.add_all(
                InboundClaim(source_id=source_id, key=k, owner=owner, created_at=now) for k in keys
            )
        return None
    except IntegrityError:
        pass
    with db.session() as s:
        rows = s.scalars(
            select(InboundClaim)
            .where(InboundClaim.source_id == source_id, InboundClaim.key.in_(keys))
            .order_by(InboundClaim.message_id.is_(None), InboundClaim.id)
        ).all()
        if not rows:
            return claim(db, source_id, keys, owner)  # given back meanwhile: try again
        r = rows[0]
        return Held(r.id, r.key, r.owner, r.message_id, r.created_at)


def complete(db: Database, source_id: int, keys: list[str], owner: str, remote_id: str) -> None:
    """The delivery is stored as the ledger row with *remote_id*: point the claims at it."""
    with db.session() as s:
        row_id = s.scalar(
            select(Message.id).where(Message.source_id == source_id, Message.remote_id == remote_id)
        )
        s.execute(
            update(InboundClaim)
            .where(
                InboundClaim.source_id == source_id,
                InboundClaim.key.in_(keys),
                InboundClaim.owner == owner,
            )
            .values(owner=None, message_id=row_id)
        )


def give_back(db: Database, source_id: int, keys: list[str], owner: str) -> None:
    """Storing failed: delete this delivery's claims so the sender's retry can claim them."""
    with db.session() as s:
        s.execute(
            delete(InboundClaim).where(
                InboundClaim.source_id == source_id,
                InboundClaim.key.in_(keys),
                InboundClaim.owner == owner,
                InboundClaim.message_id.is_(None),
            )
        )


def drop_stale(db: Database, held: Held) -> bool:
    """Delete a claim whose process died while storing; False if it changed meanwhile."""
    with db.session() as s:
        return (
            rowcount(
                s.execute(
                    delete(InboundClaim).where(
                        InboundClaim.id == held.id,
                        InboundClaim.message_id.is_(None),
                        InboundClaim.created_at < utcnow() - STALE,
                    )
                )
            )
            == 1
        )


def purge(db: Database) -> None:
    """Forget claims older than the window (exact copies are still found on the ledger)."""
    with db.session() as s:
        s.execute(delete(InboundClaim).where(InboundClaim.created_at < utcnow() - WINDOW))
