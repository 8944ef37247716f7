"""Page: "Check connection and load folders" on a source's form. It tries what is typed, unsaved
(:mod:`~invoice_inbox.runtime.connection_check`): a stored password only for the server and
user it was stored for. Each problem is put next to the field it concerns; the server's folders
come back as checkboxes with their mail counts, and a draft is offered "Start fetching".
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from invoice_inbox.connectors import presets
from invoice_inbox.errors import ConnectorError, FolderMissing
from invoice_inbox.i18n import gettext as _
from invoice_inbox.runtime import configure, connection_check, runner, secret_scope
from invoice_inbox.store.models import AuthState, Source
from invoice_inbox.web.pages.source_edit import _read
from invoice_inbox.web.pages.source_form import from_source
from invoice_inbox.web.pages.source_page import same_folder, typed_form_page
from invoice_inbox.web.pages.sources import IMPORT, Posted, _is_htmx
from invoice_inbox.web.security import PageUser, context

router = APIRouter()


def _connection_problem(exc: ConnectorError, src: Source) -> tuple[str, str]:
    """(field, sentence) for a failed connection check, in the page's words."""
    cleared = secret_scope.cleared(src)
    if isinstance(exc, runner.NeedsAuthentication) and cleared:
        return secret_scope.secret_field(src), cleared
    if isinstance(exc, runner.NeedsAuthentication):
        if src.auth == presets.OAUTH:
            return (
                "authenticate",
                _("not signed in yet: press Authenticate and sign in as the mailbox"),
            )
        if src.auth_state == AuthState.LOGIN_REFUSED:
            return (
                "password",
                _("the server refused the saved password (%(why)s); type the right one and save")
                % {"why": src.auth_error or _("login refused")},
            )
        if src.auth == presets.APP:
            return (
                "client_secret",
                _("the client secret was refused (%(why)s); enter a valid one and save")
                % {"why": src.auth_error or _("sign-in refused")},
            )
    return configure.field_of(exc, src), str(exc)


def _folder_order(folder: str) -> tuple[bool, str]:
    return folder.upper() != "INBOX", folder.casefold()


@router.post("/sources/{source_id}/check")
def check_connection(request: Request, page: PageUser, source_id: int, form: Posted) -> Response:
    """Connect with what is typed on the form (nothing is saved) and list the server's folders
    with their mail counts for the checkboxes."""
    ctx = context(request)
    with ctx.app.db.session() as s:
        src = page.access.source(s, source_id)
        page.access.require_admin()
        protocol = src.protocol
        read = _read(form, from_source(src))
    errors: dict[str, str] = {}
    checked: connection_check.Checked | None = None
    if protocol == IMPORT:
        errors["connection"] = _("the central import address receives mail; there is no mailbox")
    else:
        try:
            checked = connection_check.typed(ctx.app, source_id, read.changes)
        except configure.Invalid as exc:
            errors |= exc.errors
        except ConnectorError as exc:
            with ctx.app.db.session() as s:
                field, words = _connection_problem(exc, page.access.source(s, source_id))
            errors[field] = words
        except ValueError as exc:  # a tenant that is not a tenant ID or domain
            errors["tenant_id"] = str(exc)
    folders = sorted(checked.folders, key=_folder_order) if checked else None
    typed_protocol = str(read.shown.get("protocol") or protocol)
    if folders is not None and typed_protocol == presets.IMAP:
        on_server = {same_folder(f) for f in folders}
        for folder in read.shown.get("folders") or []:
            if same_folder(folder) not in on_server:
                errors.setdefault("folders", str(FolderMissing(folder, folders)))
    return typed_form_page(
        request,
        page,
        source_id,
        read,
        errors=errors,
        server_folders=folders,
        folder_counts=checked.counts if checked else None,
        check_ok=folders is not None and not errors,
        typed_secret=bool(read.changes.get("password") or read.changes.get("client_secret")),
        partial=_is_htmx(request),
        errors_title=_("The connection check found a problem:"),
    )
