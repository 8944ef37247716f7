"""The ``invoice-inbox`` command line: thin commands over store, runtime and pipeline.

A user's mistake (an unknown source, a wrong password, an unreachable server) prints one plain
sentence to stderr and exits non-zero; tracebacks are for bugs only.
"""

from __future__ import annotations

import sys

# the command modules register themselves on the app when imported
from invoice_inbox.cli import (  # noqa: F401
    blobs,
    companies,
    documents,
    fetching,
    inspect,
    recheck,
    rules,
    serve,
    signin,
    source_set,
    sources,
    status,
    suppliers,
    users,
)
from invoice_inbox.cli.base import app, err

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
