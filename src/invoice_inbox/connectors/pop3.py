"""POP3 connector on the standard library's poplib: one mailbox, one folder, UIDLs as ids.

POP3 (RFC 1939) knows a single maildrop, shown here as the folder ``INBOX``, and no flags, so
there is nothing to move or mark. A message's id is its UIDL, stable across sessions; the
message numbers that commands take are valid for one session only, so the UIDL → number map is
dropped whenever the session ends. Every listing is complete: ``changes`` returns all UIDLs
and the caller's ledger skips the ones it knows.

Connecting, reading the greeting, TLS and signing in (POP3S, STLS, USER/PASS, SASL XOAUTH2) are
``connectors.pop3_session``'s; :class:`Pop3Settings` and ``DEFAULT_PORTS`` live there too.

Deleting follows RFC 1939 §5–6: ``DELE`` only *marks* a message; the server removes marked
messages when the client sends ``QUIT`` (:meth:`Pop3Connector.commit`). Any other end of the
session keeps every message: :meth:`Pop3Connector.close` sends ``RSET`` before ``QUIT`` (and
no ``QUIT`` at all if ``RSET`` is not confirmed), so an error path deletes nothing.

Message bytes are the RETR lines, dot-unstuffed, joined by CRLF with a final CRLF. POP3 cannot
carry a message whose last line has no line break: servers add one, and so do these bytes.
The server's words in a refused command are shown cleaned and cut.
"""

from __future__ import annotations

import contextlib
import email.utils
import poplib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from email.parser import BytesHeaderParser
from email.policy import compat32
from functools import partial
from typing import Literal, TypeVar

from invoice_inbox.connectors.base import Changes
from invoice_inbox.connectors.pop3_session import (
    DEFAULT_PORTS,
    MAX_LINE,
    TROUBLE_CODES,
    Client,
    Eof,
    LineTooLong,
    Pop3Settings,
    after_greeting,
    connect,
    error_text,
)
from invoice_inbox.errors import ConnectFailed, FolderMissing, ProtocolFailed

__all__ = ["DEFAULT_PORTS", "NoFolders", "Pop3Connector", "Pop3Settings"]

# TOP commands in flight at once when the server offers PIPELINING (RFC 2449 §6.6); few enough
# that all of them fit into the socket's send buffer, so neither side can block the other.
PIPELINE_WINDOW = 50

T = TypeVar("T")


class NoFolders(ProtocolFailed):
    """POP3 has no folders to create or move to; asking again cannot help."""

    transient = False


class Pop3Connector:
    """One POP3 session for one source, opened on the first command. Not thread-safe.

    A session lasts until :meth:`commit` or :meth:`close`; the next command opens a new one."""

    cursor_kind: Literal["token"] = "token"
    FOLDER = "INBOX"

    def __init__(self, settings: Pop3Settings) -> None:
        self.settings = settings
        self._pop: Client | None = None
        self._numbers: dict[str, int] | None = None  # UIDL -> message number, this session
        self._capabilities: dict[str, list[str]] | None = None  # CAPA, this session
        self._marked: set[str] = set()  # DELE'd in this session, applied by QUIT
        self._lost_deletions = 0  # marked in a session that broke off before QUIT

    # -- connection ---------------------------------------------------------------------

    @property
    def where(self) -> str:
        return self.settings.where

    def reach(self) -> None:
        """Connect, read the greeting and start TLS, then hang up without signing in (QUIT
        before USER deletes nothing): whether the server is there and speaks POP3, with no
        credentials sent."""
        pop = connect(self.settings, sign_in=False)
        with contextlib.suppress(Exception):
            pop.quit()
        with contextlib.suppress(Exception):
            pop.close()

    def _session(self) -> Client:
        if self._pop is None:
            self._pop = connect(self.settings)
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

    def _run(self, what: str, command: Callable[[Client], T]) -> T:
        """Run one command in the session (opened if need be). A broken connection or garbled
        answer ends the session and raises ours; a -ERR answer reaches the caller as
        ``poplib.error_proto`` (the session is still in step)."""
        pop = self._session()
        try:
            return command(pop)
        except Eof as exc:
            self._drop()
            raise ConnectFailed(f"{self.where} closed the connection during {what}") from exc
        except LineTooLong as exc:
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
        with after_greeting(self.where, "STAT"):
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
                self._run(f"DELE {number}", partial(Client.dele, which=number))
            except poplib.error_proto as exc:
                if error_text(exc).upper().startswith(TROUBLE_CODES):
                    raise ProtocolFailed(
                        f"DELE {number} failed on {self.where}: {error_text(exc)}"
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
        except (Eof, OSError, EOFError) as exc:
            raise ConnectFailed(
                f"connection to {self.where} lost during QUIT;"
                f" {marked} deletion(s) may not have been applied"
            ) from exc
        except poplib.error_proto as exc:
            raise ProtocolFailed(f"{self.where} refused QUIT: {error_text(exc)}") from exc
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
                f"{self.where} refused UIDL ({error_text(exc)}); without unique ids messages cannot"
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
            if error_text(exc).upper().startswith(TROUBLE_CODES):
                raise ProtocolFailed(
                    f"RETR {number} failed on {self.where}: {error_text(exc)}"
                ) from exc
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
