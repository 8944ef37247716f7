"""Writing many rows with one statement at the driver's level, in the caller's transaction: the
statement SQLAlchemy compiles (an INSERT of a table's columns, or any Core statement with named
parameters), each parameter's bind processor (JSON, dates, booleans) taken once per statement
and applied to the rows' values, and the rows handed to the DBAPI cursor at once. SQLAlchemy's
own executemany does the same work but builds each row's parameters through the compiled
statement (``construct_params``): a large part of a fetch batch commit's CPU (hundreds of rows).

With *ids*, :func:`insert_rows` returns the new rows' ids in the rows' order: on SQLite from one
multi-row ``INSERT ... VALUES (...), (...) RETURNING id`` per chunk (SQLite cannot promise
RETURNING's order, but gives a table's new rows increasing ids in the order of the VALUES: one
larger than the largest, one writer at a time), on PostgreSQL from psycopg's ``executemany``
with ``returning=True`` (one result per row, in order, in one round trip; another driver:
SQLAlchemy's own executemany with RETURNING sorted by the rows' order).

As ``Session.execute`` does, the session is flushed first (what it holds is written before),
and a driver error is raised as SQLAlchemy raises it (``sqlalchemy.exc.DBAPIError`` and kinds).
Two bind processors are replaced by quicker ones that give the same values (a test compares
them): JSON written with a JSON encoder made once (``json.dumps`` makes one per call), and, on
SQLite, aware UTC datetimes formatted as SQLAlchemy's ``DATETIME`` formats them.
"""

from __future__ import annotations

import json
import sqlite3
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from json import encoder
from typing import Any

from sqlalchemy import JSON, Executable, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine

from invoice_inbox.store.models import UTCDateTime

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Statement:
    """One statement compiled for one dialect, with its parameters' order and processors."""

    sql: str  # one row's statement (an INSERT with RETURNING id when ids are wanted)
    head: str  # an INSERT on SQLite: the statement up to VALUES, one row's placeholders, the rest
    group: str
    tail: str
    names: tuple[str, ...]  # the parameters in the driver's order
    processors: tuple[tuple[int, Processor], ...]  # (position, bind processor)
    positional: bool


_STATEMENTS: weakref.WeakKeyDictionary[Dialect, dict[object, _Statement]]
_STATEMENTS = weakref.WeakKeyDictionary()


def _statement(
    dialect: Dialect, key: object, make: Callable[[], SQLCompiler], names: tuple[str, ...]
) -> _Statement:
    """The statement *make* compiles for *dialect* (once per *key*), taking *names*."""
    known = _STATEMENTS.setdefault(dialect, {})
    if key in known:
        return known[key]
    compiled = make()
    sql = compiled.string
    order = tuple(compiled.positiontup or ()) if dialect.positional else names
    assert sorted(order) == sorted(names), f"parameters {order} are not {names}"
    processors = []
    for i, name in enumerate(order):
        process = _processor(compiled.binds[name].type, dialect)
        if process is not None:
            processors.append((i, process))
    made = _Statement(sql, sql, "", "", order, tuple(processors), dialect.positional)
    known[key] = made
    return made


def _insert(dialect: Dialect, table: Table, names: tuple[str, ...], ids: bool) -> _Statement:
    """The INSERT of *names* into *table* (with RETURNING id if *ids*)."""

    def make() -> SQLCompiler:
        statement = insert(table).returning(table.c.id) if ids else insert(table)
        compiled = statement.compile(dialect=dialect, column_keys=list(names))
        assert isinstance(compiled, SQLCompiler)
        return compiled

    st = _statement(dialect, ("insert", table.name, names, ids), make, names)
    if dialect.name != "sqlite" or st.group:
        return st
    group = "(" + ", ".join("?" * len(names)) + ")"
    head, found, tail = st.sql.partition(f" VALUES {group}")
    assert found, f"unexpected SQLite INSERT: {st.sql}"
    made = _Statement(
        st.sql, head + " VALUES ", group, tail, st.names, st.processors, st.positional
    )
    _STATEMENTS[dialect][("insert", table.name, names, ids)] = made
    return made


def insert_rows(
    s: Session, table: Table, names: tuple[str, ...], rows: Sequence[Sequence[Any]], *, ids: bool
) -> list[int]:
    """Insert *rows* (each the values of *names*, in that order) into *table* in *s*'s
    transaction; with *ids*, the new rows' ids in the rows' order (else ``[]``)."""
    if not rows:
        return []
    dialect = s.get_bind().dialect
    st = _insert(dialect, table, names, ids)
    if not ids:
        _run(s, st, names, rows, lambda cursor, params: cursor.executemany(st.sql, params))
        return []
    found: list[int]
    if dialect.name != "sqlite" and dialect.driver == "psycopg":  # one result per row, in order
        found = _run(s, st, names, rows, _returned_ids(st))
    elif dialect.name != "sqlite":  # another driver: SQLAlchemy's executemany, ids in order
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        found = list(s.scalars(statement, [dict(zip(names, row, strict=True)) for row in rows]))
    elif dialect.insert_executemany_returning:
        found = _run(s, st, names, rows, _sqlite_ids(st))
    else:  # an old SQLite without RETURNING: row by row
        one = _insert(dialect, table, names, False)
        found = _run(
            s, one, names, rows, lambda c, ps: [c.execute(one.sql, p).lastrowid for p in ps]
        )
    assert len(found) == len(rows)
    return found


def execute_many(
    s: Session,
    key: str,
    statement: Executable,
    names: tuple[str, ...],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Run *statement* (built once, known by *key*) once per row of *rows*, each the values of
    its named parameters *names*, in *s*'s transaction, with one executemany."""
    if not rows:
        return
    dialect = s.get_bind().dialect

    def make() -> SQLCompiler:
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        assert isinstance(compiled, SQLCompiler)
        return compiled

    st = _statement(dialect, ("many", key, names), make, names)
    _run(s, st, names, rows, lambda cursor, params: cursor.executemany(st.sql, params))


def _run(
    s: Session,
    st: _Statement,
    names: tuple[str, ...],
    rows: Sequence[Sequence[Any]],
    execute: Callable[[Any, list[Any]], Any],
) -> Any:
    """*execute* (cursor, the rows as the driver's parameters) on a cursor of *s*'s
    connection, after flushing *s*; a driver error raised as SQLAlchemy's."""
    if s.autoflush:  # as Session.execute: what the session holds goes first (event order)
        s.flush()
    conn = s.connection()
    params = _params(st, names, rows)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    error = conn.dialect.loaded_dbapi.Error
    try:
        return execute(cursor, params)
    except error as exc:
        raise DBAPIError.instance(st.sql, None, exc, error, dialect=conn.dialect) from exc
    finally:
        cursor.close()


def _params(st: _Statement, names: tuple[str, ...], rows: Sequence[Sequence[Any]]) -> list[Any]:
    """The driver's parameters of *rows*: the values in the statement's order, each through
    its bind processor (as SQLAlchemy's ``construct_params`` applies them)."""
    if st.names != names:  # a positional statement with its own order of the parameters
        where = [names.index(n) for n in st.names]
        rows = [tuple(row[i] for i in where) for row in rows]
    if st.processors:
        done = []
        for row in rows:
            values = list(row)
            for i, process in st.processors:
                values[i] = process(values[i])
            done.append(values)
        rows = done
    if st.positional:
        return list(rows)
    return [dict(zip(st.names, row, strict=True)) for row in rows]


def _returned_ids(st: _Statement) -> Callable[[Any, list[Any]], list[int]]:
    """psycopg's executemany with RETURNING: the id of each row, in order."""

    def run(cursor: Any, params: list[Any]) -> list[int]:
        cursor.executemany(st.sql, params, returning=True)
        return [int(result.fetchone()[0]) for result in cursor.results()]

    return run


def _sqlite_ids(st: _Statement) -> Callable[[sqlite3.Cursor, list[Any]], list[int]]:
    """Insert with one multi-row VALUES per chunk (as many rows as SQLite takes parameters)
    and RETURNING id; the ids sorted are the rows' in order (see the module's docstring)."""

    def run(cursor: sqlite3.Cursor, params: list[Any]) -> list[int]:
        limit = cursor.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        chunk = max(1, limit // max(1, len(st.names)))
        found: list[int] = []
        for i in range(0, len(params), chunk):
            part = params[i : i + chunk]
            sql = st.head + ", ".join([st.group] * len(part)) + st.tail
            flat = [value for row in part for value in row]
            found.extend(sorted(int(r[0]) for r in cursor.execute(sql, flat)))
        return found

    return run


# -- quicker bind processors ----------------------------------------------------------------

_MAKE_ENCODER = getattr(encoder, "c_make_encoder", None)  # None: no C accelerator
_ENCODE = (
    _MAKE_ENCODER(  # json.dumps's defaults: ensure_ascii, ", " and ": ", no sorting
        None,
        json.JSONEncoder().default,
        encoder.encode_basestring_ascii,
        None,
        ": ",
        ", ",
        False,
        False,
        True,
    )
    if _MAKE_ENCODER is not None
    else None
)


def _json(slow: Processor) -> Processor:
    """``json.dumps(value)`` with the encoder made once, for lists, dicts and None (JSON's
    null); anything else (SQLAlchemy's ``JSON.NULL``, ``null()``) through *slow*."""
    assert _ENCODE is not None
    encode = _ENCODE

    def process(value: Any) -> Any:
        if value is None:
            return "null"
        if type(value) is dict or type(value) is list:
            return "".join(encode(value, 0))
        return slow(value)

    return process


def _sqlite_utc(value: datetime | None) -> str | None:
    """``UTCDateTime``'s value on SQLite: UTC without a zone, as ``DATETIME`` writes it."""
    if value is None:
        return None
    if value.tzinfo is UTC:  # most are (``utcnow``): no converted copies made
        return value.isoformat(" ", "microseconds")[:-6]  # without its "+00:00"
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor | None:
    """The bind processor of *type_* on *dialect*: SQLAlchemy's, or on SQLite a quicker one
    giving the same values (JSON with the default serializer, ``UTCDateTime``)."""
    slow = type_._cached_bind_processor(dialect)
    if dialect.name != "sqlite" or slow is None:
        return slow
    if isinstance(type_, UTCDateTime):
        return _sqlite_utc
    plain = _ENCODE is not None and getattr(dialect, "_json_serializer", None) is None
    if isinstance(type_, JSON) and plain and not type_.none_as_null:
        return _json(slow)
    return slow
