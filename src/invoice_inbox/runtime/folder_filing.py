"""Filing a folder's committed mail on the server (flag, move, delete), and what happens when
the server refuses a target folder: those mails stay where they are, their rows keep the
server's answer and stay undisposed, the run goes on, and the next run files them where the
source files such mail then. ``FolderSync`` (runtime.sync) files with these methods."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence

from invoice_inbox.connectors.base import Connector, Deleting
from invoice_inbox.errors import ProtocolFailed
from invoice_inbox.pipeline.decide import Verdict
from invoice_inbox.runtime.batch_decide import Key
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.run_summary import RunSummary
from invoice_inbox.runtime.source_plan import SourcePlan
from invoice_inbox.runtime.sync_steps import Step
from invoice_inbox.store import ledger
from invoice_inbox.store.models import utcnow

log = logging.getLogger(__name__)


class FolderFiling:
    """The filing half of a folder's sync (mixed into ``runtime.sync.FolderSync``)."""

    app: App
    plan: SourcePlan
    conn: Connector
    summary: RunSummary
    folder: str
    created_folders: set[str]
    deleting: bool
    observer: Callable[[Step, str, Sequence[Key]], None]

    def _file_undisposed(self, validity: int) -> None:
        """File rows a cut-off run committed, and rows the server refused to file: those go
        where the source files such mail now (its target may have been corrected since)."""
        with self.app.db.session() as s:
            rows = []
            for m in ledger.undisposed(s, self.plan.id, self.folder, validity):
                if m.filing_error and m.decision in (Verdict.IMPORT, Verdict.NOT_IMPORTED):
                    m.filed_to = self.plan.target(m.decision, m.sent_at)
                key = m.remote_id if m.remote_id is not None else m.uid
                assert key is not None  # a row has one or the other (ledger: uid or remote id)
                rows.append((m.id, key, m.filed_to))
        if rows:
            self._file(rows)

    def _file(self, rows: list[tuple[int, Key, str | None]]) -> None:
        """Flag and move committed messages as decided, then mark their rows disposed.

        A target the server refuses (it cannot create the folder, or move into it) leaves
        those mails where they are, their rows undisposed with the server's answer, and the
        run goes on: new mail is still imported, and filing is tried again on the next run.
        A lost connection still ends the run."""
        uids = [uid for _, uid, _ in rows]
        if self.deleting:
            assert isinstance(self.conn, Deleting)
            self.conn.delete([str(u) for u in uids])  # applied by commit() at the folder's end
        if self.plan.unread_only:
            self._mark_seen(uids)
        groups: dict[str, list[tuple[int, Key]]] = defaultdict(list)
        for row_id, uid, target in rows:
            if target and target != self.folder:
                groups[target].append((row_id, uid))
        refused: dict[int, str] = {}  # row id -> the server's answer
        for target, group in groups.items():
            error = self.summary.unfiled.get(target) or self._move(target, group)
            if error:
                self.summary.unfiled[target] = error
                refused.update((row_id, error) for row_id, _ in group)
        self.observer(Step.FILED, self.folder, uids)
        with self.app.db.session(durable=False) as s:  # lost in a power cut: filed again
            ledger.mark_disposed(s, (row_id for row_id, _, _ in rows if row_id not in refused))
            for error in set(refused.values()):
                failed = [row_id for row_id, e in refused.items() if e == error]
                ledger.mark_filing_failed(s, failed, error, utcnow())
        self.observer(Step.DISPOSED, self.folder, uids)

    def _mark_seen(self, keys: Sequence[Key]) -> None:
        conn = self.conn  # its own kind of key: uids of an IMAP folder, or message ids
        if conn.cursor_kind == "token":
            conn.mark_seen([str(k) for k in keys])
        else:
            conn.mark_seen([int(k) for k in keys])

    def _move_keys(self, keys: Sequence[Key], target: str) -> None:
        conn = self.conn
        if conn.cursor_kind == "token":
            conn.move([str(k) for k in keys], target)
        else:
            conn.move([int(k) for k in keys], target)

    def _move(self, target: str, group: list[tuple[int, Key]]) -> str | None:
        """Move *group* to *target*; the server's refusal in words, or None when moved."""
        try:
            if target not in self.created_folders:
                self.conn.ensure_folder(target)
                self.created_folders.add(target)
            self._move_keys([uid for _, uid in group], target)
        except ProtocolFailed as exc:  # the server said no; a lost connection raises on
            log.warning("mails cannot be moved to %s: %s", target, exc)
            return str(exc)
        return None
