"""Tables for what several processes of one deployment must share instead of keeping it in
memory: OAuth sign-ins in progress, the sign-in limiter's counts, and the claims that let
several SMTP receivers recognise a mail delivered twice.

They sit beside ``store.models`` (same ``Base``), imported by ``invoice_inbox.store`` so the
metadata always holds them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from invoice_inbox.store.models import Base, UTCDateTime, utcnow


class OAuthState(Base):
    """A browser sign-in (or admin consent) begun on one web process, to be finished on any:
    keyed by the SHA-256 of its ``state`` parameter, the rest (PKCE verifier, endpoints, client)
    encrypted; taken exactly once by a conditional DELETE. Also a provider's refusal waiting to
    be shown on the source's page (``kind`` "refused")."""

    __tablename__ = "oauth_state"
    __table_args__ = (Index("ix_oauth_state_expires_at", "expires_at"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    payload: Mapped[str] = mapped_column(Text)  # encrypted with the app's SecretBox
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LoginKey(Base):
    """The sign-in limiter's recent failed (or pending) attempts for one key (client, account,
    or both), keyed by the key's SHA-256: the times (seconds since the epoch) within the
    window, oldest first. ``used_at`` orders keys for purging."""

    __tablename__ = "login_key"
    __table_args__ = (Index("ix_login_key_used_at", "used_at"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    stamps: Mapped[list[float]] = mapped_column(JSON, default=list)
    used_at: Mapped[float] = mapped_column(Float)


class InboundClaim(Base):
    """One delivery to an import address, claimed before it is stored: by its raw SHA-256 and
    by (Message-ID, envelope sender), unique per import source. A second delivery of the
    same mail fails to insert its claim and is recorded as a duplicate of ``message_id`` once
    the first is stored; ``owner`` is set while the first is still being stored."""

    __tablename__ = "inbound_claim"
    __table_args__ = (
        UniqueConstraint("source_id", "key", name="uq_inbound_claim_key"),
        Index("ix_inbound_claim_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("message.id", ondelete="CASCADE"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Setting(Base):
    """Service-wide settings, e.g. the import domain of the central import addresses."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
