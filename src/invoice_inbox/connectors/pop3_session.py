"""The POP3 session up to the mailbox: settings, the line-reading client, greeting, STLS, login.

Security is POP3S (implicit TLS, port 995), STLS on the plain port (RFC 2595 §4) or none; TLS
always verifies the certificate and the host name. Sign-in is USER/PASS or, with a token,
SASL XOAUTH2 through AUTH (RFC 5034) in the two-line form: ``AUTH XOAUTH2``, the server's
``+`` continuation, then ``base64("user=" user ^A "auth=Bearer " token ^A ^A)`` on its own line
(a token does not fit the 255 octets RFC 5034 §4 allows for an initial response). A refused
token is answered by the server with an error challenge, which gets an empty line back; the
token is then renewed once and tried again.

A login refused with ``[LOGIN-DELAY]`` (RFC 2449 §8.1.2: the last one was too recent; Cyrus
answers so to a second login within ``popminpoll`` minutes) is :class:`LoginDelayed`, not a
wrong password: it carries the delay the server advertises (``LOGIN-DELAY n`` in CAPA, §6.5,
asked right after the refusal) or, when it tells none, ``DEFAULT_LOGIN_DELAY`` seconds.

A port whose greeting is not ``+OK`` is "not a POP3 server", and nothing it said is repeated
(``connectors.network``); the server's words after a valid greeting (a refused login or
command) are shown cleaned and cut. The commands on the mailbox are ``connectors.pop3``'s.
"""

from __future__ import annotations

import base64
import contextlib
import poplib
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from invoice_inbox.connectors.imap import tls_context
from invoice_inbox.connectors.network import (
    NO_GREETING,
    WrongPort,
    cannot_connect,
    connect_errors,
    not_a,
    server_words,
)
from invoice_inbox.errors import (
    ConnectFailed,
    LoginDelayed,
    LoginFailed,
    ProtocolFailed,
    TLSFailed,
)
from invoice_inbox.i18n import N_, _

if TYPE_CHECKING:
    from invoice_inbox.connectors.http import TokenFn  # httpx: for the HTTP connectors only

Security = Literal["ssl", "starttls", "none"]
DEFAULT_PORTS: dict[str, int] = {"ssl": 995, "starttls": 110, "none": 110}

# poplib refuses lines over 2048 bytes (poplib._MAXLINE), but RFC 1939's 512-octet limit is for
# commands and status lines: message lines can be far longer (unwrapped HTML bodies). A single
# line may be a whole message, so this only stops a server that never ends a line.
MAX_LINE = 64 * 1024 * 1024
# RFC 2449 §8.1 / RFC 3206 response codes that mean "not now", not "wrong credentials" or
# "no such message".
_BUSY_CODES = ("[IN-USE]", "[LOGIN-DELAY]", "[SYS/TEMP]")
TROUBLE_CODES = (*_BUSY_CODES, "[SYS/PERM]")
LOGIN_DELAY = "[LOGIN-DELAY]"
# seconds to wait after a [LOGIN-DELAY] refusal from a server that advertises no LOGIN-DELAY
# (the value Cyrus advertises with its Debian default of popminpoll: 1)
DEFAULT_LOGIN_DELAY = 60


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

    @property
    def where(self) -> str:
        """``host:port``, as messages name the server."""
        return f"{self.host}:{self.effective_port}"


class Eof(poplib.error_proto):
    """The server closed the connection (poplib raises a plain ``error_proto('-ERR EOF')``)."""


class LineTooLong(poplib.error_proto):
    """A line above MAX_LINE; the rest of the answer is unread, so the session is unusable."""


class _TokenRefused(poplib.error_proto):
    """The server refused the XOAUTH2 credentials (not the AUTH command itself)."""


class Client(poplib.POP3):
    """poplib.POP3 that reads lines up to MAX_LINE and signs in with SASL XOAUTH2."""

    if TYPE_CHECKING:  # poplib.POP3's own helpers, used here; typeshed does not list them

        def _putcmd(self, line: str) -> None: ...
        def _shortcmd(self, line: str) -> bytes: ...
        def _longcmd(self, line: str) -> tuple[bytes, list[bytes], int]: ...
        def _getlongresp(self) -> tuple[bytes, list[bytes], int]: ...

    def _getline(self) -> tuple[bytes, int]:
        """One line without its CRLF (or bare LF), and its length on the wire."""
        line = self.file.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise LineTooLong(f"-ERR line longer than {MAX_LINE} bytes")
        if not line:
            raise Eof("-ERR EOF")
        if line.endswith(b"\r\n"):
            return line[:-2], len(line)
        if line.endswith(b"\n"):
            return line[:-1], len(line)
        return line, len(line)  # cut off by EOF; the next read raises Eof

    def capabilities(self) -> dict[str, list[str]]:
        """CAPA (RFC 2449 §5) as {name: arguments}, names upper-case; {} when the server does
        not know the command. Unlike ``poplib.POP3.capa`` a lost connection stays one."""
        try:
            _answer, lines, _octets = self._longcmd("CAPA")
        except (Eof, LineTooLong):
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
        except (Eof, LineTooLong):
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
                except (Eof, LineTooLong):
                    raise
                except poplib.error_proto:  # only a status line was sent: still in step
                    found[number] = None
                else:
                    found[number] = lines
        return found


class TlsClient(Client, poplib.POP3_SSL):
    """POP3S: TLS from the first byte (poplib.POP3_SSL with our line reading)."""


def connect(s: Pop3Settings, *, sign_in: bool = True) -> Client:
    """A session with *s*'s server: connected, greeted, under TLS and, with *sign_in*, signed in."""
    ctx = tls_context(s.ca_file, s.ca_pem, s.verify_tls) if s.security != "none" else None
    pop: Client | None = None
    first = min(s.timeout, s.greeting_timeout or s.timeout)
    try:
        with _greeting_errors(s, plain=s.security != "ssl"):
            if s.security == "ssl":
                pop = TlsClient(s.host, s.effective_port, timeout=first, context=ctx)
            else:
                pop = Client(s.host, s.effective_port, timeout=first)
            _check_greeting(pop.welcome)
            if pop.sock is not None:
                pop.sock.settimeout(s.timeout)
        if s.security == "starttls":
            with after_greeting(s.where, "STLS"):
                _starttls(s.where, pop, ctx)
        if not sign_in:
            return pop
        _login(s, pop)
    except BaseException:
        if pop is not None:
            with contextlib.suppress(Exception):
                pop.close()
        raise
    return pop


@contextlib.contextmanager
def _greeting_errors(s: Pop3Settings, *, plain: bool) -> Iterator[None]:
    """Translate what reaching the server and reading its greeting can raise; nothing the
    peer sent is repeated, as it has not shown to be a POP3 server yet."""
    where = s.where
    try:
        with connect_errors(where, (s.host, s.effective_port) if plain else None):
            yield
    except Eof as exc:
        raise ConnectFailed(cannot_connect(where, _(NO_GREETING))) from exc
    except poplib.error_proto as exc:  # a greeting that is not +OK, or a line too long
        arg = exc.args[0] if exc.args else b""
        head = arg[:4].upper() if isinstance(arg, bytes) else b""
        if head == b"-ERR":
            why = _(
                "the POP3 server turned the connection away (it answered -ERR); try again later"
            )
            raise ConnectFailed(cannot_connect(where, why)) from exc
        why = not_a(N_("a POP3 server"))
        if head == b"* OK" or head == b"* PR":  # an IMAP greeting (OK or PREAUTH)
            why += ": " + _("it looks like IMAP (choose the IMAP protocol or the POP3 port)")
        raise WrongPort(cannot_connect(where, why)) from exc


@contextlib.contextmanager
def after_greeting(where: str, what: str) -> Iterator[None]:
    """Translate network and TLS errors of a command sent before signing in."""
    try:
        with connect_errors(where):
            yield
    except Eof as exc:
        raise ConnectFailed(
            _("%(where)s closed the connection during %(command)s")
            % {"where": where, "command": what}
        ) from exc
    except LineTooLong as exc:
        raise ProtocolFailed(
            _("%(where)s sent a garbled answer to %(command)s") % {"where": where, "command": what}
        ) from exc


def _starttls(where: str, pop: Client, ctx: ssl.SSLContext | None) -> None:
    """STLS (RFC 2595 §4) when CAPA lists it; no fallback to plain text."""
    if "STLS" not in pop.capabilities():
        raise TLSFailed(
            _(
                "%(where)s does not offer STLS, so the connection cannot be encrypted;"
                " use security ssl (port 995) or, on a trusted network only, none"
            )
            % {"where": where}
        )
    try:
        pop.stls(ctx)
    except (Eof, LineTooLong):
        raise
    except poplib.error_proto as exc:
        raise TLSFailed(
            _("%(where)s refused STLS: %(answer)s") % {"where": where, "answer": error_text(exc)}
        ) from exc


def _login(s: Pop3Settings, pop: Client) -> None:
    where = s.where
    try:
        if s.token is not None:
            _oauth2_login(s.username, pop, s.token)
        else:
            _refuse_line_breaks(s.username, s.password)
            pop.user(s.username)
            pop.pass_(s.password)
    except (Eof, OSError, EOFError) as exc:
        raise ConnectFailed(
            _("connection to %(where)s lost during login: %(why)s") % {"where": where, "why": exc}
        ) from exc
    except LineTooLong as exc:
        raise ProtocolFailed(
            _("%(where)s sent a garbled answer to the login") % {"where": where}
        ) from exc
    except poplib.error_proto as exc:
        text = error_text(exc)
        if text.upper().startswith(LOGIN_DELAY):
            delay = advertised_login_delay(pop) or DEFAULT_LOGIN_DELAY
            raise LoginDelayed(
                _(
                    "%(where)s allows one login every %(delay)s s and the last one was more"
                    " recent (%(answer)s); the mailbox can be read again in %(delay)s s"
                )
                % {"where": where, "delay": delay, "answer": text},
                retry_after=delay,
            ) from exc
        if text.upper().startswith(_BUSY_CODES):
            raise ProtocolFailed(
                _("%(where)s accepted the login but cannot open the mailbox now: %(answer)s")
                % {"where": where, "answer": text}
            ) from exc
        raise LoginFailed(
            _("login refused by %(where)s: %(answer)s") % {"where": where, "answer": text}
        ) from exc


def advertised_login_delay(pop: Client) -> int | None:
    """The ``LOGIN-DELAY n`` capability (RFC 2449 §6.5) in seconds, asked with CAPA; None when
    the server does not advertise one or does not answer (the session may be over)."""
    try:
        words = pop.capabilities().get("LOGIN-DELAY") or []
    except (poplib.error_proto, OSError, EOFError):
        return None
    return parse_login_delay(words)


def parse_login_delay(words: Sequence[str]) -> int | None:
    """``["60"]`` or ``["900", "USER"]`` (the value may differ per user) → seconds."""
    if not words or not words[0].isdigit():
        return None
    seconds = int(words[0])
    return seconds if 0 < seconds <= 7 * 24 * 3600 else None


def _oauth2_login(username: str, pop: Client, token: TokenFn) -> None:
    """XOAUTH2; a refused token is renewed once (it may have been revoked or expired early)
    before the refusal stands. A refused AUTH command is not retried."""
    first = token()
    _refuse_line_breaks(username, first)
    try:
        pop.xoauth2(username, first)
    except _TokenRefused as exc:
        if error_text(exc).upper().startswith(LOGIN_DELAY):
            raise  # the token was fine: the login came too soon
        again = token(renew=True)
        _refuse_line_breaks(again)
        pop.xoauth2(username, again)


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
        raise LoginFailed(_("the user name, password or token contains a line break"))


def error_text(exc: BaseException) -> str:
    """The server's words from a poplib error, cleaned and cut: ``b'-ERR [AUTH] Failed.'`` →
    ``[AUTH] Failed.``"""
    arg = exc.args[0] if exc.args else ""
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    if text.startswith("-ERR"):
        text = text[4:]
    return server_words(text) or "no reason given"
