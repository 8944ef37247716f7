"""Pages: adding a source from a provider preset, one source's page (an admin's edit form, or
everyone else's read-only view without secrets), saving, starting and deleting it.

Only admins change settings (others get 403 on a POST). Settings are validated and stored by
``runtime.configure``: each problem is shown next to the field it concerns (``<p
class="field-error" id="FIELD-error">``, the input ``aria-invalid``), the page answers 422 and
keeps what was typed, except secrets. A source made here is a draft, not fetched on its schedule
until "Start fetching" (after a connection check, with its folders picked).
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Form, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from invoice_inbox.connectors import pop3, presets
from invoice_inbox.connectors.imap import DEFAULT_PORTS
from invoice_inbox.pipeline.rules import Action
from invoice_inbox.pipeline.senders import InvalidPattern, normalize_pattern
from invoice_inbox.runtime import configure, secret_scope, trust
from invoice_inbox.store import companies as company_store
from invoice_inbox.store.models import Role, Source, User
from invoice_inbox.web.access import Access
from invoice_inbox.web.pages import source_form, source_oauth
from invoice_inbox.web.pages.source_form import Read, sentence
from invoice_inbox.web.pages.sources import (
    BADGES,
    IMPORT,
    Posted,
    _last_runs,
    provider_label,
)
from invoice_inbox.web.security import Page, PageUser, context
from invoice_inbox.web.templating import CSP, redirect, render

router = APIRouter()

Text = Annotated[str, Form()]

PROTOCOLS = {
    presets.IMAP: "IMAP",
    presets.POP3: "POP3",
    presets.GRAPH: "Microsoft Graph API",
    presets.GMAIL_API: "Gmail API",
}
AUTHS = {
    presets.PASSWORD: "Password (or app password)",
    presets.OAUTH: "OAuth2: sign in as the mailbox user",
    presets.APP: "OAuth2 app-only: client secret, admin consent",
}
SECURITIES = {"ssl": "SSL/TLS", "starttls": "STARTTLS", "none": "None (plain text)"}
USED_FOR = {"supplier_invoices": "Supplier invoices"}
ACTIONS = {
    Action.ATTACHMENTS.value: "import the attachments",
    Action.BODY.value: "import the mail body as the invoice",
    Action.SKIP.value: "do not import",
}
CARD_TEXT = {
    "microsoft365": "Exchange Online over Microsoft Graph or IMAP; OAuth2 sign-in or app-only.",
    "gmail": "Gmail and Google Workspace over the Gmail API or IMAP; OAuth2 or app password.",
    "icloud": "iCloud Mail over IMAP with an app-specific password.",
    "imap": "Any IMAP server: host, port, user name and password.",
    "pop3": "A POP3 mailbox: only the inbox; mail can be deleted after import.",
}


class _Refused(Exception):
    """A form was not saved: roll the transaction back and show *errors*."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors


@cache
def _zones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))


# -- adding a source ---------------------------------------------------------------------------


def _companies(s: Session, access: Access) -> list[str]:
    return [c.name for c in access.companies(s)]


def _same_folder(name: str) -> str:
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
    wanted = {_same_folder(f) for f in chosen}
    found = {_same_folder(f) for f in server}
    listed = [(f, f, _same_folder(f) in wanted, counts.get(f)) for f in server]
    gone = [
        (f, f"{f} (not on the server)", True, None) for f in chosen if _same_folder(f) not in found
    ]
    return listed + gone


def _ca_names(pem: str | None) -> list[str]:
    try:
        return trust.describe(trust.ca_certificates(pem))
    except ValueError:
        return []


def _form_page(
    request: Request,
    page: Page,
    s: Session,
    *,
    src: Source | None,
    shown: dict[str, Any],
    errors: dict[str, str] | None = None,
    server_folders: list[str] | None = None,
    folder_counts: dict[str, int | None] | None = None,
    check_ok: bool = False,
    typed_secret: bool = False,
    rule_values: dict[str, str] | None = None,
    status_code: int = 200,
    partial: bool = False,
    errors_title: str = "The source was not saved:",
) -> Response:
    """The source page: a new source's form (*src* None), an admin's edit form, or everyone
    else's read-only view; *partial* renders just the form (htmx)."""
    errors = {k: sentence(v) for k, v in (errors or {}).items()}
    provider = shown.get("provider") or (src.provider if src else "imap")
    preset = presets.PRESETS.get(provider)
    users = s.scalars(select(User).order_by(User.email)) if page.access.is_admin else []
    options = {
        "company": {name: name for name in _companies(s, page.access)},
        "users": {str(u.id): u.email for u in users},
        "roles": {r.value: r.value for r in Role},
        "protocol": {p: PROTOCOLS.get(p, p) for p in (preset.protocols if preset else ())},
        "auth": {a: AUTHS.get(a, a) for a in (preset.auths if preset else ())},
        "security": SECURITIES,
        "used_for": USED_FOR,
        "action": ACTIONS,
    }
    values: dict[str, Any] = {
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
        "errors_title": errors_title,
        "preset": preset,
        "provider_label": provider_label(provider),
        "server_folders": server_folders,
        "check_ok": check_ok,
        "options": options,
        "protocols": PROTOCOLS,
        "auths": AUTHS,
        "zones": _zones(),
        "rule_values": rule_values or {},
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
    **options: Any,
) -> Response:
    """The saved source's form again, in a new session, showing what was typed (*read*, not
    saved) and *errors*. The folder checkboxes are the ones the form last loaded from the server
    unless *server_folders* and *folder_counts* are given; *options* go to ``_form_page``."""
    with context(request).app.db.session() as s:
        return _form_page(
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


@router.get("/sources/new")
def new_source(request: Request, page: PageUser, provider: str = "") -> Response:
    page.access.require_admin()
    with context(request).app.db.session() as s:
        if provider not in presets.PRESETS:
            cards = [(p.name, p.label, CARD_TEXT.get(p.name, "")) for p in presets.PRESETS.values()]
            return render(request, "sources_new.html", page, nav="sources", cards=cards)
        names = _companies(s, page.access)
        shown = source_form.defaults(provider, names[0] if len(names) == 1 else "")
        return _form_page(request, page, s, src=None, shown=shown)


def _read(form: FormData, base: dict[str, Any]) -> Read:
    read = source_form.read(form, base)
    read.changes = {k: v for k, v in read.changes.items() if k in configure.EDITABLE}
    return read


@router.post("/sources/new")
def create_source(request: Request, page: PageUser, form: Posted) -> Response:
    page.access.require_admin()
    ctx = context(request)
    provider = str(form.get("provider") or "imap")
    if provider not in presets.PRESETS:
        return redirect("/sources/new", flash="Choose the kind of mailbox first.")
    read = _read(form, source_form.defaults(provider))
    try:
        with ctx.app.db.session() as s:
            try:
                src = configure.create(ctx.app, s, read.changes, draft=True)
            except configure.Invalid as exc:
                raise _Refused(exc.errors | read.errors) from None
            if read.errors:
                raise _Refused(read.errors)
            source_id = src.id
    except _Refused as refused:
        with ctx.app.db.session() as s:
            return _form_page(
                request,
                page,
                s,
                src=None,
                shown=read.shown,
                errors=refused.errors,
                status_code=422,
            )
    return redirect(
        f"/sources/{source_id}",
        flash="Source created, not started yet: check the connection, pick its folders,"
        " then press Start fetching.",
    )


@router.post("/sources/new/form")
def new_source_form(request: Request, page: PageUser, form: Posted) -> Response:
    """The new source's form again for what was chosen so far (htmx, on a change of protocol
    or sign-in: the fields that apply differ)."""
    page.access.require_admin()
    provider = str(form.get("provider") or "imap")
    if provider not in presets.PRESETS:
        provider = "imap"
    read = _read(form, source_form.defaults(provider))
    with context(request).app.db.session() as s:
        return _form_page(request, page, s, src=None, shown=read.shown, partial=True)


# -- one source --------------------------------------------------------------------------------


@router.get("/sources/{source_id}")
def source_page(request: Request, page: PageUser, source_id: int) -> Response:
    with context(request).app.db.session() as s:
        src = page.access.source(s, source_id)
        errors = {}
        refused = source_oauth.take_outcome(request, page.access.user_id, src.id)
        if refused:
            errors["authenticate"] = refused
        return _form_page(
            request, page, s, src=src, shown=source_form.from_source(src), errors=errors
        )


def _save_import_source(
    request: Request, page: Page, s: Session, src: Source, form: FormData
) -> Response | None:
    """The central import source has only its description, allowed senders and rules here
    (configure leaves it to its company); None when saved."""
    text = str(form.get("allowed_senders") or "")
    patterns, problems = [], []
    for line in text.splitlines():
        if line.strip():
            try:
                patterns.append(normalize_pattern(line))
            except InvalidPattern as exc:
                problems.append(str(exc))
    if problems:
        shown = source_form.from_source(src) | {"allowed_senders": text}
        errors = {"allowed_senders": "; ".join(problems)}
        return _form_page(request, page, s, src=src, shown=shown, errors=errors, status_code=422)
    src.allowed_senders = patterns
    if "description" in form:
        src.description = str(form.get("description") or "")
    return None


@router.post("/sources/{source_id}")
def save_source(request: Request, page: PageUser, source_id: int, form: Posted) -> Response:
    return _save(request, page, source_id, form, start=False)


@router.post("/sources/{source_id}/start")
def start_source(request: Request, page: PageUser, source_id: int, form: Posted) -> Response:
    """Save the form and start fetching the source on its schedule (a draft's first start)."""
    return _save(request, page, source_id, form, start=True)


def _save(request: Request, page: Page, source_id: int, form: FormData, *, start: bool) -> Response:
    ctx = context(request)
    read: Read | None = None
    cleared: str | None = None
    name = ""
    try:
        with ctx.app.db.session() as s:
            src = page.access.source(s, source_id)
            page.access.require_admin()
            if src.protocol == IMPORT:
                problem = _save_import_source(request, page, s, src, form)
                if problem is not None:
                    return problem
                return redirect(f"/sources/{source_id}", flash="Saved.")
            read = _read(form, source_form.from_source(src))
            try:
                configure.update(ctx.app, s, src, read.changes)
            except configure.Invalid as exc:
                raise _Refused(exc.errors | read.errors) from None
            if read.errors:
                raise _Refused(read.errors)
            cleared = secret_scope.cleared(src)  # the server changed: its secret is asked again
            if start and not cleared:
                configure.start(src)
                name = src.name
    except _Refused as refused:
        assert read is not None
        return typed_form_page(
            request, page, source_id, read, errors=refused.errors, status_code=422
        )
    flash = f"Saved. {sentence(cleared)}" if cleared else "Saved."
    if start and not cleared:
        flash = f'Saved and started: "{name}" is fetched on its schedule from now on.'
    return redirect(f"/sources/{source_id}", flash=flash)


@router.post("/sources/{source_id}/form")
def source_form_again(request: Request, page: PageUser, source_id: int, form: Posted) -> Response:
    """The source's form again for what was typed so far, unsaved (htmx, on a change of
    protocol or sign-in)."""
    with context(request).app.db.session() as s:
        src = page.access.source(s, source_id)
        page.access.require_admin()
        read = _read(form, source_form.from_source(src))
        return _form_page(
            request,
            page,
            s,
            src=src,
            shown=read.shown,
            server_folders=read.server_folders,
            folder_counts=read.server_counts,
            partial=True,
        )


@router.post("/sources/{source_id}/delete")
def delete_source(request: Request, page: PageUser, source_id: int, confirm: Text = "") -> Response:
    with context(request).app.db.session() as s:
        src = page.access.source(s, source_id)
        page.access.require_admin()
        if src.protocol == IMPORT:
            return redirect(
                f"/sources/{source_id}",
                flash="The central import address belongs to its company and stays.",
            )
        if confirm != "yes":
            return redirect(
                f"/sources/{source_id}#delete",
                flash='Tick "Yes, delete this source" to delete it.',
            )
        name = src.name
        s.delete(src)
    return redirect("/sources", flash=f'Source "{name}" deleted.')
