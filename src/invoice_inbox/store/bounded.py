"""Text is made to fit its column before it is stored, or refused in one sentence.

A sender address, a forwarded mail's sender or an e-invoice's duplicate key (seller and number
as the invoice states them) can be of any length. PostgreSQL refuses a value longer than its
``VARCHAR(n)`` column, where SQLite would keep it: one such mail would fail every run. A value
that is too long keeps its beginning and ends in a digest of the whole, so equal values stay
equal and different ones stay different (duplicate detection still works).

Any other text too long for its column (a company name, a host, a user's e-mail address, all
typed by someone) is refused at flush with :class:`TooLong`, a sentence naming the field, on
every database alike.

Importing this module installs the listeners (``store.db`` does).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import String, event, inspect
from sqlalchemy.orm import InstrumentedAttribute, Mapper, Session

from invoice_inbox.store.errors import TooLong
from invoice_inbox.store.models import Document, Message

DIGEST_CHARS = 16  # hex digits of SHA-256 that end a shortened value
# the mail-derived columns; names and settings typed by people are checked where they are typed
FROM_MAIL: tuple[InstrumentedAttribute[str | None], ...] = (
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


def column_length(attribute: InstrumentedAttribute[str | None]) -> int:
    (column,) = attribute.property.columns
    assert isinstance(column.type, String) and column.type.length, attribute
    return int(column.type.length)


def _install(attribute: InstrumentedAttribute[str | None]) -> None:
    length = column_length(attribute)

    def shorten(_target: object, value: object, _old: object, _initiator: object) -> object:
        return fit(value, length) if isinstance(value, str) else value

    event.listen(attribute, "set", shorten, retval=True)


for _attribute in FROM_MAIL:
    _install(_attribute)


# per mapper: (attribute key, column length, the sentence) of each bounded text column
_LIMITS: dict[Mapper[Any], tuple[tuple[str, int, str], ...]] = {}  # Any: of every model


def _limits(mapper: Mapper[Any]) -> tuple[tuple[str, int, str], ...]:  # of any model
    found = _LIMITS.get(mapper)
    if found is None:
        limits = []
        for attr in mapper.column_attrs:
            for column in attr.columns:
                length = getattr(column.type, "length", None)
                if isinstance(column.type, String) and length:
                    table = str(getattr(column, "table", "")).removeprefix("app_")
                    what = f"{table} {column.name}".replace("_", " ").strip()
                    sentence = f"the {what} is too long: at most {length} characters"
                    limits.append((attr.key, int(length), sentence))
        found = _LIMITS[mapper] = tuple(limits)
    return found


def check_lengths(objects: Iterable[object]) -> None:
    """Raise :class:`TooLong` for the first loaded text attribute longer than its column."""
    for obj in objects:
        state = inspect(obj)
        loaded = state.dict  # loaded values only: nothing is fetched
        for key, length, sentence in _limits(state.mapper):
            value = loaded.get(key)
            if isinstance(value, str) and len(value) > length:
                raise TooLong(sentence)


@event.listens_for(Session, "before_flush")
def _refuse_too_long(session: Session, _context: object, _instances: object) -> None:
    check_lengths([*session.new, *session.dirty])
