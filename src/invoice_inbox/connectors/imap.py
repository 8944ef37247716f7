"""IMAP connector on IMAPClient (RFC 3501 / RFC 9051), the reference for the connector contract.

Reading never changes a message: bodies are fetched with ``BODY.PEEK[]`` (RFC 3501 §6.4.5), so
\\Seen is not set as a side effect. Moving uses UID MOVE (RFC 6851) where the server offers it,
otherwise COPY + UID STORE \\Deleted + UID EXPUNGE (RFC 4315 §2.1) on exactly the moved uids.
A mailbox-wide EXPUNGE is never sent: it would also remove mail another client flagged \\Deleted.

Folders are named the user's way (``Invoices/2026``) in and out of this class; each command
sends the server's name for it (``connectors.imap_folders``, read from NAMESPACE once per
connection), so ``Invoices/2026`` is ``INBOX.Invoices.2026`` on Courier and Cyrus.

A port whose greeting is not an IMAP ``* OK`` (or ``* PREAUTH``) is "not an IMAP server" (a
POP3 ``+OK`` greeting is named as such), and nothing it said is repeated
(``connectors.network``); the server's words after a valid greeting (a refused LOGIN, a failed
command) are shown cleaned and cut.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError
from imapclient.imapclient import SEEN, SocketTimeout

from invoice_inbox.connectors.base import FolderStatus
from invoice_inbox.connectors.imap_downloads import examined
from invoice_inbox.connectors.imap_fetch import fetch_bodies
from invoice_inbox.connectors.imap_folders import ImapFolders
from invoice_inbox.connectors.network import (
    NO_GREETING,
    WrongPort,
    cannot_connect,
    command_failed,
    connect_errors,
    lost_during,
    not_a,
    server_words,
)
from invoice_inbox.errors import (
    ConnectFailed,
    ConnectorError,
    FolderMissing,
    LoginFailed,
    ProtocolFailed,
    TLSFailed,
)
from invoice_inbox.i18n import N_, _

if TYPE_CHECKING:
    from invoice_inbox.connectors.http import TokenFn  # httpx: for the HTTP connectors only

T = TypeVar("T")
Security = Literal["ssl", "starttls", "none"]
DEFAULT_PORTS: dict[str, int] = {"ssl": 993, "starttls": 143, "none": 143}
LOOKS_LIKE_POP3 = N_("it looks like POP3 (choose the POP3 protocol or the IMAP port)")


@dataclass(frozen=True, kw_only=True)
class ImapSettings:
    """How to reach and log in to one IMAP mailbox.

    A *username* like ``user@domain.com\\sharedbox`` (Exchange-style shared-mailbox login) is sent
    unchanged; the IMAP string quoting escapes the backslash on the wire.

    With *token* the login is SASL XOAUTH2 (``user=<username>`` and the bearer token; for a
    Microsoft 365 shared mailbox *username* is the shared mailbox's address) instead of a
    password LOGIN.
    """

    host: str
    port: int | None = None
    security: Security = "ssl"
    ca_file: str | None = None
    ca_pem: str | None = None
    verify_tls: bool = True
    username: str
    password: str = field(default="", repr=False)
    token: TokenFn | None = field(default=None, repr=False)
    connect_timeout: float = 15.0  # the TCP connection and the greeting
    read_timeout: float = 120.0

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]


def tls_context(
    ca_file: str | None, ca_pem: str | None = None, verify: bool = True
) -> ssl.SSLContext:
    """Certificate and host name verification on; *ca_file* or *ca_pem* (PEM text) trusts a
    private CA instead of the system store. *verify* False checks nothing (test servers only:
    anyone on the way could read the password)."""
    if not verify:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    try:
        if ca_pem:
            return ssl.create_default_context(cadata=ca_pem)
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError, ValueError) as exc:
        if ca_pem:
            raise TLSFailed(_("cannot read the CA certificate: %(why)s") % {"why": exc}) from exc
        raise TLSFailed(
            _("cannot read the CA file %(file)s: %(why)s") % {"file": ca_file, "why": exc}
        ) from exc


class ImapConnector(ImapFolders):
    """One logged-in IMAP session for one source. Not thread-safe; one per worker."""

    cursor_kind: Literal["uid"] = "uid"

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self._client: IMAPClient | None = None
        self._names = None

    # -- connection ---------------------------------------------------------------------

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.effective_port}"

    def reach(self) -> None:
        """Connect, read the greeting and start TLS, then hang up without signing in: whether
        the server is there and speaks IMAP, with no credentials sent."""
        client = self._open()
        with contextlib.suppress(Exception):
            client.logout()
        _drop(client)

    def _open(self) -> IMAPClient:
        """A connection past its greeting and TLS, not signed in."""
        s = self.settings
        timeout = SocketTimeout(connect=s.connect_timeout, read=s.read_timeout)
        ctx = tls_context(s.ca_file, s.ca_pem, s.verify_tls) if s.security != "none" else None
        plain = None if s.security == "ssl" else (s.host, s.effective_port)
        try:
            with connect_errors(self.where, plain):
                client = IMAPClient(
                    s.host,
                    port=s.effective_port,
                    ssl=s.security == "ssl",
                    ssl_context=ctx,
                    timeout=timeout,
                )
        except IMAPClientError as exc:  # the greeting (and CAPABILITY) were not IMAP's
            raise WrongPort(cannot_connect(self.where, _greeting(exc))) from exc
        _no_protocol_trace(client)
        if s.security == "starttls":
            try:
                with connect_errors(self.where):
                    client.starttls(ctx)
            except IMAPClientError as exc:  # not offered, or refused
                _drop(client)
                raise TLSFailed(
                    _(
                        "%(where)s did not start TLS (STARTTLS: %(answer)s); use security ssl"
                        " or, on a trusted network only, none"
                    )
                    % {"where": self.where, "answer": _text(exc)}
                ) from exc
            except ConnectorError:
                _drop(client)
                raise
        return client

    def _connect(self) -> IMAPClient:
        s = self.settings
        client = self._open()
        try:
            if s.token is not None:
                self._oauth2_login(client, s.token)
            else:
                client.login(s.username, s.password)
        except LoginError as exc:
            client.shutdown()
            raise LoginFailed(
                _("login refused by server: %(answer)s") % {"answer": _text(exc)}
            ) from exc
        except (OSError, IMAPClientError) as exc:
            client.shutdown()
            raise ConnectFailed(
                _("connection to %(where)s lost during login: %(why)s")
                % {"where": self.where, "why": _text(exc)}
            ) from exc
        except ConnectorError:  # the token could not be had (e.g. needs re-authentication)
            client.shutdown()
            raise
        return client

    def _oauth2_login(self, client: IMAPClient, token: TokenFn) -> None:
        """AUTHENTICATE XOAUTH2; a refused token is renewed once (it may have been revoked or
        expired early) before the refusal stands."""
        try:
            client.oauth2_login(self.settings.username, token())
        except LoginError:
            client.oauth2_login(self.settings.username, token(renew=True))

    @property
    def client(self) -> IMAPClient:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def close(self) -> None:
        if self._client is None:
            return
        try:
            self._client.logout()
        except Exception:  # logging out of a dead connection: nothing left to do
            with contextlib.suppress(Exception):
                self._client.shutdown()
        self._client = None

    def _words(self, exc: BaseException) -> str:
        return _text(exc)

    def __enter__(self) -> ImapConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # args, kwargs: the imapclient method's own
        """Run one command, translating library errors into ours."""
        try:
            return fn(*args, **kwargs)
        except ConnectorError:
            raise
        except (OSError, EOFError, IMAPClientAbortError) as exc:  # abort: the socket went away
            self._client = None
            raise ConnectFailed(lost_during(self.where, what, _text(exc))) from exc
        except IMAPClientError as exc:
            raise ProtocolFailed(command_failed(self.where, what, _text(exc))) from exc

    # -- contract -----------------------------------------------------------------------

    def check(self) -> list[str]:
        return self.list_folders()

    def message_counts(self, folders: list[str]) -> dict[str, int | None]:
        """STATUS folder (MESSAGES) for each folder: how many mails it holds; None where the
        server does not say (a folder that vanished, a refused STATUS)."""
        counts: dict[str, int | None] = {}
        for folder in folders:
            try:
                st = self.client.folder_status(self.server_name(folder), [b"MESSAGES"])
                counts[folder] = int(st[b"MESSAGES"])
            except IMAPClientError:
                counts[folder] = None
            except OSError as exc:
                raise ConnectFailed(lost_during(self.where, "STATUS", _text(exc))) from exc
        return counts

    def status(self, folder: str) -> FolderStatus:
        """STATUS folder (UIDVALIDITY UIDNEXT MESSAGES): cheap, no SELECT needed.

        Example answer: ``* STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY 1700000000)``."""
        server = self.server_name(folder)
        try:
            st = self.client.folder_status(server, [b"UIDVALIDITY", b"UIDNEXT", b"MESSAGES"])
        except IMAPClientError as exc:
            if self.missing([folder]):
                raise FolderMissing(folder, self.list_folders()) from exc
            raise ProtocolFailed(
                command_failed(self.where, f"STATUS {folder}", _text(exc))
            ) from exc
        except OSError as exc:
            raise ConnectFailed(lost_during(self.where, "STATUS", _text(exc))) from exc
        return FolderStatus(
            name=folder,
            uidvalidity=int(st[b"UIDVALIDITY"]),
            uidnext=int(st[b"UIDNEXT"]),
            messages=int(st[b"MESSAGES"]),
        )

    def open_folder(self, folder: str) -> FolderStatus:
        """SELECT folder read-write (moves and flags follow) and return its cursor facts."""
        info = self._call("SELECT", self.client.select_folder, self.server_name(folder))
        return FolderStatus(
            name=folder,
            uidvalidity=int(info[b"UIDVALIDITY"]),
            uidnext=int(info.get(b"UIDNEXT", 0)),
            messages=int(info.get(b"EXISTS", 0)),
        )

    def list_new(
        self, *, after_uid: int, unread_only: bool = False, since: date | None = None
    ) -> list[int]:
        """UID SEARCH UID n:* [UNSEEN] [SINCE d] in the open folder, ascending.

        ``n:*`` always matches the highest uid even when it is below n (RFC 3501 §6.4.4 / 9051
        §6.4.4), so the result is filtered again here."""
        criteria: list[object] = ["UID", f"{after_uid + 1}:*"]
        if unread_only:
            criteria.append("UNSEEN")
        if since is not None:
            criteria += ["SINCE", since]
        uids = self._call("UID SEARCH", self.client.search, criteria)
        return sorted(u for u in uids if u > after_uid)

    def find(self, message_id: str) -> list[int]:
        """UID SEARCH HEADER Message-ID <id> in the open folder (RFC 3501 §6.4.4), ascending.

        The server matches a substring, case-insensitively, so a hit is a candidate: confirm it
        by its bytes. Example answer: ``* SEARCH 7 12``. An empty or non-ASCII id finds none
        (SEARCH without CHARSET is US-ASCII)."""
        wanted = message_id.strip()
        if not wanted or not wanted.isascii():
            return []
        uids = self._call("UID SEARCH", self.client.search, ["HEADER", "Message-ID", wanted])
        return sorted(uids)

    def fetch(self, uids: Iterable[int], *, batch: int = 100) -> Iterator[tuple[int, bytes]]:
        """UID FETCH uids (UID BODY.PEEK[]) in batches (``connectors.imap_fetch``); yields (uid,
        raw bytes) ascending. Uids that vanished meanwhile (moved or expunged by another client)
        are simply not yielded."""
        pending = sorted(uids)
        for i in range(0, len(pending), batch):
            chunk = pending[i : i + batch]
            bodies = self._call("UID FETCH", fetch_bodies, self.client, chunk)
            for uid in chunk:
                if uid in bodies:
                    yield uid, bodies[uid]

    def download_session(self, folder: str, uidvalidity: int) -> ImapConnector | None:
        """A second session, *folder* EXAMINEd, for downloads (``connectors.imap_downloads``)."""
        return examined(ImapConnector(self.settings), folder, uidvalidity)

    def ensure_folder(self, folder: str) -> None:
        """CREATE folder unless it exists (a concurrent create by someone else is fine)."""
        server = self.server_name(folder)
        if self._call("LIST", self.client.folder_exists, server):
            return
        try:
            self.client.create_folder(server)
        except IMAPClientError as exc:
            if not self.client.folder_exists(server):
                raise ProtocolFailed(
                    _('cannot create folder "%(folder)s": %(answer)s')
                    % {"folder": folder, "answer": _text(exc)}
                ) from exc

    def move(self, uids: Iterable[int], target: str) -> None:
        """Move these uids of the open folder to *target*.

        UID MOVE (RFC 6851) when offered; otherwise UID COPY, UID STORE +FLAGS (\\Deleted) and
        UID EXPUNGE (RFC 4315 §2.1) of exactly these uids. Never a mailbox-wide EXPUNGE, which
        would also remove messages another client flagged \\Deleted. Uids no longer in the folder
        are ignored by the server, so repeating a move after a crash is harmless."""
        uid_list = sorted(uids)
        if not uid_list:
            return
        target = self.server_name(target)
        caps = self.client.capabilities()
        if b"MOVE" in caps:
            self._call("UID MOVE", self.client.move, uid_list, target)
        elif b"UIDPLUS" in caps:
            self._call("UID COPY", self.client.copy, uid_list, target)
            self._call("UID STORE", self.client.add_flags, uid_list, [b"\\Deleted"])
            self._call("UID EXPUNGE", self.client.uid_expunge, uid_list)
        else:
            raise ProtocolFailed(
                _(
                    "%(where)s offers neither MOVE nor UIDPLUS: moving would need a mailbox-wide"
                    " EXPUNGE, which could delete other mail; leave the mail in place instead"
                )
                % {"where": self.where}
            )

    def mark_seen(self, uids: Iterable[int]) -> None:
        """UID STORE +FLAGS (\\Seen)."""
        uid_list = sorted(uids)
        if uid_list:
            self._call("UID STORE", self.client.add_flags, uid_list, [SEEN])


def _no_protocol_trace(client: IMAPClient) -> None:
    """imapclient turns imaplib's protocol trace on (``debug = 5``) and hands it to a logger,
    so imaplib formats every response before the logger drops it: ``%r`` of each fetched batch,
    one more copy of every mail read (73 MB for one with a 50 MB attachment), on every fetch.
    The trace stays on only where that logger would print it."""
    if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
        client._imap.debug = 0


def _drop(client: IMAPClient) -> None:
    """Close a connection that failed half-way (its socket may be gone already)."""
    with contextlib.suppress(Exception):
        client.shutdown()


def _greeting(exc: IMAPClientError) -> str:
    """What was wrong with the greeting, in our words only (imaplib puts the peer's bytes into
    its message, so none of it is used)."""
    arg = exc.args[0] if exc.args else b""
    if isinstance(arg, bytes) and arg.upper().startswith(b"* BYE"):
        return _("the IMAP server turned the connection away (it said BYE); try again later")
    if isinstance(exc, IMAPClientAbortError) and str(arg).endswith("EOF"):
        return _(NO_GREETING)
    if arg is None:  # imaplib took a "+OK" greeting for a continuation and kept no greeting
        return f"{not_a(N_('an IMAP server'))}: {_(LOOKS_LIKE_POP3)}"
    return not_a(N_("an IMAP server"))


def _text(exc: BaseException) -> str:
    """The server's words in an error raised after a valid greeting, cleaned and cut."""
    arg = exc.args[0] if len(exc.args) == 1 else None
    msg = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(exc)
    if msg.startswith("b'") or msg.startswith('b"'):
        msg = msg[2:-1]
    return server_words(msg) or "no reason given"
