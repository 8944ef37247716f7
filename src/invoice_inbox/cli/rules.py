"""``invoice-inbox rule ...``: a source's import rules, tried in order."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from invoice_inbox.cli.base import JsonOpt, out, print_json, rule_app, state
from invoice_inbox.json_types import JsonObject
from invoice_inbox.pipeline.rules import Rule
from invoice_inbox.store import rules as rules_store
from invoice_inbox.store import sources as sources_store
from invoice_inbox.store.models import ImportRule


def rule_json(r: ImportRule) -> JsonObject:
    return {"name": r.name, "sender": r.sender, "keyword": r.keyword, "action": r.action}


class RuleAction(StrEnum):
    attachments = "attachments"
    body = "body"
    skip = "skip"


@rule_app.command("add")
def rule_add(
    source: str,
    name: str,
    sender: Annotated[str, typer.Option(help="The sender it matches: address or *@domain.")],
    keyword: Annotated[
        str | None, typer.Option(help="Text that must also appear in the subject or body.")
    ] = None,
    action: Annotated[
        RuleAction,
        typer.Option(
            help="attachments: import the attachments; body: import the mail body as the "
            "invoice (PDF); skip: do not import."
        ),
    ] = RuleAction.attachments,
) -> None:
    """Add an import rule after the source's other rules."""
    rule = Rule.make(name, sender, keyword, action.value)
    a = state.open()
    with a.db.session() as s:
        rules_store.add(
            s,
            sources_store.get(s, source),
            name=rule.name,
            sender=rule.sender,
            keyword=rule.keyword,
            action=rule.action.value,
        )
    out.print(f'Rule "{rule.name}" added to source "{source}".')


@rule_app.command("list")
def rule_list(source: str, as_json: JsonOpt = False) -> None:
    """A source's rules, in the order they are tried."""
    a = state.open()
    with a.db.session() as s:
        rows = [rule_json(r) for r in sources_store.get(s, source).rules]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print(f'Source "{source}" has no rules: every mail is judged by its attachments.')
        return
    t = Table("#", "name", "sender", "keyword", "action")
    for i, r in enumerate(rows, start=1):
        t.add_row(str(i), r["name"], r["sender"], r["keyword"] or "", r["action"])
    out.print(t)


@rule_app.command("remove")
def rule_remove(source: str, name: str) -> None:
    """Remove one rule of a source."""
    a = state.open()
    with a.db.session() as s:
        rules_store.remove(s, sources_store.get(s, source), name)
    out.print(f'Rule "{name}" removed from source "{source}".')
