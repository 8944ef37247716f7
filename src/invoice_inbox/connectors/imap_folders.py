"""The IMAP connector's folder names (a mixin of ``connectors.imap.ImapConnector``).

Folders are named the user's way (``Invoices/2026``) in and out of the connector; each command
sends the server's name (``connectors.imap_names``), read from NAMESPACE (RFC 2342) once per
connection, or from the delimiter of ``LIST "" ""`` where NAMESPACE is not offered; where the
server offers UTF8=ACCEPT (RFC 6855) it is enabled first, and names travel as UTF-8 instead of
modified UTF-7 (RFC 3501 §5.1.3). Here too:
which configured folders are missing, and whether mail can be filed to a folder (``source
check``'s test of the move targets).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from invoice_inbox.connectors.imap_names import FolderNameInvalid, FolderNames
from invoice_inbox.connectors.network import lost_during
from invoice_inbox.errors import ConnectFailed, ProtocolFailed
from invoice_inbox.i18n import _

_NOISE_HEAD = re.compile(r"^(?:\w+ failed: )?(?:\[[A-Z-]+\] )?")
_NOISE_TAIL = re.compile(r"\s*\(\d+\.\d+ \+ \d+\.\d+(?: \+ \d+\.\d+)? secs\)\.?$")


class ImapFolders:
    """Folder naming for a connector that has ``client``, ``where``, ``_call`` and ``_words``."""

    _names: tuple[IMAPClient, FolderNames] | None = None
    _client: IMAPClient | None

    if TYPE_CHECKING:  # what ImapConnector provides

        @property
        def where(self) -> str: ...

        @property
        def client(self) -> IMAPClient: ...

        # an imapclient method and its arguments (imapclient is untyped)
        def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any: ...

        def _words(self, exc: BaseException) -> str: ...

    @property
    def names(self) -> FolderNames:
        """This server's folder naming, read once per connection: NAMESPACE (RFC 2342), or the
        delimiter of LIST "" "" where NAMESPACE is not offered."""
        client = self.client
        if self._names is None or self._names[0] is not client:
            self._names = (client, self._read_names(client))
        return self._names[1]

    def _read_names(self, client: IMAPClient) -> FolderNames:
        _enable_utf8(client)
        if client.has_capability("NAMESPACE"):
            with contextlib.suppress(ProtocolFailed):  # refused: the delimiter will do
                ns = self._call("NAMESPACE", client.namespace)
                return FolderNames.from_namespace(
                    *([(_text(p), d) for p, d in part] if part else None for part in ns)
                )
        entries = self._call("LIST", client.list_folders, "", "")
        delim = entries[0][1] if entries else b"/"
        text = delim.decode() if isinstance(delim, bytes) else delim
        return FolderNames(prefix="", delimiter=text or None)

    def server_name(self, folder: str) -> str:
        """The server's name for *folder* as the user wrote it (FolderNameInvalid if it
        cannot be written there)."""
        return self.names.to_server(folder)

    def _server_folders(self) -> list[str]:
        """LIST "" "*" (RFC 3501 §6.3.8) in the server's spelling, \\Noselect left out."""
        entries = self._call("LIST", self.client.list_folders)
        return [_text(name) for flags, _delim, name in entries if b"\\Noselect" not in flags]

    def list_folders(self) -> list[str]:
        """The folders the user's way (``Invoices/2026``), \\Noselect ones left out."""
        names = self.names
        return [names.to_user(name) for name in self._server_folders()]

    def missing(self, folders: Iterable[str]) -> list[str]:
        """Those of *folders* (the user's way) that are not on the server; one LIST."""
        names = self.names
        have = {n.casefold() for n in self._server_folders()}
        return [f for f in folders if names.to_server(f).casefold() not in have]

    def filing_problem(self, folder: str) -> str | None:
        """Why mail cannot be filed to *folder* (the user's way), or None: it exists, or it can
        be created. A missing folder is created and deleted again, with the folders above it
        that the CREATE made, so the mailbox is left as it was; the server's refusal is quoted.
        """
        try:
            server = self.server_name(folder)
        except FolderNameInvalid as exc:
            return str(exc)
        before = self._all_server_folders()
        if before.get(server) is False:  # selectable: it exists
            return None
        try:
            self.client.create_folder(server)
        except IMAPClientError as exc:
            if self._all_server_folders().get(server) is False:  # created meanwhile by someone
                return None
            return _('the folder "%(folder)s" cannot be created on this server: %(answer)s') % {
                "folder": folder,
                "answer": self.refusal(exc),
            }
        except OSError as exc:
            self._client = None
            raise ConnectFailed(lost_during(self.where, "CREATE", self._words(exc))) from exc
        made = [name for name in self._all_server_folders() if name not in before]
        for name in sorted(made, key=len, reverse=True):  # the deepest first
            with contextlib.suppress(IMAPClientError):
                self.client.delete_folder(name)
        return None

    def _all_server_folders(self) -> dict[str, bool]:
        """Every name LIST "" "*" shows, \\Noselect ones too: name → whether \\Noselect."""
        entries = self._call("LIST", self.client.list_folders)
        return {_text(name): b"\\Noselect" in flags for flags, _delim, name in entries}

    def refusal(self, exc: BaseException) -> str:
        """The server's reason in a refused command, without the library's "create failed: ",
        a response code or Dovecot's timing: ``Invalid mailbox name: Begins with '~'``."""
        text = _NOISE_HEAD.sub("", self._words(exc))
        return _NOISE_TAIL.sub("", text) or _("no reason given")


def _enable_utf8(client: IMAPClient) -> None:
    """ENABLE UTF8=ACCEPT (RFC 6855) where offered (Courier does), while no folder is open yet
    (ENABLE is not allowed after SELECT): names then travel as UTF-8 (IMAPClient's
    ``folder_encode`` off, imaplib writing commands in UTF-8) instead of modified UTF-7."""
    if not (client.has_capability("UTF8=ACCEPT") and client.has_capability("ENABLE")):
        return
    if client._imap.state != "AUTH":  # a folder is open: stay with modified UTF-7
        return
    with contextlib.suppress(IMAPClientError):
        if b"UTF8=ACCEPT" in client.enable("UTF8=ACCEPT"):
            client.folder_encode = False
            client._imap._mode_utf8()  # imaplib's switch to UTF-8 commands (as its enable())


def _text(name: str | bytes | int) -> str:
    """A folder name as IMAPClient hands it over: decoded from modified UTF-7 already (str), or
    the server's UTF-8 bytes once UTF8=ACCEPT is enabled."""
    if isinstance(name, bytes):
        return name.decode("utf-8", "replace")
    return str(name)
