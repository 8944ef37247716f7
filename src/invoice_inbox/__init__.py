"""invoice-inbox: get supplier invoices out of e-mail and into accounts payable, exactly once.

The public surface is small on purpose: inspect a message file, the decision types, and the
connector contract. Everything else is internal and may change.

The names are imported when first used (``from invoice_inbox import decide``), not with the
package: every process imports it (the CLI, each decide worker), and most need only a part of
the pipeline, or none.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_MODULE_OF = {
    "Connector": "invoice_inbox.connectors.base",
    "FolderStatus": "invoice_inbox.connectors.base",
    "Decision": "invoice_inbox.pipeline.decide",
    "Document": "invoice_inbox.pipeline.decide",
    "Policy": "invoice_inbox.pipeline.decide",
    "Verdict": "invoice_inbox.pipeline.decide",
    "decide": "invoice_inbox.pipeline.decide",
}


def lazy_names(package: str, module_of: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for *package* that imports each name of *module_of* from its
    module (absolute, or relative to *package*) when it is first asked for, and keeps it in the
    package's namespace, found directly from then on. Here, not in a module of its own: the
    package imports none (``tests/test_package_imports.py``)."""

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__


__getattr__ = lazy_names(__name__, _MODULE_OF)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
