"""A private, throw-away Dovecot 2.3 (IMAP, IMAPS, POP3, POP3S) on 127.0.0.1 for the tests.

Everything lives under ``base_dir``: config, passwd-file, Maildirs, self-signed TLS cert,
sockets and logs; nothing in /etc is used. ``dovecot -F`` runs as a child of the test process,
which owns and reaps it. Needs root (the master binds ports and switches uids) and the Debian
packages ``dovecot-imapd dovecot-pop3d``.

    with DovecotServer(tmp_path, {"alice": "alicepw"}) as srv:
        uid = srv.append("alice", "INBOX", raw_mail)
        user, password = srv.new_user()

Passwd-file changes are noticed by Dovecot at most once a second, so a pool of users is created
before start and handed out by :meth:`DovecotServer.new_user`.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import imaplib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import ssl
import stat
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
TLS_SERVER_NAME = "localhost"  # in the cert's SAN (as are 127.0.0.1 and ::1)
POOL_PREFIX = "u"
DEFAULT_POOL_SIZE = 80
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
# Index/uidlist files of the INBOX in a Maildir++ root; everything else there (the
# dovecot-uidvalidity* counter, subscriptions, keywords, sub-folders) is left alone.
_INBOX_STATE_FILES = ("dovecot-uidlist", "dovecot-uidlist.lock")
_INBOX_STATE_PREFIX = "dovecot.index"

_APPENDUID_RE = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")
_UID_RE = re.compile(rb"\bUID (\d+)")
_FLAGS_RE = re.compile(rb"\bFLAGS \(([^)]*)\)")
_INTERNALDATE_RE = re.compile(rb'\bINTERNALDATE ("[^"]*")')
_LIST_RE = re.compile(rb'^\((?P<flags>[^)]*)\) (?P<sep>"(?:[^"\\]|\\.)*"|NIL) (?P<name>.*)$')
_STATUS_RE = re.compile(rb"\(([^()]*)\)\s*$")


class HarnessError(RuntimeError):
    """The test server could not be started or a helper operation failed."""


def find_dovecot() -> str | None:
    """Path of the ``dovecot`` binary (also looks in /usr/sbin, often not on PATH)."""
    found = shutil.which("dovecot")
    if found:
        return found
    return "/usr/sbin/dovecot" if os.access("/usr/sbin/dovecot", os.X_OK) else None


def find_doveadm() -> str:
    return shutil.which("doveadm") or "/usr/bin/doveadm"


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (all sockets held open until all are picked)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def imap_utf7_encode(name: str) -> str:
    """Mailbox name to IMAP modified UTF-7 (RFC 3501 5.1.3)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def imap_utf7_decode(name: str) -> str:
    def repl(m: re.Match[str]) -> str:
        chunk = m.group(1)
        if not chunk:
            return "&"
        chunk = chunk.replace(",", "/")
        return base64.b64decode(chunk + "=" * (-len(chunk) % 4)).decode("utf-16-be")

    return re.sub(r"&([^-]*)-", repl, name)


def quote_mailbox(name: str) -> str:
    """Encoded and quoted mailbox name, ready to put into an imaplib command."""
    enc = imap_utf7_encode(name)
    return '"' + enc.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(raw: bytes) -> str:
    text = raw.decode("ascii", "replace")
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = re.sub(r"\\(.)", r"\1", text[1:-1])
    return imap_utf7_decode(text)


def _check(typ: str, data: list, what: str) -> list:
    if typ != "OK":
        raise HarnessError(f"{what} failed: {typ} {data!r}")
    return data


def _status_items(data: list) -> dict[str, int]:
    line = data[0] if data else b""
    if isinstance(line, tuple):  # name sent as a literal
        line = line[-1]
    m = _STATUS_RE.search(line or b"")
    if not m:
        raise HarnessError(f"cannot parse STATUS reply {data!r}")
    items = m.group(1).split()
    return {items[i].decode(): int(items[i + 1]) for i in range(0, len(items) - 1, 2)}


def write_maildir(path: Path, messages: Iterable[bytes], *, seen: bool = False) -> Path:
    """Write ``messages`` as a Maildir at ``path`` (e.g. a corpus for :meth:`import_maildir`).

    Files use LF line ends like a real Maildir; ``seen`` puts them into cur/ with the S flag.
    """
    path = Path(path)
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    stamp = int(time.time())
    for i, raw in enumerate(messages):
        data = raw.replace(b"\r\n", b"\n")
        base = f"{stamp}.M{i}P{os.getpid()}R{uuid.uuid4().hex[:12]}.harness,S={len(data)}"
        tmp = path / "tmp" / base
        tmp.write_bytes(data)
        target = path / "cur" / f"{base}:2,S" if seen else path / "new" / base
        tmp.rename(target)
    return path


@dataclass
class Mailbox:
    """One test user on a running :class:`DovecotServer` (what the ``mailbox`` fixture gives)."""

    user: str
    password: str
    server: DovecotServer

    def append(self, folder: str, raw: bytes, flags: tuple[str, ...] = ()) -> int:
        return self.server.append(self.user, folder, raw, flags)

    def uids(self, folder: str = "INBOX") -> list[int]:
        return self.server.folder_uids(self.user, folder)

    def count(self, folder: str = "INBOX") -> int:
        return self.server.folder_count(self.user, folder)

    def flags(self, folder: str = "INBOX") -> dict[int, set[str]]:
        return self.server.fetch_flags(self.user, folder)

    def folders(self) -> list[str]:
        return self.server.list_folders(self.user)

    def uidvalidity(self, folder: str = "INBOX") -> int:
        return self.server.uidvalidity(self.user, folder)

    def imap(self) -> imaplib.IMAP4:
        return self.server.imap(self.user)


class DovecotServer:
    """Private Dovecot on free loopback ports; see the module docstring."""

    host = HOST
    tls_server_name = TLS_SERVER_NAME

    def __init__(
        self,
        base_dir: Path,
        users: dict[str, str] | None = None,
        oauth2_introspection_url: str | None = None,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        mail_user: str = "dovecot",
    ) -> None:
        self.base_dir = Path(base_dir).absolute()
        self.users: dict[str, str] = dict(users or {})
        self.oauth2_introspection_url = oauth2_introspection_url
        self.mail_user = mail_user
        for name, password in self.users.items():
            _validate_credential(name, password)
        self._pool: list[str] = []
        self._pool_passwords: dict[str, str] = {}
        self._next_pool_index = 1
        self._lock = threading.Lock()
        self._add_pool_users(pool_size)

        self.conf = self.base_dir / "dovecot.conf"
        self.users_file = self.base_dir / "users"
        self.oauth2_conf = self.base_dir / "dovecot-oauth2.conf.ext"
        self.run_dir = self.base_dir / "run"
        self.state_dir = self.base_dir / "state"
        self.mail_dir = self.base_dir / "mail"
        self.ssl_dir = self.base_dir / "ssl"
        self.log_dir = self.base_dir / "log"
        self.scratch_dir = self.base_dir / "scratch"
        self.log_path = self.log_dir / "dovecot.log"
        self.stderr_path = self.log_dir / "dovecot.stderr"
        self.ca_file = self.ssl_dir / "cert.pem"
        self.key_file = self.ssl_dir / "key.pem"
        self.dh_file = self.ssl_dir / "dh.pem"
        self.imap_port = self.imaps_port = self.pop3_port = self.pop3s_port = 0
        self.start_seconds: float | None = None
        self.stop_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> DovecotServer:
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
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, *, same_ports: bool = False) -> None:
        """Write config, users and cert, start ``dovecot -F`` and wait for every greeting.
        *same_ports* restarts a stopped server where clients knew it."""
        if self.running:
            raise HarnessError("already running")
        binary = find_dovecot()
        if binary is None:
            raise HarnessError(
                "dovecot binary not found (apt-get install dovecot-imapd dovecot-pop3d)"
            )
        began = time.perf_counter()
        self._prepare_dirs()
        self._make_cert()
        self._write_users()
        last_error = ""
        for _attempt in range(3):  # a picked port may be grabbed by someone else meanwhile
            if not (same_ports and self.imap_port):
                self.imap_port, self.imaps_port, self.pop3_port, self.pop3s_port = free_ports(4)
            self._write_config()
            with self.stderr_path.open("wb") as err:
                self._proc = subprocess.Popen(
                    [binary, "-F", "-c", str(self.conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=err,
                )
            try:
                self._wait_ready()
            except HarnessError as exc:
                last_error = str(exc)
                self._terminate()
                if "Address already in use" in last_error:
                    continue
                raise
            self.start_seconds = time.perf_counter() - began
            atexit.register(self.stop)
            return
        raise HarnessError(last_error)

    def stop(self) -> None:
        """TERM the master, wait, KILL on timeout. Safe to call twice."""
        if self._proc is None:
            return
        began = time.perf_counter()
        self._terminate()
        self.stop_seconds = time.perf_counter() - began
        atexit.unregister(self.stop)

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _prepare_dirs(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        # mail processes (mail uid) and auth (dovecot) must traverse base_dir
        self.base_dir.chmod(0o755)
        blocked = _untraversable_ancestor(self.base_dir)
        if blocked is not None:
            raise HarnessError(
                f"{blocked} is not traversable by other users, so Dovecot's unprivileged "
                f"processes cannot reach {self.base_dir}; chmod o+x it or use another base_dir"
            )
        for d in (self.run_dir, self.state_dir, self.mail_dir, self.ssl_dir, self.log_dir):
            d.mkdir(exist_ok=True)
        self.scratch_dir.mkdir(mode=0o755, exist_ok=True)
        self.scratch_dir.chmod(0o755)
        os.chown(self.mail_dir, self.mail_uid, self.mail_gid)

    @property
    def mail_uid(self) -> int:
        return pwd.getpwnam(self.mail_user).pw_uid

    @property
    def mail_gid(self) -> int:
        return pwd.getpwnam(self.mail_user).pw_gid

    def _make_cert(self) -> None:
        if self.ca_file.exists() and self.key_file.exists() and self.dh_file.exists():
            return
        ssl_dir = str(self.ssl_dir)
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
                "-keyout", f"{ssl_dir}/key.pem", "-out", f"{ssl_dir}/cert.pem",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        subprocess.run(
            [
                "openssl", "genpkey", "-genparam", "-algorithm", "DH",
                "-pkeyopt", "group:ffdhe2048", "-out", f"{ssl_dir}/dh.pem",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        self.key_file.chmod(0o600)

    def _passwd_lines(self) -> str:
        # user:{PLAIN}password:uid:gid:gecos:home:shell:extra - the empty fields matter,
        # without them the passwd-file userdb answers "missing userdb info"
        # (the passwd-file reader treats a backslash as an escape, so a literal one is doubled)
        accounts = {**self._pool_passwords, **self.users}
        return "".join(
            f"{name.replace(chr(92), chr(92) * 2)}:{{PLAIN}}{pw}::::::\n"
            for name, pw in accounts.items()
        )

    def _write_users(self) -> None:
        tmp = self.users_file.with_suffix(".tmp")
        tmp.write_text(self._passwd_lines())
        os.chown(tmp, 0, _dovecot_gid())  # read by the auth process (default_internal_user)
        tmp.chmod(0o640)
        tmp.replace(self.users_file)

    def render_config(self) -> str:
        """The dovecot.conf text for the current ports and paths."""
        b = self.base_dir
        mechanisms = "plain login"
        oauth_block = ""
        if self.oauth2_introspection_url:
            mechanisms = "plain login xoauth2 oauthbearer"
            oauth_block = (
                "passdb {\n"
                "  driver = oauth2\n"
                "  mechanisms = xoauth2 oauthbearer\n"
                f"  args = {self.oauth2_conf}\n"
                "}\n"
            )
        special = "".join(
            f"  mailbox {name} {{\n    special_use = \\{name}\n    auto = subscribe\n  }}\n"
            for name in ("Drafts", "Sent", "Trash", "Junk")
        )
        return f"""\
# private test instance, rendered by tests/harness/dovecot.py
instance_name = dovecot-test-{self.imap_port}
base_dir = {self.run_dir}
state_dir = {self.state_dir}
protocols = imap pop3
listen = {HOST}
log_path = {self.log_path}
info_log_path = {self.log_path}
auth_verbose = yes
# no stats-writer connections: avoids 5 s handshake hangs when stopped right after start
stats_writer_socket_path =

default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_fsync = never
mail_max_userip_connections = 200
pop3_uidl_format = %08Xu%08Xv

ssl = yes
ssl_cert = <{self.ca_file}
ssl_key = <{self.key_file}
ssl_dh = <{self.dh_file}
ssl_min_protocol = TLSv1.2

auth_mechanisms = {mechanisms}
disable_plaintext_auth = no
# accept any character in user names, as Exchange does for "user@domain\\sharedbox" logins
auth_username_chars =
auth_failure_delay = 0
{oauth_block}passdb {{
  driver = passwd-file
  # the filter keeps a password from being accepted as an XOAUTH2 token
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {self.users_file}
}}
# passwd-file userdb (not static): doveadm works although the passdb above is filtered
userdb {{
  driver = passwd-file
  args = username_format=%u {self.users_file}
  default_fields = uid={self.mail_uid} gid={self.mail_gid} home={b}/mail/%u
}}

namespace inbox {{
  inbox = yes
  separator = /
{special}}}

service imap-login {{
  inet_listener imap {{
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    port = {self.pop3s_port}
    ssl = yes
  }}
}}
# no brute-force slow-down for test clients
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""

    def _write_config(self) -> None:
        if self.oauth2_introspection_url:
            self.oauth2_conf.write_text(
                "introspection_mode = post\n"
                f"introspection_url = {self.oauth2_introspection_url}\n"
                "username_attribute = username\n"
                "active_attribute = active\n"
                "active_value = true\n"
                "force_introspection = yes\n"
                "timeout_msecs = 5000\n"
            )
        self.conf.write_text(self.render_config())

    def _wait_ready(self) -> None:
        """Ready = every listener sent its greeting (TLS ones through TLS).

        A bare TCP connect is not enough: a probe still waiting for auth when the server is
        stopped right away makes the shutdown hang for about 6 s.
        """
        ctx = ssl._create_unverified_context()
        deadline = time.monotonic() + START_TIMEOUT
        for port, tls in (
            (self.imap_port, False),
            (self.pop3_port, False),
            (self.imaps_port, True),
            (self.pop3s_port, True),
        ):
            while True:
                assert self._proc is not None
                if self._proc.poll() is not None:
                    raise HarnessError(
                        f"dovecot exited with {self._proc.returncode}: {self._diagnostics()}"
                    )
                try:
                    with socket.create_connection((HOST, port), timeout=2) as raw:
                        sock = ctx.wrap_socket(raw) if tls else raw
                        with contextlib.closing(sock):
                            if sock.recv(200).startswith((b"* OK", b"+OK")):
                                break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise HarnessError(f"no greeting on port {port}: {self._diagnostics()}")
                time.sleep(0.01)

    def _diagnostics(self) -> str:
        parts = []
        for path in (self.stderr_path, self.log_path):
            with contextlib.suppress(OSError):
                tail = path.read_text(errors="replace").splitlines()[-20:]
                if tail:
                    parts.append(f"--- {path.name}:\n" + "\n".join(tail))
        return "\n".join(parts) or "(no log output)"

    # ------------------------------------------------------------------ users

    def _add_pool_users(self, count: int) -> list[str]:
        added = []
        while len(added) < count:
            name = f"{POOL_PREFIX}{self._next_pool_index:03d}"
            self._next_pool_index += 1
            if name in self.users:
                continue
            self._pool_passwords[name] = secrets.token_urlsafe(12)
            self._pool.append(name)
            added.append(name)
        return added

    def new_user(self) -> tuple[str, str]:
        """An unused pre-created user as ``(name, password)``.

        When the pool runs dry, 20 more users are written and we wait 1.1 s for Dovecot to
        notice the changed passwd-file.
        """
        with self._lock:
            if not self._pool:
                self._add_pool_users(20)
                self._write_users()
                time.sleep(1.1)
            name = self._pool.pop(0)
            return name, self._pool_passwords[name]

    def password(self, user: str) -> str:
        if user in self.users:
            return self.users[user]
        try:
            return self._pool_passwords[user]
        except KeyError:
            raise HarnessError(f"unknown test user {user!r}") from None

    def maildir(self, user: str) -> Path:
        """The user's Maildir root (holds INBOX; other folders are ``.Name`` in it)."""
        return self.mail_dir / user / "Maildir"

    # ------------------------------------------------------------------ IMAP helpers

    def imap(self, user: str) -> imaplib.IMAP4:
        """A logged-in plain-IMAP connection; the caller logs out."""
        conn = imaplib.IMAP4(self.host, self.imap_port, timeout=30)
        try:
            conn.login(user, self.password(user))
        except Exception:
            with contextlib.suppress(Exception):
                conn.shutdown()
            raise
        return conn

    def tls_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only this server's self-signed cert; use
        server name ``localhost`` (or ``127.0.0.1``) while connecting to 127.0.0.1."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    @contextlib.contextmanager
    def _session(
        self, user: str, folder: str | None = None, *, readonly: bool = True
    ) -> Iterator[imaplib.IMAP4]:
        conn = self.imap(user)
        try:
            if folder is not None:
                typ, data = conn.select(quote_mailbox(folder), readonly=readonly)
                _check(typ, data, f"SELECT {folder!r} for {user}")
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.logout()

    @staticmethod
    def _ensure_folder(conn: imaplib.IMAP4, folder: str) -> None:
        if folder.upper() == "INBOX":
            return
        typ, data = conn.create(quote_mailbox(folder))
        if typ != "OK" and b"ALREADYEXISTS" not in (data[0] or b""):
            raise HarnessError(f"CREATE {folder!r} failed: {typ} {data!r}")

    @staticmethod
    def _append(
        conn: imaplib.IMAP4,
        folder: str,
        raw: bytes,
        flags: Iterable[str] = (),
        date_time: str | None = None,
    ) -> int:
        flag_text = " ".join(f for f in flags if f.lower() != "\\recent") or None
        typ, data = conn.append(quote_mailbox(folder), flag_text, date_time, raw)
        _check(typ, data, f"APPEND to {folder!r}")
        m = _APPENDUID_RE.search(data[0] or b"")
        if not m:
            raise HarnessError(f"no APPENDUID in {data!r}")
        return int(m.group(2))

    def append(self, user: str, folder: str, raw: bytes, flags: tuple[str, ...] = ()) -> int:
        """APPEND ``raw`` (creating ``folder`` if missing) and return its new UID."""
        with self._session(user) as conn:
            self._ensure_folder(conn, folder)
            return self._append(conn, folder, raw, flags)

    def create_folder(self, user: str, folder: str) -> None:
        with self._session(user) as conn:
            self._ensure_folder(conn, folder)

    def folder_uids(self, user: str, folder: str) -> list[int]:
        with self._session(user, folder) as conn:
            data = _check(*conn.uid("SEARCH", "ALL"), f"UID SEARCH in {folder!r}")
        return sorted(int(x) for x in (data[0] or b"").split())

    def _status(self, user: str, folder: str, items: str) -> dict[str, int]:
        with self._session(user) as conn:
            data = _check(*conn.status(quote_mailbox(folder), f"({items})"), f"STATUS {folder!r}")
        return _status_items(data)

    def folder_count(self, user: str, folder: str) -> int:
        return self._status(user, folder, "MESSAGES")["MESSAGES"]

    def uidvalidity(self, user: str, folder: str) -> int:
        return self._status(user, folder, "UIDVALIDITY")["UIDVALIDITY"]

    def list_folders(self, user: str) -> list[str]:
        """All mailbox names (decoded, ``/``-separated), INBOX included."""
        with self._session(user) as conn:
            data = _check(*conn.list('""', '"*"'), "LIST")
        names = []
        for item in data:
            if item is None:
                continue
            head, literal = (item[0], item[1]) if isinstance(item, tuple) else (item, None)
            m = _LIST_RE.match(head)
            if not m:
                raise HarnessError(f"cannot parse LIST line {item!r}")
            if b"\\noselect" in m.group("flags").lower():
                continue
            if literal is not None:  # name sent as a literal
                names.append(imap_utf7_decode(literal.decode()))
            else:
                names.append(_unquote(m.group("name")))
        return names

    def fetch_flags(self, user: str, folder: str) -> dict[int, set[str]]:
        """``{uid: flags}``; ``\\Recent`` is left out (it depends on who looked first)."""
        with self._session(user, folder) as conn:
            data = _check(*conn.uid("FETCH", "1:*", "(UID FLAGS)"), f"FETCH FLAGS {folder!r}")
        result: dict[int, set[str]] = {}
        for item in data:
            if not isinstance(item, bytes):
                continue
            uid_m, flags_m = _UID_RE.search(item), _FLAGS_RE.search(item)
            if uid_m and flags_m:
                flags = {f.decode() for f in flags_m.group(1).split()}
                flags.discard("\\Recent")
                result[int(uid_m.group(1))] = flags
        return result

    def fetch_messages(self, user: str, folder: str) -> list[tuple[int, set[str], str, bytes]]:
        """``[(uid, flags, quoted INTERNALDATE, raw bytes)]`` in UID order, without \\Seen side
        effects (BODY.PEEK on a read-only selection)."""
        with self._session(user, folder) as conn:
            data = _check(
                *conn.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])"),
                f"FETCH messages {folder!r}",
            )
        messages = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            head, body = item[0], item[1]
            uid_m, flags_m = _UID_RE.search(head), _FLAGS_RE.search(head)
            date_m = _INTERNALDATE_RE.search(head)
            if not (uid_m and flags_m and date_m):
                raise HarnessError(f"cannot parse FETCH reply {head!r}")
            flags = {f.decode() for f in flags_m.group(1).split()} - {"\\Recent"}
            messages.append((int(uid_m.group(1)), flags, date_m.group(1).decode(), body))
        return sorted(messages, key=lambda m: m[0])

    def recreate_folder_with_same_mails(self, user: str, folder: str, *, kick: bool = True) -> int:
        """Rebuild ``folder`` with the same messages so that its UIDVALIDITY changes.

        Reads every message (bytes, flags, INTERNALDATE), removes the folder, re-creates it
        and APPENDs the same bytes again in the old UID order (so UIDs restart at 1); checks
        that UIDVALIDITY changed and the count is unchanged, and returns the new UIDVALIDITY.

        Any folder but INBOX is removed with IMAP DELETE. Dovecot refuses ``DELETE INBOX``
        ("NO INBOX can't be deleted"), so for INBOX the message files in the Maildir root's
        cur/new/tmp and its INBOX state (``dovecot-uidlist``, ``dovecot.index*``) are removed
        instead; Dovecot then writes a fresh uidlist with the next value of its per-user
        ``dovecot-uidvalidity`` counter (always larger, even within the same second).

        ``kick=True`` first disconnects the user's open IMAP/POP3 sessions (``doveadm kick``),
        as a server-side rebuild would: their next command gets ``BYE Server shutting down.``
        With ``kick=False`` they stay connected, but a session that has the folder selected
        gets ``[SERVERBUG]``/``NO Internal error`` replies; a new connection (or, except for
        INBOX, a new SELECT) sees the new UIDVALIDITY.
        """
        old = self.uidvalidity(user, folder)
        messages = self.fetch_messages(user, folder)
        if kick:
            self.kick(user)
        if folder.upper() == "INBOX":
            self._wipe_inbox_storage(user)
        else:
            with self._session(user) as conn:
                _check(*conn.delete(quote_mailbox(folder)), f"DELETE {folder!r}")
        with self._session(user) as conn:
            self._ensure_folder(conn, folder)
            for _uid, flags, date, raw in messages:
                self._append(conn, folder, raw, sorted(flags), date)
        new = self.uidvalidity(user, folder)
        if new == old:
            raise HarnessError(f"UIDVALIDITY of {user}/{folder} did not change ({old})")
        count = self.folder_count(user, folder)
        if count != len(messages):
            raise HarnessError(
                f"{user}/{folder}: {count} messages after the rebuild, expected {len(messages)}"
            )
        return new

    def kick(self, user: str, timeout: float = 5.0) -> int:
        """Disconnect all IMAP/POP3 sessions of ``user`` and wait until their processes have
        exited; returns how many there were."""
        who = self.doveadm("who", "-1", user, check=False).stdout.splitlines()[1:]
        pids = [int(f[2]) for f in (line.split() for line in who) if len(f) >= 3 and f[0] == user]
        if not pids:
            return 0
        self.doveadm("kick", user, check=False)
        deadline = time.monotonic() + timeout
        while any(_process_alive(pid) for pid in pids):
            if time.monotonic() > deadline:
                raise HarnessError(f"sessions of {user} still alive after doveadm kick: {pids}")
            time.sleep(0.01)
        return len(pids)

    def _wipe_inbox_storage(self, user: str) -> None:
        root = self.maildir(user)
        for sub in ("cur", "new", "tmp"):
            d = root / sub
            if d.is_dir():
                for f in d.iterdir():
                    f.unlink()
        for f in root.iterdir():
            if f.is_file() and (
                f.name in _INBOX_STATE_FILES or f.name.startswith(_INBOX_STATE_PREFIX)
            ):
                f.unlink()

    # ------------------------------------------------------------------ doveadm

    def doveadm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``doveadm -c CONF ARGS...`` and return the completed process (text output)."""
        proc = subprocess.run(
            [find_doveadm(), "-c", str(self.conf), *args],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and proc.returncode != 0:
            raise HarnessError(
                f"doveadm {' '.join(args)} exited {proc.returncode}: "
                f"{proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc

    def import_maildir(self, user: str, maildir_path: Path) -> None:
        """Bulk-load a Maildir (``cur``/``new``, sub-folders as ``.Name``) into ``user``'s
        mailboxes with ``doveadm import`` (10,000 messages in about 3 s).

        doveadm reads the source as the mail uid. A source it cannot reach (e.g. under
        pytest's 0700 tmp dirs) is first hard-linked (or copied) into ``scratch_dir``. The
        source is opened with in-memory indexes and a scratch control dir, so nothing is
        written into it.
        """
        source = Path(maildir_path).absolute()
        if not (source / "cur").is_dir() and not (source / "new").is_dir():
            raise HarnessError(f"{source} is not a Maildir (no cur/ or new/)")
        staged: Path | None = None
        if not self._readable_by_mail_user(source):
            staged = self.scratch_dir / f"import-{uuid.uuid4().hex}"
            _link_tree(source, staged)
            source = staged
        control = self.scratch_dir / f"control-{uuid.uuid4().hex}"
        control.mkdir()
        os.chown(control, self.mail_uid, self.mail_gid)
        try:
            self.doveadm(
                "import", "-u", user, f"maildir:{source}:INDEX=MEMORY:CONTROL={control}", "", "all"
            )
        finally:
            shutil.rmtree(control, ignore_errors=True)
            if staged is not None:
                shutil.rmtree(staged, ignore_errors=True)

    def _readable_by_mail_user(self, path: Path) -> bool:
        uid, gid = self.mail_uid, self.mail_gid
        if _untraversable_ancestor(path, uid, gid) is not None:
            return False
        for sub in ("cur", "new"):
            d = path / sub
            if d.is_dir():
                if not _has_access(d.stat(), uid, gid, 0o5):
                    return False
                first = next(d.iterdir(), None)
                if first is not None and not _has_access(first.stat(), uid, gid, 0o4):
                    return False
        return True


def _validate_credential(name: str, password: str) -> None:
    for value in (name, password):
        if not value or any(c in value for c in ":\n\r"):
            raise ValueError(f"unusable test credential {value!r} (empty or contains ':'/newline)")


def _process_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != b"Z"


def _dovecot_gid() -> int:
    return pwd.getpwnam("dovecot").pw_gid


def _has_access(st: os.stat_result, uid: int, gid: int, bits: int) -> bool:
    if st.st_uid == uid:
        return (st.st_mode >> 6) & bits == bits
    if st.st_gid == gid:
        return (st.st_mode >> 3) & bits == bits
    return st.st_mode & bits == bits


def _untraversable_ancestor(
    path: Path, uid: int | None = None, gid: int | None = None
) -> Path | None:
    """The first directory above (and including) ``path`` that uid/gid (default: "others",
    i.e. Dovecot's unprivileged users) cannot traverse, or None."""
    if uid is None or gid is None:
        uid, gid = pwd.getpwnam("dovecot").pw_uid, pwd.getpwnam("dovecot").pw_gid
    for d in [path, *path.parents]:
        st = d.stat()
        if stat.S_ISDIR(st.st_mode) and not _has_access(st, uid, gid, 0o1):
            return d
    return None


def _link_tree(source: Path, target: Path) -> None:
    """Copy a Maildir tree readable for everyone: world-readable files as hard links (the
    source's modes are never changed), others (or across file systems) as copies."""

    def link_or_copy(src: str, dst: str) -> None:
        if os.stat(src).st_mode & 0o004:
            with contextlib.suppress(OSError):
                os.link(src, dst)
                return
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o644)

    shutil.copytree(source, target, copy_function=link_or_copy)
    for dirpath, _dirs, _files in os.walk(target):
        os.chmod(dirpath, 0o755)


class IntrospectionServer:
    """RFC 7662-style token introspection endpoint for Dovecot's oauth2 passdb, on 127.0.0.1.

    ``POST token=<bearer>`` answers ``{"active": true, "username": USER}`` for a token in
    ``tokens`` (token -> user, changeable while running), else ``{"active": false}``. Pass
    ``url`` as ``DovecotServer(..., oauth2_introspection_url=...)``.
    """

    def __init__(self, tokens: dict[str, str] | None = None) -> None:
        self.tokens: dict[str, str] = dict(tokens or {})
        self.requests: list[str] = []  # tokens asked for, in order
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise HarnessError("introspection server not started")
        return f"http://{HOST}:{self._httpd.server_address[1]}/introspect"

    def __enter__(self) -> IntrospectionServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # Dovecot's http client keeps connections alive

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                token = (form.get("token") or [""])[0]
                owner.requests.append(token)
                user = owner.tokens.get(token)
                reply = (
                    {"active": True, "username": user, "scope": "mail"}
                    if user
                    else {"active": False}
                )
                body = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def xoauth2_response(user: str, token: str) -> bytes:
    """Initial client response for ``AUTHENTICATE XOAUTH2``."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def oauthbearer_response(user: str, token: str, port: int, host: str = HOST) -> bytes:
    """Initial client response for ``AUTHENTICATE OAUTHBEARER`` (RFC 7628)."""
    return f"n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01".encode()
