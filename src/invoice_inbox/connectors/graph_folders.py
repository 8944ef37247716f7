"""Microsoft Graph mail folders by their display-name paths (``Invoices/2026``): listing them,
finding one, creating the missing levels of one; a mixin of ``connectors.graph.GraphConnector``.

``GET /users/{m}/mailFolders`` lists only the root's children ("List mailFolders",
/api/user-list-mailfolders), so ``childFolders`` are walked; ``inbox``, ``archive``, ... are
well-known names usable instead of ids ("mailFolder resource type", /api/resources/mailfolder),
whatever the mailbox's language calls them. Folder names are case-insensitive in Exchange.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from invoice_inbox.connectors.http import HttpError
from invoice_inbox.errors import ProtocolFailed
from invoice_inbox.json_types import JsonObject

FOLDER_PAGE = 100  # $top for folder listings; Graph's default page is only 10
WELL_KNOWN = frozenset({"inbox", "archive", "junkemail", "deleteditems", "sentitems", "drafts"})


class GraphFolders:
    """The folder half of GraphConnector, which provides the attributes declared here."""

    _user: str  # "/users/{mailbox}"
    _ids: dict[str, str] | None  # display-name path -> folder id, once listed
    _paths: dict[str, str]  # folder id -> display-name path
    _well_known: dict[str, str | None]  # well-known name -> folder id

    def _json(self, method: str, url: str, **kwargs: Any) -> JsonObject:  # httpx's arguments
        raise NotImplementedError

    def _pages(self, url: str, **kwargs: Any) -> Iterator[JsonObject]:  # httpx's arguments
        raise NotImplementedError

    def list_folders(self) -> list[str]:
        """Every folder as a display-name path ``Parent/Child``, parents first.

        ``GET /users/{m}/mailFolders?$top=100`` lists the root's children only, so every
        folder with ``childFolderCount > 0`` is walked through ``.../childFolders``."""
        ids: dict[str, str] = {}
        self._walk(f"{self._user}/mailFolders?$top={FOLDER_PAGE}", "", ids)
        self._ids = ids
        self._paths = {folder_id: path for path, folder_id in ids.items()}
        return list(ids)

    def _walk(self, url: str, prefix: str, ids: dict[str, str]) -> None:
        for page in self._pages(url):
            for folder in page.get("value") or []:
                path = prefix + _text(folder, "displayName")
                ids[path] = _text(folder, "id")
                if folder.get("childFolderCount"):
                    children = f"{self._folder_url(ids[path])}/childFolders?$top={FOLDER_PAGE}"
                    self._walk(children, path + "/", ids)

    def _folder_url(self, folder_id: str) -> str:
        return f"{self._user}/mailFolders/{quote(folder_id, safe='=')}"

    def _match(self, path: str) -> str | None:
        """The id of the folder at display path *path*; folder names are case-insensitive in
        Exchange, so a differently-cased spelling matches too."""
        if self._ids is None:
            self.list_folders()
        assert self._ids is not None
        if path in self._ids:
            return self._ids[path]
        folded = path.casefold()
        return next((i for p, i in self._ids.items() if p.casefold() == folded), None)

    def _well_known_id(self, name: str) -> str | None:
        """``GET /users/{m}/mailFolders/{name}``: a well-known folder's id, whatever the
        mailbox's language calls it; None when the mailbox has no such folder."""
        if name not in self._well_known:
            try:
                folder = self._json("GET", f"{self._user}/mailFolders/{name}?$select=id")
            except HttpError as exc:
                if exc.status != 404:
                    raise
                self._well_known[name] = None
            else:
                self._well_known[name] = _text(folder, "id")
        return self._well_known[name]

    def _locate(self, parts: list[str]) -> tuple[int, str | None, str]:
        """How far *parts* exists: (levels found, id of the deepest, its display path).

        The first level is a well-known name (``INBOX`` in any case is the inbox, whatever
        the mailbox's language calls it) or else a display name."""
        first = parts[0]
        folder_id = None
        if first.casefold() in WELL_KNOWN:
            folder_id = self._well_known_id(first.casefold())
        if folder_id is None:
            folder_id = self._match(first)
        if folder_id is None:
            return 0, None, ""
        if len(parts) > 1 and self._ids is None:
            self.list_folders()  # children are found by their display-name paths
        path = self._paths.get(folder_id, first)
        found = 1
        for part in parts[1:]:
            child = self._match(f"{path}/{part}")
            if child is None:
                break
            folder_id, path, found = child, self._paths.get(child, f"{path}/{part}"), found + 1
        return found, folder_id, path

    def _find(self, folder: str) -> str | None:
        """The id of *folder*, listing the folders anew once if it is not known yet."""
        parts = split(folder)
        listed_now = self._ids is None
        found, folder_id, _path = self._locate(parts)
        if found < len(parts) and not listed_now:  # perhaps created by someone meanwhile
            self.list_folders()
            found, folder_id, _path = self._locate(parts)
        return folder_id if found == len(parts) else None

    def _ensure(self, folder: str) -> str:
        """Create the missing levels of *folder*; its id.

        ``POST /users/{m}/mailFolders`` for a top level, ``POST .../mailFolders/{id}/
        childFolders`` below ("Create mailFolder", "Create child folder"). A 409
        ``ErrorFolderExists`` means another client created it meanwhile: list again, carry on."""
        parts = split(folder)
        found, folder_id, path = self._locate(parts)
        while found < len(parts):
            name = parts[found]
            url = f"{self._user}/mailFolders"
            if folder_id is not None:
                url = f"{self._folder_url(folder_id)}/childFolders"
            try:
                created = self._json("POST", url, json={"displayName": name})
            except HttpError as exc:
                if exc.status != 409:
                    raise
                self.list_folders()
                again = self._locate(parts)
                if again[0] <= found:
                    raise ProtocolFailed(f'cannot create folder "{folder}": {exc}') from exc
                found, folder_id, path = again
                continue
            folder_id = _text(created, "id")
            path = f"{path}/{name}" if path else name
            if self._ids is not None:
                self._ids[path] = folder_id
            self._paths[folder_id] = path
            found += 1
        assert folder_id is not None
        return folder_id


def _text(obj: JsonObject, key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise ProtocolFailed(f"Microsoft Graph sent a folder without {key}")
    return value


def split(folder: str) -> list[str]:
    parts = folder.split("/")
    if not all(part.strip() for part in parts):
        raise ProtocolFailed(f'invalid folder name "{folder}": empty level between "/"')
    return parts
