"""A private, throw-away PostgreSQL cluster on 127.0.0.1 for the tests.

``initdb`` makes a cluster in ``base_dir`` (trust authentication, ``fsync=off``: it is thrown
away), ``pg_ctl`` runs it on a free port with its unix socket in ``base_dir`` too; nothing in
/etc is used and no system cluster is touched. As root, the server runs as the ``postgres``
system user (``initdb`` refuses root), which is given ``base_dir``. Needs the Debian package
``postgresql`` (binaries in /usr/lib/postgresql/<version>/bin).

    server = PostgresServer.start(base_dir)          # initdb + start, waits until ready
    url = server.create_database("t1", template="tpl")  # -> "postgresql+psycopg://…/t1"
    server.url("postgres")                            # the URL of any database in it
    server.restart()                                  # stop -m fast + start, same port and data
    server.stop(); server.run()                       # down for a while, then up again
    server.drop_database("t1"); server.stop()

The API above is stable: the fault-injection tests use :meth:`restart`, :meth:`stop` and
:meth:`run`. URLs use the ``psycopg`` (3) driver and the ``postgres`` superuser, no password.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import psycopg

HOST = "127.0.0.1"
SUPERUSER = "postgres"
START_TIMEOUT = 60.0
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PG_LIB = Path("/usr/lib/postgresql")


def find_postgres_bin() -> Path | None:
    """The bin folder of the newest installed PostgreSQL (Debian layout first, then PATH)."""
    versions = sorted(
        (p for p in _PG_LIB.glob("*/bin") if (p / "initdb").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _quote(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(f"not a plain database name: {name!r}")
    return f'"{name}"'


class PostgresServer:
    """One running (or stopped) private cluster; see the module docstring."""

    def __init__(self, base_dir: Path, *, bin_dir: Path | None = None) -> None:
        found = bin_dir or find_postgres_bin()
        if found is None:
            raise FileNotFoundError("PostgreSQL binaries (initdb, pg_ctl) not found")
        self.bin_dir = found
        self.base_dir = Path(base_dir)
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "run"
        self.log_file = self.base_dir / "postgres.log"
        self.port = 0
        self._as_postgres = os.geteuid() == 0

    # ------------------------------------------------------------------ life cycle

    @classmethod
    def start(cls, base_dir: Path, *, max_connections: int = 200) -> PostgresServer:
        """initdb into *base_dir* (which should be empty) and run the cluster; ready on return."""
        server = cls(base_dir)
        server._initdb(max_connections)
        server.run()
        return server

    def _cmd(self, *args: str) -> list[str]:
        if self._as_postgres:
            return ["runuser", "-u", SUPERUSER, "--", *args]
        return list(args)

    def _initdb(self, max_connections: int) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        self.log_file.touch()
        if self._as_postgres:
            entry = pwd.getpwnam(SUPERUSER)
            for path in (self.base_dir, self.socket_dir, self.log_file):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            self._cmd(
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ),
            check=True,
            capture_output=True,
        )
        settings = {
            "listen_addresses": f"'{HOST}'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": str(max_connections),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
            "log_min_messages": "warning",
            "logging_collector": "off",
        }
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# invoice-inbox test cluster\n")
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())

    def run(self) -> None:
        """Start the (initialised, stopped) cluster; a first start picks a free port, later
        starts keep it. Returns once it accepts connections."""
        keep_port = bool(self.port)
        for _attempt in range(5):
            if not keep_port:
                self.port = _free_port()
            result = subprocess.run(
                self._cmd(
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    f"-p {self.port}",
                    "-w",
                    "-t",
                    str(int(START_TIMEOUT)),
                    "start",
                ),
                capture_output=True,
                text=True,
            )
            if result.returncode == 0 and self._wait_ready():
                return
            if keep_port or "could not bind" not in self.log_tail():
                break  # only a first start may move to another port (another worker took it)
        raise RuntimeError(f"PostgreSQL did not start:\n{self.log_tail()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with self.connect():
                    return True
            except psycopg.OperationalError:
                time.sleep(0.1)
        return False

    def stop(self, mode: str = "fast") -> None:
        """Stop the cluster (``pg_ctl stop -m fast|immediate|smart``); a no-op when stopped."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        subprocess.run(
            self._cmd(
                str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"
            ),
            capture_output=True,
        )

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again on the same port with the same data; every open connection is
        cut (clients must reconnect)."""
        self.stop(mode)
        self.run()

    @property
    def running(self) -> bool:
        result = subprocess.run(
            self._cmd(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "status"),
            capture_output=True,
        )
        return result.returncode == 0

    def log_tail(self, chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log_file.read_text(errors="replace")[-chars:]
        return ""

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ databases

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL of database *dbname* in this cluster (TCP on 127.0.0.1)."""
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        """libpq connection string (for psycopg directly)."""
        return f"host={HOST} port={self.port} user={SUPERUSER} dbname={dbname}"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection:
        """An autocommit psycopg connection (close it, or use it as a context manager)."""
        return psycopg.connect(self.dsn(dbname), autocommit=True, connect_timeout=5)

    def create_database(self, name: str, template: str | None = None) -> str:
        """CREATE DATABASE *name* (a copy of *template*, which must have no open connections);
        returns its URL."""
        sql = f"CREATE DATABASE {_quote(name)}"
        if template:
            sql += f" TEMPLATE {_quote(template)} STRATEGY FILE_COPY"
        with self.connect() as conn:
            conn.execute(sql.encode())
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE *name* if it exists, cutting off whoever is still connected."""
        with self.connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)".encode())

    def databases(self) -> list[str]:
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT datname FROM pg_database WHERE NOT datistemplate"
            ).fetchall()
        return [r[0] for r in rows]
