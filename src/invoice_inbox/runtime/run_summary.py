"""What a sync run did (``RunSummary``, counted per committed mail) and how a run that had
committed mail ends on a connector error (``RunPartial``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from invoice_inbox.errors import ConnectorError
from invoice_inbox.pipeline.decide import Verdict
from invoice_inbox.store.documents import Marked
from invoice_inbox.store.models import Run, RunStatus


class RunPartial(ConnectorError):
    """A connector error (a missing folder, a lost connection) stopped a run after it had
    committed mail: ``summary`` is what it did (status partial, with the error), ``cause`` the
    connector's error. It is a ``ConnectorError``, so whoever handles a failed run handles this
    one too; whoever shows run summaries can show this one's."""

    def __init__(self, summary: RunSummary, cause: ConnectorError) -> None:
        super().__init__(str(cause))
        self.summary, self.cause = summary, cause
        self.transient = cause.transient


@dataclass
class RunSummary:
    """What a run did. Each mail it committed counts once in ``messages_seen`` and once in
    ``imported``, ``not_imported``, ``quarantined`` or ``duplicates`` (a mail handled before).
    ``documents_created`` are the documents that joined the queue; ``duplicates`` also counts
    each document that was not queued because its exact bytes are in the queue already."""

    run_id: int
    source: str
    status: str = RunStatus.RUNNING
    messages_seen: int = 0
    imported: int = 0
    not_imported: int = 0
    quarantined: int = 0
    duplicates: int = 0  # mails handled before + documents already in the queue
    documents_created: int = 0  # documents queued
    errors: int = 0
    error: str | None = None
    resynced: list[str] = field(default_factory=list)  # folders whose sync state had expired
    unfiled: dict[str, str] = field(default_factory=dict)  # target -> the server's refusal

    def count(self, decision: str, marked: Marked) -> None:
        self.messages_seen += 1
        self.documents_created += marked.queued
        self.duplicates += marked.exact_duplicates
        if decision == Verdict.IMPORT:
            self.imported += 1
        elif decision == Verdict.NOT_IMPORTED:
            self.not_imported += 1
        elif decision == Verdict.QUARANTINED:
            self.quarantined += 1
        else:
            self.duplicates += 1

    def stopped(self, error: str) -> None:
        """An error ended the run: partial when it had committed mail (its counts are only
        what was committed), else failed."""
        self.status = RunStatus.PARTIAL if self.messages_seen else RunStatus.FAILED
        self.error = error
        self.errors += 1

    def take(self, other: RunSummary) -> None:
        """Adopt *other*'s figures (a copy counted in a transaction that committed)."""
        for f in fields(self):
            setattr(self, f.name, getattr(other, f.name))

    def store_into(self, run: Run) -> None:
        for name in (
            "messages_seen",
            "imported",
            "not_imported",
            "quarantined",
            "duplicates",
            "documents_created",
            "errors",
            "error",
            "status",
        ):
            setattr(run, name, getattr(self, name))
