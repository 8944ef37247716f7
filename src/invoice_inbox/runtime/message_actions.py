"""What a person can do with a mail the ledger says was not imported: import it anyway, or
allow its sender (the source's not-imported mail is then re-checked in the background).

"Import anyway" decides the stored raw mail again with the sender and the rules set aside
(the person vouches for it): its PDF and e-invoice attachments (and images, when the source
imports them) become documents; a mail with none of those has its text rendered to a PDF,
as an "import the body" rule would. It happens exactly once: under the source's lease (never
beside a fetch or a recheck), and the ledger row changes from "not imported" to "import" by a
compare-and-set in the transaction that adds the documents, so a second press, or a second
clerk at the same moment, finds the mail imported and adds nothing. The reason on the ledger
says who did it and when. Then the mail is filed on the server where imported mail goes, as a
recheck files it (best effort: a mail that cannot be moved is named; its documents stay).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import select, update

from invoice_inbox.i18n import N_, gettext
from invoice_inbox.pipeline.decide import Verdict
from invoice_inbox.pipeline.senders import InvalidPattern, is_allowed, normalize_pattern
from invoice_inbox.reasons import localized, part, to_json
from invoice_inbox.runtime import lease
from invoice_inbox.runtime.batch_rows import document_rows
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.decider import Decider
from invoice_inbox.runtime.recheck import NOTHING_TO_FILE, Filer, refile
from invoice_inbox.runtime.source_plan import SourcePlan
from invoice_inbox.store import events, suppliers
from invoice_inbox.store.documents import QueueOriginals
from invoice_inbox.store.errors import NotFound
from invoice_inbox.store.models import Message, Source, utcnow
from invoice_inbox.store.rowcount import rowcount

ANYWAY = "Import anyway"
# what a mail's decision is, as the refusal to import it anyway says it
_VERDICT_WORDS: dict[str, str] = {
    Verdict.IMPORT: N_("imported"),
    Verdict.NOT_IMPORTED: N_("not imported"),
    Verdict.QUARANTINED: N_("quarantined"),
}
_IMPORTED_ALREADY = N_("this mail is imported already")


class Refused(Exception):
    """The action cannot be done; the message is one sentence for the person who asked.
    *conflict*: the mail is imported already or the source is busy (try again)."""

    def __init__(self, sentence: str, *, conflict: bool = False) -> None:
        super().__init__(sentence)
        self.conflict = conflict


@dataclass
class Imported:
    """What "Import anyway" did."""

    message_id: int
    reason: str  # the ledger's new reason
    documents: list[int] = field(default_factory=list)  # the new document rows
    documents_created: int = 0  # ... that joined the queue (exact repeats do not)
    duplicates: int = 0
    filed_to: str | None = None  # where the mail was moved, None: left where it was
    filed: int = 0
    filing_errors: list[str] = field(default_factory=list)


def _not_imported(row: Message | None, message_id: int) -> Message:
    if row is None:
        raise NotFound(gettext("no message %(id)s") % {"id": message_id})
    if row.decision == Verdict.IMPORT:
        raise Refused(gettext(_IMPORTED_ALREADY), conflict=True)
    if row.decision != Verdict.NOT_IMPORTED:
        word = _VERDICT_WORDS.get(row.decision)
        what = gettext(word) if word else row.decision.replace("_", " ")
        raise Refused(
            gettext(
                "only a mail that was not imported can be imported anyway (this one is %(what)s)"
            )
            % {"what": what}
        )
    return row


def import_anyway(app: App, message_id: int, *, by: str, now: datetime | None = None) -> Imported:
    """Import a not-imported mail's documents once and file it as imported (see the module).
    Raises NotFound, Refused, or ``lease.SourceBusy`` while the source is being fetched."""
    when = now or utcnow()
    with app.db.session() as s:
        row = _not_imported(s.get(Message, message_id), message_id)
        source_id = row.source_id
    owner = lease.new_owner()
    with lease.held(app.db, source_id, owner):
        with app.db.session() as s:  # asked again under the lease
            row = _not_imported(s.get(Message, message_id), message_id)
            src = s.get(Source, source_id)
            assert src is not None
            plan, protocol, raw_sha = SourcePlan.of(src), src.protocol, row.raw_sha256
        try:
            raw = app.blobs.get(raw_sha)
        except FileNotFoundError:
            raise Refused(
                gettext("the mail itself is no longer stored, so it cannot be imported")
            ) from None
        vouched = replace(
            plan.policy,
            allowed_senders=(),
            rules=(),
            require_attachment=False,
            require_pdf=True,
            body_fallback=True,
        )
        decider = Decider(vouched, workers=1)
        try:
            decision = decider.decide_many([raw])[0]
        finally:
            decider.close()
        if decision.verdict != Verdict.IMPORT:
            why = localized(decision.reason_parts) if decision.reason_parts else decision.reason
            raise Refused(gettext("the mail cannot be imported: %(why)s") % {"why": why})
        app.blobs.put_many((doc.sha256, doc.data) for doc in decision.documents)
        parts = (part("imported_anyway", by=by, date=f"{when:%Y-%m-%d}"), *decision.reason_parts)
        reason = f"imported by {by} on {when:%Y-%m-%d} ({ANYWAY}): {decision.reason}"
        stored = to_json(parts) if decision.reason_parts else None
        done = Imported(message_id, reason)
        with app.db.session() as s:
            claimed = rowcount(
                s.execute(
                    update(Message)
                    .where(Message.id == message_id, Message.decision == Verdict.NOT_IMPORTED)
                    .values(decision=Verdict.IMPORT, reason=reason, reason_parts=stored)
                    .execution_options(synchronize_session=False)
                )
            )
            if claimed != 1:
                raise Refused(gettext(_IMPORTED_ALREADY), conflict=True)
            row = s.scalars(
                select(Message)
                .where(Message.id == message_id)
                .execution_options(populate_existing=True)
            ).one()
            docs = decision.documents
            originals = QueueOriginals.load(
                s,
                plan.company_id,
                {d.sha256 for d in docs},
                {d.einvoice.key for d in docs if d.einvoice and d.einvoice.key},
            )
            row.hits = ["import-anyway"]  # what let it in (the reason keeps the rest)
            row.documents = document_rows(docs, plan.company_id)
            s.flush()
            marked = originals.mark(row)
            done.reason = row.reason
            done.documents = [d.id for d in row.documents]
            done.documents_created, done.duplicates = marked.queued, marked.exact_duplicates
            suppliers.learn(s, row, company_id=plan.company_id)
            events.documents_created(s, row, company=plan.company, source=plan.name)
            move = None if protocol in NOTHING_TO_FILE else refile(row, plan)
            done.filed_to = row.filed_to
        if move is not None:
            filer = Filer(app, plan.name)
            try:
                filer.file([move], done)
            finally:
                filer.close()
            if done.filed:
                done.filed_to = move.filed_to or move.target
        return done


def allow_sender(app: App, message_id: int) -> str:
    """Add the mail's sender to its source's allowed senders; the pattern added. The change
    asks for a re-check of the source's not-imported mail (``store.recheck_marks``)."""
    with app.db.session() as s:
        row = s.get(Message, message_id)
        if row is None:
            raise NotFound(gettext("no message %(id)s") % {"id": message_id})
        if not row.sender:
            raise Refused(gettext("this mail has no sender address to allow"))
        try:
            pattern = normalize_pattern(row.sender)
        except InvalidPattern as exc:
            raise Refused(gettext("its sender cannot be allowed: %(why)s") % {"why": exc}) from None
        src = row.source
        if not src.allowed_senders:
            raise Refused(
                gettext('"%(source)s" takes mail from every sender already') % {"source": src.name}
            )
        if is_allowed(row.sender, tuple(src.allowed_senders)):
            raise Refused(
                gettext('%(sender)s is on the allowed senders of "%(source)s" already')
                % {"sender": row.sender, "source": src.name}
            )
        src.allowed_senders = [*src.allowed_senders, pattern]
        return pattern
