"""Pages: a source's import rules — add one (a sender and/or keyword decides what is imported
from a mail) or remove one; admins only. A refused rule is shown on the source's page, next to
the field it concerns, with what was typed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from invoice_inbox.i18n import gettext as _
from invoice_inbox.pipeline.rules import Action, InvalidRule, Rule
from invoice_inbox.store import rules as rules_store
from invoice_inbox.store.errors import AlreadyExists
from invoice_inbox.web.pages import source_form
from invoice_inbox.web.pages.source_page import form_page
from invoice_inbox.web.security import PageUser, context
from invoice_inbox.web.templating import redirect

router = APIRouter()

Text = Annotated[str, Form()]


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
            return form_page(
                request,
                page,
                s,
                src=src,
                shown=source_form.from_source(src),
                errors=errors,
                rule_values=typed,
                status_code=422,
                errors_title=_("The rule was not added:"),
            )
    flash = _('Rule "%(name)s" added.') % {"name": rule.name}
    return redirect(f"/sources/{source_id}#rules", flash=flash)


@router.post("/sources/{source_id}/rules/{rule_id}/remove")
def remove_rule(request: Request, page: PageUser, source_id: int, rule_id: int) -> Response:
    with context(request).app.db.session() as s:
        src = page.access.source(s, source_id)
        page.access.require_admin()
        found = next((r for r in src.rules if r.id == rule_id), None)
        if found is None:
            return redirect(f"/sources/{source_id}#rules", flash=_("That rule is gone already."))
        name = found.name
        rules_store.remove(s, src, name)
    flash = _('Rule "%(name)s" removed.') % {"name": name}
    return redirect(f"/sources/{source_id}#rules", flash=flash)
