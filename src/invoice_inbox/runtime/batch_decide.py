"""The decide step of a sync batch: each fetched mail is either recognised as a copy of one
already handled (same raw bytes: a re-listed folder, the same mail in two folders, or twice in
the batch) or decided by the ``Decider``, its attempt recorded; the result is one ``BatchItem``
per mail, in fetch order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from invoice_inbox.pipeline import mime
from invoice_inbox.pipeline.decide import Document
from invoice_inbox.runtime.decider import Decider
from invoice_inbox.runtime.source_plan import SourcePlan
from invoice_inbox.store import ledger
from invoice_inbox.store.db import Database

DUPLICATE = "duplicate"
SAME_BATCH = -1  # duplicate_of placeholder: the original is an earlier item of this batch

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


def decide_batch(
    db: Database,
    plan: SourcePlan,
    decider: Decider,
    fetched: Sequence[tuple[Key, bytes, str]],
    *,
    deciding: Callable[[list[Key]], None],
) -> list[BatchItem]:
    """Decide for each message (uid, raw bytes, raw SHA-256), or recognise it as a copy of one
    already handled; *deciding* is told the uids of each group just before it is decided."""
    with db.session() as s:
        known = {
            sha: (row.id, row.reason, row.filed_to)
            for sha, row in ledger.originals(s, plan.id, (f[2] for f in fetched)).items()
        }
    first: dict[str, int] = {}  # sha -> index of its first occurrence in this batch
    fresh: list[tuple[Key, bytes, str]] = []
    for i, (uid, raw, sha) in enumerate(fetched):
        if sha not in known and sha not in first:
            first[sha] = i
            fresh.append((uid, raw, sha))
    decisions = iter(
        decider.decide_recorded(
            db,
            plan.id,
            [(sha, raw) for _, raw, sha in fresh],
            deciding=lambda idx: deciding([fresh[i][0] for i in idx]),
        )
    )
    items: list[BatchItem] = []
    for i, (uid, raw, sha) in enumerate(fetched):
        if sha in known:
            original_id, reason, target = known[sha]
            items.append(
                BatchItem(
                    uid,
                    raw,
                    sha,
                    mime.parse_headers(raw),
                    (),
                    DUPLICATE,
                    f"the same message was already handled ({reason})",
                    target,
                    duplicate_of=original_id,
                )
            )
        elif first[sha] != i:
            earlier = items[first[sha]]
            items.append(
                BatchItem(
                    uid,
                    raw,
                    sha,
                    earlier.headers,
                    (),
                    DUPLICATE,
                    f"the same message was already handled ({earlier.reason})",
                    earlier.target,
                    duplicate_of=SAME_BATCH,
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
                )
            )
    return items
