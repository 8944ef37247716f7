"""Pages: adding a source from a provider preset, one source's page (an admin's edit form, or
everyone else's read-only view without secrets), saving, starting and deleting it.

Only admins change settings (others get 403 on a POST). Settings are validated and stored by
``runtime.configure``: each problem is shown next to the field it concerns (``<p
class="field-error" id="FIELD-error">``, the input ``aria-invalid``), the page answers 422 and
keeps what was typed, except secrets. A source made here is a draft, not fetched on its schedule
until "Start fetching" (after a connection check, with its folders picked).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from invoice_inbox.connectors import presets
from invoice_inbox.i18n import N_
from invoice_inbox.i18n import gettext as _
from invoice_inbox.json_types import SourceSettings
from invoice_inbox.pipeline.senders import InvalidPattern, normalize_pattern
from invoice_inbox.runtime import configure, secret_scope, source_trust
from invoice_inbox.store.models import Source
from invoice_inbox.web.pages import source_form, source_oauth
from invoice_inbox.web.pages.source_form import Read, sentence
from invoice_inbox.web.pages.source_page import companies, form_page, typed_form_page
from invoice_inbox.web.pages.sources import IMPORT, Posted
from invoice_inbox.web.security import Page, PageUser, context
from invoice_inbox.web.templating import redirect, render
from invoice_inbox.web.words import preset_label

router = APIRouter()

Text = Annotated[str, Form()]

CARD_TEXT = {  # translated when the cards are shown
    "microsoft365": N_("Exchange Online over Microsoft Graph or IMAP; OAuth2 sign-in or app-only."),
    "gmail": N_("Gmail and Google Workspace over the Gmail API or IMAP; OAuth2 or app password."),
    "icloud": N_("iCloud Mail over IMAP with an app-specific password."),
    "imap": N_("Any IMAP server: host, port, user name and password."),
    "pop3": N_("A POP3 mailbox: only the inbox; mail can be deleted after import."),
}


class _Refused(Exception):
    """A form was not saved: roll the transaction back and show *errors*."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors


# -- adding a source ---------------------------------------------------------------------------


@router.get("/sources/new")
def new_source(request: Request, page: PageUser, provider: str = "") -> Response:
    page.access.require_admin()
    with context(request).app.db.session() as s:
        if provider not in presets.PRESETS:
            cards = [
                (
                    p.name,
                    preset_label(p.name, p.label),
                    _(CARD_TEXT[p.name]) if p.name in CARD_TEXT else "",
                )
                for p in presets.PRESETS.values()
            ]
            return render(request, "sources_new.html", page, nav="sources", cards=cards)
        names = companies(s, page.access)
        shown = source_form.defaults(provider, names[0] if len(names) == 1 else "")
        return form_page(request, page, s, src=None, shown=shown)


def _read(form: FormData, base: SourceSettings) -> Read:
    read = source_form.read(form, base)
    read.changes = {k: v for k, v in read.changes.items() if k in configure.EDITABLE}
    return read


@router.post("/sources/new")
def create_source(request: Request, page: PageUser, form: Posted) -> Response:
    page.access.require_admin()
    ctx = context(request)
    provider = str(form.get("provider") or "imap")
    if provider not in presets.PRESETS:
        return redirect("/sources/new", flash=_("Choose the kind of mailbox first."))
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
            return form_page(
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
        flash=_(
            "Source created, not started yet: check the connection, pick its folders,"
            " then press Start fetching."
        ),
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
        return form_page(request, page, s, src=None, shown=read.shown, partial=True)


# -- one source --------------------------------------------------------------------------------


@router.get("/sources/{source_id}")
def source_page(request: Request, page: PageUser, source_id: int) -> Response:
    with context(request).app.db.session() as s:
        src = page.access.source(s, source_id)
        errors = {}
        refused = source_oauth.take_outcome(request, page.access.user_id, src.id)
        if refused:
            errors["authenticate"] = refused
        return form_page(
            request, page, s, src=src, shown=source_form.from_source(src), errors=errors
        )


def _save_import_source(
    request: Request, page: Page, s: Session, src: Source, form: FormData
) -> Response | None:
    """The central import source has only its description, allowed senders, sender
    authentication policy and rules here (configure leaves it to its company); None when saved."""
    text = str(form.get("allowed_senders") or "")
    patterns, problems = [], []
    for line in text.splitlines():
        if line.strip():
            try:
                patterns.append(normalize_pattern(line))
            except InvalidPattern as exc:
                problems.append(str(exc))
    errors = {"allowed_senders": "; ".join(problems)} if problems else {}
    typed_mode = str(form.get("sender_auth") or src.sender_auth)
    try:
        mode = source_trust.mode(typed_mode)
    except source_trust.BadSetting as exc:
        errors["sender_auth"] = str(exc)
    if errors:
        shown = source_form.from_source(src) | {"allowed_senders": text, "sender_auth": typed_mode}
        return form_page(request, page, s, src=src, shown=shown, errors=errors, status_code=422)
    src.allowed_senders = patterns
    src.sender_auth = mode
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
                return redirect(f"/sources/{source_id}", flash=_("Saved."))
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
    flash = _("Saved.")
    if cleared:
        flash = _("Saved. %(problem)s") % {"problem": sentence(cleared)}
    if start and not cleared:
        flash = _('Saved and started: "%(name)s" is fetched on its schedule from now on.') % {
            "name": name
        }
    return redirect(f"/sources/{source_id}", flash=flash)


@router.post("/sources/{source_id}/form")
def source_form_again(request: Request, page: PageUser, source_id: int, form: Posted) -> Response:
    """The source's form again for what was typed so far, unsaved (htmx, on a change of
    protocol or sign-in)."""
    with context(request).app.db.session() as s:
        src = page.access.source(s, source_id)
        page.access.require_admin()
        read = _read(form, source_form.from_source(src))
        return form_page(
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
                flash=_("The central import address belongs to its company and stays."),
            )
        if confirm != "yes":
            return redirect(
                f"/sources/{source_id}#delete",
                flash=_('Tick "%(confirm)s" to delete it.')
                % {"confirm": _("Yes, delete this source")},
            )
        name = src.name
        s.delete(src)
    return redirect("/sources", flash=_('Source "%(name)s" deleted.') % {"name": name})
