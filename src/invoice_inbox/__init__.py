"""invoice-inbox: get supplier invoices out of e-mail and into accounts payable, exactly once.

The public surface is small on purpose: inspect a message file, the decision types, and the
connector contract. Everything else is internal and may change.
"""

from __future__ import annotations

from invoice_inbox.connectors.base import Connector, FolderStatus
from invoice_inbox.pipeline.decide import Decision, Document, Policy, Verdict, decide

__all__ = [
    "Connector",
    "Decision",
    "Document",
    "FolderStatus",
    "Policy",
    "Verdict",
    "decide",
]

__version__ = "0.1.0"
