"""What the Cyrus and Courier test servers share: the unpacked packages' cache folder, a pool
of users, a self-signed certificate, waiting for the greetings, and the IMAP client helpers
(append, status, list, flags) that :class:`harness.dovecot.Mailbox` calls.

Both servers come from Debian 12 packages that ``scripts/test-servers.sh`` unpacks (never
installs: that would remove Dovecot) into ``$INVOICE_INBOX_TEST_SERVERS`` or
``/var/cache/invoice-inbox/test-servers``. Their defaults are Debian's: the personal namespace
is ``INBOX.`` with ``.`` as the hierarchy delimiter, so :meth:`MailServer.folder` spells a
``/``-separated name the server's way (``Invoices/2026`` -> ``INBOX.Invoices.2026``).
"""

from __future__ import annotations

import atexit
import contextlib
import imaplib
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType

from harness.dovecot import (
    _LIST_RE,
    HOST,
    TLS_SERVER_NAME,
    HarnessError,
    _check,
    _status_items,
    _unquote,
    free_ports,
    quote_mailbox,
)

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
_APPENDUID_RE = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")
_UID_RE = re.compile(rb"\bUID (\d+)")
_FLAGS_RE = re.compile(rb"\bFLAGS \(([^)]*)\)")


def cache_dir() -> Path:
    """Where scripts/test-servers.sh unpacked the packages."""
    default = "/var/cache/invoice-inbox/test-servers"
    return Path(os.environ.get("INVOICE_INBOX_TEST_SERVERS", default))


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1: (cert.pem, key.pem)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


class MailServer:
    """A private IMAP/IMAPS/POP3 server run as a child process group; subclasses write the
    configuration (:meth:`_configure`) and give the command (:meth:`_command`)."""

    kind = "?"
    host = HOST
    tls_server_name = TLS_SERVER_NAME
    delimiter = "."
    personal_prefix = "INBOX."
    pool_size = 30

    def __init__(self, base_dir: Path, users: dict[str, str] | None = None) -> None:
        self.base_dir = Path(base_dir).absolute()
        self.root = cache_dir()
        self.users: dict[str, str] = dict(users or {})
        self._pool = [f"u{i}" for i in range(1, self.pool_size + 1)]
        for name in self._pool:
            self.users.setdefault(name, secrets.token_hex(8))
        self._lock = threading.Lock()
        self.imap_port = self.imaps_port = self.pop3_port = 0
        self.ca_file = self.base_dir / "cert.pem"
        self.key_file = self.base_dir / "key.pem"
        self.log_path = self.base_dir / "server.log"
        self.start_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> MailServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _configure(self) -> None:
        raise NotImplementedError

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _env(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self) -> None:
        """Write the configuration, users and certificate, start the server as the leader of
        its own process group, and wait until IMAP, IMAPS and POP3 greet."""
        if self.running:
            raise HarnessError("already running")
        if not (self.root / ".unpacked-v1").exists():
            raise HarnessError(f"{self.root} is empty: run scripts/test-servers.sh")
        began = time.perf_counter()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.base_dir.chmod(0o755)
        self.imap_port, self.imaps_port, self.pop3_port = free_ports(3)
        if not self.ca_file.exists():
            make_cert(self.base_dir)
        self._configure()
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self._env(),
                start_new_session=True,
            )
        atexit.register(self.stop)
        try:
            for port in (self.imap_port, self.imaps_port, self.pop3_port):
                self._wait_greeting(port, tls=port == self.imaps_port)
        except HarnessError:
            self.stop()
            raise
        self.start_seconds = time.perf_counter() - began

    def _wait_greeting(self, port: int, *, tls: bool) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last = ""
        while time.monotonic() < deadline:
            if not self.running:
                break
            try:
                with socket.create_connection((HOST, port), timeout=2) as sock:
                    if tls:
                        with self.tls_context().wrap_socket(
                            sock, server_hostname=TLS_SERVER_NAME
                        ) as tsock:
                            greeting = tsock.recv(200)
                    else:
                        greeting = sock.recv(200)
                if greeting.startswith((b"* OK", b"+OK")):
                    return
                last = repr(greeting)
            except OSError as exc:
                last = str(exc)
            time.sleep(0.02)
        tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
        raise HarnessError(f"{self.kind} did not greet on port {port}: {last}\n{tail}")

    def stop(self) -> None:
        """TERM the server's process group (the child and all it started), KILL on timeout."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        atexit.unregister(self.stop)
        if self._stop_daemons():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=STOP_TIMEOUT)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_TIMEOUT)
        with contextlib.suppress(ProcessLookupError):  # whatever of the group is left
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def _stop_daemons(self) -> bool:
        """Stop what left the child's process group (daemons that made their own) before the
        child, which reaps them; True if the child then exits by itself."""
        return False

    # ------------------------------------------------------------------ users and names

    def new_user(self) -> tuple[str, str]:
        """An unused user of the pool made before start: (name, password)."""
        with self._lock:
            if not self._pool:
                raise HarnessError(f"{self.kind}: the pool of {self.pool_size} users is used up")
            name = self._pool.pop(0)
        return name, self.users[name]

    def password(self, user: str) -> str:
        return self.users[user]

    def folder(self, name: str) -> str:
        """``name`` with ``/`` between levels, as this server's personal namespace spells it."""
        if name.upper() == "INBOX":
            return "INBOX"
        return self.personal_prefix + name.replace("/", self.delimiter)

    # ------------------------------------------------------------------ IMAP client helpers

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def imap(self, user: str) -> imaplib.IMAP4:
        """A logged-in plain IMAP connection for ``user``."""
        conn = imaplib.IMAP4(HOST, self.imap_port, timeout=10)
        _check(*conn.login(user, self.users[user]), f"{self.kind} login {user}")
        return conn

    def append(self, user: str, folder: str, raw: bytes, flags: tuple[str, ...] = ()) -> int:
        """APPEND ``raw`` into ``folder`` (created when missing); returns its UID."""
        conn = self.imap(user)
        try:
            if folder.upper() != "INBOX":
                conn.create(quote_mailbox(folder))  # NO when it exists
            flag_list = "(" + " ".join(flags) + ")" if flags else None
            typ, data = conn.append(quote_mailbox(folder), flag_list, None, raw)
            _check(typ, data, f"APPEND to {folder}")
            m = _APPENDUID_RE.search(data[0] or b"")
            if m:
                return int(m.group(2))
            return max(self._uids(conn, folder))
        finally:
            conn.logout()

    def create_folder(self, user: str, folder: str) -> None:
        conn = self.imap(user)
        try:
            _check(*conn.create(quote_mailbox(folder)), f"CREATE {folder}")
        finally:
            conn.logout()

    def _uids(self, conn: imaplib.IMAP4, folder: str) -> list[int]:
        _check(*conn.select(quote_mailbox(folder), readonly=True), f"SELECT {folder}")
        typ, data = conn.uid("SEARCH", "ALL")
        _check(typ, data, "UID SEARCH")
        return sorted(int(x) for x in (data[0] or b"").split())

    def folder_uids(self, user: str, folder: str) -> list[int]:
        conn = self.imap(user)
        try:
            return self._uids(conn, folder)
        finally:
            conn.logout()

    def _status(self, user: str, folder: str, items: str) -> dict[str, int]:
        conn = self.imap(user)
        try:
            typ, data = conn.status(quote_mailbox(folder), f"({items})")
            return _status_items(_check(typ, data, f"STATUS {folder}"))
        finally:
            conn.logout()

    def folder_count(self, user: str, folder: str) -> int:
        return self._status(user, folder, "MESSAGES")["MESSAGES"]

    def uidvalidity(self, user: str, folder: str) -> int:
        return self._status(user, folder, "UIDVALIDITY")["UIDVALIDITY"]

    def list_folders(self, user: str) -> list[str]:
        conn = self.imap(user)
        try:
            typ, data = conn.list()
            names = []
            for line in _check(typ, data, "LIST"):
                if isinstance(line, tuple):
                    line = line[0] + b'"' + line[1] + b'"'
                m = _LIST_RE.match(line or b"")
                if m:
                    names.append(_unquote(m.group("name")))
            return names
        finally:
            conn.logout()

    def fetch_flags(self, user: str, folder: str) -> dict[int, set[str]]:
        conn = self.imap(user)
        try:
            _check(*conn.select(quote_mailbox(folder), readonly=True), f"SELECT {folder}")
            typ, data = conn.uid("FETCH", "1:*", "(UID FLAGS)")
            out: dict[int, set[str]] = {}
            for item in data if typ == "OK" else []:
                line = item[0] if isinstance(item, tuple) else item
                uid, flags = _UID_RE.search(line or b""), _FLAGS_RE.search(line or b"")
                if uid and flags:
                    out[int(uid.group(1))] = set(flags.group(1).decode().split())
            return out
        finally:
            conn.logout()

    def recreate_folder_with_same_mails(self, user: str, folder: str) -> int:
        """DELETE and CREATE ``folder`` (not INBOX) with the same mails, as an admin restoring
        a backup would: a new UIDVALIDITY (waits for the clock when the server's is the time)."""
        conn = self.imap(user)
        try:
            before = self._status(user, folder, "UIDVALIDITY")["UIDVALIDITY"]
            _check(*conn.select(quote_mailbox(folder)), f"SELECT {folder}")
            data = _check(*conn.uid("FETCH", "1:*", "(BODY.PEEK[])"), "FETCH")
            mails = [item[1] for item in data if isinstance(item, tuple)]
            conn.close()
            for _ in range(30):
                _check(*conn.delete(quote_mailbox(folder)), f"DELETE {folder}")
                _check(*conn.create(quote_mailbox(folder)), f"CREATE {folder}")
                after = self._status(user, folder, "UIDVALIDITY")["UIDVALIDITY"]
                if after != before:
                    break
                time.sleep(0.1)  # a UIDVALIDITY taken from the clock: the next second's
            for raw in mails:
                _check(*conn.append(quote_mailbox(folder), None, None, raw), f"APPEND {folder}")
            return after
        finally:
            conn.logout()
