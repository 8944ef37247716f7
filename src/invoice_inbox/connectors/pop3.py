"""POP3 connector on the standard library's poplib: one mailbox, one folder, UIDLs as ids.

POP3 (RFC 1939) knows a single maildrop, shown here as the folder ``INBOX``, and no flags, so
there is nothing to move or mark. A message's id is its UIDL, stable across sessions; the
message numbers that commands take are valid for one session only, so the UIDL → number map is
dropped whenever the session ends. Every listing is complete: ``changes`` returns all UIDLs
and the caller's ledger skips the ones it knows.

Security is POP3S (implicit TLS, port 995), STLS on the plain port (RFC 2595 §4) or none; TLS
always verifies the certificate and the host name. Sign-in is USER/PASS or, with a token,
SASL XOAUTH2 through AUTH (RFC 5034) in the two-line form: ``AUTH XOAUTH2``, the server's
``+`` continuation, then ``base64("user=" user ^A "auth=Bearer " token ^A ^A)`` on its own line
(a token does not fit the 255 octets RFC 5034 §4 allows for an initial response). A refused
token is answered by the server with an error challenge, which gets an empty line back; the
token is then renewed once and tried again.

Deleting follows RFC 1939 §5–6: ``DELE`` only *marks* a message; the server removes marked
messages when the client sends ``QUIT`` (:meth:`Pop3Connector.commit`). Any other end of the
session keeps every message: :meth:`Pop3Connector.close` sends ``RSET`` before ``QUIT`` (and
no ``QUIT`` at all if ``RSET`` is not confirmed), so an error path deletes nothing.

Message bytes are the RETR lines, dot-unstuffed, joined by CRLF with a final CRLF. POP3 cannot
carry a message whose last line has no line break: servers add one, and so do these bytes.

A port whose greeting is not ``+OK`` is "not a POP3 server", and nothing it said is repeated
(``connectors.network``); the server's words after a valid greeting (a refused login or
command) are shown cleaned and cut.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import poplib
import ssl
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Literal, TypeVar

from invoice_inbox.connectors.base import Changes
from invoice_inbox.connectors.http import TokenFn
from invoice_inbox.connectors.imap import tls_context
from invoice_inbox.connectors.network import (
    NO_GREETING,
    WrongPort,
    connect_errors,
    not_a,
    server_words,
)
from invoice_inbox.errors import (
    ConnectFailed,
    FolderMissing,
    LoginFailed,
    ProtocolFailed,
    TLSFailed,
)

Security = Literal["ssl", "starttls", "none"]
DEFAULT_PORTS: dict[str, int] = {"ssl": 995, "starttls": 110, "none": 110}

# poplib refuses lines over 2048 bytes (poplib._MAXLINE), but RFC 1939's 512-octet limit is for
# commands and status lines: message lines can be far longer (unwrapped HTML bodies). A single
# line may be a whole message, so this only stops a server that never ends a line.
MAX_LINE = 64 * 1024 * 1024
# TOP commands in flight at once when the server offers PIPELINING (RFC 2449 §6.6); few enough
# that all of them fit into the socket's send buffer, so neither side can block the other.
PIPELINE_WINDOW = 50
# RFC 2449 §8.1 / RFC 3206 response codes that mean "not now", not "wrong credentials" or
# "no such message".
_BUSY_CODES = ("[IN-USE]", "[LOGIN-DELAY]", "[SYS/TEMP]")
_TROUBLE_CODES = (*_BUSY_CODES, "[SYS/PERM]")

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Pop3Settings:
    """How to reach and sign in to one POP3 mailbox.

    With *token* the sign-in is SASL XOAUTH2 (``user=<username>`` and the bearer token) instead
    of USER/PASS. *timeout* bounds the connect and every read; *greeting_timeout*, when given,
    the connect and the greeting instead (a connection check waits less)."""

    host: str
    port: int | None = None
    security: Security = "ssl"
    ca_file: str | None = None
    ca_pem: str | None = None
    verify_tls: bool = True
    greeting_timeout: float | None = None
    username: str
    password: str = field(default="", repr=False)
    token: TokenFn | None = field(default=None, repr=False)
    timeout: float = 60.0

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]


class NoFolders(ProtocolFailed):
    """POP3 has no folders to create or move to; asking again cannot help."""

    transient = False


class _Eof(poplib.error_proto):
    """The server closed the connection (poplib raises a plain ``error_proto('-ERR EOF')``)."""


class _LineTooLong(poplib.error_proto):
    """A line above MAX_LINE; the rest of the answer is unread, so the session is unusable."""


class _TokenRefused(poplib.error_proto):
    """The server refused the XOAUTH2 credentials (not the AUTH command itself)."""


class _Client(poplib.POP3):
    """poplib.POP3 that reads lines up to MAX_LINE and signs in with SASL XOAUTH2."""

    def _getline(self) -> tuple[bytes, int]:
        """One line without its CRLF (or bare LF), and its length on the wire."""
        line = self.file.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise _LineTooLong(f"-ERR line longer than {MAX_LINE} bytes")
        if not line:
            raise _Eof("-ERR EOF")
        if line.endswith(b"\r\n"):
            return line[:-2], len(line)
        if line.endswith(b"\n"):
            return line[:-1], len(line)
        return line, len(line)  # cut off by EOF; the next read raises _Eof

    def capabilities(self) -> dict[str, list[str]]:
        """CAPA (RFC 2449 §5) as {name: arguments}, names upper-case; {} when the server does
        not know the command. Unlike ``poplib.POP3.capa`` a lost connection stays one."""
        try:
            _answer, lines, _octets = self._longcmd("CAPA")
        except (_Eof, _LineTooLong):
            raise
        except poplib.error_proto:
            return {}
        found: dict[str, list[str]] = {}
        for line in lines:
            words = line.decode("ascii", "replace").split()
            if words:
                found[words[0].upper()] = words[1:]
        return found

    def xoauth2(self, username: str, token: str) -> bytes:
        """AUTH XOAUTH2 in the two-line form (module docstring); the server's final answer.

        Example with a refused token::

            C: AUTH XOAUTH2
            S: +
            C: dXNlcj1...AQE=
            S: + eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJtYWlsIn0=
            C:
            S: -ERR [AUTH] Authentication failed.

        Raises ``error_proto`` when AUTH XOAUTH2 is refused, ``_TokenRefused`` when the
        credentials are."""
        answer = self._shortcmd("AUTH XOAUTH2")
        if not _is_continuation(answer):
            raise poplib.error_proto(b"-ERR unexpected answer to AUTH XOAUTH2: " + answer)
        secret = f"user={username}\x01auth=Bearer {token}\x01\x01".encode()
        try:
            answer = self._shortcmd(base64.b64encode(secret).decode("ascii"))
            if _is_continuation(answer):  # the error challenge: answer it, then the -ERR follows
                answer = self._shortcmd("")
        except (_Eof, _LineTooLong):
            raise
        except poplib.error_proto as exc:
            raise _TokenRefused(*exc.args) from None
        return answer

    def headers(self, numbers: Sequence[int], *, window: int) -> dict[int, list[bytes] | None]:
        """``TOP n 0`` (RFC 1939 §7) for each number, *window* commands sent before reading their
        answers (1 without PIPELINING); None for a message the server answers with -ERR."""
        found: dict[int, list[bytes] | None] = {}
        for start in range(0, len(numbers), window):
            chunk = numbers[start : start + window]
            for number in chunk:
                self._putcmd(f"TOP {number} 0")
            for number in chunk:
                try:
                    _answer, lines, _octets = self._getlongresp()
                except (_Eof, _LineTooLong):
                    raise
                except poplib.error_proto:  # only a status line was sent: still in step
                    found[number] = None
                else:
                    found[number] = lines
        return found


class _TlsClient(_Client, poplib.POP3_SSL):
    """POP3S: TLS from the first byte (poplib.POP3_SSL with our line reading)."""


class Pop3Connector:
    """One POP3 session for one source, opened on the first command. Not thread-safe.

    A session lasts until :meth:`commit` or :meth:`close`; the next command opens a new one."""

    cursor_kind: Literal["token"] = "token"
    FOLDER = "INBOX"

    def __init__(self, settings: Pop3Settings) -> None:
        self.settings = settings
        self._pop: _Client | None = None
        self._numbers: dict[str, int] | None = None  # UIDL -> message number, this session
        self._capabilities: dict[str, list[str]] | None = None  # CAPA, this session
        self._marked: set[str] = set()  # DELE'd in this session, applied by QUIT
        self._lost_deletions = 0  # marked in a session that broke off before QUIT

    # -- connection ---------------------------------------------------------------------

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.effective_port}"

    def reach(self) -> None:
        """Connect, read the greeting and start TLS, then hang up without signing in (QUIT
        before USER deletes nothing): whether the server is there and speaks POP3, with no
        credentials sent."""
        pop = self._connect(sign_in=False)
        with contextlib.suppress(Exception):
            pop.quit()
        with contextlib.suppress(Exception):
            pop.close()

    def _connect(self, sign_in: bool = True) -> _Client:
        s = self.settings
        ctx = tls_context(s.ca_file, s.ca_pem, s.verify_tls) if s.security != "none" else None
        pop: _Client | None = None
        first = min(s.timeout, s.greeting_timeout or s.timeout)
        try:
            with self._greeting_errors(s.security != "ssl"):
                if s.security == "ssl":
                    pop = _TlsClient(s.host, s.effective_port, timeout=first, context=ctx)
                else:
                    pop = _Client(s.host, s.effective_port, timeout=first)
                _check_greeting(pop.welcome)
                if pop.sock is not None:
                    pop.sock.settimeout(s.timeout)
            if s.security == "starttls":
                with self._after_greeting("STLS"):
                    self._starttls(pop, ctx)
            if not sign_in:
                return pop
            self._login(pop)
        except BaseException:
            if pop is not None:
                with contextlib.suppress(Exception):
                    pop.close()
            raise
        return pop

    @contextlib.contextmanager
    def _greeting_errors(self, plain: bool) -> Iterator[None]:
        """Translate what reaching the server and reading its greeting can raise; nothing the
        peer sent is repeated, as it has not shown to be a POP3 server yet."""
        s = self.settings
        try:
            with connect_errors(self.where, (s.host, s.effective_port) if plain else None):
                yield
        except _Eof as exc:
            raise ConnectFailed(f"cannot connect to {self.where}: {NO_GREETING}") from exc
        except poplib.error_proto as exc:  # a greeting that is not +OK, or a line too long
            arg = exc.args[0] if exc.args else b""
            head = arg[:4].upper() if isinstance(arg, bytes) else b""
            if head == b"-ERR":
                why = (
                    "the POP3 server turned the connection away (it answered -ERR); try again later"
                )
                raise ConnectFailed(f"cannot connect to {self.where}: {why}") from exc
            why = not_a("a POP3 server")
            if head == b"* OK" or head == b"* PR":  # an IMAP greeting (OK or PREAUTH)
                why += ": it looks like IMAP (choose the IMAP protocol or the POP3 port)"
            raise WrongPort(f"cannot connect to {self.where}: {why}") from exc

    @contextlib.contextmanager
    def _after_greeting(self, what: str) -> Iterator[None]:
        """Translate network and TLS errors of a command sent before signing in."""
        try:
            with connect_errors(self.where):
                yield
        except _Eof as exc:
            raise ConnectFailed(f"{self.where} closed the connection during {what}") from exc
        except _LineTooLong as exc:
            raise ProtocolFailed(f"{self.where} sent a garbled answer to {what}") from exc

    def _starttls(self, pop: _Client, ctx: ssl.SSLContext | None) -> None:
        """STLS (RFC 2595 §4) when CAPA lists it; no fallback to plain text."""
        if "STLS" not in pop.capabilities():
            raise TLSFailed(
                f"{self.where} does not offer STLS, so the connection cannot be encrypted;"
                " use security ssl (port 995) or, on a trusted network only, none"
            )
        try:
            pop.stls(ctx)
        except (_Eof, _LineTooLong):
            raise
        except poplib.error_proto as exc:
            raise TLSFailed(f"{self.where} refused STLS: {_text(exc)}") from exc

    def _login(self, pop: _Client) -> None:
        s = self.settings
        try:
            if s.token is not None:
                self._oauth2_login(pop, s.token)
            else:
                _refuse_line_breaks(s.username, s.password)
                pop.user(s.username)
                pop.pass_(s.password)
        except (_Eof, OSError, EOFError) as exc:
            raise ConnectFailed(f"connection to {self.where} lost during login: {exc}") from exc
        except _LineTooLong as exc:
            raise ProtocolFailed(f"{self.where} sent a garbled answer to the login") from exc
        except poplib.error_proto as exc:
            text = _text(exc)
            if text.upper().startswith(_BUSY_CODES):
                raise ProtocolFailed(
                    f"{self.where} accepted the login but cannot open the mailbox now: {text}"
                ) from exc
            raise LoginFailed(f"login refused by {self.where}: {text}") from exc

    def _oauth2_login(self, pop: _Client, token: TokenFn) -> None:
        """XOAUTH2; a refused token is renewed once (it may have been revoked or expired early)
        before the refusal stands. A refused AUTH command is not retried."""
        first = token()
        _refuse_line_breaks(self.settings.username, first)
        try:
            pop.xoauth2(self.settings.username, first)
        except _TokenRefused:
            again = token(renew=True)
            _refuse_line_breaks(again)
            pop.xoauth2(self.settings.username, again)

    def _session(self) -> _Client:
        if self._pop is None:
            self._pop = self._connect()
        return self._pop

    def _drop(self) -> None:
        """Forget a broken session; the server keeps every message it had marked."""
        pop, self._pop = self._pop, None
        self._numbers = self._capabilities = None
        self._lost_deletions += len(self._marked)
        self._marked = set()
        if pop is not None:
            with contextlib.suppress(Exception):
                pop.close()

    def _run(self, what: str, command: Callable[[_Client], T]) -> T:
        """Run one command in the session (opened if need be). A broken connection or garbled
        answer ends the session and raises ours; a -ERR answer reaches the caller as
        ``poplib.error_proto`` (the session is still in step)."""
        pop = self._session()
        try:
            return command(pop)
        except _Eof as exc:
            self._drop()
            raise ConnectFailed(f"{self.where} closed the connection during {what}") from exc
        except _LineTooLong as exc:
            self._drop()
            raise ProtocolFailed(
                f"{self.where} sent a line longer than {MAX_LINE} bytes during {what}"
            ) from exc
        except (OSError, EOFError) as exc:
            self._drop()
            raise ConnectFailed(f"connection to {self.where} lost during {what}: {exc}") from exc

    def close(self) -> None:
        """RSET, then QUIT, then close: nothing marked with DELE is deleted. If RSET is not
        confirmed, no QUIT is sent at all (a session that ends without QUIT never reaches the
        UPDATE state, RFC 1939 §6). Never raises."""
        pop, self._pop = self._pop, None
        self._numbers = self._capabilities = None
        self._marked = set()
        self._lost_deletions = 0
        if pop is None:
            return
        try:
            pop.rset()
            pop.quit()
        except Exception:  # a dead or unwilling server: dropping the line keeps the mail too
            pass
        finally:
            with contextlib.suppress(Exception):
                pop.close()

    def __enter__(self) -> Pop3Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- contract -----------------------------------------------------------------------

    def check(self) -> list[str]:
        """Connect and sign in; the one folder POP3 has."""
        self._session()
        return self.list_folders()

    def list_folders(self) -> list[str]:
        return [self.FOLDER]

    def message_counts(self, folders: list[str]) -> dict[str, int | None]:
        """STAT (RFC 1939 §5): how many mails the maildrop (the one folder) holds."""
        with self._after_greeting("STAT"):
            count = int(self._session().stat()[0])
        return {f: count if f.upper() == self.FOLDER else None for f in folders}

    def open_folder(self, folder: str) -> None:
        """Only INBOX (any case) exists; nothing is sent to the server."""
        if folder.upper() != self.FOLDER:
            missing = FolderMissing(folder, [self.FOLDER])
            missing.args = (
                f'folder "{folder}" does not exist: POP3 has only the inbox ({self.FOLDER})',
            )
            raise missing

    def changes(
        self, cursor: str | None, *, unread_only: bool = False, since: date | None = None
    ) -> Changes:
        """Every UIDL in the maildrop (``UIDL``, RFC 1939 §7), oldest first.

        POP3 cannot say what is new, so the listing is always complete and *cursor* is only the
        message count. With *since*, messages whose ``Date:`` header (read with ``TOP n 0``)
        falls on an earlier calendar day, as written in the header, are left out; a message
        without a readable Date is kept. Raises ValueError for *unread_only*: POP3 has no
        read flags.

        Example answer to UIDL: ``+OK`` then ``1 000000016b01de02``, ``2 000000026b01de02``,
        ``.``."""
        if unread_only:
            raise ValueError("POP3 has no read flags, so unread_only cannot be honoured")
        numbers = self._list()
        ids = list(numbers)
        if since is not None and ids:
            dates = self._dates([numbers[uid] for uid in ids])
            ids = [uid for uid in ids if (day := dates.get(numbers[uid])) is None or day >= since]
        return Changes(ids=ids, cursor=str(len(numbers)), full=cursor is None)

    def fetch(self, ids: Iterable[str], *, batch: int = 100) -> Iterator[tuple[str, bytes]]:
        """RETR (RFC 1939 §5) each id, in the order given; yields (UIDL, exact bytes).

        *batch* is accepted for the contract; POP3 retrieves one message per command. An id not
        in the maildrop, one marked with DELE, or one the server says it can no longer give
        (Dovecot: ``-ERR Message 1 expunged.`` after another client removed it) is not
        yielded. RFC 3206 ``[SYS/...]`` and ``[IN-USE]`` answers raise ProtocolFailed."""
        for uid in dict.fromkeys(ids):
            number = self._index().get(uid)
            if number is None:
                continue
            raw = self._retr(number)
            if raw is not None:
                yield uid, raw

    def delete(self, ids: Iterable[str]) -> None:
        """DELE (RFC 1939 §5) each id: marks only, :meth:`commit` applies. Ids not in the
        maildrop (any more) are skipped."""
        for uid in dict.fromkeys(ids):
            number = self._index().get(uid)
            if number is None:
                continue
            try:
                self._run(f"DELE {number}", lambda pop, n=number: pop.dele(n))
            except poplib.error_proto as exc:
                if _text(exc).upper().startswith(_TROUBLE_CODES):
                    raise ProtocolFailed(
                        f"DELE {number} failed on {self.where}: {_text(exc)}"
                    ) from exc
                continue  # gone meanwhile: nothing to delete
            self._marked.add(uid)
            if self._numbers is not None:
                self._numbers.pop(uid, None)

    def commit(self) -> None:
        """QUIT (RFC 1939 §6): the server removes the messages marked with DELE, then the
        connection is closed. ProtocolFailed when QUIT is refused (``-ERR some deleted messages
        not removed``); ConnectFailed when the session broke off before, so that marks were
        lost."""
        pop, self._pop = self._pop, None
        self._numbers = self._capabilities = None
        marked, self._marked = len(self._marked), set()
        lost, self._lost_deletions = self._lost_deletions, 0
        if pop is None:
            if lost:
                raise ConnectFailed(
                    f"the connection to {self.where} broke off before QUIT,"
                    f" so {lost} deletion(s) were not applied"
                )
            return
        try:
            pop.quit()
        except (_Eof, OSError, EOFError) as exc:
            raise ConnectFailed(
                f"connection to {self.where} lost during QUIT;"
                f" {marked} deletion(s) may not have been applied"
            ) from exc
        except poplib.error_proto as exc:
            raise ProtocolFailed(f"{self.where} refused QUIT: {_text(exc)}") from exc
        finally:
            with contextlib.suppress(Exception):
                pop.close()

    def ensure_folder(self, folder: str) -> None:
        """INBOX exists; any other folder cannot: NoFolders (a ProtocolFailed)."""
        if folder.upper() != self.FOLDER:
            raise NoFolders(
                f'POP3 has no folders, so "{folder}" cannot be created on {self.where};'
                " delete imported mail or leave it in place instead"
            )

    def move(self, ids: Iterable[str], target: str) -> None:
        """POP3 cannot move mail: NoFolders (a ProtocolFailed)."""
        raise NoFolders(
            f'POP3 has no folders, so mail cannot be moved to "{target}" on {self.where};'
            " delete imported mail or leave it in place instead"
        )

    def mark_seen(self, ids: Iterable[str]) -> None:
        """Nothing to do: POP3 has no flags (a message is either there or deleted)."""

    # -- helpers ------------------------------------------------------------------------

    def _index(self) -> dict[str, int]:
        """The UIDL → number map of this session, listed on first use. Within a session the
        maildrop does not change (RFC 1939 §5), so an id missing here is not on the server."""
        if self._numbers is None:
            return self._list()
        return self._numbers

    def _list(self) -> dict[str, int]:
        try:
            _answer, lines, _octets = self._run("UIDL", lambda pop: pop.uidl())
        except poplib.error_proto as exc:
            raise ProtocolFailed(
                f"{self.where} refused UIDL ({_text(exc)}); without unique ids messages cannot"
                " be recognised from one session to the next"
            ) from exc
        numbers: dict[str, int] = {}
        for line in lines:
            try:
                number, uid = line.decode("ascii").split()
                numbers.setdefault(uid, int(number))
            except (UnicodeDecodeError, ValueError) as exc:
                raise ProtocolFailed(
                    f"{self.where} sent an unreadable UIDL line: {line[:80]!r}"
                ) from exc
        self._numbers = dict(sorted(numbers.items(), key=lambda item: item[1]))
        return self._numbers

    def _retr(self, number: int) -> bytes | None:
        try:
            _answer, lines, _octets = self._run(f"RETR {number}", lambda pop: pop.retr(number))
        except poplib.error_proto as exc:
            if _text(exc).upper().startswith(_TROUBLE_CODES):
                raise ProtocolFailed(f"RETR {number} failed on {self.where}: {_text(exc)}") from exc
            return None  # no longer there
        return b"\r\n".join(lines) + b"\r\n" if lines else b""

    def _dates(self, numbers: Sequence[int]) -> dict[int, date | None]:
        """The calendar day of each message's Date header (None if missing or unreadable)."""
        if self._capabilities is None:
            self._capabilities = self._run("CAPA", lambda pop: pop.capabilities())
        window = PIPELINE_WINDOW if "PIPELINING" in self._capabilities else 1
        headers = self._run("TOP", lambda pop: pop.headers(numbers, window=window))
        return {n: _header_date(lines) for n, lines in headers.items()}


def _header_date(lines: list[bytes] | None) -> date | None:
    if lines is None:
        return None
    value = BytesHeaderParser(policy=compat32).parsebytes(b"\r\n".join(lines)).get("Date")
    if not isinstance(value, str):
        return None
    try:
        return email.utils.parsedate_to_datetime(value).date()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _check_greeting(welcome: bytes) -> None:
    """poplib takes any line starting with ``+`` as a greeting; RFC 1939 §4 says ``+OK``."""
    if welcome[:3].upper() != b"+OK":
        raise poplib.error_proto("not a POP3 greeting")


def _is_continuation(answer: bytes) -> bool:
    """A SASL continuation (RFC 5034 §4): ``+`` or ``+ <base64>``, unlike ``+OK``."""
    return answer == b"+" or answer.startswith(b"+ ")


def _refuse_line_breaks(*values: str) -> None:
    """A CR or LF would end the command early and start another one on the wire."""
    if any("\r" in v or "\n" in v for v in values):
        raise LoginFailed("the user name, password or token contains a line break")


def _text(exc: BaseException) -> str:
    """The server's words from a poplib error, cleaned and cut: ``b'-ERR [AUTH] Failed.'`` →
    ``[AUTH] Failed.``"""
    arg = exc.args[0] if exc.args else ""
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    if text.startswith("-ERR"):
        text = text[4:]
    return server_words(text) or "no reason given"
