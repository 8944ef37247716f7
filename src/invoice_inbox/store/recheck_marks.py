"""The "re-check wanted" marker of a source, set in the transaction that changes what decides.

Whatever decides a source's mail (its allowed senders, import rules, filters and sender
policy) may be changed on the screen, through the API or on the command line, each its own
way. Rather than trusting every one of them to remember, a ``before_flush`` hook on every
session of the database looks at what is about to be written: a source whose deciding
settings change, or whose rules are added, changed or removed, gets ``recheck_wanted`` bumped
in the same flush.
The service re-checks a source's not-imported mail while ``recheck_wanted`` is ahead of
``recheck_done`` (``runtime.auto_recheck``). A new source has nothing to re-check.
"""

from __future__ import annotations

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, sessionmaker

from invoice_inbox.store.models import ImportRule, Source

DECIDING = (
    "allowed_senders",
    "require_attachment",
    "require_pdf",
    "allow_images",
    "body_fallback",
    "rules",
    "sender_auth",  # the sender policy (off, flag, require)
    "trusted_authserv_ids",
)


def _changed(src: Source, attr: str) -> bool:
    history = inspect(src).attrs[attr].history
    if not history.has_changes():
        return False
    if attr == "rules":  # a rule added to or taken from the collection
        return True
    if not history.deleted:  # set before it was ever loaded: count it as a change
        return True
    return list(history.deleted) != list(history.added)


def _touched_sources(s: Session) -> set[Source]:
    found: set[Source] = set()
    for obj in s.dirty:
        if isinstance(obj, Source) and any(_changed(obj, a) for a in DECIDING):
            found.add(obj)
        elif isinstance(obj, ImportRule) and s.is_modified(obj) and obj.source is not None:
            found.add(obj.source)
    for obj in [*s.new, *s.deleted]:
        if isinstance(obj, ImportRule):
            src = obj.source if obj.source is not None else s.get(Source, obj.source_id)
            if src is not None:
                found.add(src)
    # a source being made or removed in this flush has nothing to re-check
    return {src for src in found if src not in s.new and src not in s.deleted}


def _mark(s: Session, _context: object, _instances: object) -> None:
    for src in _touched_sources(s):
        if inspect(src).persistent:
            src.recheck_wanted = (src.recheck_wanted or 0) + 1


def watch(sessions: sessionmaker[Session]) -> None:
    """Mark changed sources in every session made by *sessions*."""
    event.listen(sessions, "before_flush", _mark)


def want(src: Source) -> None:
    """Ask for a re-check of *src* outright (when nothing it tracks changed)."""
    src.recheck_wanted = (src.recheck_wanted or 0) + 1
