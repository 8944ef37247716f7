"""Open the database: engine, sessions, and schema migrations (Alembic) on start.

The embedded default is SQLite in the data directory, in WAL mode with ``synchronous=FULL``: a
committed decision must survive a power cut, because the mail is moved right after the commit.
Its files are created with mode 0600 (they hold password hashes and mail metadata).
``INVOICE_INBOX_DATABASE_URL`` selects another database: PostgreSQL as
``postgresql+psycopg://user:password@host:5432/dbname`` (the ``postgresql`` extra installs the
driver). There, processes that start at once migrate in turn under a session-level advisory
lock, and the pool checks a connection before handing it out, so a database restart costs the
next checkout a reconnect, not an error.

Some records only guard against the death of our own process, not of the machine (a decide
attempt, a row marked filed, a lease renewed): ``session(durable=False)`` commits them without
waiting for the disk (SQLite ``synchronous=NORMAL`` for that commit, PostgreSQL
``synchronous_commit = off``). The commit is still atomic and in order with every other; a power
cut may lose the last of them, which costs a re-check or a re-filing, never a mail. On SQLite
those sessions come from a second engine on the same file whose connections are set to
``synchronous=NORMAL`` once, when they open (a run commits thousands of attempts: switching the
pragma around each commit cost four more statements per commit).

Every process opens the database through ``Database``, so the "is the schema up to date?" check
is cheap: one ``SELECT`` of the stored revision, compared with the newest revision named in the
migration files (read as text, not imported). Alembic itself (a tenth of a second to import) is
loaded only when they differ, and then does exactly what it always did.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from invoice_inbox.store import bounded, recheck_marks  # noqa: F401 (bounded: its listeners)

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
DB_FILE = "invoice-inbox.db"  # the embedded database, in the data directory
# pg_advisory_lock key of schema migrations ("invoice-inbox migrate" as a 63-bit number)
MIGRATION_LOCK_KEY = 0x1D0E_C0DE_0001
# Pool of a PostgreSQL engine: the service runs a scheduler, its workers and the web server's
# threads in one process. A connection is pinged at checkout (a restarted server is survived)
# and replaced after an hour (idle connections cut by firewalls or poolers).
PG_POOL = {"pool_size": 10, "max_overflow": 20, "pool_timeout": 30, "pool_recycle": 3600}


def holds_data(data_dir: Path) -> bool:
    """Whether *data_dir* is an invoice-inbox data directory: it holds the embedded database,
    or it exists while ``INVOICE_INBOX_DATABASE_URL`` names another one."""
    if not data_dir.is_dir():
        return False
    return bool(os.environ.get("INVOICE_INBOX_DATABASE_URL")) or (data_dir / DB_FILE).is_file()


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: object) -> None:
    _set_pragmas(dbapi_conn, "FULL")


def _sqlite_light_pragmas(dbapi_conn: DBAPIConnection, _record: object) -> None:
    _set_pragmas(dbapi_conn, "NORMAL")


def _set_pragmas(dbapi_conn: DBAPIConnection, synchronous: str) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA synchronous={synchronous}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _private_sqlite_files(url: str) -> None:
    """Create a new SQLite database file with mode 0600 (SQLite gives its -wal, -shm and
    -journal files the database file's mode), and take group and other access away from an
    existing one: the files hold password hashes and mail metadata."""
    parsed = make_url(url)
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:":
        return
    if name.startswith("file:") or parsed.query.get("uri"):
        return  # a URI filename: the operator's choice
    path = Path(name)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for f in (path, *(path.with_name(path.name + end) for end in ("-wal", "-shm", "-journal"))):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if stat.S_IMODE(f.stat().st_mode) & 0o077:
                f.chmod(0o600)


def make_engine(url: str, *, durable: bool = True) -> Engine:
    _private_sqlite_files(url)
    if make_url(url).get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True, **PG_POOL)
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas if durable else _sqlite_light_pragmas)
    return engine


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config  # only when migrating (see the module doc)

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


# one ``revision = "0001"`` / ``down_revision = None`` line of a migration file (annotated or not)
_REVISION_LINE = re.compile(
    r"^(down_revision|revision)\s*(?::[^=\n]*)?=\s*(None|\"[^\"\n]*\"|'[^'\n]*')\s*(?:#.*)?$",
    re.MULTILINE,
)


@cache
def head_revision(versions: Path = MIGRATIONS / "versions") -> str | None:
    """The newest revision of the migration files in *versions*, read as text without
    importing Alembic or them; None when that is not plain (a file without one plain
    ``revision`` and ``down_revision``, a merge, branches): then only Alembic can say."""
    revisions: dict[str, str | None] = {}
    for path in sorted(versions.glob("*.py")):
        if path.name.startswith("__init__"):
            continue  # Alembic skips it too
        found: dict[str, list[str | None]] = {"revision": [], "down_revision": []}
        for name, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            found[name].append(None if value == "None" else value[1:-1])
        if len(found["revision"]) != 1 or len(found["down_revision"]) != 1:
            return None
        revision = found["revision"][0]
        if revision is None or revision in revisions:
            return None
        revisions[revision] = found["down_revision"][0]
    if any(down is not None and down not in revisions for down in revisions.values()):
        return None  # a revision that refers to one not there: Alembic's error to give
    heads = set(revisions) - set(revisions.values())
    return heads.pop() if len(heads) == 1 else None


def at_head(engine: Engine) -> bool:
    """Whether the database's schema is at ``head_revision()`` already: one ``SELECT`` of the
    revision Alembic stored (False when there is none yet, or the files' head is not plain)."""
    head = head_revision()
    if head is None:
        return False
    with engine.connect() as conn:
        try:
            stored = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        except DBAPIError:  # no such table: a new database
            return False
    return [tuple(row) for row in stored] == [(head,)]


def migrate(engine: Engine, lock_dir: Path | None = None) -> None:
    """Bring the schema to the newest revision. Processes starting at once take turns: on
    PostgreSQL under an advisory lock, on SQLite under a file lock in *lock_dir* (if given).
    A schema at the newest revision already is left alone without loading Alembic."""
    if at_head(engine):
        return
    from alembic import command

    cfg = alembic_config(engine)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn, _advisory_lock(conn):
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        return
    if lock_dir is None:
        command.upgrade(cfg, "head")
        return
    with open(lock_dir / ".migrate.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        command.upgrade(cfg, "head")


@contextmanager
def _advisory_lock(conn: Connection) -> Iterator[None]:
    """Hold PostgreSQL's session-level advisory lock MIGRATION_LOCK_KEY on *conn*: another
    process's migrate waits in pg_advisory_lock until this one is done (or its connection
    dies: the server then releases the lock)."""
    conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    conn.commit()  # the lock outlives the transaction; migrations start a fresh one
    try:
        yield
    finally:
        if conn.in_transaction():
            conn.rollback()
        conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
        conn.commit()


class Database:
    """An engine plus a session factory; one per process."""

    def __init__(self, url: str, *, lock_dir: Path | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        migrate(self.engine, lock_dir)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._light: sessionmaker[Session] | None = None  # SQLite: see ``session(durable=False)``
        recheck_marks.watch(self._sessions)  # a change of what decides asks for a re-check
        # SQLite: this process's writing sessions take turns here (see ``session``)
        self._writing = threading.RLock()

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> Database:
        url = os.environ.get("INVOICE_INBOX_DATABASE_URL") or f"sqlite:///{data_dir / DB_FILE}"
        return cls(url, lock_dir=data_dir)

    @contextmanager
    def session(self, *, durable: bool = True, writes: bool = False) -> Iterator[Session]:
        """A session that commits when the block ends without error and rolls back otherwise;
        *durable*: the commit waits until the disk has it (see the module doc).

        On SQLite, sessions that write (*writes*, and every one that is not *durable*) take
        turns in a lock of this process: one waiting for another is woken the moment that one
        ends, where SQLite's busy handler would sleep in growing steps (1, 2, 5, 10, ... ms)
        and often long after the database's write lock was free (a sync's attempts waiting
        for its batch commit)."""
        if self.engine.dialect.name != "sqlite" or (durable and not writes):
            with self._session(durable=durable) as s:
                yield s
            return
        with self._writing, self._session(durable=durable) as s:
            yield s

    @contextmanager
    def _session(self, *, durable: bool) -> Iterator[Session]:
        if durable or self.engine.dialect.name != "sqlite":
            with self._sessions() as s, s.begin():
                if not durable and self.engine.dialect.name == "postgresql":
                    s.execute(text("SET LOCAL synchronous_commit = off"))
                yield s
            return
        with self._light_sessions()() as s, s.begin():
            yield s

    def _light_sessions(self) -> sessionmaker[Session]:
        """Sessions of the second SQLite engine, whose commits do not wait for the disk."""
        if self._light is None:
            light = make_engine(self.url, durable=False)
            self._light = sessionmaker(light, expire_on_commit=False)
            recheck_marks.watch(self._light)
        return self._light

    def close(self) -> None:
        if self._light is not None:
            bind = self._light.kw["bind"]
            assert isinstance(bind, Engine)
            bind.dispose()
        self.engine.dispose()
