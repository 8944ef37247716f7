"""Where the test corpus lives: ``tests/corpus`` in the repository (real e-invoices and mails,
each with its source and licence in ``MANIFEST.tsv``), or ``INVOICE_INBOX_CORPUS`` to read
another folder of the same layout."""

from __future__ import annotations

import os
from pathlib import Path

CORPUS = Path(os.environ.get("INVOICE_INBOX_CORPUS") or Path(__file__).resolve().parent / "corpus")
