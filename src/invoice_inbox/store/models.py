"""The database tables. Change them only together with a new Alembic migration."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from invoice_inbox import reasons


def utcnow() -> datetime:
    return datetime.now(UTC)


# IMAP UIDs and UIDVALIDITY are unsigned 32-bit numbers (RFC 3501): beyond PostgreSQL's INTEGER.
# SQLite's INTEGER holds 64 bits already (and stays INTEGER there: migration 0012).
UidNumber = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC without a zone (SQLite keeps none) and always returns aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class MessageState(StrEnum):
    """Where a ledger row is on its way (DESIGN: commit, then move, then mark disposed)."""

    DECIDED = "decided"  # decision and documents committed; the mail is not yet filed
    DISPOSED = "disposed"  # the mail was moved / flagged as the decision says (or left in place)


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the run stopped early (connection, login, ...); see ``error``
    PARTIAL = "partial"  # it committed mail, then stopped early (a missing folder, ...); ``error``


class AuthState(StrEnum):
    """Whether a source's credentials work, as far as we know."""

    OK = "ok"
    NEEDS_AUTHENTICATION = "needs_authentication"  # OAuth2 delegated: nobody has signed in yet
    NEEDS_REAUTHENTICATION = "needs_reauthentication"  # the provider refused the refresh token
    LOGIN_REFUSED = "login_refused"  # the server refused the password: someone must set a new one


class Company(Base):
    __tablename__ = "company"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # the local part of the company's central import address (inbound SMTP), e.g. acme-k7p2q9
    import_token: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    notify_emails: Mapped[list[str]] = mapped_column(JSON, default=list)
    # mails a day its import addresses accept (None: the service's default)
    smtp_daily_cap: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # language of notifications to addresses that are no user's ("de", "pl"; None: English)
    locale: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    sources: Mapped[list[Source]] = relationship(back_populates="company")


class Source(Base):
    """One configured mailbox connection of a company."""

    __tablename__ = "source"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="CASCADE"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # made on the screen and not started yet: inactive until "Start fetching" (never fetched
    # by the scheduler before someone checked it and picked its folders)
    draft: Mapped[bool] = mapped_column(Boolean, default=False)
    provider: Mapped[str] = mapped_column(String(40), default="imap")  # a preset's name
    # imap | graph | gmail-api | pop3 | smtp (the company's central import address)
    protocol: Mapped[str] = mapped_column(String(20), default="imap")
    auth: Mapped[str] = mapped_column(String(20), default="password")  # password | oauth | app
    # connection
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    security: Mapped[str] = mapped_column(String(20), default="ssl")
    ca_file: Mapped[str | None] = mapped_column(Text, nullable=True)
    ca_pem: Mapped[str | None] = mapped_column(Text, nullable=True)  # a private CA, pasted
    verify_tls: Mapped[bool] = mapped_column(Boolean, default=True)  # False: test servers only
    username: Mapped[str] = mapped_column(String(320))
    secret: Mapped[str | None] = mapped_column(Text, nullable=True)  # Fernet, never plain
    # OAuth2 (Microsoft Entra ID, Google); every secret and token is a Fernet token
    tenant_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    client_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    secret_expires: Mapped[date | None] = mapped_column(Date, nullable=True)
    shared_mailbox: Mapped[str | None] = mapped_column(String(320), nullable=True)
    token: Mapped[str | None] = mapped_column(Text, nullable=True)  # access + refresh token
    auth_state: Mapped[str] = mapped_column(String(30), default=AuthState.OK)
    auth_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # folder settings
    folders: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["INBOX"])
    move_imported_to: Mapped[str | None] = mapped_column(String(255), nullable=True)
    move_not_imported_to: Mapped[str | None] = mapped_column(String(255), nullable=True)
    unread_only: Mapped[bool] = mapped_column(Boolean, default=False)
    since: Mapped[date | None] = mapped_column(Date, nullable=True)
    # what makes a valid invoice mail
    allowed_senders: Mapped[list[str]] = mapped_column(JSON, default=list)
    sender_auth: Mapped[str] = mapped_column(String(10), default="flag")  # off | flag | require
    # authserv-ids whose Authentication-Results this source believes (None: its preset's)
    trusted_authserv_ids: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    require_attachment: Mapped[bool] = mapped_column(Boolean, default=True)
    require_pdf: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_images: Mapped[bool] = mapped_column(Boolean, default=False)
    body_fallback: Mapped[bool] = mapped_column(Boolean, default=False)  # no document: the body
    delete_after_import: Mapped[bool] = mapped_column(Boolean, default=False)  # POP3 DELE
    # when to run: "every 60m", "at 05:00,12:00 Europe/Warsaw", "manual" (runtime.schedules)
    schedule: Mapped[str] = mapped_column(String(300), default="every 60m")
    instant: Mapped[bool] = mapped_column(Boolean, default=False)  # IMAP IDLE wake-ups
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    # failure accounting: consecutive failed runs, the last error, deactivation
    failures: Mapped[int] = mapped_column(Integer, default=0)
    max_failures: Mapped[int] = mapped_column(Integer, default=5)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    inactive_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # who may use (see, fetch) it besides admins: one user, or one role (as in Onventis)
    used_for: Mapped[str] = mapped_column(String(40), default="supplier_invoices")
    restricted_to_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    restricted_to_role: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # lease: at most one worker syncs a source at a time (DESIGN invariant 7)
    # "re-check the not-imported mail": bumped with each change of what decides
    # (store.recheck_marks); the service re-checks while wanted > done (runtime.auto_recheck)
    recheck_wanted: Mapped[int] = mapped_column(Integer, default=0)
    recheck_done: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # a wake-up (its trigger: instant, manual) waiting for whichever worker claims the source
    wake_requested: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    company: Mapped[Company] = relationship(back_populates="sources")
    rules: Mapped[list[ImportRule]] = relationship(
        back_populates="source", order_by="ImportRule.position", cascade="all, delete-orphan"
    )


class ImportRule(Base):
    """A named import rule of a source; rules are tried in ``position`` order."""

    __tablename__ = "import_rule"
    __table_args__ = (UniqueConstraint("source_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    sender: Mapped[str] = mapped_column(String(320))
    keyword: Mapped[str | None] = mapped_column(Text, nullable=True)
    action: Mapped[str] = mapped_column(String(20), default="attachments")

    source: Mapped[Source] = relationship(back_populates="rules")


class FolderState(Base):
    """The sync cursor of one folder of one source."""

    __tablename__ = "folder_state"
    __table_args__ = (UniqueConstraint("source_id", "folder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int | None] = mapped_column(UidNumber, nullable=True)
    last_uid: Mapped[int] = mapped_column(UidNumber, default=0)
    uidnext: Mapped[int | None] = mapped_column(UidNumber, nullable=True)
    # token connectors (Graph deltaLink, Gmail historyId): stored once a listing is committed
    cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Run(Base):
    """One fetch of one source: the log."""

    __tablename__ = "run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(20))  # manual | schedule | retry | instant | smtp
    status: Mapped[str] = mapped_column(String(20), default=RunStatus.RUNNING)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    messages_seen: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    not_imported: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    documents_created: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class Message(Base):
    """The ledger: one row per message seen, with its decision and reason.

    IMAP rows are keyed by (folder, uidvalidity, uid); token connectors' rows by (folder,
    remote_id): a Graph immutable id, a Gmail message id, a POP3 UIDL (uidvalidity 0, no uid)."""

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("source_id", "folder", "uidvalidity", "uid"),
        UniqueConstraint("source_id", "folder", "remote_id", name="uq_message_remote_id"),
        Index("ix_message_source_decision", "source_id", "decision"),  # metrics, recheck
        Index("ix_message_source_received", "source_id", "received_at"),  # the daily cap
        Index("ix_message_source_raw", "source_id", "raw_sha256"),  # a batch's copies
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("run.id", ondelete="SET NULL"), nullable=True
    )
    folder: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int] = mapped_column(UidNumber)
    uid: Mapped[int | None] = mapped_column(UidNumber, nullable=True)
    remote_id: Mapped[str | None] = mapped_column(String(400), nullable=True)
    raw_sha256: Mapped[str] = mapped_column(String(64), index=True)
    raw_size: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    sender: Mapped[str | None] = mapped_column(String(320), nullable=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decision: Mapped[str] = mapped_column(String(20))  # a pipeline Verdict, or "duplicate"
    reason: Mapped[str] = mapped_column(Text)
    # the reason as message codes with parameters, [{"code": ..., "params": {...}}, ...], shown in
    # the reader's language (None: decided before revision 0015; ``reason`` is then all there is)
    reason_parts: Mapped[list[dict[str, object]] | None] = mapped_column(JSON, nullable=True)
    hits: Mapped[list[str]] = mapped_column(JSON, default=list)
    # pass | fail | none | temperror (None: decided before sender authentication), its sentence,
    # the DKIM/SPF/DMARC results it came from (for recheck), and a look-alike of a known domain
    sender_auth: Mapped[str | None] = mapped_column(String(16), nullable=True)
    sender_auth_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    auth_results: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    lookalike_of: Mapped[str | None] = mapped_column(String(253), nullable=True)
    state: Mapped[str] = mapped_column(String(20), default=MessageState.DECIDED)
    filed_to: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # the server refused to file it (its answer, when): left where it is, tried again each run
    filing_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    filing_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("message.id", ondelete="SET NULL"), nullable=True
    )

    documents: Mapped[list[Document]] = relationship(back_populates="message")
    source: Mapped[Source] = relationship()

    @property
    def reason_text(self) -> str:
        """The reason in the current reader's language (``reasons``); English for old rows."""
        return reasons.text(self.reason, self.reason_parts)

    @property
    def reason_code(self) -> str | None:
        """The code of the reason an integration branches on (None: decided before 0015)."""
        return reasons.reason_code(reasons.from_json(self.reason_parts))


class DecideAttempt(Base):
    """A mail whose decision started and has not finished: committed before deciding, deleted
    with the mail's ledger row (or as soon as its decision is back). A row that outlives its
    run means the process died while deciding; at two, the mail is quarantined undecided."""

    __tablename__ = "decide_attempt"
    __table_args__ = (UniqueConstraint("source_id", "raw_sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    raw_sha256: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Document(Base):
    """One file extracted from a message, waiting in the queue."""

    __tablename__ = "document"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"))
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(40))
    einvoice: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # seller + number + document type of an e-invoice: the same invoice as different bytes
    einvoice_key: Mapped[str | None] = mapped_column(String(400), nullable=True, index=True)
    # calculation rules the e-invoice's figures break (len of einvoice["problems"]; None: not an
    # e-invoice, or read before revision 0015): the queue flags and filters on it
    einvoice_problems: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rule: Mapped[str | None] = mapped_column(String(200), nullable=True)
    origin_sender: Mapped[str | None] = mapped_column(String(320), nullable=True)
    origin_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # the first document of the company's queue this one repeats; "exact" (same bytes, not
    # queued again) or "probable" (the same e-invoice as other bytes, queued but flagged)
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("document.id", ondelete="SET NULL"), nullable=True
    )
    duplicate_kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # acknowledged by accounts payable (UI "mark as processed", API "acknowledge")
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    processed_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    # the supplier it came from, the IBAN it asks payment to, and a bank-detail change:
    # None | "changed" (not among the supplier's known IBANs) | "confirmed" | "fraud"
    supplier_id: Mapped[int | None] = mapped_column(
        ForeignKey("supplier.id", ondelete="SET NULL"), nullable=True, index=True
    )
    iban: Mapped[str | None] = mapped_column(String(34), nullable=True)
    bank_alert: Mapped[str | None] = mapped_column(String(16), nullable=True)
    bank_alert_known: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    bank_alert_by: Mapped[str | None] = mapped_column(String(320), nullable=True)  # who settled it
    bank_alert_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    message: Mapped[Message] = relationship(back_populates="documents")


class Role(StrEnum):
    """What a user may do: ``admin`` everything; ``clerk`` documents and fetch-now for their
    companies; ``viewer`` look only."""

    ADMIN = "admin"
    CLERK = "clerk"
    VIEWER = "viewer"


user_company = Table(
    "user_company",
    Base.metadata,
    Column("user_id", ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True),
    Column("company_id", ForeignKey("company.id", ondelete="CASCADE"), primary_key=True),
)


class User(Base):
    """A person who signs in to the web admin or calls the API (with a token)."""

    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id
    role: Mapped[str] = mapped_column(String(20), default=Role.VIEWER)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # IANA name ("Europe/Berlin") the pages show times in; None: the browser's zone
    time_zone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # language of the pages and notifications ("pl", "de-AT"); None: what the browser asks for
    locale: Mapped[str | None] = mapped_column(String(16), nullable=True)

    companies: Mapped[list[Company]] = relationship(secondary=user_company, order_by="Company.name")


class ApiToken(Base):
    """An API token of a user; only its SHA-256 is stored (the token is shown once)."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200), default="")
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to tell tokens apart
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    user: Mapped[User] = relationship()


class WebSession(Base):
    """A signed-in browser; the cookie holds a random value, the table only its SHA-256."""

    __tablename__ = "web_session"

    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


# The other model modules' tables join the metadata with these (Alembic, the mappers' string
# references): whoever imports the models gets all of them. They are imported here, not by the
# package, so that importing the blob store (a decide worker) does not load SQLAlchemy.
from invoice_inbox.store import (  # noqa: E402, F401
    models_cluster,
    models_events,
    models_state,
    models_trust,
)
