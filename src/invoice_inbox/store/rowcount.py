"""How many rows an UPDATE or DELETE run through a Session changed."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.engine import CursorResult, Result


def rowcount(result: Result[Any]) -> int:
    """The rows *result* (of an UPDATE or DELETE) changed.

    ``Session.execute`` is typed as returning a ``Result`` (of ``Any`` rows: the statement decides
    them); for a DML statement it is a ``CursorResult``, the class that has ``rowcount``.
    """
    return cast("CursorResult[Any]", result).rowcount
