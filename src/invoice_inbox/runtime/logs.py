"""Log setup for ``serve``: plain text for people, or one JSON object per line for collectors.

``with log_context(source="acme", run=12):`` adds those fields to every record logged inside the
block, in that thread or asyncio task only (a context variable); nested blocks add to the outer
fields and restore them on exit. JSON lines carry them as keys, text lines as ``[source=acme
run=12]``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Literal, TextIO

_EMPTY: Mapping[str, object] = MappingProxyType({})
_fields: ContextVar[Mapping[str, object]] = ContextVar("invoice_inbox_log_fields", default=_EMPTY)

# keys of a JSON line that context fields may not take over
RESERVED = frozenset({"ts", "level", "logger", "msg", "exc", "stack"})


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add ``fields`` (``source=``, ``run=``, ...) to the records logged inside the block.

    A field given as None is left out (an outer value stays)."""
    clash = RESERVED & fields.keys()
    if clash:
        raise ValueError(f"log_context: reserved field names {sorted(clash)}")
    added = {key: value for key, value in fields.items() if value is not None}
    token = _fields.set(MappingProxyType({**_fields.get(), **added}))
    try:
        yield
    finally:
        _fields.reset(token)


def current_context() -> Mapping[str, object]:
    """The fields ``log_context`` has set here (read-only)."""
    return _fields.get()


def _context_of(record: logging.LogRecord) -> Mapping[str, object]:
    # formatting happens in the thread that logged (StreamHandler), so the context is still set;
    # a record carrying its own ``log_context`` (e.g. passed through a queue) wins
    own = getattr(record, "log_context", None)
    return own if isinstance(own, Mapping) else _fields.get()


class JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "msg": ..., <context>, "exc": ...}``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, object] = {
            "ts": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(_context_of(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``2025-06-01 12:00:00,123 INFO invoice_inbox.runtime.sync [source=acme run=12] message``."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [self.formatTime(record), record.levelname, record.name]
        fields = _context_of(record)
        if fields:
            parts.append("[" + " ".join(f"{key}={value}" for key, value in fields.items()) + "]")
        parts.append(record.getMessage())
        text = " ".join(parts)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text += "\n" + record.exc_text
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        return text


class _Handler(logging.StreamHandler[TextIO]):
    """Marks the handler ``configure`` installed, so calling it again replaces it."""


def configure(
    fmt: Literal["text", "json"], level: int = logging.INFO, *, stream: TextIO | None = None
) -> logging.Handler:
    """Log to ``stream`` (stderr) in ``fmt`` at ``level`` and above; returns the root handler.

    Calling it again replaces the handler it installed before; other handlers are kept.
    """
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be 'text' or 'json', not {fmt!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
        old.close()
    handler = _Handler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    return handler
