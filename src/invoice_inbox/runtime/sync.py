"""Sync one source: the one place that combines connector, pipeline and store.

For each folder of an IMAP (uid-cursor) connector, in this order, so that a crash at any point
re-runs cleanly (nothing lost, nothing imported twice, no mail moved before its documents are
committed):

1. STATUS the folder; if nothing is new and nothing is left to file, stop (no SELECT).
2. SELECT it; a changed UIDVALIDITY restarts the cursor and is de-duplicated by the raw
   message's SHA-256, never read as "all new" (invariant 3). Rows a cut-off run committed but
   did not file are filed now.
3. UID SEARCH past the cursor; uids the ledger knows are skipped.
4. Per batch: read raw (BODY.PEEK[], on a second session of an IMAP folder of several batches
   when the server allows it) → decide (in worker processes, which also put the mail's blobs
   in a blob folder; the sender authenticated meanwhile, the source's sender policy applied to
   the decision) → write the other blobs and sync them all → one transaction with the
   ledger rows, documents and their outbox events, folder cursor and run counters → file on the
   server (\\Seen, move) → mark the rows disposed. Batches overlap (``runtime.pipelined``): the
   next one downloads while one is decided and the one before it is committed, in order, with
   a sequential run's outcome when anything fails; committed batches are filed in order on a
   thread of their own (``runtime.filing_stage``), and a failed filing stops the commits (a
   batch committed meanwhile is filed by the next run, as after a crash).

Token connectors (Graph, Gmail API) differ only in how new messages are found: rows a cut-off
run committed but did not file are filed first, then ``changes`` lists the ids since the stored
cursor, known ids are skipped, batches go as above, and the new cursor is stored only after the
last batch is committed. A crash replays the listing; the ledger skips what it already has.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence

from invoice_inbox.connectors.base import (
    Connector,
    Deleting,
    SecondSession,
    TokenConnector,
    UidConnector,
)
from invoice_inbox.errors import ConnectorError
from invoice_inbox.runtime import lease
from invoice_inbox.runtime.batch_decide import (
    BatchItem,
    Fetched,
    Key,
    fetched_size,
)
from invoice_inbox.runtime.batch_rows import advance_folder, new_row, store_run, write_batch
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.decider import Decider
from invoice_inbox.runtime.filing_stage import FilingStage
from invoice_inbox.runtime.folder_deciding import FolderDeciding
from invoice_inbox.runtime.folder_filing import FolderFiling
from invoice_inbox.runtime.logs import log_context
from invoice_inbox.runtime.pipelined import Stages, run_pipelined
from invoice_inbox.runtime.run_summary import RunPartial, RunSummary
from invoice_inbox.runtime.sender_check import SenderCheck
from invoice_inbox.runtime.source_plan import SourcePlan
from invoice_inbox.runtime.sync_steps import (
    BATCH,
    Batches,
    Observer,
    Progress,
    RunCancelled,
    Step,
    noop,
)
from invoice_inbox.store import ledger, runs
from invoice_inbox.store.blob_folder import FolderBlobStore
from invoice_inbox.store.models import Run, RunStatus, utcnow

log = logging.getLogger(__name__)

TOKEN_EPOCH = 0  # the ledger's uidvalidity for messages keyed by a remote id


class FolderSync(FolderDeciding, FolderFiling):
    """Syncs one folder of one source on an open connector, within a run."""

    def __init__(
        self,
        app: App,
        plan: SourcePlan,
        conn: Connector,
        summary: RunSummary,
        folder: str,
        *,
        owner: str,
        observer: Observer,
        progress: Progress,
        created_folders: set[str],
        decider: Decider,
        batch_size: int | None = None,
        cancel: threading.Event | None = None,
        senders: SenderCheck | None = None,
    ) -> None:
        self.app, self.plan, self.conn, self.summary = app, plan, conn, summary
        self.senders = senders or SenderCheck(plan, conn)
        self.folder, self.owner, self.observer, self.progress = folder, owner, observer, progress
        self.created_folders = created_folders
        self.batch_size = batch_size
        self.decider = decider
        self.cancel = cancel
        self.deleting = plan.delete_after_import and isinstance(conn, Deleting)
        self._conn_lock = threading.Lock()  # the download and the filing stage share conn
        self._downloads: UidConnector | None = None  # or the downloads have a session of their own
        self._pending: dict[str, BatchItem] = {}  # decided, not yet committed, by raw SHA-256
        self._pending_lock = threading.Lock()
        self._deciding: frozenset[str] = frozenset()  # first seen in the batch being decided
        self._keys = Batches(())  # the folder's batches of keys, told each one's bytes (_batches)
        self._filing: FilingStage[list[tuple[int, Key, str | None]]]  # per folder (_batches)

    def run(self) -> None:
        if self.conn.cursor_kind == "token":
            self._run_token(self.conn)
            return
        with self.app.db.session() as s:
            st = ledger.folder_state(s, self.plan.id, self.folder)
            known_validity, after = st.uidvalidity, st.last_uid
            pending_before = bool(
                known_validity is not None
                and ledger.undisposed(s, self.plan.id, self.folder, known_validity)
            )
        status = self.conn.status(self.folder)
        if (
            status.uidvalidity == known_validity
            and status.uidnext <= after + 1
            and not pending_before
        ):
            return  # nothing arrived since the last run: no SELECT needed
        opened = self.conn.open_folder(self.folder)
        validity = opened.uidvalidity
        if known_validity is not None and validity != known_validity:
            self._forget_epoch(known_validity)
            after = 0
        self._file_undisposed(validity)
        uids = self.conn.list_new(
            after_uid=after, unread_only=self.plan.unread_only, since=self.plan.since
        )
        with self.app.db.session() as s:
            known = ledger.known_uids(s, self.plan.id, self.folder, validity, uids)
        todo = [u for u in uids if u not in known]
        self.progress.add_total(len(todo))
        if todo:  # the workers start while the first batch downloads
            self.decider.prestart()
        self._batches(validity, todo, opened.uidnext)
        # past uids that needed no batch too (known ones, or vanished before the fetch)
        self._advance_cursor(validity, max(uids, default=after), opened.uidnext)

    def _run_token(self, conn: TokenConnector) -> None:
        with self.app.db.session() as s:
            cursor = ledger.folder_state(s, self.plan.id, self.folder).cursor
        conn.open_folder(self.folder)
        self._file_undisposed(TOKEN_EPOCH)
        found = conn.changes(cursor, unread_only=self.plan.unread_only, since=self.plan.since)
        with self.app.db.session() as s:
            known = ledger.known_ids(s, self.plan.id, self.folder, found.ids)
        todo = [i for i in found.ids if i not in known]
        self.progress.add_total(len(todo))
        if todo:
            self.decider.prestart()
        self._batches(TOKEN_EPOCH, todo, None)
        if self.deleting:
            assert isinstance(conn, Deleting)
            # mail an earlier run committed but could not delete (it stopped before QUIT)
            conn.delete([i for i in found.ids if i in known])
            conn.commit()  # QUIT: only now does the server delete anything
        with self.app.db.session() as s:
            ledger.folder_state(s, self.plan.id, self.folder).cursor = found.cursor
        if found.full and cursor is not None:
            self.summary.resynced.append(self.folder)

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise RunCancelled("the service is shutting down; the run stopped between batches")

    # -- steps ----------------------------------------------------------------------------

    def _forget_epoch(self, old_validity: int) -> None:
        """UIDVALIDITY changed: the old uids mean nothing now. Rows of the old epoch that were
        never filed are closed; their mails come back in the new epoch as duplicates."""
        with self.app.db.session() as s:
            old = ledger.undisposed(s, self.plan.id, self.folder, old_validity)
            ledger.mark_disposed(s, (m.id for m in old))
            st = ledger.folder_state(s, self.plan.id, self.folder)
            st.last_uid = 0

    def _batches(self, validity: int, todo: Sequence[Key], uidnext: int | None) -> None:
        """Download, decide, commit and file *todo* in batches, overlapping (module doc)."""
        stages: Stages[Fetched, list[BatchItem]] = Stages(
            download=self._download,
            decide=self._decide,
            commit=lambda items: self._commit_batch(validity, uidnext, items),
            size=fetched_size,
            prepare=self._prepare,
            prepare_ahead=self._prepare_ahead,
            abandon=self._abandon,
        )
        keys = self._keys = Batches(todo, self.batch_size)
        self._filing = FilingStage(self._file_committed)
        with self._download_session(validity, len(todo)):
            try:
                run_pipelined(keys, stages, check_cancel=self._check_cancel)
            except BaseException:
                self._filing.close(raise_error=False)  # what was committed is still filed
                raise
            self._filing.close()

    @contextlib.contextmanager
    def _download_session(self, validity: int, count: int) -> Iterator[None]:
        """An IMAP folder of more than one batch downloads on a second session, opened for it
        and closed at its end, so a download need not wait for the batch before it to be moved
        (``connectors.imap_downloads``); where none can be had, the two share ``self.conn``."""
        conn = self.conn
        if count > (self.batch_size or BATCH) and isinstance(conn, SecondSession):
            self._downloads = conn.download_session(self.folder, validity)
        try:
            yield
        finally:
            if self._downloads is not None:
                self._downloads.close()
                self._downloads = None

    def _fetch(self, keys: Sequence[Key]) -> Iterator[tuple[Key, bytes]]:
        conn: Connector = self._downloads or self.conn  # IMAP uids, or a token connector's ids
        if conn.cursor_kind == "token":
            return conn.fetch([str(k) for k in keys], batch=len(keys))
        return conn.fetch([int(k) for k in keys], batch=len(keys))

    def _download(self, uids: Sequence[Key]) -> list[tuple[Key, bytes, str]]:
        fetched: list[tuple[Key, bytes, str]] = []
        own = self._downloads is not None  # a session of its own: no waiting for the filing
        with contextlib.nullcontext() if own else self._conn_lock:
            for uid, raw in self._fetch(uids):
                self.observer(Step.DOWNLOADED, self.folder, [uid])
                fetched.append((uid, raw, hashlib.sha256(raw).hexdigest()))
        self._keys.downloaded(len(fetched), fetched_size(fetched))
        return fetched

    def _commit_batch(self, validity: int, uidnext: int | None, items: list[BatchItem]) -> None:
        """Write the blobs, commit the batch, hand it to the filing stage."""
        self._filing.check()  # an earlier batch's filing failed: this one is not committed
        uids = [it.uid for it in items]
        blobs = [(it.sha256, it.raw) for it in items if not it.stored] + [
            (doc.sha256, doc.data)
            for it in items
            for doc in it.documents
            if doc.stored_size is None
        ]
        # what the workers put into the blob folder is synced with these
        self.app.blobs.put_many(blobs, staged=any(it.stored for it in items))
        self.observer(Step.BLOBS_WRITTEN, self.folder, uids)
        self._commit(validity, uids, uidnext, items)
        with self._pending_lock:  # in the ledger now: later batches find them there
            for it in items:
                if self._pending.get(it.sha256) is it:
                    del self._pending[it.sha256]
        self.observer(Step.COMMITTED, self.folder, uids)
        self._filing.submit(
            [(it.row_id, it.uid, it.target) for it in items if it.row_id is not None]
        )
        self.progress.advance(len(uids))
        lease.renew(self.app.db, self.plan.id, self.owner)

    def _file_committed(self, rows: list[tuple[int, Key, str | None]]) -> None:
        """The filing stage's work: a committed batch flagged and moved (``FolderFiling``)."""
        with self._conn_lock:  # the downloads may share the connection
            self._file(rows)

    def _commit(
        self, validity: int, uids: Sequence[Key], uidnext: int | None, items: list[BatchItem]
    ) -> None:
        """One transaction: ledger rows, documents, their ``document.created`` events (one
        statement per table: ``batch_rows.write_batch``), the folder cursor, the run counters
        (one UPDATE each, ``batch_rows.advance_folder`` and ``store_run``)."""
        counted = copy.copy(self.summary)  # the run's figures once this commits
        rows = [  # built before the transaction: on SQLite it holds the one write lock
            new_row(self.plan, self.summary.run_id, self.folder, validity, it) for it in items
        ]
        with self.app.db.session(writes=True) as s:
            write_batch(s, self.plan, items, rows, count=counted.count)
            if uidnext is not None:  # an IMAP folder: the uid cursor moves with the rows
                last_uid = max((int(u) for u in uids), default=0)
                advance_folder(s, self.plan.id, self.folder, validity, last_uid, uidnext)
            store_run(s, self.summary.run_id, counted)
        self.summary.take(counted)  # committed: only now does the run count these mails

    def _advance_cursor(self, validity: int, last_uid: int, uidnext: int) -> None:
        with self.app.db.session() as s:
            st = ledger.folder_state(s, self.plan.id, self.folder)
            st.uidvalidity = validity
            st.last_uid = max(st.last_uid, last_uid)
            st.uidnext = uidnext


def sync_source(
    app: App,
    source_name: str,
    conn: Connector,
    *,
    trigger: str = "manual",
    observer: Observer | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int | None = None,
    cancel: threading.Event | None = None,
    owner: str | None = None,
) -> RunSummary:
    """Run one fetch of a source on *conn*: take the lease, sync every folder, record the run.

    Raises ``lease.SourceBusy`` when another worker holds the source. An error ends the run
    (recorded, with the server's message) and is re-raised for the caller; so does *cancel*
    being set (``RunCancelled``), checked between batches. A run that had committed mail before
    its error is ``partial``, else ``failed``; a connector error after committed mail is raised
    as ``RunPartial``, which carries the summary. *owner*: the lease is already held under that
    name (the scheduler claimed the source) and kept by the caller. *batch_size*: the size of
    every batch (default: growing ones, ``sync_steps.Batches``)."""
    from invoice_inbox.store import sources

    with app.db.session() as s:
        plan = SourcePlan.of(sources.get(s, source_name))
    with contextlib.ExitStack() as stack:
        if owner is None:
            owner = lease.new_owner()
            stack.enter_context(lease.held(app.db, plan.id, owner))
        with app.db.session() as s:
            summary = RunSummary(run_id=runs.start(s, plan.id, trigger).id, source=plan.name)
        stack.enter_context(log_context(source=plan.name, run=summary.run_id))
        tracker = Progress(hook=progress)
        created: set[str] = set()
        # on a blob folder the decide workers write each mail's blobs themselves
        store = app.blobs.staging_root() if isinstance(app.blobs, FolderBlobStore) else None
        decider = Decider(plan.policy, store=store)
        senders = SenderCheck(plan, conn)  # one DNS resolver (and its cache) for the run
        try:
            for folder in plan.folders:
                FolderSync(
                    app,
                    plan,
                    conn,
                    summary,
                    folder,
                    owner=owner,
                    observer=observer or noop,
                    progress=tracker,
                    created_folders=created,
                    decider=decider,
                    batch_size=batch_size,
                    cancel=cancel,
                    senders=senders,
                ).run()
        except (ConnectorError, lease.LeaseLost, RunCancelled) as exc:
            summary.stopped(str(exc))
            _finish(app, summary)
            if isinstance(exc, ConnectorError) and summary.status == RunStatus.PARTIAL:
                raise RunPartial(summary, exc) from exc
            raise
        except Exception as exc:  # e.g. the disk is full: the run is over, and says why
            summary.stopped(f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(Exception):  # the database may be what failed
                _finish(app, summary)
            raise
        finally:
            decider.close()
            senders.close()
        summary.status = RunStatus.SUCCEEDED
        _finish(app, summary)
        return summary


def _finish(app: App, summary: RunSummary) -> None:
    with app.db.session() as s:
        run = s.get(Run, summary.run_id)
        assert run is not None
        summary.store_into(run)
        run.finished_at = utcnow()
