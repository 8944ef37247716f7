"""Mail received at a company's central import address goes through the same sync as a mailbox.

Each accepted message is one run of the company's import source, on a one-message connector:
the same decision, blobs, ledger row and documents in one transaction, the same duplicate
checks (the raw SHA-256 and the documents' hashes). ``deliver`` returns only after that
transaction is committed, so the SMTP receiver answers 250 only for stored mail.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Literal

from invoice_inbox.connectors.base import Changes
from invoice_inbox.errors import FolderMissing
from invoice_inbox.runtime import lease
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.sync import RunSummary, sync_source
from invoice_inbox.store import companies

FOLDER = "INBOX"


class Delivered:
    """A token connector holding one received message and nothing else."""

    cursor_kind: Literal["token"] = "token"

    def __init__(self, raw: bytes) -> None:
        self.id = f"smtp-{uuid.uuid4().hex}"
        self.raw = raw

    def check(self) -> list[str]:
        return [FOLDER]

    def list_folders(self) -> list[str]:
        return [FOLDER]

    def open_folder(self, folder: str) -> None:
        if folder != FOLDER:
            raise FolderMissing(folder, [FOLDER])

    def changes(
        self, cursor: str | None, *, unread_only: bool = False, since: date | None = None
    ) -> Changes:
        return Changes(ids=[self.id], cursor=cursor or "")

    def fetch(self, ids: Iterable[str], *, batch: int = 100) -> Iterator[tuple[str, bytes]]:
        if self.id in ids:
            yield self.id, self.raw

    def ensure_folder(self, folder: str) -> None:
        return None

    def move(self, ids: Iterable[str], target: str) -> None:
        return None  # received mail is in no mailbox: there is nothing to file

    def mark_seen(self, ids: Iterable[str]) -> None:
        return None

    def close(self) -> None:
        return None


class Inbox:
    """Stores received mail for the SMTP receiver: ``resolve`` and ``deliver`` callbacks."""

    def __init__(self, app: App, *, busy_wait: float = 60.0) -> None:
        self.app = app
        self.busy_wait = busy_wait
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def resolve(self, address: str) -> str | None:
        local, _, _ = address.rpartition("@")
        with self.app.db.session() as s:
            return companies.resolve(s, local)

    def deliver(self, source_name: str, raw: bytes, mail_from: str) -> RunSummary:
        """Decide and commit one received message; raises when it could not be stored."""
        with self._guard:
            lock = self._locks.setdefault(source_name, threading.Lock())
        deadline = time.monotonic() + self.busy_wait
        with lock:  # deliveries to one company take turns in this process
            while True:
                try:
                    return sync_source(self.app, source_name, Delivered(raw), trigger="smtp")
                except lease.SourceBusy:  # a recheck in another process; wait for it
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
