"""The contract every connector meets, documented once.

A connector is opened for one source, used by one thread, and closed. It never marks a message
read, moves or deletes it unless asked to by ``runtime.sync`` — and sync asks only after the
decision is committed (DESIGN invariant 2).

Two cursor models, told apart by ``cursor_kind``:

- ``"uid"`` (IMAP, :class:`UidConnector`): a folder has a ``uidvalidity`` epoch and strictly
  increasing ``uid`` numbers inside it; ``uidnext`` is the uid the next message will get.
- ``"token"`` (Microsoft Graph, Gmail API, later POP3; :class:`TokenConnector`): messages have
  stable string ids (Graph immutable ids, Gmail message ids, POP3 UIDLs) and a folder has an
  opaque cursor (a Graph deltaLink, a Gmail historyId). ``changes`` returns the ids that arrived
  since the cursor and the next cursor; the caller stores the cursor only after every listed
  message is committed, so a crash replays the listing and the ledger skips what it knows.

Both kinds work on an *open folder*: ``open_folder`` first, then ``fetch``, ``move`` and
``mark_seen`` act on messages of that folder.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class FolderStatus:
    """A folder's cursor facts, read without selecting it (IMAP STATUS, RFC 3501 §6.3.10)."""

    name: str
    uidvalidity: int
    uidnext: int
    messages: int


@dataclass(frozen=True, slots=True)
class Changes:
    """What a token connector found in the open folder since a cursor."""

    ids: list[str]  # messages now in the folder that arrived since the cursor, oldest first
    cursor: str  # store this once all of ``ids`` are committed
    full: bool = False  # True when this was a full listing (no cursor, or it had expired)


class TokenConnector(Protocol):
    """A connector whose messages have stable string ids and whose folders have opaque cursors.

    Errors are the ConnectorError family; ``LoginFailed`` (not transient) when the credentials
    or token are refused. An expired cursor (Graph 410 ``syncStateNotFound``, Gmail history 404)
    is handled inside ``changes`` by listing the folder in full and returning ``full=True``."""

    cursor_kind: Literal["token"]

    def check(self) -> list[str]:
        """Connect, authenticate and return the folder names."""
        ...

    def list_folders(self) -> list[str]:
        """All folder names; nested folders as ``parent/child``."""
        ...

    def open_folder(self, folder: str) -> None:
        """Make *folder* the open folder; FolderMissing when absent."""
        ...

    def changes(
        self, cursor: str | None, *, unread_only: bool = False, since: date | None = None
    ) -> Changes:
        """Ids of messages that arrived in the open folder since *cursor* (all when None)."""
        ...

    def fetch(self, ids: Iterable[str], *, batch: int = 100) -> Iterator[tuple[str, bytes]]:
        """Yield (id, exact raw MIME bytes) without marking anything read; ids that vanished
        meanwhile are not yielded."""
        ...

    def ensure_folder(self, folder: str) -> None:
        """Create *folder* (``parent/child`` creates both) when it does not exist."""
        ...

    def move(self, ids: Iterable[str], target: str) -> None:
        """Move these messages of the open folder to *target*; their ids stay the same."""
        ...

    def mark_seen(self, ids: Iterable[str]) -> None:
        """Mark these messages read."""
        ...

    def close(self) -> None:
        """Release connections; never raises."""
        ...


class UidConnector(Protocol):
    """Check, list folders, list new messages since a uid cursor, read raw bytes, move or flag."""

    cursor_kind: Literal["uid"]

    def check(self) -> list[str]:
        """Connect, log in and return the folder names. Raises a ConnectorError with a
        sentence the user can act on."""
        ...

    def list_folders(self) -> list[str]:
        """All folder names, as the server spells them."""
        ...

    def status(self, folder: str) -> FolderStatus:
        """The folder's UIDVALIDITY / UIDNEXT / message count; FolderMissing when absent."""
        ...

    def open_folder(self, folder: str) -> FolderStatus:
        """Open *folder* for reading and moving; its facts as the server sees them now."""
        ...

    def list_new(
        self, *, after_uid: int, unread_only: bool = False, since: date | None = None
    ) -> list[int]:
        """In the open folder: the uids above *after_uid* that match, ascending."""
        ...

    def fetch(self, uids: Iterable[int], *, batch: int = 100) -> Iterator[tuple[int, bytes]]:
        """Yield (uid, exact raw bytes) for the open folder without setting \\Seen."""
        ...

    def ensure_folder(self, folder: str) -> None:
        """Create *folder* when it does not exist."""
        ...

    def move(self, uids: Iterable[int], target: str) -> None:
        """Move these messages of the open folder to *target*, touching no other message."""
        ...

    def mark_seen(self, uids: Iterable[int]) -> None:
        """Set \\Seen on these messages of the open folder."""
        ...

    def close(self) -> None:
        """Log out and close the connection; never raises."""
        ...


@runtime_checkable
class Deleting(Protocol):
    """A connector that can delete messages (POP3). Deletions are marked by ``delete`` and only
    applied by ``commit``; closing without ``commit`` applies none of them."""

    def delete(self, ids: Iterable[str]) -> None: ...

    def commit(self) -> None: ...


Connector = UidConnector | TokenConnector


@runtime_checkable
class SecondSession(Protocol):
    """A uid connector that can open a second session on the same mailbox (IMAP), so the
    downloads of a folder need not wait for the moves on the first."""

    def download_session(self, folder: str, uidvalidity: int) -> UidConnector | None:
        """A new session with *folder* open read-only at this *uidvalidity*, used for
        ``fetch`` only; None where none can be had (the server refuses a second login, the
        folder's uidvalidity differs): the caller goes on with this session alone."""
        ...
