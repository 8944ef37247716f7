"""Text that comes from a mail is made to fit its column before it is stored.

A sender address, a forwarded mail's sender or an e-invoice's duplicate key (seller and number
as the invoice states them) can be of any length. PostgreSQL refuses a value longer than its
``VARCHAR(n)`` column, where SQLite would keep it: one such mail would fail every run. A value
that is too long keeps its beginning and ends in a digest of the whole, so equal values stay
equal and different ones stay different (duplicate detection still works).

Importing this module installs the attribute listeners (``store.db`` does).
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import String, event
from sqlalchemy.orm import InstrumentedAttribute

from invoice_inbox.store.models import Document, Message

DIGEST_CHARS = 16  # hex digits of SHA-256 that end a shortened value
# the mail-derived columns; names and settings typed by people are checked where they are typed
FROM_MAIL: tuple[InstrumentedAttribute[Any], ...] = (
    Message.sender,
    Message.remote_id,
    Document.filename,
    Document.origin_sender,
    Document.einvoice_key,
)


def fit(value: str | None, length: int) -> str | None:
    """*value* if it has at most *length* characters, else its start, ``~`` and a digest of all
    of it, *length* characters in total."""
    if value is None or len(value) <= length:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_CHARS]
    return f"{value[: length - DIGEST_CHARS - 1]}~{digest}"


def column_length(attribute: InstrumentedAttribute[Any]) -> int:
    (column,) = attribute.property.columns
    assert isinstance(column.type, String) and column.type.length, attribute
    return int(column.type.length)


def _install(attribute: InstrumentedAttribute[Any]) -> None:
    length = column_length(attribute)

    def shorten(_target: object, value: Any, _old: object, _initiator: object) -> Any:
        return fit(value, length) if isinstance(value, str) else value

    event.listen(attribute, "set", shorten, retval=True)


for _attribute in FROM_MAIL:
    _install(_attribute)
