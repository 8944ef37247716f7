"""How a source is shown: its settings as the form and the API take them (secrets left out),
its status in words, the warnings a person should see, and the form field a connection
problem concerns. Read-only; :mod:`~invoice_inbox.runtime.configure` changes sources.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import object_session

from invoice_inbox.auth.expiry import secret_expiry_warning
from invoice_inbox.connectors import presets
from invoice_inbox.errors import (
    ConnectFailed,
    ConnectorError,
    FolderMissing,
    LoginFailed,
    TLSFailed,
)
from invoice_inbox.i18n import gettext as _
from invoice_inbox.i18n import ngettext
from invoice_inbox.i18n.formats import day
from invoice_inbox.json_types import JsonObject, SourceSettings
from invoice_inbox.runtime import health, secret_scope, source_trust
from invoice_inbox.store import ledger
from invoice_inbox.store.models import AuthState, Source


def current(src: Source) -> SourceSettings:
    """The stored values in the form :func:`update` takes (secrets left out)."""
    return {
        "name": src.name,
        "company": src.company.name,
        "description": src.description,
        "active": src.active,
        "used_for": src.used_for,
        "restricted_to_user_id": src.restricted_to_user_id,
        "restricted_to_role": src.restricted_to_role,
        "provider": src.provider,
        "protocol": src.protocol,
        "auth": src.auth,
        "host": src.host,
        "port": src.port,
        "security": src.security,
        "ca_pem": src.ca_pem,
        "verify_tls": src.verify_tls,
        "username": src.username,
        "tenant_id": src.tenant_id,
        "client_id": src.client_id,
        "secret_expires": src.secret_expires,
        "shared_mailbox": src.shared_mailbox,
        "folders": list(src.folders),
        "move_imported_to": src.move_imported_to,
        "move_not_imported_to": src.move_not_imported_to,
        "unread_only": src.unread_only,
        "since": src.since,
        "allowed_senders": list(src.allowed_senders),
        "sender_auth": src.sender_auth,
        "trusted_authserv_ids": (
            None if src.trusted_authserv_ids is None else list(src.trusted_authserv_ids)
        ),
        "require_pdf": src.require_pdf,
        "allow_images": src.allow_images,
        "import_body": src.body_fallback,
        "delete_after_import": src.delete_after_import,
        "schedule": src.schedule,
        "instant": src.instant,
        "max_failures": src.max_failures,
    }


def warnings(src: Source) -> list[str]:
    """What a person should know about a source before it stops working."""
    found = []
    cleared = secret_scope.cleared(src)
    if cleared:
        found.append(cleared)
    if src.provider == "microsoft365" and src.auth == presets.PASSWORD:
        found.append(_(presets.MICROSOFT_PASSWORD_WARNING))  # marked where it is defined
    expiry = secret_expiry_warning(src.secret_expires, date.today())
    if expiry:
        found.append(expiry.replace("NAME", src.name))
    return found + health.warnings(src) + filing_warnings(src)


def filing_warnings(src: Source) -> list[str]:
    """One sentence per folder the server refuses to file mail into (``ledger.filing_problems``):
    those mails stay where they are until the folder works; importing goes on meanwhile."""
    s = object_session(src)
    if s is None or src.id is None:
        return []
    found = []
    for p in ledger.filing_problems(s, src.id):
        found.append(
            ngettext(
                'mails cannot be moved to "%(folder)s" (%(n)s mail left where it is;'
                " filing is tried again on each run): %(error)s",
                'mails cannot be moved to "%(folder)s" (%(n)s mails left where they are;'
                " filing is tried again on each run): %(error)s",
                p.mails,
            )
            % {"folder": p.target, "n": p.mails, "error": p.error}
        )
    return found


def status(src: Source) -> tuple[str, str]:
    """(status key, words) for lists: active, inactive, connection lost, needs
    re-authentication, login refused, secret expiring. A source nobody has signed in to yet
    says so first, whether it was started or not: the sign-in is what it waits for."""
    if src.auth_state == AuthState.NEEDS_AUTHENTICATION and not src.inactive_reason:
        return "needs_authentication", _("needs sign-in")
    if src.draft:
        return "draft", _("not started")
    if not src.active:
        if src.inactive_reason:
            why = health.inactive_words(src.inactive_reason)
            return "inactive", _("inactive: %(why)s") % {"why": why}
        return "inactive", _("inactive")
    if src.auth_state == AuthState.NEEDS_AUTHENTICATION:
        return "needs_authentication", _("needs sign-in")
    if src.auth_state == AuthState.NEEDS_REAUTHENTICATION:
        return "needs_reauthentication", _("needs re-authentication")
    if src.auth_state == AuthState.LOGIN_REFUSED:
        return "login_refused", _("login refused")
    if src.failures:
        why = src.last_error or _("see the log")
        return "connection_lost", _("connection lost: %(why)s") % {"why": why}
    if secret_expiry_warning(src.secret_expires, date.today()):
        shown = day(src.secret_expires)
        return "secret_expiring", _("client secret expires %(day)s") % {"day": shown}
    return "active", _("active")


def view(src: Source) -> JsonObject:
    """The public view of a source (API, pages): settings, state; secrets only as *_set."""
    v = current(src)
    for key in ("secret_expires", "since"):
        v[key] = v[key].isoformat() if v[key] else None
    key, words = status(src)
    return {
        "id": src.id,
        **v,
        "company_id": src.company_id,
        "draft": src.draft,
        "password_set": src.secret is not None,
        "client_secret_set": src.client_secret is not None,
        "preset_authserv_ids": source_trust.preset_authserv_ids(src.provider),
        "status": key,
        "status_text": words,
        "auth_state": src.auth_state,
        "auth_error": src.auth_error,
        "warnings": warnings(src),
        "next_run_at": src.next_run_at.isoformat() if src.next_run_at else None,
        "failures": src.failures,
        "last_error": src.last_error,
        "inactive_reason": src.inactive_reason,
    }


def field_of(exc: ConnectorError, src: Source) -> str:
    """The form field a connection problem concerns, to show its sentence next to it."""
    named = getattr(exc, "field", None)  # connectors.network: the port, security or CA
    if isinstance(named, str):
        return named
    if isinstance(exc, FolderMissing):
        return "folders"
    if isinstance(exc, LoginFailed):
        return "password" if src.auth == presets.PASSWORD else "client_id"
    if isinstance(exc, TLSFailed):
        return "security"
    if isinstance(exc, ConnectFailed):
        return "host"
    return "connection"
