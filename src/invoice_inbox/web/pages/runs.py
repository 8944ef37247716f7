"""Pages: the log of a source (its runs, newest first) and one run with every message it
decided: the decision, the reason, the rule, where the mail was filed and its documents. A mail
that was not imported can be imported anyway, or its sender allowed (clerks and admins)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from babel.numbers import format_decimal
from fastapi import APIRouter, Request
from starlette.responses import Response

from invoice_inbox.i18n import current_locale, ngettext
from invoice_inbox.i18n import gettext as _
from invoice_inbox.runtime import message_actions
from invoice_inbox.runtime.lease import SourceBusy
from invoice_inbox.store import queue
from invoice_inbox.store.errors import NotFound as Gone
from invoice_inbox.store.models import Message, Run
from invoice_inbox.web.access import NotFound
from invoice_inbox.web.security import Page, PageUser, context
from invoice_inbox.web.templating import redirect, render

router = APIRouter()


def duration(started: datetime, finished: datetime | None) -> str:
    """``4.2 s``, ``3 min 5 s``, ``1 h 2 min``; ``–`` while running (in the reader's language:
    "4,2 s" in German)."""
    if finished is None:
        return "–"
    seconds = max(0.0, (finished - started).total_seconds())
    if seconds < 60:
        shown = format_decimal(seconds, format="0.0", locale=current_locale())
        return _("%(s)s s") % {"s": shown}
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return _("%(min)s min %(s)s s") % {"min": minutes, "s": secs}
    hours, minutes = divmod(minutes, 60)
    return _("%(h)s h %(min)s min") % {"h": hours, "min": minutes}


@router.get("/sources/{source_id}/log")
def source_log(request: Request, page: PageUser, source_id: int, before: str = "") -> Response:
    before = before.strip()
    cursor = int(before) if before.isascii() and before.isdigit() and len(before) <= 18 else None
    with context(request).app.db.session() as s:
        src = page.access.source(s, source_id)
        runs, older = queue.runs_page(s, src.id, before=cursor)
        return render(
            request,
            "runs.html",
            page,
            nav="sources",
            source=src,
            runs=runs,
            duration=duration,
            older_url=f"/sources/{src.id}/log?{urlencode({'before': older})}" if older else None,
            newest_url=f"/sources/{src.id}/log" if cursor is not None else None,
        )


@router.get("/runs/{run_id}")
def run_page(request: Request, page: PageUser, run_id: int) -> Response:
    with context(request).app.db.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise NotFound(_("no such run"))
        src = page.access.source(s, run.source_id)
        return render(
            request,
            "run.html",
            page,
            nav="sources",
            source=src,
            run=run,
            messages=queue.run_messages(s, run.id),
            duration=duration(run.started_at, run.finished_at),
        )


def _mail(request: Request, page: Page, message_id: int) -> tuple[str, str]:
    """(where its run shows the mail, the source's name) of a mail the user may act on: 404
    for a mail they cannot see, 403 for viewers."""
    with context(request).app.db.session() as s:
        row = s.get(Message, message_id)
        if row is None:
            raise NotFound(_("no such message"))
        src = page.access.source(s, row.source_id)
        page.access.require_fetch()
        back = f"/runs/{row.run_id}" if row.run_id else f"/sources/{src.id}/log"
        return f"{back}#message-{row.id}", src.name


@router.post("/messages/{message_id}/import-anyway")
def import_anyway(request: Request, page: PageUser, message_id: int) -> Response:
    back, name = _mail(request, page, message_id)
    try:
        done = message_actions.import_anyway(context(request).app, message_id, by=page.access.email)
    except message_actions.Refused as exc:
        return redirect(back, flash=_("Not imported: %(why)s.") % {"why": exc}, request=request)
    except SourceBusy:
        return redirect(
            back,
            flash=_('"%(source)s" is being fetched right now; try again in a moment.')
            % {"source": name},
            request=request,
        )
    except Gone:
        raise NotFound(_("no such message")) from None
    n = done.documents_created
    flash = ngettext(
        "Imported: %(n)s document added to the queue.",
        "Imported: %(n)s documents added to the queue.",
        n,
    ) % {"n": n}
    if done.duplicates:
        flash += " " + ngettext(
            "%(n)s was already there.", "%(n)s were already there.", done.duplicates
        ) % {"n": done.duplicates}
    if done.filing_errors:
        flash += " " + _("The mail was not moved on the server: %(why)s.") % {
            "why": done.filing_errors[0]
        }
    elif done.filed:
        flash += " " + _('The mail was moved to "%(folder)s".') % {"folder": done.filed_to}
    return redirect(back, flash=flash, request=request)


@router.post("/messages/{message_id}/allow-sender")
def allow_sender(request: Request, page: PageUser, message_id: int) -> Response:
    back, name = _mail(request, page, message_id)
    try:
        pattern = message_actions.allow_sender(context(request).app, message_id)
    except message_actions.Refused as exc:
        return redirect(back, flash=_("Nothing changed: %(why)s.") % {"why": exc}, request=request)
    except Gone:
        raise NotFound(_("no such message")) from None
    flash = _(
        '%(sender)s may now send to "%(source)s". Its mail that was not imported is re-checked'
        " in the background; what qualifies now is imported (see its log)."
    ) % {"sender": pattern, "source": name}
    return redirect(back, flash=flash, request=request)
