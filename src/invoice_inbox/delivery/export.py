"""Export documents into a folder, named so a person can find them: date, sender, original name.

``2026-11-21_billing@supplier.example_INV-4711.pdf``. Exporting again skips files already there
with the same content; a different file that would get the same name gets its hash appended.
"""

from __future__ import annotations

import os
from pathlib import Path

from invoice_inbox.pipeline.filenames import sanitize
from invoice_inbox.store.blobs import BlobStore
from invoice_inbox.store.documents import DocumentView


def export_name(doc: DocumentView) -> str:
    """For a forwarded mail, the date and sender are the original supplier's."""
    when = doc.origin_date or doc.sent_at or doc.received_at
    sender = doc.origin_sender or doc.sender or "unknown-sender"
    return sanitize(f"{when:%Y-%m-%d}_{sender}_{doc.filename}")


def export(docs: list[DocumentView], blobs: BlobStore, target: Path) -> tuple[int, int]:
    """Copy each document into *target*; returns (written, already there)."""
    target.mkdir(parents=True, exist_ok=True)
    written = skipped = 0
    for doc in docs:
        data = blobs.get(doc.sha256)
        path = target / export_name(doc)
        if path.exists():
            if path.read_bytes() == data:
                skipped += 1
                continue
            stem, dot, ext = path.name.rpartition(".")
            path = target / (
                f"{stem}_{doc.sha256[:8]}.{ext}" if dot else f"{path.name}_{doc.sha256[:8]}"
            )
            if path.exists():
                skipped += 1
                continue
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        written += 1
    return written, skipped
