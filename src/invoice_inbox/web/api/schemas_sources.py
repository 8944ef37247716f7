"""The REST API's wire shapes for sources: the settings a client writes (:class:`SourceIn`),
a source as shown (:class:`SourceOut`) and the answers of the connection check and of
"fetch now"."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from invoice_inbox.json_types import SourceSettings

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
        "trusted_authserv_ids",
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
    password: SecretStr | None = Field(None, json_schema_extra={"writeOnly": True})
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = Field(None, json_schema_extra={"writeOnly": True})
    secret_expires: date | None = None
    shared_mailbox: str | None = None
    folders: list[str] | None = None
    move_imported_to: str | None = None
    move_not_imported_to: str | None = None
    unread_only: bool | None = None
    since: date | None = None
    allowed_senders: list[str] | None = None
    sender_auth: Literal["off", "flag", "require"] | None = Field(
        None,
        description="Sender authentication (DKIM, SPF, DMARC): off records the result only; "
        "flag (the default) imports as decided and flags documents whose sender is not "
        "authenticated; require does not import mail whose sender is not authenticated.",
    )
    trusted_authserv_ids: list[str] | None = Field(
        None,
        description="The authserv-ids (host names) whose Authentication-Results headers this "
        "source believes; null goes back to the provider preset's (`preset_authserv_ids`), "
        "[] trusts none.",
    )
    require_pdf: bool | None = None
    allow_images: bool | None = None
    import_body: bool | None = None
    delete_after_import: bool | None = None
    schedule: str | None = Field(None, description='"every 60m", "at 05:00,12:00", "manual"')
    instant: bool | None = None
    max_failures: int | None = None

    def values(self) -> SourceSettings:
        """What was sent, for ``configure.create`` / ``update``: secrets unwrapped, null for an
        optional setting as the empty value that clears it, any other null left out."""
        found: SourceSettings = {}
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
    sender_auth: str = Field(description="off, flag or require")
    trusted_authserv_ids: list[str] | None = Field(
        description="Its own list; null: the preset's (`preset_authserv_ids`)."
    )
    preset_authserv_ids: list[str] = Field(
        description="The authserv-ids its provider preset trusts by default."
    )
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
    ok: bool = Field(
        description="Signed in, every configured folder exists and mail can be filed to the"
        " move targets."
    )
    folders: list[str]
    missing: list[str] = Field(description="Configured folders the server does not have.")
    problems: list[str] = Field(
        default_factory=list,
        description="Why a folder cannot be used, one sentence each: a move target that cannot"
        " be created, a name the server cannot hold.",
    )


class Started(BaseModel):
    started: bool = True
