"""The fault-injection rig's final check: nothing lost, nothing twice, nothing unfiled.

``check`` reads the database, the IMAP server and the webhook receiver and counts what is
wrong; ``Report.ok`` is true when every count of trouble is 0. ``wait_quiescent`` polls it
until it holds (the time it took is the time to quiescence).
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import create_engine, func, or_, select
from sqlalchemy.orm import Session

from harness.chaos_mail import Corpus
from harness.dovecot import DovecotServer, HarnessError
from invoice_inbox.store.blobs import BlobStore
from invoice_inbox.store.models import (
    Company,
    Document,
    Message,
    MessageState,
    Run,
    RunStatus,
    Source,
)
from invoice_inbox.store.models_events import Event

DOCUMENT_CREATED = "document.created"


@dataclass
class Report:
    mails: int = 0
    invoices_expected: int = 0
    invoices_queued: int = 0  # distinct expected (company, sha256) in the queue
    invoices_missing: int = 0  # expected, not in the queue: lost
    queue_duplicates: int = 0  # extra queue rows of a (company, sha256) beyond the first
    queue_unexpected: int = 0  # queue rows of a PDF that must not be queued
    ledger_rows: int = 0
    ledger_missing: int = 0  # mails of a mailbox the ledger has no row for
    ledger_twice: int = 0  # ledger rows beyond one per mail
    undisposed: int = 0
    runs: int = 0
    runs_running: int = 0
    inbox_left: int = 0  # mails still in some INBOX
    misfiled: int = 0  # |server folder count - expected| summed over boxes and folders
    ledger_server_mismatch: int = 0  # ledger filed_to counts vs server counts
    quarantined: int = 0
    blobs_checked: int = 0  # raw mails and documents looked up in the blob store (final check)
    blobs_missing: int = 0
    events: int = 0
    events_undelivered: int = 0
    deliveries_received: int = 0
    redeliveries: int = 0  # the same event received more than once (allowed: at least once)
    delivery_id_changed: int = 0  # events received under more than one delivery id
    wrong: list[str] = field(default_factory=list)  # the first few problems, in words

    TROUBLE = (
        "invoices_missing",
        "queue_duplicates",
        "queue_unexpected",
        "ledger_missing",
        "ledger_twice",
        "undisposed",
        "runs_running",
        "inbox_left",
        "misfiled",
        "ledger_server_mismatch",
        "quarantined",
        "blobs_missing",
        "events_undelivered",
        "delivery_id_changed",
    )

    @property
    def ok(self) -> bool:
        return all(getattr(self, name) == 0 for name in self.TROUBLE)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"ok": self.ok}

    def lines(self) -> list[str]:
        d = asdict(self)
        return [f"{k:24} {d[k]}" for k in d if k != "wrong"] + [f"  {w}" for w in self.wrong]


def _note(report: Report, text: str) -> None:
    if len(report.wrong) < 10:
        report.wrong.append(text)


def _server_counts(server: DovecotServer, user: str) -> dict[str, int]:
    folders = server.list_folders(user)
    return {f: server.folder_count(user, f) for f in folders}


def check(
    db_url: str,
    corpus: Corpus,
    server: DovecotServer,
    received: list[tuple[str, int, str]],
    *,
    blobs: BlobStore | None = None,
) -> Report:
    """Count what is wrong; *received*: (delivery id, event id, event type) of each webhook
    request the receiver took (``harness.chaos.HookReceiver``). With *blobs*, also that every
    raw mail and document the database refers to is in the blob store."""
    r = Report(mails=corpus.mails, invoices_expected=corpus.invoices)
    engine = create_engine(db_url)
    try:
        with Session(engine) as s:
            _check_db(s, r, corpus)
            _check_events(s, r, received)
            server_counts = {b.user: _server_counts(server, b.user) for b in corpus.boxes}
            _check_server(s, r, corpus, server_counts)
            if blobs is not None:
                _check_blobs(s, r, blobs)
    finally:
        engine.dispose()
    return r


def _check_blobs(s: Session, r: Report, blobs: BlobStore) -> None:
    shas = set(s.scalars(select(Message.raw_sha256))) | set(s.scalars(select(Document.sha256)))
    r.blobs_checked = len(shas)
    for sha in sorted(shas):
        if not blobs.exists(sha):
            r.blobs_missing += 1
            _note(r, f"blob {sha[:12]} is not in the blob store")


def _check_db(s: Session, r: Report, corpus: Corpus) -> None:
    queue = collections.Counter(
        s.execute(
            select(Company.name, Document.sha256)
            .join(Company, Document.company_id == Company.id)
            .where(or_(Document.duplicate_kind.is_(None), Document.duplicate_kind != "exact"))
        ).all()
    )
    for company, shas in corpus.queue.items():
        for sha in shas:
            n = queue.pop((company, sha), 0)
            if n == 0:
                r.invoices_missing += 1
                _note(r, f"{company}: invoice {sha[:12]} is not in the queue")
            else:
                r.invoices_queued += 1
                r.queue_duplicates += n - 1
                if n > 1:
                    _note(r, f"{company}: invoice {sha[:12]} is in the queue {n} times")
    for (company, sha), n in queue.items():
        r.queue_unexpected += n
        _note(r, f"{company}: unexpected document {sha[:12]} in the queue")
    rows = collections.Counter(
        s.execute(
            select(Source.name, Message.raw_sha256).join(Source, Message.source_id == Source.id)
        ).all()
    )
    r.ledger_rows = sum(rows.values())
    for box in corpus.boxes:
        want = collections.Counter(hashlib.sha256(m).hexdigest() for m in box.mails)
        for sha, n in want.items():
            have = rows.get((box.source, sha), 0)
            r.ledger_missing += max(n - have, 0)
            r.ledger_twice += max(have - n, 0)
            if have != n:
                _note(r, f"{box.source}: mail {sha[:12]} has {have} ledger rows, not {n}")
    r.undisposed = s.scalar(
        select(func.count()).select_from(Message).where(Message.state != MessageState.DISPOSED)
    )
    r.quarantined = s.scalar(
        select(func.count()).select_from(Message).where(Message.decision == "quarantined")
    )
    for reason in s.scalars(select(Message.reason).where(Message.decision == "quarantined")):
        _note(r, f"quarantined: {reason}")
    r.runs = s.scalar(select(func.count()).select_from(Run)) or 0
    r.runs_running = s.scalar(
        select(func.count()).select_from(Run).where(Run.status == RunStatus.RUNNING)
    )


def _check_events(s: Session, r: Report, received: list[tuple[str, int, str]]) -> None:
    wanted = set(s.scalars(select(Event.id).where(Event.kind == DOCUMENT_CREATED)))
    got = collections.Counter(event for _, event, kind in received if kind == DOCUMENT_CREATED)
    r.events = len(wanted)
    r.deliveries_received = sum(got.values())
    r.redeliveries = sum(n - 1 for n in got.values() if n > 1)
    ids: dict[int, set[str]] = collections.defaultdict(set)
    for delivery, event, _ in received:
        ids[event].add(delivery)
    r.delivery_id_changed = sum(1 for d in ids.values() if len(d) > 1)
    missing = wanted - set(got)
    r.events_undelivered = len(missing)
    if missing:
        _note(r, f"{len(missing)} document.created events not delivered, e.g. {min(missing)}")


def _check_server(s: Session, r: Report, corpus: Corpus, counts: dict[str, dict[str, int]]) -> None:
    filed = collections.Counter(
        s.execute(
            select(Source.name, Message.filed_to).join(Source, Message.source_id == Source.id)
        ).all()
    )
    for box in corpus.boxes:
        have = counts[box.user]
        r.inbox_left += have.get("INBOX", 0)
        for folder in set(have) | set(box.expected):
            if folder == "INBOX":
                continue
            diff = abs(have.get(folder, 0) - box.expected.get(folder, 0))
            r.misfiled += diff
            if diff:
                _note(r, f"{box.user}/{folder}: {have.get(folder, 0)} mails, expected "
                      f"{box.expected.get(folder, 0)}")  # fmt: skip
            if have.get(folder, 0) != filed.get((box.source, folder), 0):
                r.ledger_server_mismatch += 1


def wait_quiescent(
    probe: Any, *, timeout: float, every: float = 2.0
) -> tuple[Report, float | None]:
    """Call *probe* (returns a Report) until its report is ok or *timeout* seconds passed;
    returns the last report and the seconds it took (None: it never became ok)."""
    began = time.monotonic()
    report = Report()
    while True:
        with contextlib.suppress(HarnessError, OSError):
            report = probe()
            if report.ok:
                return report, time.monotonic() - began
        if time.monotonic() - began > timeout:
            return report, None
        time.sleep(every)


def dumps(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2)
