"""Where the shared development corpus lives: ``../shared/corpus`` beside the repository, or
``INVOICE_INBOX_CORPUS``. Tests read it by path; nothing is copied into the repository."""

from __future__ import annotations

import os
from pathlib import Path

CORPUS = Path(
    os.environ.get("INVOICE_INBOX_CORPUS")
    or Path(__file__).resolve().parents[2] / "shared" / "corpus"
)
