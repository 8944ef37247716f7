"""The ``invoice-inbox`` command line: thin commands over store, runtime and pipeline.

A user's mistake (an unknown source, a wrong password, an unreachable server) prints one plain
sentence to stderr and exits non-zero; tracebacks are for bugs only.

The command modules register their commands on the app when imported. ``main`` imports only
the modules of the command its command line names (``fetch`` needs neither the web server's
pieces nor the source editor's), and every module when it cannot tell: no command, ``--help``
before it, or a name it does not know. ``app`` (tests, embedding) has every command.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from invoice_inbox import process_gc

if TYPE_CHECKING:
    from invoice_inbox.cli.base import app

__all__ = ["app", "main"]

# Every command module, in the order they have always been imported (it is the order of the
# commands in --help).
COMMAND_MODULES = (
    "blobs",
    "companies",
    "documents",
    "fetching",
    "inspect",
    "recheck",
    "rules",
    "serve",
    "signin",
    "source_set",
    "sources",
    "source_add",
    "status",
    "suppliers",
    "users",
)
# The modules that register each top-level command or group (tests/cli/test_cli_startup.py
# holds this to what the modules register).
MODULES_OF: dict[str, tuple[str, ...]] = {
    "blobs": ("blobs",),
    "company": ("companies",),
    "notifications": ("companies",),
    "documents": ("documents",),
    "fetch": ("fetching",),
    "runs": ("fetching",),
    "messages": ("fetching",),
    "inspect": ("inspect",),
    "recheck": ("recheck",),
    "rule": ("rules",),
    "serve": ("serve",),
    "worker": ("serve",),
    "source": ("signin", "source_set", "sources", "source_add"),
    "status": ("status",),
    "suppliers": ("suppliers",),
    "user": ("users",),
    "token": ("users",),
}
# the app's own options that take a value (``--data-dir PATH``): the word after one is not
# the command
_VALUED_OPTIONS = frozenset({"--data-dir", "--secret-key-file", "--lang"})


def modules_for(args: Sequence[str]) -> tuple[str, ...]:
    """The command modules the command line *args* (without the program name) needs."""
    words = iter(args)
    for word in words:
        if word.startswith("-"):
            if word in _VALUED_OPTIONS:
                next(words, None)
                continue
            if word.split("=", 1)[0] in _VALUED_OPTIONS:
                continue
            return COMMAND_MODULES  # --help (or anything else) before the command
        return MODULES_OF.get(word, COMMAND_MODULES)
    return COMMAND_MODULES  # no command: the app's help


def load(modules: Iterable[str] = COMMAND_MODULES) -> None:
    """Import *modules* (their commands join the app), in ``COMMAND_MODULES`` order."""
    wanted = set(modules)
    for name in COMMAND_MODULES:
        if name in wanted:
            importlib.import_module(f"invoice_inbox.cli.{name}")


def __getattr__(name: str) -> object:
    if name == "app":
        load()
        from invoice_inbox.cli.base import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    load(modules_for(sys.argv[1:]))
    from invoice_inbox.cli.base import app, err

    process_gc.settle()  # what the imports made is out of the collector's way

    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
