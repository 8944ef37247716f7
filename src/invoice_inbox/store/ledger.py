"""The message ledger: which messages a source has seen, what was decided, where they went."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, cast

from sqlalchemy import Executable, Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from invoice_inbox.store.models import DecideAttempt, FolderState, Message, MessageState, utcnow


def folder_state(s: Session, source_id: int, folder: str) -> FolderState:
    st = s.scalar(
        select(FolderState).where(FolderState.source_id == source_id, FolderState.folder == folder)
    )
    if st is None:
        st = FolderState(source_id=source_id, folder=folder, last_uid=0)
        s.add(st)
        s.flush()
    return st


def known_uids(
    s: Session, source_id: int, folder: str, uidvalidity: int, uids: Iterable[int]
) -> set[int]:
    """The uids of this folder epoch that already have a ledger row."""
    wanted = list(uids)
    found: set[int] = set()
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        found.update(
            s.scalars(
                select(Message.uid).where(
                    Message.source_id == source_id,
                    Message.folder == folder,
                    Message.uidvalidity == uidvalidity,
                    Message.uid.in_(chunk),
                )
            )
        )
    return found


def known_ids(s: Session, source_id: int, folder: str, ids: Iterable[str]) -> set[str]:
    """The remote ids (token connectors) of this folder that already have a ledger row."""
    wanted = list(ids)
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        found.update(
            s.scalars(
                select(Message.remote_id).where(
                    Message.source_id == source_id,
                    Message.folder == folder,
                    Message.remote_id.in_(wanted[i : i + 500]),
                )
            )
        )
    return found


class Original(NamedTuple):
    """What a copy of a ledger row's mail takes from it (``originals``)."""

    id: int
    reason: str
    reason_parts: list[dict[str, object]] | None
    filed_to: str | None


def originals(s: Session, source_id: int, raw_sha256s: Iterable[str]) -> dict[str, Original]:
    """For each raw SHA-256, the earliest ledger row of this source holding exactly those bytes
    (never a row that is itself a duplicate); hashes never seen are absent. Asked for every
    sync batch: a statement built once, run on the session's connection (no ORM rows)."""
    wanted = list(set(raw_sha256s))
    found: dict[str, Original] = {}
    conn = s.connection()
    for i in range(0, len(wanted), 500):
        rows = conn.execute(_ORIGINALS, {"source_id": source_id, "shas": wanted[i : i + 500]})
        for sha, *row in rows:
            if sha not in found:
                found[sha] = Original(*row)
    return found


def undisposed(s: Session, source_id: int, folder: str, uidvalidity: int) -> list[Message]:
    """Rows committed but not yet filed on the server (a run stopped between the two)."""
    return list(
        s.scalars(
            select(Message)
            .where(
                Message.source_id == source_id,
                Message.folder == folder,
                Message.uidvalidity == uidvalidity,
                Message.state == MessageState.DECIDED,
            )
            .order_by(Message.uid, Message.id)
        )
    )


def mark_disposed(s: Session, ids: Iterable[int]) -> None:
    """These rows' mails are filed on the server (one statement built once, on the session's
    connection: no ORM rows to keep in step, the filing's session holds none)."""
    ids = list(ids)
    if ids:
        s.connection().execute(_DISPOSED, {"ids": ids})


def mark_filing_failed(s: Session, ids: Iterable[int], error: str, when: datetime) -> None:
    """The server refused to file these rows' mails: they stay undisposed, with its answer."""
    ids = list(ids)
    if ids:
        s.connection().execute(_FILING_FAILED, {"ids": ids, "error": error, "when": when})


@dataclass(frozen=True)
class FilingProblem:
    """Mails of a source that could not be filed into one folder, and the server's last word."""

    target: str | None
    mails: int
    error: str
    since: datetime | None


def filing_problems(s: Session, source_id: int) -> list[FilingProblem]:
    """Per target folder, the source's mails left unfiled because the server refused."""
    rows = s.execute(
        select(
            Message.filed_to,
            func.count(),
            func.max(Message.filing_error),
            func.min(Message.filing_failed_at),
        )
        .where(
            Message.source_id == source_id,
            Message.state == MessageState.DECIDED,
            Message.filing_error.is_not(None),
        )
        .group_by(Message.filed_to)
        .order_by(Message.filed_to)
    )
    return [FilingProblem(target, n, error or "", since) for target, n, error, since in rows]


def attempts(s: Session, source_id: int, raw_sha256s: Iterable[str]) -> dict[str, int]:
    """For each raw SHA-256, how many decisions of it started and never finished (absent: 0)."""
    wanted = list(set(raw_sha256s))
    found: dict[str, int] = {}
    conn = s.connection()
    for i in range(0, len(wanted), 500):
        rows = conn.execute(_ATTEMPTS_OF, {"source_id": source_id, "shas": wanted[i : i + 500]})
        found.update((sha, n) for sha, n in rows)
    return found


def begin_attempts(s: Session, source_id: int, raw_sha256s: Iterable[str]) -> None:
    """Count one more started decision of each of these mails (commit before deciding): one
    upsert statement, run for every mail at once (``INSERT ... ON CONFLICT DO UPDATE``)."""
    wanted = sorted(set(raw_sha256s))
    if not wanted:
        return
    now = utcnow()
    s.connection().execute(  # a Core statement: no ORM execution around it
        _begin_statement(s),
        [{"source_id": source_id, "raw_sha256": sha, "started_at": now} for sha in wanted],
    )


def _begin_statement(s: Session) -> Executable:
    """The upsert of one attempt, in the session's dialect (SQLite and PostgreSQL spell it
    alike); built once per dialect, so executing it compiles nothing."""
    name = s.get_bind().dialect.name
    if name not in _BEGIN:
        values = {
            "source_id": bindparam("source_id"),
            "raw_sha256": bindparam("raw_sha256"),
            "attempts": 1,
            "started_at": bindparam("started_at"),
        }
        keys = [_ATTEMPTS.c.source_id, _ATTEMPTS.c.raw_sha256]
        again = {"attempts": _ATTEMPTS.c.attempts + 1}
        if name == "postgresql":
            pg = postgresql_insert(_ATTEMPTS).values(values)
            _BEGIN[name] = pg.on_conflict_do_update(index_elements=keys, set_=again)
        else:
            lite = sqlite_insert(_ATTEMPTS).values(values)
            _BEGIN[name] = lite.on_conflict_do_update(index_elements=keys, set_=again)
    return _BEGIN[name]


_ATTEMPTS = cast(Table, DecideAttempt.__table__)
_MESSAGES = cast(Table, Message.__table__)
_BEGIN: dict[str, Executable] = {}
# a sync batch's questions, built once (the hashes: an expanding parameter, one per row)
_ORIGINALS = (
    select(
        _MESSAGES.c.raw_sha256,
        _MESSAGES.c.id,
        _MESSAGES.c.reason,
        _MESSAGES.c.reason_parts,
        _MESSAGES.c.filed_to,
    )
    .where(_MESSAGES.c.source_id == bindparam("source_id"))
    .where(_MESSAGES.c.raw_sha256.in_(bindparam("shas", expanding=True)))
    .where(_MESSAGES.c.duplicate_of_id.is_(None))
    .order_by(_MESSAGES.c.id)
)
_ATTEMPTS_OF = select(_ATTEMPTS.c.raw_sha256, _ATTEMPTS.c.attempts).where(
    _ATTEMPTS.c.source_id == bindparam("source_id"),
    _ATTEMPTS.c.raw_sha256.in_(bindparam("shas", expanding=True)),
)
# the end of attempts: the hashes an expanding parameter
_END = (
    _ATTEMPTS.delete()
    .where(_ATTEMPTS.c.source_id == bindparam("source_id"))
    .where(_ATTEMPTS.c.raw_sha256.in_(bindparam("shas", expanding=True)))
)
_BY_IDS = _MESSAGES.c.id.in_(bindparam("ids", expanding=True))
_DISPOSED = (
    update(_MESSAGES)
    .where(_BY_IDS)
    .values(state=MessageState.DISPOSED, filing_error=None, filing_failed_at=None)
)
_FILING_FAILED = (
    update(_MESSAGES)
    .where(_BY_IDS)
    .values(filing_error=bindparam("error"), filing_failed_at=bindparam("when"))
)


def undo_attempts(s: Session, source_id: int, raw_sha256s: Iterable[str]) -> None:
    """Take back one started decision of each of these mails: it never began (no worker could
    start) or was interrupted on purpose (Ctrl-C), which says nothing about the mail."""
    for row in s.scalars(
        select(DecideAttempt).where(
            DecideAttempt.source_id == source_id,
            DecideAttempt.raw_sha256.in_(set(raw_sha256s)),
        )
    ):
        row.attempts -= 1
        if row.attempts <= 0:
            s.delete(row)


def end_attempts(s: Session, source_id: int, raw_sha256s: Iterable[str]) -> None:
    """These mails' decisions finished (or were recorded): forget their attempts (one DELETE
    for up to 500 of them)."""
    wanted = sorted(set(raw_sha256s))
    for i in range(0, len(wanted), 500):
        s.connection().execute(_END, {"source_id": source_id, "shas": wanted[i : i + 500]})


def switch_attempts(s: Session, source_id: int, ended: Iterable[str], begun: Iterable[str]) -> None:
    """End the attempts of one group of mails (decided) and begin those of the next group, in
    the caller's one transaction: :func:`end_attempts` then :func:`begin_attempts`, so that a
    decider going from group to group commits once between two groups instead of twice."""
    end_attempts(s, source_id, ended)
    begin_attempts(s, source_id, begun)
