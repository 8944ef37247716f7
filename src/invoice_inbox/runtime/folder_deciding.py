"""The deciding half of a folder's sync (mixed into ``runtime.sync.FolderSync``): a downloaded
batch prepared (``batch_decide.prepare_batch``), most of it ahead, on a thread of its own while
the batch before it is decided (``Stages.prepare_ahead``), then decided; its first-seen items
stay pending, for copies in later batches, until their commit."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence

from invoice_inbox.runtime.batch_decide import (
    BatchItem,
    Fetched,
    Key,
    Prepared,
    decide_batch,
    prepare_batch,
    take_awaited,
)
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.decider import Decider
from invoice_inbox.runtime.sender_check import SenderCheck
from invoice_inbox.runtime.source_plan import SourcePlan
from invoice_inbox.runtime.sync_steps import Step


class FolderDeciding:
    """The deciding half of a folder's sync."""

    app: App
    plan: SourcePlan
    folder: str
    decider: Decider
    senders: SenderCheck
    observer: Callable[[Step, str, Sequence[Key]], None]
    _pending: dict[str, BatchItem]  # decided, not yet committed, by raw SHA-256
    _pending_lock: threading.Lock
    _deciding: frozenset[str]  # first seen in the batch being decided

    def _prepare(self, fetched: Fetched) -> Prepared:
        """The batch's first steps of deciding (``batch_decide.prepare_batch``), taken before
        the batch before it is handed to the commit stage (``run_pipelined``); one prepared
        ahead gets the items it awaits now."""
        if isinstance(fetched, Prepared):
            with self._pending_lock:
                pending = dict(self._pending)
            take_awaited(self.app.db, self.plan, fetched, pending)
            ready = fetched
        else:
            ready = self._prepared(fetched, deciding=())
        self._deciding = frozenset(ready.first)
        return ready

    def _prepare_ahead(self, fetched: Fetched) -> Fetched:
        """Prepare *fetched* on a thread of its own while the batch before it is decided
        (``Stages.prepare_ahead``): the mails first seen in that one await their items."""
        if isinstance(fetched, Prepared):
            return fetched
        return self._prepared(fetched, deciding=self._deciding)

    def _prepared(
        self, fetched: list[tuple[Key, bytes, str]], deciding: Collection[str]
    ) -> Prepared:
        with self._pending_lock:
            pending = dict(self._pending)  # before the ledger is asked (batch_decide)
        return prepare_batch(
            self.app.db, self.plan, self.decider, fetched, senders=self.senders, pending=pending,
            deciding=deciding,
        )  # fmt: skip

    def _abandon(self, fetched: Fetched) -> None:
        if isinstance(fetched, Prepared):
            fetched.abandon(self.app.db, self.decider)

    def _decide(self, fetched: Fetched) -> list[BatchItem]:
        items = decide_batch(
            self.app.db,
            self.plan,
            self.decider,
            self._prepare(fetched),
            deciding=lambda keys: self.observer(Step.DECIDING, self.folder, keys),
        )
        with self._pending_lock:
            self._pending.update((it.sha256, it) for it in items if it.duplicate_of is None)
        return items
