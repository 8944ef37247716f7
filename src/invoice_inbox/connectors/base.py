"""The contract every connector meets, documented once.

A connector is opened for one source, used by one thread, and closed. It never marks a message
read, moves or deletes it unless asked to by ``runtime.sync`` — and sync asks only after the
decision is committed (DESIGN invariant 2).

Cursor model (IMAP's, which the others map onto): a folder has a ``uidvalidity`` epoch and
strictly increasing ``uid`` numbers inside it; ``uidnext`` is the uid the next message will get.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Protocol


@dataclass(frozen=True, slots=True)
class FolderStatus:
    """A folder's cursor facts, read without selecting it (IMAP STATUS, RFC 3501 §6.3.10)."""

    name: str
    uidvalidity: int
    uidnext: int
    messages: int


class Connector(Protocol):
    """Check, list folders, list new messages since a cursor, read raw bytes, move or flag."""

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
