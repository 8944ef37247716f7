"""Instant pickup: wait on one IMAP folder with IDLE (RFC 2177) until new mail is announced.

An :class:`IdleWaiter` owns one connection of its own (the sync's connection stays free for
fetching), EXAMINEs the folder (read-only: RFC 3501 §6.3.2, so no ``\\Recent`` flag is taken
away from the sync) and sits in IDLE. The server then pushes untagged responses such as
``* 4 EXISTS`` / ``* 1 RECENT`` / ``* 2 EXPUNGE``; a message count above the last one known
means new mail.

Keeping the connection honest:

- IDLE is ended (``DONE``) and re-issued at least every ``reissue_after`` seconds: RFC 2177
  asks clients to re-issue within 29 minutes, and some servers (Outlook) drop idle connections
  sooner. Each ``DONE`` is followed by a ``NOOP``.
- Servers that do not announce new mail during IDLE (Courier with ``IMAP_ENHANCEDIDLE=0``, Cyrus
  without ``idled``: they look only every minute or on a command) are recognised by where new
  mail shows up (``connectors.idle_push``); for them, and until a server has shown that it
  pushes, IDLE is ended with ``DONE`` + ``NOOP`` every ``poll_every`` seconds.
- ``idle_check`` polls the socket for at most ``check_every`` seconds, so a set ``stop`` event
  is seen within that time.
- Every command reply (login, EXAMINE, the tagged end of IDLE, NOOP) must arrive within
  ``reply_timeout`` seconds (the socket read timeout; default ``check_every + 5``). A peer that
  vanished without FIN or RST (a black-holed TCP path) is therefore noticed at the next
  re-issue, at most ``reissue_after + reply_timeout`` seconds after it died.
- ``* BYE`` (e.g. the server shutting down or kicking the session), EOF and socket errors all
  become :class:`~invoice_inbox.errors.ConnectFailed`; ``NO``/``BAD`` replies become
  :class:`~invoice_inbox.errors.ProtocolFailed`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Iterable

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from invoice_inbox.connectors.idle_push import SETTLE, PushSense
from invoice_inbox.connectors.imap import ImapConnector, ImapSettings
from invoice_inbox.errors import ConnectFailed, ConnectorError, FolderMissing, ProtocolFailed

log = logging.getLogger(__name__)

# idle_check returning nothing in under this share of its timeout means the socket turned
# readable without a complete response line: EOF, a reset, or a partial TLS record.
_EARLY = 0.5


class IdleWaiter:
    """One IMAP connection that EXAMINEs one folder and waits in IDLE.

    Not thread-safe: call :meth:`wait` and :meth:`close` from the same thread. ``idles`` counts
    the IDLE commands sent (the first one and every re-issue). ``push`` learns whether the
    server pushes; a watcher hands the same one to each waiter of its folder.
    """

    def __init__(
        self,
        settings: ImapSettings,
        folder: str,
        *,
        reissue_after: float = 540.0,
        check_every: float = 30.0,
        poll_every: float = 20.0,
        reply_timeout: float | None = None,
        push: PushSense | None = None,
    ) -> None:
        if reissue_after <= 0 or check_every <= 0 or poll_every <= 0:
            raise ValueError("reissue_after, check_every and poll_every must be positive")
        self.folder = folder
        self.reissue_after = reissue_after
        self.check_every = check_every
        self.poll_every = poll_every
        self.reply_timeout = reply_timeout if reply_timeout is not None else check_every + 5.0
        self.settings = dataclasses.replace(settings, read_timeout=self.reply_timeout)
        self.idles = 0
        self._conn: ImapConnector | None = None
        self._client: IMAPClient | None = None
        self._exists = 0
        self._recent = 0
        self.push = push if push is not None else PushSense(self.where)

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.effective_port}/{self.folder}"

    @property
    def connected(self) -> bool:
        return self._conn is not None

    # -- connection ---------------------------------------------------------------------

    def connect(self) -> None:
        """Connect, log in (XOAUTH2 when ``settings.token``), check for IDLE and EXAMINE the
        folder; nothing happens when already connected. :meth:`wait` calls this itself."""
        if self._conn is not None:
            return
        conn = ImapConnector(self.settings)
        client = conn.client  # connects and logs in; raises our errors
        try:
            if not client.has_capability("IDLE"):
                raise ProtocolFailed(
                    f"{self.settings.host} does not support IDLE (RFC 2177); fetch this source"
                    " on a schedule instead"
                )
            try:
                info = client.select_folder(conn.server_name(self.folder), readonly=True)
            except IMAPClientAbortError:
                raise
            except IMAPClientError as exc:
                if conn.missing([self.folder]):
                    raise FolderMissing(self.folder, conn.list_folders()) from exc
                raise ProtocolFailed(
                    f"EXAMINE {self.folder} failed on {self.where}: {exc}"
                ) from exc
        except ConnectFailed:
            _shutdown(client)
            raise
        except ConnectorError:
            conn.close()
            raise
        except (IMAPClientError, OSError, EOFError) as exc:
            _shutdown(client)
            raise ConnectFailed(f"connection to {self.where} lost during EXAMINE: {exc}") from exc
        self._exists = int(info.get(b"EXISTS", 0))
        self._recent = int(info.get(b"RECENT", 0))
        self._conn, self._client = conn, client
        log.debug("%s: examined, %d messages", self.where, self._exists)

    def close(self) -> None:
        """LOGOUT (bounded by ``reply_timeout``); never raises."""
        conn, self._conn, self._client = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _drop(self) -> None:
        """Forget a broken connection without talking to it (it may never answer)."""
        client, self._conn, self._client = self._client, None, None
        if client is not None:
            _shutdown(client)

    # -- waiting ------------------------------------------------------------------------

    def wait(self, stop: threading.Event) -> bool:
        """Block until new mail is announced in the folder (True) or ``stop`` is set (False).

        New mail is an ``EXISTS`` count above the last known one (``EXPUNGE`` lowers it) or a
        ``RECENT`` count above the last one. IDLE is left (DONE + NOOP) before returning, so
        the connection is idle between calls; mail that arrives meanwhile is reported by the
        next call. ``stop`` is looked at every ``check_every`` seconds, and IDLE is ended
        with DONE + NOOP every ``poll_every`` seconds unless the server pushes (module
        docstring).

        Connects first if needed. Raises ConnectFailed (connection refused, lost, answered
        ``BYE`` or silent for ``reply_timeout``), LoginFailed, TLSFailed, FolderMissing or
        ProtocolFailed (no IDLE capability, a NO/BAD reply); after an error the connection is
        dropped and the next call connects again."""
        self.connect()
        client = self._client
        assert client is not None
        try:
            while not stop.is_set():
                if self._idle_once(client, stop):
                    return True
            return False
        except ConnectorError:
            self._drop()
            raise
        except IMAPClientAbortError as exc:  # imaplib's "socket error: EOF" and friends
            self._drop()
            raise ConnectFailed(f"connection to {self.where} lost during IDLE: {exc}") from exc
        except IMAPClientError as exc:
            self._drop()
            raise ProtocolFailed(f"IDLE failed on {self.where}: {exc}") from exc
        except (OSError, EOFError) as exc:  # includes the socket read timeout
            self._drop()
            raise ConnectFailed(f"connection to {self.where} lost during IDLE: {exc}") from exc

    def _idle_once(self, client: IMAPClient, stop: threading.Event) -> bool:
        """One IDLE … DONE + NOOP round; True when it saw new mail. Where the mail showed
        up (pushed during IDLE or found by DONE + NOOP) goes to ``push``."""
        client.idle()
        self.idles += 1
        began = time.monotonic()
        recheck = self.push.recheck_after(
            reissue_after=self.reissue_after, poll_every=self.poll_every
        )
        deadline = began + recheck
        woke = settled = False
        while not woke and not stop.is_set():
            timeout = min(self.check_every, deadline - time.monotonic())
            if timeout <= 0:
                break
            started = time.monotonic()
            responses = client.idle_check(timeout=timeout)
            woke = self._absorb(responses)
            settled = time.monotonic() - began >= SETTLE
            if not responses and time.monotonic() - started < timeout * _EARLY:
                break  # readable but no line: let DONE + NOOP find out whether it is alive
        _text, after_idle = client.idle_done()
        _text, after_noop = client.noop()
        found = self._absorb([*after_idle, *after_noop])
        if woke and settled:
            self.push.saw(pushed=True, poll_every=self.poll_every)
        elif found and not woke:
            self.push.saw(pushed=False, poll_every=self.poll_every)
        return woke or found

    def _absorb(self, responses: Iterable[tuple[object, ...]]) -> bool:
        """Track the folder's counts from untagged responses; True if new mail showed up."""
        new = False
        for resp in responses:
            if not resp:
                continue
            head = resp[0]
            if head == b"BYE":
                text = b" ".join(r for r in resp[1:] if isinstance(r, bytes)).decode(
                    errors="replace"
                )
                raise ConnectFailed(f"{self.where} closed the connection: BYE {text}")
            if not isinstance(head, int) or len(resp) < 2:
                continue
            kind = resp[1]
            if kind == b"EXISTS":
                new = new or head > self._exists
                self._exists = head
            elif kind == b"EXPUNGE":
                self._exists = max(0, self._exists - 1)
            elif kind == b"RECENT":
                new = new or head > self._recent
                self._recent = head
        return new


def _shutdown(client: IMAPClient) -> None:
    with contextlib.suppress(Exception):
        client.shutdown()
