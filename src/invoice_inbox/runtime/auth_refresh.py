"""Mail imported while DNS failed is authenticated again once DNS answers.

Under ``flag`` a mail whose sender authentication met a DNS failure (``temperror``) is imported
and says "sender not authenticated: DNS did not answer ...". A recheck decides only mail that
was not imported, so ``refresh_imported`` (called by the service with the recheck of mail
refused for DNS, ``runtime.auto_recheck``) authenticates such imported mail again from its raw
bytes in the blob store, with the envelope the import address saw: a result that is not a DNS
failure again replaces the stored one, and the reason's note follows it (gone when the sender
is now proven). Its documents' flags follow the ledger row. Nothing is decided or filed again;
the documents stay where they are. Mail whose DNS still fails keeps waiting; the first such
mail ends the pass (DNS is still down).
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from invoice_inbox.connectors.dns import resolver_for
from invoice_inbox.pipeline.decide import Verdict
from invoice_inbox.pipeline.trust import policy
from invoice_inbox.pipeline.trust.authenticate import authenticate
from invoice_inbox.pipeline.trust.result import AuthStatus, Lookup
from invoice_inbox.reasons import from_json, part, to_json
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.sender_check import stored_envelope
from invoice_inbox.runtime.source_plan import SourcePlan
from invoice_inbox.store.models import Message, Source

log = logging.getLogger(__name__)

BATCH = 200  # mails looked at in one pass
NOTE = "; sender not authenticated: "  # how pipeline.trust.policy notes it under "flag"


def refresh_imported(app: App, *, lookup: Lookup | None = None, limit: int = BATCH) -> int:
    """Authenticate again the imported mail whose DNS failed; the number of rows updated."""
    with app.db.session() as s:
        rows = s.execute(
            select(Message.id, Message.raw_sha256, Message.source_id)
            .where(
                Message.decision == Verdict.IMPORT,
                Message.sender_auth == AuthStatus.TEMPERROR,
            )
            .order_by(Message.id)
            .limit(limit)
        ).all()
        plans = {
            src.id: SourcePlan.of(src)
            for src in s.scalars(select(Source).where(Source.id.in_({r[2] for r in rows})))
        }
    if not rows:
        return 0
    ask = lookup or resolver_for(None).lookup
    updated = 0
    for row_id, sha, source_id in rows:
        plan = plans.get(source_id)
        try:
            raw = app.blobs.get(sha)
        except FileNotFoundError:
            continue
        with app.db.session() as s:
            row = s.get(Message, row_id)
            assert row is not None  # listed above; ledger rows are never deleted by a run
            envelope = stored_envelope(row)
        trusted = plan.trusted_authserv_ids if plan else ()
        auth = authenticate(raw, lookup=ask, envelope=envelope, trusted_authserv_ids=trusted)
        if auth.status is AuthStatus.TEMPERROR:
            break  # DNS still fails: the next pass tries again
        with app.db.session() as s:
            row = s.get(Message, row_id)
            if row is None or row.sender_auth != AuthStatus.TEMPERROR:
                continue  # handled meanwhile
            old = f"{NOTE}{row.sender_auth_reason}" if row.sender_auth_reason else None
            reason = row.reason.replace(old, "", 1) if old and old in row.reason else row.reason
            note = not auth.passed and plan is not None and plan.sender_auth == policy.FLAG
            if note:
                reason = f"{reason}{NOTE}{auth.reason}"
            row.reason = reason
            if row.reason_parts is not None:  # the note as a part: replaced the same way
                new = auth.reason if note else None
                row.reason_parts = _renoted(row.reason_parts, row.sender_auth_reason, new)
            row.sender_auth = str(auth.status)
            row.sender_auth_reason = auth.reason
            row.auth_results = auth.to_json()
            updated += 1
    if updated:
        log.info("%d imported mails whose DNS had failed are authenticated now", updated)
    return updated


def _renoted(
    stored: list[dict[str, object]], old: str | None, new: str | None
) -> list[dict[str, object]]:
    """The stored reason parts without the note "sender not authenticated: *old*", and with
    one of *new* at the end (as the English text has it)."""
    parts = list(from_json(stored))
    gone = part("sender_not_authenticated", why=old)
    if old and gone in parts:
        parts.remove(gone)
    if new is not None:
        parts.append(part("sender_not_authenticated", why=new))
    return to_json(parts)
