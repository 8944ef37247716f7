"""The decide step of a sync batch: each fetched mail is either recognised as a copy of one
already handled (same raw bytes: a re-listed folder, the same mail in two folders, twice in the
batch, or in an earlier batch still on its way to its commit) or decided by the ``Decider``, its
attempt recorded, and its sender authenticated meanwhile (``runtime.sender_check``: the source's
sender policy applies to the decision); the result is one ``BatchItem`` per mail, in fetch
order."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from invoice_inbox.pipeline import mime
from invoice_inbox.pipeline.decide import Document
from invoice_inbox.pipeline.trust.result import SenderAuth
from invoice_inbox.reasons import Param, Parts, english, from_json, part
from invoice_inbox.runtime.decider import Begun, Decider
from invoice_inbox.runtime.sender_check import Mail, Pending, SenderCheck
from invoice_inbox.runtime.source_plan import SourcePlan
from invoice_inbox.store import ledger
from invoice_inbox.store.db import Database

DUPLICATE = "duplicate"
SAME_BATCH = -1  # duplicate_of placeholder: the original is ``original``, not yet committed

Key = int | str  # an IMAP uid or a token connector's message id


@dataclass
class BatchItem:
    """One fetched message on its way through a batch."""

    uid: Key
    raw: bytes
    sha256: str
    headers: mime.Headers | None
    documents: tuple[Document, ...]
    verdict: str  # the decision's verdict, or DUPLICATE
    reason: str
    target: str | None
    hits: tuple[str, ...] = ()
    duplicate_of: int | None = None
    row_id: int | None = None
    sender_auth: SenderAuth | None = None  # None: a copy of a mail handled before
    lookalike_of: str | None = None
    original: BatchItem | None = None  # the copied item, when committed with or just before it
    reason_parts: Parts = ()  # the reason as codes with parameters (``reasons``)
    stored: bool = False  # a decide worker put its raw mail and documents into the blob folder


@dataclass
class Prepared:
    """A fetched batch made ready to decide (:func:`prepare_batch`): what the ledger knows of
    its mails, the ones to decide, the first group of their attempts committed, and their
    senders' authentication begun."""

    fetched: Sequence[tuple[Key, bytes, str]]
    earlier: dict[str, BatchItem]  # first-seen items of earlier batches, not yet committed
    known: dict[str, tuple[int, Param, str | None]]  # sha -> the ledger's original
    first: dict[str, int]  # sha -> index of its first occurrence in this batch
    fresh: list[tuple[Key, bytes, str]]
    begun: Begun | None  # None: nothing to decide
    checking: Pending | None
    # first seen in the batch still being decided when this one was prepared: its items join
    # ``earlier`` before this batch is decided (``runtime.sync``)
    awaiting: set[str] = field(default_factory=set)

    def abandon(self, db: Database, decider: Decider) -> None:
        """The batch will not be decided (the run stopped): take back what was begun."""
        if self.checking is not None:
            self.checking.close()
        if self.begun is not None:
            decider.abandon(db, self.begun)


# a downloaded batch (uid, raw bytes, raw SHA-256 each), or the same made ready to decide
Fetched = list[tuple[Key, bytes, str]] | Prepared


def fetched_size(fetched: Fetched) -> int:
    """The raw bytes of a downloaded batch."""
    rows = fetched.fetched if isinstance(fetched, Prepared) else fetched
    return sum(len(raw) for _, raw, _ in rows)


def prepare_batch(
    db: Database,
    plan: SourcePlan,
    decider: Decider,
    fetched: Sequence[tuple[Key, bytes, str]],
    *,
    senders: SenderCheck | None = None,
    pending: Mapping[str, BatchItem] | None = None,
    deciding: Collection[str] = (),
) -> Prepared:
    """A batch of messages (uid, raw bytes, raw SHA-256) made ready for :func:`decide_batch`
    before the workers get its mails, which ``runtime.sync`` does before it hands the batch
    before to its commit: ask the ledger, commit the first group's attempts
    (``Decider.begin_recorded``), begin authenticating the senders. *senders*: the run's
    sender authentication (None: not checked). *pending*: the first-seen items of earlier
    batches not yet committed, by raw SHA-256, taken before this call (a batch committed since
    is then in the ledger). *deciding*: the raw SHA-256s first seen in the batch being decided
    meanwhile, not yet items: not decided again here, but ``awaiting`` their items."""
    earlier = dict(pending or {})
    awaiting: set[str] = set()
    first: dict[str, int] = {}  # sha -> index of its first occurrence in this batch
    fresh: list[tuple[Key, bytes, str]] = []
    with db.session() as s:  # the ledger's copies, then the attempts of the mails to decide
        known = _originals(s, plan.id, (f[2] for f in fetched))
        for i, (uid, raw, sha) in enumerate(fetched):
            if sha in known or sha in earlier:
                continue
            if sha in deciding:
                awaiting.add(sha)
            elif sha not in first:
                first[sha] = i
                fresh.append((uid, raw, sha))
        left_over = ledger.attempts(s, plan.id, (sha for _, _, sha in fresh)) if fresh else {}
    mails = [(sha, raw) for _, raw, sha in fresh]
    begun = decider.begin_recorded(db, plan.id, mails, left_over=left_over) if mails else None
    try:
        checking = senders.begin(db, [Mail(uid, raw) for uid, raw, _ in fresh]) if senders else None
    except BaseException:
        if begun is not None:
            decider.abandon(db, begun)
        raise
    return Prepared(fetched, earlier, known, first, fresh, begun, checking, awaiting)


def take_awaited(
    db: Database, plan: SourcePlan, ready: Prepared, pending: Mapping[str, BatchItem]
) -> None:
    """Give *ready* the items of the mails it awaits (prepared while the batch they were first
    seen in was decided): from *pending* (that batch's items, taken before it is handed to
    its commit), or, when that batch was committed meanwhile, the ledger's rows."""
    if not ready.awaiting:
        return
    ready.earlier.update((sha, pending[sha]) for sha in ready.awaiting if sha in pending)
    missing = [sha for sha in ready.awaiting if sha not in pending]
    if missing:
        with db.session() as s:
            ready.known.update(_originals(s, plan.id, missing))
    lost = ready.awaiting - ready.earlier.keys() - ready.known.keys()
    if lost:  # the batch they were first seen in was not decided: this one is not either
        raise RuntimeError(f"{len(lost)} mails of the batch before were neither decided nor kept")
    ready.awaiting = set()


def _originals(
    s: Session, source_id: int, shas: Iterable[str]
) -> dict[str, tuple[int, Param, str | None]]:
    """The ledger's originals of *shas*: row id, reason (parts, or the text) and target."""
    return {
        sha: (row.id, from_json(row.reason_parts) or row.reason, row.filed_to)
        for sha, row in ledger.originals(s, source_id, shas).items()
    }


def decide_batch(
    db: Database,
    plan: SourcePlan,
    decider: Decider,
    ready: Prepared,
    *,
    deciding: Callable[[list[Key]], None],
) -> list[BatchItem]:
    """Decide for each message of the batch *ready* (:func:`prepare_batch`), or recognise it as
    a copy of one already handled; *deciding* is told the uids of each group just before it is
    decided."""
    fresh, checking, begun = ready.fresh, ready.checking, ready.begun
    try:
        decided = decider.decide_recorded(
            db,
            plan.id,
            begun.mails if begun else [],
            deciding=lambda idx: deciding([fresh[i][0] for i in idx]),
            begun=begun,
        )
    except BaseException:
        if checking is not None:
            checking.close()
        raise
    known, earlier, first = ready.known, ready.earlier, ready.first
    decisions = iter(checking.apply(decided) if checking is not None else decided)
    items: list[BatchItem] = []
    for i, (uid, raw, sha) in enumerate(ready.fetched):
        if sha in known:
            original_id, reason, target = known[sha]
            copy = (part("duplicate", original=reason),)
            items.append(
                BatchItem(
                    uid,
                    raw,
                    sha,
                    mime.parse_headers(raw),
                    (),
                    DUPLICATE,
                    english(copy),
                    target,
                    duplicate_of=original_id,
                    reason_parts=copy,
                )
            )
        elif sha in earlier or first[sha] != i:
            original = earlier.get(sha) or items[first[sha]]
            said: Param = original.reason_parts or original.reason
            copy = (part("duplicate", original=said),)
            items.append(
                BatchItem(
                    uid,
                    raw,
                    sha,
                    original.headers,
                    (),
                    DUPLICATE,
                    english(copy),
                    original.target,
                    duplicate_of=SAME_BATCH,
                    original=original,
                    reason_parts=copy,
                )
            )
        else:
            d = next(decisions)
            when = d.headers.date if d.headers else None
            items.append(
                BatchItem(
                    uid,
                    raw,
                    sha,
                    d.headers,
                    d.documents,
                    d.verdict,
                    d.reason,
                    plan.target(d.verdict, when),
                    hits=d.hits,
                    sender_auth=d.sender_auth,
                    lookalike_of=d.lookalike_of,
                    reason_parts=d.reason_parts,
                    stored=d.stored,
                )
            )
    return items
