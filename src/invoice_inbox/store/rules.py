"""A source's import rules: add, list in order, remove."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from invoice_inbox.i18n import _
from invoice_inbox.store.errors import AlreadyExists, NotFound
from invoice_inbox.store.models import ImportRule, Source


def add(
    s: Session, src: Source, *, name: str, sender: str, keyword: str | None, action: str
) -> ImportRule:
    """Append a rule (already checked by ``pipeline.rules.Rule.make``) after the others."""
    if any(r.name == name for r in src.rules):
        raise AlreadyExists(
            _('source "%(source)s" has a rule named "%(rule)s" already')
            % {"source": src.name, "rule": name}
        )
    last = s.scalar(select(func.max(ImportRule.position)).where(ImportRule.source_id == src.id))
    row = ImportRule(
        source=src,
        position=(last or 0) + 1,
        name=name,
        sender=sender,
        keyword=keyword,
        action=action,
    )
    s.add(row)
    s.flush()
    return row


def remove(s: Session, src: Source, name: str) -> None:
    for row in src.rules:
        if row.name == name:
            src.rules.remove(row)
            return
    names = ", ".join(r.name for r in src.rules)
    words = {"source": src.name, "rule": name, "names": names}
    if names:
        raise NotFound(
            _('source "%(source)s" has no rule named "%(rule)s"; its rules are: %(names)s') % words
        )
    raise NotFound(_('source "%(source)s" has no rule named "%(rule)s"; it has no rules') % words)
