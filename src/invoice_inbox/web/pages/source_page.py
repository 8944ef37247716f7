"""The source page drawn: a new source's form, an admin's edit form, or everyone else's
read-only view, with the choices its selects offer, the folder checkboxes from the server's list
and the names of a pasted CA. :mod:`~invoice_inbox.web.pages.source_edit` and its neighbours
(rules, connection check) answer with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from invoice_inbox.connectors import pop3, presets
from invoice_inbox.connectors.imap import DEFAULT_PORTS
from invoice_inbox.i18n import N_, gettext
from invoice_inbox.json_types import SourceSettings
from invoice_inbox.pipeline.rules import Action
from invoice_inbox.runtime import configure, source_trust, trust
from invoice_inbox.store import companies as company_store
from invoice_inbox.store.models import Role, Source, User
from invoice_inbox.web.access import Access
from invoice_inbox.web.pages import source_oauth
from invoice_inbox.web.pages.source_form import Read, sentence
from invoice_inbox.web.pages.sources import BADGES, IMPORT, _last_runs, provider_label
from invoice_inbox.web.security import Page, context
from invoice_inbox.web.templating import CSP, render
from invoice_inbox.web.words import role_word

PROTOCOLS = {
    presets.IMAP: "IMAP",
    presets.POP3: "POP3",
    presets.GRAPH: "Microsoft Graph API",
    presets.GMAIL_API: "Gmail API",
}
# the English words below are marked (N_) and translated when a page is drawn (:func:`_said`)
AUTHS = {
    presets.PASSWORD: N_("Password (or app password)"),
    presets.OAUTH: N_("OAuth2: sign in as the mailbox user"),
    presets.APP: N_("OAuth2 app-only: client secret, admin consent"),
}
SECURITIES = {"ssl": "SSL/TLS", "starttls": "STARTTLS", "none": N_("None (plain text)")}
USED_FOR = {"supplier_invoices": N_("Supplier invoices")}
# the sender-authentication policies, each with its one line of help
SENDER_AUTH = {
    source_trust.OFF: (
        N_("Off"),
        N_("Record the result only; mail is imported as if nobody checked."),
    ),
    source_trust.FLAG: (
        N_("Flag"),
        N_("Import as decided, and mark documents whose sender is not authenticated (default)."),
    ),
    source_trust.REQUIRE: (
        N_("Require"),
        N_("Import only mail whose sender is authenticated; the rest is not imported, with why."),
    ),
}
ACTIONS = {
    Action.ATTACHMENTS.value: N_("import the attachments"),
    Action.BODY.value: N_("import the mail body as the invoice"),
    Action.SKIP.value: N_("do not import"),
}


def _said(words: dict[str, str]) -> dict[str, str]:
    """*words* (code → marked English) in the reader's language."""
    return {code: gettext(text) for code, text in words.items()}


def sender_auth_modes() -> dict[str, tuple[str, str]]:
    """The sender-authentication policies (name, help) in the reader's language."""
    return {mode: (gettext(name), gettext(help_)) for mode, (name, help_) in SENDER_AUTH.items()}


@cache
def _zones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))


def companies(s: Session, access: Access) -> list[str]:
    return [c.name for c in access.companies(s)]


def same_folder(name: str) -> str:
    """Folder names compare exactly, except the inbox (RFC 3501 §5.1; Graph's "Inbox")."""
    return "INBOX" if name.casefold() == "inbox" else name


FolderOption = tuple[str, str, bool, int | None]


def _folder_options(
    server: list[str] | None, chosen: list[str], counts: dict[str, int | None] | None = None
) -> list[FolderOption]:
    """(value, label, ticked, mails in it) for the "retrieve mails from" checkboxes: the
    server's folders, then chosen ones the server does not have."""
    if not server:
        return []
    counts = counts or {}
    wanted = {same_folder(f) for f in chosen}
    found = {same_folder(f) for f in server}
    listed = [(f, f, same_folder(f) in wanted, counts.get(f)) for f in server]
    gone = [
        (f, gettext("%(folder)s (not on the server)") % {"folder": f}, True, None)
        for f in chosen
        if same_folder(f) not in found
    ]
    return listed + gone


def _ca_names(pem: str | None) -> list[str]:
    try:
        return trust.describe(trust.ca_certificates(pem))
    except ValueError:
        return []


def form_page(
    request: Request,
    page: Page,
    s: Session,
    *,
    src: Source | None,
    shown: SourceSettings,
    errors: dict[str, str] | None = None,
    server_folders: list[str] | None = None,
    folder_counts: dict[str, int | None] | None = None,
    check_ok: bool = False,
    typed_secret: bool = False,
    rule_values: dict[str, str] | None = None,
    status_code: int = 200,
    partial: bool = False,
    errors_title: str | None = None,
) -> Response:
    """The source page: a new source's form (*src* None), an admin's edit form, or everyone
    else's read-only view; *partial* renders just the form (htmx). *errors_title* heads the
    list of problems (default: the source was not saved)."""
    errors = {k: sentence(v) for k, v in (errors or {}).items()}
    provider = shown.get("provider") or (src.provider if src else "imap")
    preset = presets.PRESETS.get(provider)
    users: Iterable[User] = (
        s.scalars(select(User).order_by(User.email)) if page.access.is_admin else []
    )
    options = {
        "company": {name: name for name in companies(s, page.access)},
        "users": {str(u.id): u.email for u in users},
        "roles": {r.value: role_word(r.value) for r in Role},
        "protocol": {p: PROTOCOLS.get(p, p) for p in (preset.protocols if preset else ())},
        "auth": {a: gettext(AUTHS.get(a, a)) for a in (preset.auths if preset else ())},
        "security": _said(SECURITIES),
        "used_for": _said(USED_FOR),
        "action": _said(ACTIONS),
    }
    values: dict[str, Any] = {  # the template's variables (Jinja takes any)
        "folder_options": _folder_options(
            server_folders, shown.get("folders") or [], folder_counts
        ),
        "folder_counts": folder_counts or {},
        "typed_secret": typed_secret,
        "default_ports": {"imap": DEFAULT_PORTS, "pop3": pop3.DEFAULT_PORTS},
        "ca_names": _ca_names(shown.get("ca_pem")),
        "src": src,
        "shown": shown,
        "errors": errors,
        "errors_title": errors_title or gettext("The source was not saved:"),
        "preset": preset,
        "provider_label": provider_label(provider),
        "server_folders": server_folders,
        "check_ok": check_ok,
        "options": options,
        "protocols": PROTOCOLS,
        "auths": _said(AUTHS),
        "zones": _zones(),
        "rule_values": rule_values or {},
        "sender_auth_modes": sender_auth_modes(),
        "preset_authserv_ids": source_trust.preset_authserv_ids(provider),
        "redirect_uri": source_oauth.redirect_uri(request),
    }
    if src is not None:
        key, words = configure.status(src)
        values |= {
            "view": configure.view(src),
            "status": key,
            "status_text": words,
            "badge": BADGES.get(key, ""),
            "warnings": configure.warnings(src),
            "rules": list(src.rules),
            "import_address": (
                company_store.address(s, src.company) if src.protocol == IMPORT else None
            ),
            "last_run": _last_runs(s, [src.id]).get(src.id),
        }
    name = "source_form.html" if partial else "source.html"
    response = render(request, name, page, nav="sources", status_code=status_code, **values)
    origin = source_oauth.provider_origin(src) if src is not None else None
    if origin and page.access.is_admin:
        # the Authenticate form is answered with a redirect to the provider's sign-in page
        response.headers["Content-Security-Policy"] = CSP.replace(
            "form-action 'self'", f"form-action 'self' {origin}"
        )
    return response


def typed_form_page(
    request: Request,
    page: Page,
    source_id: int,
    read: Read,
    *,
    errors: dict[str, str],
    server_folders: list[str] | None = None,
    folder_counts: dict[str, int | None] | None = None,
    **options: Any,  # more template variables (Jinja takes any)
) -> Response:
    """The saved source's form again, in a new session, showing what was typed (*read*, not
    saved) and *errors*. The folder checkboxes are the ones the form last loaded from the server
    unless *server_folders* and *folder_counts* are given; *options* go to ``_form_page``."""
    with context(request).app.db.session() as s:
        return form_page(
            request,
            page,
            s,
            src=page.access.source(s, source_id),
            shown=read.shown,
            errors=errors,
            server_folders=read.server_folders if server_folders is None else server_folders,
            folder_counts=read.server_counts if folder_counts is None else folder_counts,
            **options,
        )
