"""The application context: data directory, database, blob store and secret box, opened once."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from invoice_inbox.auth.secrets import SecretBox
from invoice_inbox.runtime.key_check import ensure_same_key
from invoice_inbox.store import blob_layout
from invoice_inbox.store.blob_folder import FolderBlobStore
from invoice_inbox.store.blobs import BlobStore, open_blob_store
from invoice_inbox.store.db import Database

DEFAULT_DATA_DIR = "./invoice-inbox-data"


def resolve_data_dir(option: str | Path | None) -> Path:
    """``--data-dir``, else ``INVOICE_INBOX_HOME``, else ``./invoice-inbox-data``."""
    chosen = option or os.environ.get("INVOICE_INBOX_HOME") or DEFAULT_DATA_DIR
    return Path(chosen).expanduser().resolve()


@dataclass
class App:
    data_dir: Path
    db: Database
    blobs: BlobStore
    secrets: SecretBox

    @classmethod
    def open(cls, data_dir: Path, *, secret_key_file: Path | None = None) -> App:
        """Open (or create) *data_dir*: a new one is the owner's alone (0700). The secret key
        comes from *secret_key_file* when given (see ``auth.secrets``)."""
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        blobs = open_blob_store(data_dir)  # INVOICE_INBOX_BLOB_URL, else data_dir/blobs
        if isinstance(blobs, FolderBlobStore):
            blob_layout.settle(blobs.root)  # the first versions' blobs/ab/cd/<sha256>, once
        app = cls(
            data_dir=data_dir,
            db=Database.in_data_dir(data_dir),
            blobs=blobs,
            secrets=SecretBox.for_data_dir(data_dir, secret_key_file),
        )
        try:
            ensure_same_key(app.db, app.secrets)  # scaled out, every process needs the same key
        except BaseException:
            app.close()
            raise
        return app

    def close(self) -> None:
        self.db.close()
