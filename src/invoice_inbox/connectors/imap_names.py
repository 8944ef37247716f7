"""Folder names the user's way and the server's way (RFC 2342 NAMESPACE, RFC 3501 §5.1.3).

People write folders as a mail program shows them, parts joined by ``/``: ``Invoices/2026``,
``Not imported``, ``INBOX``. Servers differ. Dovecot's default personal namespace is ``""`` with
``/`` as the delimiter, so names go out as written. Courier and Cyrus (Debian's defaults) answer
NAMESPACE with ``(("INBOX." "."))``: personal folders are ``INBOX.Invoices``, ``/`` is an invalid
character, and ``Invoices/2026`` is ``INBOX.Invoices.2026`` there. :class:`FolderNames` maps:

- ``INBOX`` (in any case) stays ``INBOX``;
- a name already in the server's spelling (it begins with one of the server's namespace
  prefixes, e.g. ``INBOX.Invoices`` copied from the server, or any name where the personal
  prefix is ``""``) is kept as it is, a ``/`` in it still read as the delimiter;
- any other name gets ``/`` replaced by the delimiter and the personal prefix put in front
  (``INBOX/Invoices`` is taken as ``INBOX.Invoices``, not ``INBOX.INBOX.Invoices``); such a name
  that holds the delimiter as a literal character (``Rechnungen.alt`` on Courier) cannot be
  written on that server: :class:`FolderNameInvalid` says so in one sentence.

Names the server lists come back the user's way: personal prefix stripped, delimiter shown as
``/``; names in another namespace (other users', shared) keep the server's spelling, which maps
back to itself. Non-ASCII names travel as modified UTF-7 (IMAPClient's ``folder_encode``), or
as UTF-8 where the server accepts it (``connectors.imap_folders``); this module only sees
Unicode names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from invoice_inbox.errors import ProtocolFailed
from invoice_inbox.i18n import _

INBOX = "INBOX"


class FolderNameInvalid(ProtocolFailed):
    """A folder name that this server cannot hold (a setting to change, not to retry)."""

    transient = False


@dataclass(frozen=True)
class FolderNames:
    """One server's naming: the personal namespace's *prefix* and *delimiter* (None: a flat
    server without hierarchy) and the prefixes of its other namespaces."""

    prefix: str = ""
    delimiter: str | None = "/"
    others: tuple[str, ...] = ()

    @classmethod
    def from_namespace(
        cls,
        personal: Iterable[tuple[str, str | None]] | None,
        other: Iterable[tuple[str, str | None]] | None = None,
        shared: Iterable[tuple[str, str | None]] | None = None,
    ) -> FolderNames:
        """From a NAMESPACE answer (IMAPClient's decoded tuples). The first personal namespace
        is the user's own folders (RFC 2342 §5: the others are rare and left as they are)."""
        personal = list(personal or [])
        others = tuple(p for p, _d in [*personal[1:], *(other or []), *(shared or [])] if p)
        if not personal:
            return cls(prefix="", delimiter="/", others=others)
        prefix, delimiter = personal[0]
        return cls(prefix=prefix or "", delimiter=delimiter or None, others=others)

    @property
    def plain(self) -> bool:
        """Names go to the server as the user writes them (Dovecot's default)."""
        return self.prefix == "" and self.delimiter in ("/", None)

    # -- user → server ------------------------------------------------------------------

    def to_server(self, name: str) -> str:
        """The server's name for the folder *name* as a user wrote it (see the module doc)."""
        if self.plain or name.upper() == INBOX:
            return INBOX if name.upper() == INBOX else name
        d = self.delimiter
        if self._server_spelling(name):
            return self._norm_prefix(name).replace("/", d) if d else name
        if d is None:  # flat server: no hierarchy to map to
            if "/" in name:
                raise FolderNameInvalid(
                    _('the folder "%(name)s" cannot be used on this server: it has no subfolders')
                    % {"name": name}
                )
            return self.prefix + name
        if d != "/" and d in name:
            raise FolderNameInvalid(
                _(
                    'the folder name "%(name)s" cannot be used on this server: "%(delimiter)s"'
                    ' separates folders there; write "%(instead)s" for a subfolder'
                )
                % {"name": name, "delimiter": d, "instead": name.replace(d, "/")}
            )
        parts = name.split("/")
        if parts[0].upper() == INBOX and self.prefix.upper() == INBOX + d:
            parts = parts[1:]  # "INBOX/Invoices" is the user's "Invoices" on Courier
        return self.prefix + d.join(parts)

    def _server_spelling(self, name: str) -> bool:
        """*name* is written the server's way already: it begins with the personal prefix
        (any name does when that is ``""``) or with another namespace's."""
        if self.prefix == "" or _starts(name, self.prefix):
            return True
        return any(_starts(name, p) for p in self.others)

    def _norm_prefix(self, name: str) -> str:
        """``inbox.X`` is ``INBOX.X``: INBOX is the same name in any case (RFC 3501 §5.1)."""
        if self.prefix and _starts(name, self.prefix) and self.prefix.upper().startswith(INBOX):
            return self.prefix + name[len(self.prefix) :]
        return name

    # -- server → user ------------------------------------------------------------------

    def to_user(self, server_name: str) -> str:
        """How a name the server listed is shown and written (inverse of :meth:`to_server`)."""
        if self.plain or server_name.upper() == INBOX:
            return INBOX if server_name.upper() == INBOX else server_name
        d = self.delimiter
        if any(_starts(server_name, p) for p in self.others) and not (
            self.prefix and _starts(server_name, self.prefix)
        ):
            return server_name  # someone else's or shared: the server's spelling maps back
        rest = server_name
        if self.prefix and _starts(server_name, self.prefix):
            rest = server_name[len(self.prefix) :]
        elif self.prefix:
            return server_name  # outside every namespace: as listed
        if not d or d == "/" or "/" in rest:
            return rest if self.prefix else server_name
        return rest.replace(d, "/")


def _starts(name: str, prefix: str) -> bool:
    """*name* begins with the namespace *prefix*; its INBOX part in any case."""
    if not prefix:
        return False
    head = name[: len(prefix)]
    if prefix.upper().startswith(INBOX):
        return head[: len(INBOX)].upper() == INBOX and head[len(INBOX) :] == prefix[len(INBOX) :]
    return head == prefix
