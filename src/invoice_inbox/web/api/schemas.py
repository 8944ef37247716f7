"""The REST API's wire shapes: the request and response models (they are what ``/docs``
shows), the opaque page cursor, and the bodies of errors.

Every listing that can grow is a :class:`Page`: ``items`` (newest first, unless the listing
says otherwise) and ``next_cursor``, which the client passes back as ``cursor`` for the next
page, or null on the last one.
A cursor is an opaque string: it encodes the listing it belongs to and the last id shown, so
pages never skip or repeat a row when new rows arrive in between.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sqlalchemy import ColumnElement, Row, Select
from sqlalchemy.orm import Session

from invoice_inbox.errors import ConnectorError
from invoice_inbox.runtime import configure
from invoice_inbox.store.documents import is_exact_duplicate
from invoice_inbox.store.models import Document, Message, Notification, Run
from invoice_inbox.web.security import api_user

# -- authentication -------------------------------------------------------------------------

# ``api_user`` does the checking; the bearer scheme (which never refuses by itself) puts the
# "Authorize" button on /docs and the security requirement on every operation.
_BEARER = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer TOKEN`.")
NEEDS_TOKEN = [Depends(_BEARER), Depends(api_user)]


# -- errors ---------------------------------------------------------------------------------


class Error(BaseModel):
    detail: str


class Problem(BaseModel):
    field: str
    problem: str


class Invalid(BaseModel):
    """What is wrong with a request, field by field."""

    detail: str
    problems: list[Problem]


class ConnectionProblem(BaseModel):
    """The mail server (or its sign-in) refused: the server's words and the setting concerned
    (``host``, ``security``, ``password``, ``client_id``, ``folders`` or ``connection``)."""

    detail: str
    field: str


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Error, "description": "No API token, or not a valid one."},
    404: {"model": Error, "description": "No such thing, or not one of your companies'."},
    422: {"model": Invalid, "description": "The request's values are not valid."},
}
FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"model": Error, "description": "Your role may not do this."}
}


def invalid_source(exc: configure.Invalid) -> JSONResponse:
    problems = [{"field": k, "problem": v} for k, v in exc.errors.items()]
    return JSONResponse({"detail": "invalid source", "problems": problems}, status_code=422)


def connection_problem(exc: ConnectorError, field: str) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "field": field}, status_code=422)


def bad_value(field: str, sentence: str) -> RequestValidationError:
    """A value the app's 422 handler reports like pydantic's own problems (raise it)."""
    return RequestValidationError([{"loc": ("request", field), "msg": sentence, "type": "value"}])


# -- pages ----------------------------------------------------------------------------------

T = TypeVar("T")
DEFAULT_LIMIT, MAX_LIMIT = 50, 200

Cursor = Annotated[
    str | None, Query(description="`next_cursor` of the previous page; leave out for the first.")
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="How many items at most.")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


def encode_cursor(listing: str, last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{listing}:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(listing: str, cursor: str | None) -> int | None:
    """The last id of the previous page of *listing*, or None for the first page."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        text = ""
    found = re.fullmatch(r"([a-z]+):([0-9]{1,18})", text)
    if found is None or found.group(1) != listing:
        raise bad_value("cursor", "is not a cursor of this listing: pass next_cursor unchanged")
    return int(found.group(2))


def keyset(
    s: Session,
    q: Select[Any],
    key: ColumnElement[int],
    *,
    listing: str,
    cursor: str | None,
    limit: int,
    newest_first: bool = True,
) -> tuple[list[Row[Any]], str | None]:
    """One page of the rows of *q*, ordered by the unique id column *key*, and the next page's
    cursor. The first entity of each row must be the one *key* belongs to."""
    after = decode_cursor(listing, cursor)
    if after is not None:
        q = q.where(key < after if newest_first else key > after)
    q = q.order_by(None).order_by(key.desc() if newest_first else key.asc()).limit(limit + 1)
    rows = list(s.execute(q).all())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(listing, rows[-1][0].id)


# -- companies ------------------------------------------------------------------------------


class CompanyCounts(BaseModel):
    sources: int = Field(description="Sources you may use, the import address's included.")
    documents: int = Field(description="Documents in the company's queue, processed or not.")
    new_documents: int = Field(description="Documents not marked as processed yet.")


class CompanyOut(BaseModel):
    id: int
    name: str
    import_address: str | None = Field(
        description="The central import address (needs the service's mail domain), else null."
    )
    notify_emails: list[str]
    created_at: datetime
    counts: CompanyCounts


class CompanyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    notify_emails: list[str] = Field(
        default_factory=list, description="Who is told when a source fails or needs sign-in."
    )


# -- sources --------------------------------------------------------------------------------

WRITE_ONLY = {"writeOnly": True}
# optional settings that null clears (configure reads an empty value as "none")
CLEARABLE = frozenset(
    {
        "description",
        "restricted_to_user_id",
        "restricted_to_role",
        "tenant_id",
        "client_id",
        "secret_expires",
        "shared_mailbox",
        "move_imported_to",
        "move_not_imported_to",
        "since",
        "allowed_senders",
        "ca_pem",
    }
)


class SourceIn(BaseModel):
    """A source's settings (``runtime.configure.EDITABLE``). On create, what is left out takes
    the defaults of ``invoice-inbox source add``: a source needs at least ``name``, ``company``
    (its name; created when missing), ``host`` (unless a provider preset gives it),
    ``username`` and a ``password`` or OAuth2 client. On change, what is left out stays as it
    is. Null clears an optional setting (a restriction, a folder to move to, ``since``, the
    allowed senders, ...) and means "unchanged" for any other. Secrets are written, never
    read back; an empty one keeps the stored one."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    company: str | None = Field(None, description="The company's name.")
    description: str | None = None
    active: bool | None = None
    used_for: str | None = None
    restricted_to_user_id: int | None = None
    restricted_to_role: Literal["admin", "clerk", "viewer"] | None = None
    provider: str | None = Field(None, description="imap, microsoft365, gmail, ... (a preset)")
    protocol: str | None = Field(None, description="imap, pop3, graph or gmail-api")
    auth: str | None = Field(None, description="password, oauth or app")
    host: str | None = None
    port: int | None = None
    security: str | None = Field(None, description="ssl, starttls or none")
    ca_pem: str | None = Field(
        None, description="A private CA's certificate(s) in PEM to trust for this server."
    )
    verify_tls: bool | None = Field(
        None, description="false: do not verify the certificate (test servers only)."
    )
    draft: bool | None = Field(
        None,
        description="On create: true adds it not started (not fetched on its schedule until "
        "`active` is set true). Default false: started at once.",
    )
    username: str | None = None
    password: SecretStr | None = Field(None, json_schema_extra=WRITE_ONLY)
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = Field(None, json_schema_extra=WRITE_ONLY)
    secret_expires: date | None = None
    shared_mailbox: str | None = None
    folders: list[str] | None = None
    move_imported_to: str | None = None
    move_not_imported_to: str | None = None
    unread_only: bool | None = None
    since: date | None = None
    allowed_senders: list[str] | None = None
    require_pdf: bool | None = None
    allow_images: bool | None = None
    import_body: bool | None = None
    delete_after_import: bool | None = None
    schedule: str | None = Field(None, description='"every 60m", "at 05:00,12:00", "manual"')
    instant: bool | None = None
    max_failures: int | None = None

    def values(self) -> dict[str, Any]:
        """What was sent, for ``configure.create`` / ``update``: secrets unwrapped, null for an
        optional setting as the empty value that clears it, any other null left out."""
        found: dict[str, Any] = {}
        for key in self.model_fields_set:
            value = getattr(self, key)
            if value is None:
                if key in CLEARABLE:
                    found[key] = ""
            else:
                found[key] = value.get_secret_value() if isinstance(value, SecretStr) else value
        return found


class SourceOut(BaseModel):
    """A source as ``runtime.configure.view`` shows it: settings and state, never a secret."""

    id: int
    name: str
    company: str
    company_id: int
    description: str
    active: bool
    used_for: str
    restricted_to_user_id: int | None
    restricted_to_role: str | None
    provider: str
    protocol: str
    auth: str
    host: str
    port: int
    security: str
    ca_pem: str | None
    verify_tls: bool
    draft: bool
    username: str
    tenant_id: str | None
    client_id: str | None
    secret_expires: date | None
    shared_mailbox: str | None
    folders: list[str]
    move_imported_to: str | None
    move_not_imported_to: str | None
    unread_only: bool
    since: date | None
    allowed_senders: list[str]
    require_pdf: bool
    allow_images: bool
    import_body: bool
    delete_after_import: bool
    schedule: str
    instant: bool
    max_failures: int
    password_set: bool
    client_secret_set: bool
    status: str = Field(
        description="active, draft (not started), inactive, needs_authentication, "
        "needs_reauthentication, login_refused, connection_lost or secret_expiring"
    )
    status_text: str
    auth_state: str
    auth_error: str | None
    warnings: list[str]
    next_run_at: datetime | None
    failures: int
    last_error: str | None
    inactive_reason: str | None


class CheckOut(BaseModel):
    ok: bool = Field(description="Signed in, and every configured folder exists.")
    folders: list[str]
    missing: list[str] = Field(description="Configured folders the server does not have.")


class Started(BaseModel):
    started: bool = True


class RunCounts(BaseModel):
    """What a run found and did, and its error if it stopped early."""

    messages_seen: int = Field(description="Mails the run decided (and committed).")
    imported: int
    not_imported: int
    quarantined: int
    duplicates: int = Field(
        description="Mails handled before, plus documents whose exact bytes are in the queue "
        "already: neither is queued again."
    )
    documents_created: int = Field(description="Documents that joined the queue.")
    errors: int
    error: str | None


class RunSummaryOut(RunCounts):
    """What a run did (``?wait=true``)."""

    run_id: int
    source: str
    status: str = Field(description="succeeded, or partial (see `error`)")
    resynced: list[str] = Field(description="Folders whose sync state had expired.")


# -- runs and messages ----------------------------------------------------------------------


class RunOut(RunCounts):
    id: int
    source_id: int
    source: str
    trigger: str = Field(description="manual, schedule, retry, instant or smtp")
    status: str = Field(
        description="running, succeeded, failed, or partial (it imported mail, then stopped "
        "on the error in `error`)"
    )
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, run: Run, source: str) -> RunOut:
        return cls(
            source=source,
            **{k: getattr(run, k) for k in cls.model_fields if k != "source"},
        )


Decision = Literal["import", "not_imported", "quarantined", "duplicate"]


class MessageOut(BaseModel):
    """A ledger row: one mail seen, what was decided and why."""

    id: int
    source_id: int
    source: str
    run_id: int | None
    folder: str
    message_id: str | None
    sender: str | None
    subject: str
    sent_at: datetime | None
    received_at: datetime
    decision: str = Field(description="import, not_imported, quarantined or duplicate")
    reason: str
    hits: list[str] = Field(description="The rules that matched.")
    state: str = Field(description="decided (not filed yet) or disposed")
    filed_to: str | None
    duplicate_of: int | None = Field(description="The message this one repeats.")
    documents: list[int] = Field(description="Ids of the documents taken from it.")

    @classmethod
    def of(cls, m: Message, source: str) -> MessageOut:
        return cls(
            id=m.id,
            source_id=m.source_id,
            source=source,
            run_id=m.run_id,
            folder=m.folder,
            message_id=m.message_id,
            sender=m.sender,
            subject=m.subject,
            sent_at=m.sent_at,
            received_at=m.received_at,
            decision=m.decision,
            reason=m.reason,
            hits=list(m.hits or []),
            state=m.state,
            filed_to=m.filed_to,
            duplicate_of=m.duplicate_of_id,
            documents=[d.id for d in m.documents],
        )


# -- documents ------------------------------------------------------------------------------


class EInvoiceOut(BaseModel):
    """What a structured invoice says, every value a string as written (dates ISO)."""

    model_config = ConfigDict(extra="allow")

    format: str | None = Field(None, description='"facturx", "xrechnung-ubl", "ksef-fa3", ...')
    profile: str | None = None
    document_type: str | None = Field(None, description="invoice, credit_note or other")
    type_code: str | None = None
    number: str | None = None
    issue_date: str | None = None
    due_date: str | None = None
    seller_name: str | None = None
    seller_vat_id: str | None = None
    seller_iban: str | None = None
    buyer_name: str | None = None
    total: str | None = None
    amount_due: str | None = None
    currency: str | None = None


class MessageSummary(BaseModel):
    """The mail a document came in."""

    id: int
    message_id: str | None
    sender: str | None
    subject: str
    sent_at: datetime | None
    received_at: datetime
    decision: str
    reason: str


class DocumentOut(BaseModel):
    id: int
    company_id: int
    company: str
    source_id: int
    source: str
    filename: str
    media_type: str
    size: int
    sha256: str
    kind: str
    einvoice: EInvoiceOut | None
    rule: str | None = Field(description="The import rule that took it, if one did.")
    duplicate_of: int | None = Field(description="The queued document this one repeats.")
    duplicate_kind: str | None = Field(
        description="exact (same bytes, not queued again) or probable (same e-invoice)"
    )
    origin_sender: str | None = Field(description="The sender of a forwarded mail.")
    origin_date: datetime | None
    created_at: datetime
    received_at: datetime
    status: Literal["new", "processed", "duplicate"] = Field(
        description="new (not acknowledged yet), processed, or duplicate: an exact duplicate "
        "of `duplicate_of`, not in the queue and never to be booked"
    )
    processed_at: datetime | None
    processed_by: str | None
    file_url: str
    message: MessageSummary

    @classmethod
    def of(cls, d: Document, m: Message, source: str, company: str) -> DocumentOut:
        return cls(
            id=d.id,
            company_id=d.company_id,
            company=company,
            source_id=m.source_id,
            source=source,
            filename=d.filename,
            media_type=d.media_type,
            size=d.size,
            sha256=d.sha256,
            kind=d.kind,
            einvoice=EInvoiceOut.model_validate(d.einvoice) if d.einvoice else None,
            rule=d.rule,
            duplicate_of=d.duplicate_of_id,
            duplicate_kind=d.duplicate_kind,
            origin_sender=d.origin_sender,
            origin_date=d.origin_date,
            created_at=d.created_at,
            received_at=m.received_at,
            status=_status(d),
            processed_at=d.processed_at,
            processed_by=d.processed_by,
            file_url=f"/api/v1/documents/{d.id}/file",
            message=MessageSummary(
                id=m.id,
                message_id=m.message_id,
                sender=m.sender,
                subject=m.subject,
                sent_at=m.sent_at,
                received_at=m.received_at,
                decision=m.decision,
                reason=m.reason,
            ),
        )


def _status(d: Document) -> Literal["new", "processed", "duplicate"]:
    if is_exact_duplicate(d):
        return "duplicate"
    return "new" if d.processed_at is None else "processed"


class ReceivedAgain(BaseModel):
    """Another arrival of a document's exact bytes: the copy (not queued) and its mail."""

    document_id: int
    source_id: int
    source: str
    run_id: int | None
    message: MessageSummary


class DocumentDetail(DocumentOut):
    duplicated_by: list[int] = Field(description="Documents marked as repeating this one.")
    also_received_in: list[ReceivedAgain] = Field(
        default_factory=list, description="The mails this document's exact bytes came again in."
    )


# -- notifications --------------------------------------------------------------------------


class NotificationOut(BaseModel):
    id: int
    company_id: int
    company: str
    source_id: int | None
    source: str | None
    kind: str = Field(description="source_deactivated or needs_attention")
    subject: str
    body: str
    created_at: datetime
    email_state: str = Field(description="pending, sent, failed or skipped")
    webhook_state: str = Field(description="pending, sent, failed or skipped")
    attempts: int
    last_error: str | None

    @classmethod
    def of(cls, n: Notification, company: str, source: str | None) -> NotificationOut:
        return cls(
            company=company,
            source=source,
            **{k: getattr(n, k) for k in cls.model_fields if k not in ("company", "source")},
        )
