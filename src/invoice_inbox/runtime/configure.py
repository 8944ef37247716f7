"""Configure a source from what a person typed on a form or an integrator sent to the API.

One validation for both, with every problem tied to the field it concerns (``Invalid.errors``:
field → one sentence), so a form shows it next to the field and the API names the field. The
rules are the CLI's: a provider preset fills in the server and limits protocol × sign-in,
POP3 has no folders or flags, instant pickup needs IMAP, schedules and sender patterns must
parse. Secrets (``password``, ``client_secret``) are write-only: they are encrypted here and
:func:`view` only says whether one is set.

``create`` takes every field (defaults as ``source add``); ``update`` takes only the changed
ones (``None`` or a missing key keeps the stored value; an empty password keeps it too). A
change of where the secrets go (server, user name, OAuth2 sign-in) clears the stored ones that
it does not replace (``runtime.secret_scope``), and the source asks for them again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from babel.lists import format_list
from sqlalchemy import select
from sqlalchemy.orm import Session

from invoice_inbox.auth import oauth as oauth_endpoints
from invoice_inbox.connectors import pop3, presets
from invoice_inbox.connectors.imap import DEFAULT_PORTS
from invoice_inbox.i18n import current_locale
from invoice_inbox.i18n import gettext as _
from invoice_inbox.json_types import SourceSettings
from invoice_inbox.pipeline.senders import InvalidPattern, normalize_pattern
from invoice_inbox.runtime import health, schedules, secret_scope, source_trust, trust
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.source_view import current, field_of, status, view, warnings
from invoice_inbox.store import sources as sources_store
from invoice_inbox.store.models import AuthState, Role, Source, User

SECURITIES = ("ssl", "starttls", "none")

# Fields a person may set; "password" and "client_secret" are written, never read.
EDITABLE = (
    "name",
    "company",
    "description",
    "active",
    "used_for",
    "restricted_to_user_id",
    "restricted_to_role",
    "provider",
    "protocol",
    "auth",
    "host",
    "port",
    "security",
    "ca_pem",
    "verify_tls",
    "username",
    "password",
    "tenant_id",
    "client_id",
    "client_secret",
    "secret_expires",
    "shared_mailbox",
    "folders",
    "move_imported_to",
    "move_not_imported_to",
    "unread_only",
    "since",
    "allowed_senders",
    "sender_auth",
    "trusted_authserv_ids",
    "require_pdf",
    "allow_images",
    "import_body",
    "delete_after_import",
    "schedule",
    "instant",
    "max_failures",
)


class Invalid(ValueError):
    """What is wrong with the values, field by field, each in one sentence."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass
class _Check:
    errors: dict[str, str]

    def fail(self, field: str, sentence: str) -> None:
        self.errors.setdefault(field, sentence)


def _text(v: object) -> str | None:
    if v is None:
        return None
    v = str(v).strip()
    return v or None


# v, here and in _list: whatever a client sent; int() and list() raise for what they cannot take
def _int(c: _Check, field: str, v: Any, lo: int, hi: int) -> int | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    try:
        n = int(v)
    except (TypeError, ValueError):
        c.fail(field, _("must be a whole number, not %(value)r") % {"value": v})
        return None
    if not lo <= n <= hi:
        c.fail(field, _("must be between %(lo)s and %(hi)s") % {"lo": lo, "hi": hi})
        return None
    return n


def _date(c: _Check, field: str, v: object) -> date | None:
    if v is None or isinstance(v, date):
        return v
    text = str(v).strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        c.fail(field, _("must be a date like 2026-01-31, not %(value)r") % {"value": text})
        return None


def _or(choices: tuple[str, ...] | list[str]) -> str:
    """``imap or pop3``: the choices a field takes, joined in the reader's language."""
    return format_list(list(choices), style="or", locale=current_locale())


def _list(v: Any) -> list[str]:
    if v is None:
        return []
    items = v.splitlines() if isinstance(v, str) else list(v)
    return [str(i).strip() for i in items if str(i).strip()]


def _validate(
    s: Session, v: SourceSettings, *, creating: bool, existing: Source | None
) -> SourceSettings:
    """The model fields for *v* (every field present), or Invalid."""
    c = _Check({})
    out: SourceSettings = {}
    name = _text(v.get("name"))
    if not name:
        c.fail("name", _("a source needs a name"))
    elif len(name) > 200:
        c.fail("name", _("the name is too long (200 characters at most)"))
    else:
        taken = s.scalar(select(Source.id).where(Source.name == name))
        if taken is not None and (existing is None or taken != existing.id):
            c.fail("name", _('a source named "%(name)s" exists already') % {"name": name})
    out["name"] = name
    company = _text(v.get("company"))
    if not company:
        c.fail("company", _("choose the company whose invoices these are"))
    out["company"] = company
    out["description"] = str(v.get("description") or "")
    out["active"] = bool(v.get("active", True))
    out["used_for"] = _text(v.get("used_for")) or "supplier_invoices"
    role = _text(v.get("restricted_to_role"))
    if role is not None and role not in {r.value for r in Role}:
        c.fail(
            "restricted_to_role",
            _("the role must be admin, clerk or viewer, not %(value)r") % {"value": role},
        )
    out["restricted_to_role"] = role
    uid = v.get("restricted_to_user_id")
    uid = _int(c, "restricted_to_user_id", uid, 1, 2**31) if uid not in (None, "") else None
    if uid is not None and s.get(User, uid) is None:
        c.fail("restricted_to_user_id", _("there is no such user"))
    out["restricted_to_user_id"] = uid

    provider = _text(v.get("provider")) or "imap"
    preset = presets.PRESETS.get(provider)
    if preset is None:
        c.fail("provider", _("unknown provider %(value)r") % {"value": provider})
        raise Invalid(c.errors)
    out["provider"] = provider
    auth = _text(v.get("auth")) or preset.auths[0]
    protocol = _text(v.get("protocol")) or preset.default_protocol(auth)
    if protocol not in preset.protocols:
        c.fail(
            "protocol",
            _("%(provider)s is reached with %(choices)s")
            % {"provider": _(preset.label), "choices": _or(preset.protocols)},
        )
    if auth not in preset.auths:
        c.fail(
            "auth",
            _("%(provider)s signs in with %(choices)s")
            % {"provider": _(preset.label), "choices": _or(preset.auths)},
        )
    if auth == presets.PASSWORD and protocol not in (presets.IMAP, presets.POP3):
        c.fail(
            "auth",
            _("the %(protocol)s protocol needs OAuth2: choose oauth or app sign-in")
            % {"protocol": protocol},
        )
    out["protocol"], out["auth"] = protocol, auth
    is_pop3 = protocol == presets.POP3

    security = _text(v.get("security")) or preset.security
    if security not in SECURITIES:
        c.fail("security", _("choose ssl, starttls or none"))
        security = preset.security
    out["security"] = security
    host = _text(v.get("host"))
    if preset.host is not None and not host:
        host = preset.pop3_host if is_pop3 and preset.pop3_host else preset.host
    if not host:
        c.fail(
            "host",
            _("give the %(protocol)s server's host name")
            % {"protocol": "POP3" if is_pop3 else "IMAP"},
        )
    elif " " in host or "/" in host:
        c.fail("host", _("%(value)r is not a host name") % {"value": host})
    out["host"] = host
    port = _int(c, "port", v.get("port"), 1, 65535)
    if port is None:
        ports = pop3.DEFAULT_PORTS if is_pop3 else DEFAULT_PORTS
        port = ports.get(security, preset.port)
    out["port"] = port
    try:
        out["ca_pem"] = trust.ca_certificates(v.get("ca_pem"))
    except trust.NotACertificate as exc:
        c.fail("ca_pem", str(exc))
    out["verify_tls"] = bool(v.get("verify_tls", True))
    username = _text(v.get("username"))
    if not username:
        c.fail("username", _("give the mailbox's user name (usually its address)"))
    out["username"] = username

    # sign-in
    oauth = auth != presets.PASSWORD
    for field in ("tenant_id", "client_id", "shared_mailbox"):
        out[field] = _text(v.get(field)) if oauth or field == "shared_mailbox" else None
    if out["shared_mailbox"] and preset.oauth != "microsoft":
        c.fail("shared_mailbox", _("shared mailboxes are for Microsoft 365 sources"))
    if preset.oauth != "microsoft":
        out["tenant_id"] = None
    password = v.get("password") or None
    client_secret = v.get("client_secret") or None
    if auth == presets.PASSWORD:
        if password is None and (creating or existing is None or existing.secret is None):
            c.fail("password", _("give the password (or app password) of the mailbox"))
    elif oauth:
        if not out["client_id"]:
            c.fail("client_id", _("give the client (application) ID of your app registration"))
        needs_secret = auth == presets.APP or preset.oauth == "google"
        has_secret = existing is not None and existing.client_secret is not None
        if needs_secret and client_secret is None and not has_secret:
            c.fail("client_secret", _("give the app registration's client secret"))
        if auth == presets.APP and not out["tenant_id"]:
            c.fail("tenant_id", _("give the directory (tenant) ID or domain"))
        elif out["tenant_id"]:
            try:
                oauth_endpoints.microsoft(out["tenant_id"])
            except ValueError:
                c.fail("tenant_id", _("give a tenant ID (a GUID) or a domain like contoso.com"))
    out["secret_expires"] = _date(c, "secret_expires", v.get("secret_expires"))

    # folders and what to import
    folders = _list(v.get("folders")) or ["INBOX"]
    out["folders"] = folders
    out["move_imported_to"] = _text(v.get("move_imported_to"))
    out["move_not_imported_to"] = _text(v.get("move_not_imported_to"))
    out["unread_only"] = bool(v.get("unread_only", False))
    out["delete_after_import"] = bool(v.get("delete_after_import", False))
    if is_pop3:
        if [f.casefold() for f in folders] != ["inbox"]:
            c.fail("folders", _("a POP3 mailbox has only the inbox"))
        for field in ("move_imported_to", "move_not_imported_to"):
            if out[field]:
                c.fail(field, _("POP3 has no folders to move mail to"))
        if out["unread_only"]:
            c.fail("unread_only", _("POP3 has no read/unread flags"))
    elif out["delete_after_import"]:
        c.fail("delete_after_import", _("only POP3 sources delete mail; IMAP sources move it"))
    out["since"] = _date(c, "since", v.get("since"))
    patterns = []
    for p in _list(v.get("allowed_senders")):
        try:
            patterns.append(normalize_pattern(p))
        except InvalidPattern as exc:
            c.fail("allowed_senders", str(exc))
    out["allowed_senders"] = patterns
    for field, read in (
        ("sender_auth", source_trust.mode),
        ("trusted_authserv_ids", source_trust.authserv_ids),
    ):
        try:
            out[field] = read(v.get(field))
        except source_trust.BadSetting as exc:
            c.fail(field, str(exc))
    for field in ("require_pdf", "allow_images", "import_body", "instant"):
        out[field] = bool(v.get(field, field == "require_pdf"))
    if out["instant"] and protocol != presets.IMAP:
        c.fail("instant", _("instant pickup needs IMAP (IDLE)"))
    try:
        out["schedule"] = schedules.format(schedules.parse(str(v.get("schedule") or "every 60m")))
    except schedules.ScheduleError as exc:
        c.fail("schedule", str(exc))
    out["max_failures"] = _int(c, "max_failures", v.get("max_failures"), 1, 1000) or 5
    if c.errors:
        raise Invalid(c.errors)
    out["password"], out["client_secret"] = password, client_secret
    return out


def _store(app: App, s: Session, src: Source, fields: SourceSettings) -> None:
    password, secret = fields.pop("password"), fields.pop("client_secret")
    company = fields.pop("company")
    if src.company is None or src.company.name != company:
        src.company = sources_store.company(s, company, create=True)
    fields["body_fallback"] = fields.pop("import_body")
    if fields["schedule"] != src.schedule:
        src.next_run_at = None
    for key, value in fields.items():
        setattr(src, key, value)
    if password is not None:
        src.secret = app.secrets.encrypt(str(password))
        if src.auth == presets.PASSWORD and src.auth_state != AuthState.OK:
            src.auth_state, src.auth_error = AuthState.OK, None
    if secret is not None:
        src.client_secret = app.secrets.encrypt(str(secret))
        if src.auth == presets.APP and src.auth_state != AuthState.OK:
            src.auth_state, src.auth_error = AuthState.OK, None


def create(app: App, s: Session, values: SourceSettings, *, draft: bool = False) -> Source:
    """A new source from *values* (see :data:`EDITABLE`); raises Invalid. A *draft* is not
    fetched on its schedule until someone starts it (:func:`start`)."""
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise Invalid({k: _("is not a setting of a source") for k in sorted(unknown)})
    fields = _validate(s, values, creating=True, existing=None)
    src = Source(
        name=fields["name"],
        host=fields["host"],
        port=fields["port"],
        username=fields["username"],
        auth_state=(
            AuthState.NEEDS_AUTHENTICATION if fields["auth"] == presets.OAUTH else AuthState.OK
        ),
    )
    _store(app, s, src, fields)
    if draft:
        src.active, src.draft = False, True
    s.add(src)
    s.flush()
    return src


def preview(s: Session, src: Source, changes: SourceSettings) -> SourceSettings:
    """The settings *src* would have with *changes*, validated but not stored (secrets as
    typed, None when not typed); raises Invalid."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise Invalid({k: _("is not a setting of a source") for k in sorted(unknown)})
    merged = current(src) | {k: v for k, v in changes.items() if v is not None}
    return _validate(s, merged, creating=False, existing=src)


def start(src: Source) -> None:
    """Switch a source on: a draft starts being fetched on its schedule."""
    if src.draft or not src.active:
        health.reactivate(src)


def update(app: App, s: Session, src: Source, changes: SourceSettings) -> Source:
    """Change *src*; keys missing or None keep their value. Raises Invalid."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise Invalid({k: _("is not a setting of a source") for k in sorted(unknown)})
    if src.protocol == "smtp":
        raise Invalid({"protocol": _("the central import address is set up on its company")})
    before = current(src)
    merged = before | {k: v for k, v in changes.items() if v is not None}
    was_active = src.active
    fields = _validate(s, merged, creating=False, existing=src)
    switching_on = fields["active"] and not was_active
    moved = secret_scope.changed(before, fields)
    if moved is not None:
        secret_scope.forget(
            src,
            moved,
            auth=fields["auth"],
            new_password=fields["password"] is not None,
            new_client_secret=fields["client_secret"] is not None,
        )
    _store(app, s, src, fields)
    if switching_on:
        health.reactivate(src)
    if src.active:
        src.draft = False
    return src


__all__ = [
    "EDITABLE",
    "Invalid",
    "create",
    "current",
    "field_of",
    "preview",
    "start",
    "status",
    "update",
    "view",
    "warnings",
]
