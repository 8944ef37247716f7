"""Pages: the mailboxes (sources) — list, add from a provider preset, edit, start, fetch now,
import rules, delete. The connection check is in
:mod:`~invoice_inbox.web.pages.source_check`.

Everyone sees the sources they may use (``Access.limit_sources``); admins and clerks may fetch
now; only admins change settings (others get a read-only view without secrets, and 403 on a
POST). Settings are validated and stored by ``runtime.configure``: each problem is shown next to
the field it concerns (``<p class="field-error" id="FIELD-error">``, the input
``aria-invalid``), the page answers 422 and keeps what was typed, except secrets. A connection
check connects with what is *typed* on the form, unsaved (``runtime.connection_check``), and
puts the problem next to the field it concerns (``configure.field_of``). A source made here is
a draft, not fetched on its schedule until "Start fetching" (after a check, with its folders
picked). Signing in with OAuth2 is in :mod:`~invoice_inbox.web.pages.source_oauth`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from invoice_inbox.connectors import pop3, presets
from invoice_inbox.connectors.imap import DEFAULT_PORTS
from invoice_inbox.pipeline.rules import Action, InvalidRule, Rule
from invoice_inbox.pipeline.senders import InvalidPattern, normalize_pattern
from invoice_inbox.runtime import (
    configure,
    schedules,
    secret_scope,
    trust,
)
from invoice_inbox.store import companies as company_store
from invoice_inbox.store import rules as rules_store
from invoice_inbox.store.documents import in_queue
from invoice_inbox.store.errors import AlreadyExists
from invoice_inbox.store.models import (
    AuthState,
    Document,
    Message,
    Role,
    Run,
    RunStatus,
    Source,
    User,
)
from invoice_inbox.web.access import Access
from invoice_inbox.web.pages import source_form, source_oauth
from invoice_inbox.web.pages.source_form import Read, sentence
from invoice_inbox.web.security import Page, PageUser, context
from invoice_inbox.web.templating import CSP, redirect, render

router = APIRouter()
router.include_router(source_oauth.router)

Text = Annotated[str, Form()]
IMPORT = company_store.IMPORT_PROTOCOL  # the company's central import address
POLL_TRIES = 60  # a row waiting for its run asks again every 2 s, for two minutes at most

BADGES = {
    "active": "ok",
    "draft": "warn",
    "inactive": "",
    "connection_lost": "bad",
    "login_refused": "bad",
    "needs_authentication": "warn",
    "needs_reauthentication": "warn",
    "secret_expiring": "warn",
}
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


def provider_label(provider: str) -> str:
    if provider == IMPORT:
        return "Central import address"
    preset = presets.PRESETS.get(provider)
    return preset.label if preset else provider


async def _posted(request: Request) -> FormData:
    return await request.form()


Posted = Annotated[FormData, Depends(_posted)]


class _Refused(Exception):
    """A form was not saved: roll the transaction back and show *errors*."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors


def _is_htmx(request: Request) -> bool:
    return bool(request.headers.get("hx-request"))


@cache
def _zones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))


# -- the list ----------------------------------------------------------------------------------


@dataclass
class SourceRow:
    """One line of the sources list."""

    src: Source
    provider: str
    status: str
    status_text: str
    badge: str
    last_run: Run | None
    next_at: datetime | None
    next_word: str
    documents_today: int
    waiting: bool = False  # fetch-now was asked for; the row asks again until the run is done
    after: int = 0
    tries: int = 0


def _last_runs(s: Session, ids: list[int]) -> dict[int, Run]:
    if not ids:
        return {}
    newest = (
        select(func.max(Run.id)).where(Run.source_id.in_(ids)).group_by(Run.source_id)
    ).scalar_subquery()
    return {r.source_id: r for r in s.scalars(select(Run).where(Run.id.in_(newest)))}


def _documents_today(s: Session, ids: list[int], now: datetime) -> dict[int, int]:
    if not ids:
        return {}
    midnight = datetime.combine(now.astimezone(UTC).date(), time(), UTC)
    q = (
        select(Message.source_id, func.count(Document.id))
        .join(Document, Document.message_id == Message.id)
        .where(Message.source_id.in_(ids), Document.created_at >= midnight, in_queue())
        .group_by(Message.source_id)
    )
    return {source_id: n for source_id, n in s.execute(q)}


def _next_run(src: Source, last: Run | None, now: datetime) -> tuple[datetime | None, str]:
    """When the source runs next: a time, or words for why there is none."""
    if src.protocol == IMPORT:
        return None, "when mail arrives"
    if not src.active:
        return None, "–"
    if src.auth_state != AuthState.OK:
        return None, "after sign-in"
    nxt = src.next_run_at
    if nxt is None:
        try:
            schedule = schedules.parse(src.schedule)
        except schedules.ScheduleError:
            return None, src.schedule
        nxt = schedules.next_run(schedule, last_started=last.started_at if last else None, now=now)
    if nxt is None:
        return None, "manual only" + (" (and instant)" if src.instant else "")
    if nxt <= now:
        return None, "due now"
    return nxt, ""


def _rows(s: Session, srcs: list[Source]) -> list[SourceRow]:
    now = datetime.now(UTC)
    ids = [src.id for src in srcs]
    last, today = _last_runs(s, ids), _documents_today(s, ids, now)
    rows = []
    for src in srcs:
        key, words = configure.status(src)
        next_at, next_word = _next_run(src, last.get(src.id), now)
        rows.append(
            SourceRow(
                src=src,
                provider=provider_label(src.provider),
                status=key,
                status_text=words,
                badge=BADGES.get(key, ""),
                last_run=last.get(src.id),
                next_at=next_at,
                next_word=next_word,
                documents_today=today.get(src.id, 0),
            )
        )
    return rows


@router.get("/sources")
def sources_page(request: Request, page: PageUser) -> Response:
    with context(request).app.db.session() as s:
        q = page.access.limit_sources(select(Source).order_by(Source.name))
        rows = _rows(s, list(s.scalars(q)))
        return render(request, "sources.html", page, nav="sources", rows=rows)


def _row_response(
    request: Request, page: Page, s: Session, src: Source, after: int, tries: int
) -> Response:
    row = _rows(s, [src])[0]
    run = row.last_run
    done = run is not None and run.id > after and run.status != RunStatus.RUNNING
    row.waiting, row.after, row.tries = not done and tries < POLL_TRIES, after, tries
    return render(request, "source_row.html", page, row=row, back="/sources")


@router.get("/sources/{source_id}/row")
def source_row(
    request: Request, page: PageUser, source_id: int, after: int = 0, tries: int = 0
) -> Response:
    """One row of the list (htmx asks for it while a fetch-now runs)."""
    with context(request).app.db.session() as s:
        src = page.access.source(s, source_id)
        return _row_response(request, page, s, src, after, tries)


@router.post("/sources/{source_id}/fetch")
def fetch_now(request: Request, page: PageUser, source_id: int, back: Text = "") -> Response:
    ctx = context(request)
    back = back if back.startswith("/sources") else "/sources"
    with ctx.app.db.session() as s:
        src = page.access.source(s, source_id)
        page.access.require_fetch()
        if src.protocol == IMPORT:
            return redirect(
                back,
                flash="Mail sent to the central import address is imported as it arrives;"
                " there is nothing to fetch.",
                request=request,
            )
        key, words = configure.status(src)
        if key in ("needs_authentication", "needs_reauthentication", "login_refused"):
            return redirect(
                f"/sources/{src.id}#credentials",
                flash=f'"{src.name}" cannot fetch: {words}. Fix its credentials first.',
                request=request,
            )
        name = src.name
        # the row waits for a run newer than the last finished one (one running now counts)
        after = (
            s.scalar(
                select(func.max(Run.id)).where(
                    Run.source_id == src.id, Run.status != RunStatus.RUNNING
                )
            )
            or 0
        )
    ctx.fetch_now(name)
    if _is_htmx(request) and back == "/sources":
        with ctx.app.db.session() as s:
            src = page.access.source(s, source_id)
            return _row_response(request, page, s, src, after, 0)
    return redirect(
        back, flash=f'Fetching "{name}" now; the new run appears in its log.', request=request
    )


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
        refused = source_oauth.take_outcome(page.access.user_id, src.id)
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


# -- import rules ------------------------------------------------------------------------------


def _rule_field(problem: str) -> str:
    if "action" in problem:
        return "rule_action"
    if "sender" in problem:
        return "rule_sender"
    return "rule_name"


@router.post("/sources/{source_id}/rules")
def add_rule(
    request: Request,
    page: PageUser,
    source_id: int,
    rule_name: Text = "",
    rule_sender: Text = "",
    rule_keyword: Text = "",
    rule_action: Text = Action.ATTACHMENTS.value,
) -> Response:
    typed = {
        "rule_name": rule_name,
        "rule_sender": rule_sender,
        "rule_keyword": rule_keyword,
        "rule_action": rule_action,
    }
    errors: dict[str, str] = {}
    with context(request).app.db.session() as s:
        src = page.access.source(s, source_id)
        page.access.require_admin()
        try:
            rule = Rule.make(rule_name, rule_sender, rule_keyword, rule_action)
            rules_store.add(
                s,
                src,
                name=rule.name,
                sender=rule.sender,
                keyword=rule.keyword,
                action=rule.action.value,
            )
        except InvalidRule as exc:
            errors[_rule_field(str(exc))] = str(exc)
        except AlreadyExists as exc:
            errors["rule_name"] = str(exc)
        if errors:
            return _form_page(
                request,
                page,
                s,
                src=src,
                shown=source_form.from_source(src),
                errors=errors,
                rule_values=typed,
                status_code=422,
                errors_title="The rule was not added:",
            )
    return redirect(f"/sources/{source_id}#rules", flash=f'Rule "{rule.name}" added.')


@router.post("/sources/{source_id}/rules/{rule_id}/remove")
def remove_rule(request: Request, page: PageUser, source_id: int, rule_id: int) -> Response:
    with context(request).app.db.session() as s:
        src = page.access.source(s, source_id)
        page.access.require_admin()
        found = next((r for r in src.rules if r.id == rule_id), None)
        if found is None:
            return redirect(f"/sources/{source_id}#rules", flash="That rule is gone already.")
        name = found.name
        rules_store.remove(s, src, name)
    return redirect(f"/sources/{source_id}#rules", flash=f'Rule "{name}" removed.')
