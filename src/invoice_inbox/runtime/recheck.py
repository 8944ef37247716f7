"""Re-check the mail a source did not import, with the source's current settings.

When a source's allowed senders or import rules change, its ledger rows decided "not imported"
are decided again from their raw bytes in the blob store, oldest first, a batch at a time, under
the source's sender policy as it is now, with the sender authentication stored on each row (only
a row without one, or whose DNS failed, is authenticated again, and keeps its new result). A row
that now qualifies is imported exactly once: one transaction per batch gives it its new decision
and its documents (with their ``document.created`` events), marked against the queue as a fetch
marks them. Rows still not imported are left as they were. The run holds the source's lease, so
it never overlaps a fetch. A recheck covers every change of the source's settings asked for
before it started: it stores the source's ``recheck_wanted`` generation it saw as done
(``runtime.auto_recheck`` runs the ones still wanted in the background).

After each commit the newly imported mail is filed on the server where imported mail goes, best
effort: a mail that cannot be moved is reported in ``filing_errors`` and its documents stay
imported. Graph and Gmail ids survive moves; on IMAP a mail moved since its uid was recorded is
found by its Message-ID and confirmed by its SHA-256. POP3 and the import address file nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select

from invoice_inbox.auth.secrets import SecretError
from invoice_inbox.connectors.base import Connector
from invoice_inbox.connectors.imap import ImapConnector
from invoice_inbox.errors import ConnectorError
from invoice_inbox.i18n import gettext
from invoice_inbox.pipeline.decide import Decision, Verdict
from invoice_inbox.pipeline.trust.result import AuthStatus, Envelope, SenderAuth
from invoice_inbox.reasons import english, part, to_json
from invoice_inbox.runtime import lease, runner
from invoice_inbox.runtime.batch_rows import document_rows
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.decider import STOPPED_TWICE, Decider
from invoice_inbox.runtime.sender_check import (
    Mail,
    SenderCheck,
    record_auth,
    stored_auth,
    stored_envelope,
)
from invoice_inbox.runtime.source_plan import SourcePlan
from invoice_inbox.runtime.sync_steps import BATCH
from invoice_inbox.store import events, ledger, runs, sources, suppliers
from invoice_inbox.store.documents import QueueOriginals
from invoice_inbox.store.models import Message, MessageState, Run, RunStatus, Source, utcnow

TRIGGER = "recheck"
NOTHING_TO_FILE = frozenset({"pop3", "smtp"})  # no folders: the mail is not filed anywhere


@dataclass
class RecheckSummary:
    """What one recheck did; its counts are also the run's (``runs``)."""

    run_id: int
    source: str
    checked: int = 0  # not-imported rows decided again
    imported: int = 0  # ... that are imported now
    documents_created: int = 0  # their documents that joined the queue (exact repeats do not)
    duplicates: int = 0  # their documents already in the queue (the same bytes): not queued
    still_not_imported: int = 0
    filed: int = 0  # newly imported mails moved to where imported mail goes
    filing_errors: list[str] = field(default_factory=list)  # mails left where they were
    missing_raw: list[str] = field(default_factory=list)  # rows whose raw bytes are gone

    def store_into(self, run: Run) -> None:
        run.messages_seen = self.checked
        run.imported = self.imported
        run.not_imported = self.still_not_imported
        run.documents_created = self.documents_created
        run.duplicates = self.duplicates
        run.errors = len(self.filing_errors) + len(self.missing_raw)


@dataclass(frozen=True)
class _Move:
    """A committed, newly imported mail that sits in *current* and belongs in *target*."""

    row_id: int
    label: str  # names the mail in an error sentence
    folder: str  # the folder the ledger row's uid belongs to
    uidvalidity: int
    uid: int | None
    remote_id: str | None
    message_id: str | None
    raw_sha256: str
    current: str
    target: str
    filed_to: str | None  # the row's filed_to once moved (None: left in its folder)


class Filing(Protocol):
    """Where a filer reports: how many mails it moved, and the ones it could not."""

    filed: int
    filing_errors: list[str]


class _NotOnServer(Exception):
    """The mail is no longer where the ledger says it is."""


def recheck(
    app: App, source_name: str, *, progress: Callable[[int, int], None] | None = None
) -> RecheckSummary:
    """Decide the source's not-imported mail again and import what qualifies now.

    Raises ``lease.SourceBusy`` while a fetch runs and ``store.errors.NotFound`` for an unknown
    source. Filing problems and missing raw bytes are reported in the summary; anything else
    ends the run as failed and is re-raised."""
    summary = _recheck(app, source_name, progress, only_if_wanted=False)
    assert summary is not None
    return summary


def recheck_dns_failures(app: App, source_name: str) -> RecheckSummary | None:
    """Recheck only the source's mail not imported because DNS failed while its sender was
    authenticated (``temperror`` under ``require``), else None (it has none)."""
    return _recheck(app, source_name, None, only_if_wanted=False, only_dns_failures=True)


def recheck_if_wanted(app: App, source_name: str) -> RecheckSummary | None:
    """Recheck the source when a change asked for it since its last recheck, else None (the
    question is asked again under the lease: of two workers, only one re-checks)."""
    return _recheck(app, source_name, None, only_if_wanted=True)


def _recheck(
    app: App,
    source_name: str,
    progress: Callable[[int, int], None] | None,
    *,
    only_if_wanted: bool,
    only_dns_failures: bool = False,
) -> RecheckSummary | None:
    with app.db.session() as s:
        src = sources.get(s, source_name)
        source_id = src.id
    owner = lease.new_owner()
    with lease.held(app.db, source_id, owner):
        with app.db.session() as s:  # the settings as they are now that nothing else runs
            src = sources.get(s, source_name)
            if only_if_wanted and src.recheck_done >= src.recheck_wanted:
                return None
            plan, protocol, generation = SourcePlan.of(src), src.protocol, src.recheck_wanted
            q = select(Message.id).where(
                Message.source_id == plan.id, Message.decision == Verdict.NOT_IMPORTED
            )
            if only_dns_failures:  # not every not-imported mail: the settings did not change
                q = q.where(Message.sender_auth == AuthStatus.TEMPERROR)
                generation = 0
            ids = list(s.scalars(q.order_by(Message.id)))
            if only_dns_failures and not ids:
                return None
            summary = RecheckSummary(runs.start(s, plan.id, TRIGGER).id, plan.name)
        decider = Decider(plan.policy)
        senders = SenderCheck(plan)
        filer = None if protocol in NOTHING_TO_FILE else Filer(app, plan.name)
        try:
            if progress:
                progress(0, len(ids))
            for i in range(0, len(ids), BATCH):
                batch = ids[i : i + BATCH]
                moves = _batch(app, plan, decider, senders, batch, summary, filer is not None)
                if filer is not None:
                    filer.file(moves, summary)
                lease.renew(app.db, plan.id, owner)
                if progress:
                    progress(min(i + BATCH, len(ids)), len(ids))
        except Exception as exc:  # whatever stopped it, the run is recorded as failed
            _finish(app, summary, RunStatus.FAILED, str(exc))
            raise
        finally:
            decider.close()
            senders.close()
            if filer is not None:
                filer.close()
        _finish(app, summary, RunStatus.SUCCEEDED, None, generation)
        return summary


def _batch(
    app: App,
    plan: SourcePlan,
    decider: Decider,
    senders: SenderCheck,
    ids: list[int],
    summary: RecheckSummary,
    files: bool,
) -> list[_Move]:
    """Decide one batch again and commit what is imported now; the mails to move after."""
    raws: dict[int, tuple[str, bytes]] = {}  # row id -> raw SHA-256 and bytes
    stored: dict[int, SenderAuth | None] = {}  # row id -> its sender authentication, if kept
    envelopes: dict[int, Envelope | None] = {}  # row id -> what the import address saw
    with app.db.session() as s:
        for row in s.scalars(select(Message).where(Message.id.in_(ids)).order_by(Message.id)):
            try:
                raws[row.id] = (row.raw_sha256, app.blobs.get(row.raw_sha256))
            except FileNotFoundError:
                summary.missing_raw.append(
                    gettext("%(mail)s: its raw bytes (%(sha)s) are not in the blob store")
                    % {"mail": _label(row), "sha": row.raw_sha256}
                )
            else:
                stored[row.id] = stored_auth(row)
                envelopes[row.id] = stored_envelope(row)
    checking = senders.begin(
        app.db, [Mail(None, raw, stored[i], envelopes[i]) for i, (_, raw) in raws.items()]
    )
    try:
        decided = decider.decide_recorded(app.db, plan.id, list(raws.values()))
    except BaseException:
        checking.close()
        raise
    decisions = dict(zip(raws, checking.apply(decided), strict=True))
    again = {i for i, auth in stored.items() if auth is None}  # authenticated again now
    finished = [raws[i][0] for i, d in decisions.items() if d.reason != STOPPED_TWICE]
    now = {row_id: d for row_id, d in decisions.items() if d.verdict == Verdict.IMPORT}
    summary.checked += len(decisions)
    summary.still_not_imported += len(decisions) - len(now)
    app.blobs.put_many((doc.sha256, doc.data) for d in now.values() for doc in d.documents)
    moves: list[_Move] = []
    with app.db.session() as s:
        for row in s.scalars(select(Message).where(Message.id.in_(again - set(now)))):
            d = decisions[row.id]  # still not imported: its new result is kept
            record_auth(row, d)
            if d.verdict == Verdict.NOT_IMPORTED:
                row.reason, row.hits = d.reason, list(d.hits)
                row.reason_parts = to_json(d.reason_parts) if d.reason_parts else None
        rows = list(s.scalars(select(Message).where(Message.id.in_(now)).order_by(Message.id)))
        docs = [doc for d in now.values() for doc in d.documents]
        originals = QueueOriginals.load(  # before the new documents join the session
            s,
            plan.company_id,
            {doc.sha256 for doc in docs},
            {doc.einvoice.key for doc in docs if doc.einvoice and doc.einvoice.key},
        )
        for row in rows:
            _import(row, now[row.id], plan)
        ledger.end_attempts(s, plan.id, finished)  # a mail given up on stays given up
        s.flush()
        for row in rows:
            summary.imported += 1
            marked = originals.mark(row)
            summary.documents_created += marked.queued
            summary.duplicates += marked.exact_duplicates
            suppliers.learn(s, row, company_id=plan.company_id)
            events.documents_created(s, row, company=plan.company, source=plan.name)
            if files:
                move = refile(row, plan)
                if move is not None:
                    moves.append(move)
        run = s.get(Run, summary.run_id)
        assert run is not None
        summary.store_into(run)
    return moves


def _import(row: Message, d: Decision, plan: SourcePlan) -> None:
    row.decision = Verdict.IMPORT
    parts = (part("rechecked"), *d.reason_parts)
    row.reason = english(parts) if d.reason_parts else f"re-checked: {d.reason}"
    row.reason_parts = to_json(parts) if d.reason_parts else None
    row.hits = list(d.hits)
    record_auth(row, d)
    row.documents = document_rows(d.documents, plan.company_id)


def refile(row: Message, plan: SourcePlan) -> _Move | None:
    """Where the mail goes now. A row not filed yet (its run was cut off) only gets its new
    target: the next fetch files it from its folder, as it files any such row."""
    filed_to = plan.target(Verdict.IMPORT, row.sent_at)
    target = filed_to or row.folder
    current = (row.filed_to or row.folder) if row.state == MessageState.DISPOSED else None
    if current is None or current == target:
        row.filed_to = filed_to
        return None
    return _Move(
        row_id=row.id,
        label=_label(row),
        folder=row.folder,
        uidvalidity=row.uidvalidity,
        uid=row.uid,
        remote_id=row.remote_id,
        message_id=row.message_id,
        raw_sha256=row.raw_sha256,
        current=current,
        target=target,
        filed_to=filed_to,
    )


class Filer:
    """Moves newly imported mail on one connection, opened at the first move."""

    def __init__(self, app: App, source_name: str) -> None:
        self.app, self.source_name = app, source_name
        self.conn: Connector | None = None
        self.open: str | None = None  # the open folder ...
        self.uidvalidity: int | None = None  # ... and its UIDVALIDITY (IMAP)
        self.created: set[str] = set()

    def file(self, moves: list[_Move], summary: Filing) -> None:
        """Move each mail; a failure is reported and the next mail is tried."""
        done: list[_Move] = []
        for m in sorted(moves, key=lambda m: m.current):
            try:
                with runner.signed_in(self.app, self.source_name):
                    self._move(m)
            except _NotOnServer:
                summary.filing_errors.append(
                    gettext(
                        '%(mail)s: not found in "%(folder)s" (moved or deleted on the server);'
                        " its documents are imported"
                    )
                    % {"mail": m.label, "folder": m.current}
                )
            except (ConnectorError, SecretError) as exc:
                self.open = None  # a lost connection reconnects with no folder open
                summary.filing_errors.append(
                    gettext('%(mail)s: not moved from "%(folder)s" to "%(target)s": %(why)s')
                    % {"mail": m.label, "folder": m.current, "target": m.target, "why": exc}
                )
            else:
                done.append(m)
        summary.filed += len(done)
        with self.app.db.session() as s:
            for m in done:
                row = s.get(Message, m.row_id)
                assert row is not None
                row.filed_to = m.filed_to

    def _move(self, m: _Move) -> None:
        if self.conn is None:
            self.conn = runner.connector_for(self.app, self.source_name)
        conn = self.conn
        if self.open != m.current:
            opened = conn.open_folder(m.current)
            self.open, self.uidvalidity = m.current, opened.uidvalidity if opened else None
        if isinstance(conn, ImapConnector):
            uid = self._imap_uid(conn, m)
            self._ensure(conn, m.target)
            conn.move([uid], m.target)
        elif conn.cursor_kind == "token":
            if m.remote_id is None or not any(True for _ in conn.fetch([m.remote_id])):
                raise _NotOnServer
            self._ensure(conn, m.target)
            conn.move([m.remote_id], m.target)
        else:
            raise ConnectorError(gettext("this kind of source cannot move mail"))

    def _imap_uid(self, conn: ImapConnector, m: _Move) -> int:
        """The mail's uid in the open folder: the recorded one while the mail was never moved
        (same folder, same UIDVALIDITY), else a Message-ID match with the same bytes."""
        if m.current == m.folder and self.uidvalidity == m.uidvalidity and m.uid is not None:
            candidates = [m.uid]
        else:
            candidates = conn.find(_search_id(m.message_id)) if m.message_id else []
        for uid, raw in conn.fetch(candidates):
            if hashlib.sha256(raw).hexdigest() == m.raw_sha256:
                return uid
        raise _NotOnServer

    def _ensure(self, conn: Connector, folder: str) -> None:
        if folder not in self.created:
            conn.ensure_folder(folder)
            self.created.add(folder)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


_ANGLE_ADDR = re.compile(r"<[^<>\s]+>")


def _search_id(message_id: str) -> str:
    """The ``<id>`` of a Message-ID header value (comments and folding left out)."""
    found = _ANGLE_ADDR.search(message_id)
    return found.group(0) if found else " ".join(message_id.split())


def _label(row: Message) -> str:
    sender = row.sender or gettext("unknown sender")
    return gettext('message %(id)s ("%(subject)s" from %(sender)s)') % {
        "id": row.id,
        "subject": row.subject[:60],
        "sender": sender,
    }


def _finish(
    app: App, summary: RecheckSummary, status: str, error: str | None, generation: int = 0
) -> None:
    with app.db.session() as s:
        run = s.get(Run, summary.run_id)
        assert run is not None
        summary.store_into(run)
        run.status, run.error, run.finished_at = status, error, utcnow()
        src = s.get(Source, run.source_id)
        if src is not None and generation > src.recheck_done:
            src.recheck_done = generation
