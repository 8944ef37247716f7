"""Microsoft Graph mail connector (REST API v1.0), a :class:`~.base.TokenConnector`.

What it relies on, from the Graph documentation (learn.microsoft.com/graph/...):

- Ids: every request carries ``Prefer: IdType="ImmutableId"`` ("Obtain immutable identifiers
  for Outlook resources", /outlook-immutable-id). The header applies only to the request it is
  sent with, so it goes on all of them; a message then keeps its id when it is moved, which is
  what makes the ids stored in the ledger safe to move and to repeat moves with.
- New mail: a per-folder delta query ("Get incremental changes to messages in a folder",
  /delta-query-messages; "message: delta", /api/message-delta). A round follows every
  ``@odata.nextLink`` and ends on the page carrying ``@odata.deltaLink``, the cursor of the
  next round. Delta supports ``$select`` and only ``$filter=receivedDateTime ge|gt``; its order
  is not guaranteed and an item may be listed more than once ("Use delta query to track changes
  in Microsoft Graph data", /delta-query-overview: Replays), so ids are de-duplicated and
  sorted here. An expired cursor answers 410 (``syncStateNotFound``; "Synchronization reset"
  and "Token duration" in the overview): the folder is then listed in full again.
- Raw bytes: ``GET /users/{m}/messages/{id}/$value`` ("Get MIME content of a message",
  /outlook-get-mime-message). Neither delta nor ``$value`` changes ``isRead``.
- Folders: ``GET /users/{m}/mailFolders`` lists only the root's children ("List mailFolders",
  /api/user-list-mailfolders), so ``childFolders`` are walked; ``inbox``, ``archive``, ... are
  well-known names usable instead of ids ("mailFolder resource type", /api/resources/mailfolder);
  this part lives in :mod:`.graph_folders`.
- Moves and ``isRead`` changes go in JSON batches ("Combine multiple HTTP requests using JSON
  batching", /json-batching): ``POST /$batch`` with ``{"requests": [...]}``, at most 20 per
  batch, each with its own ``id``, ``method``, ``url`` relative to the version root, ``headers``
  (``Content-Type`` is required with a ``body``; headers such as ``Prefer`` apply only to the
  sub-request they are on) and ``body``. The answer is ``{"responses": [...]}`` in any order,
  matched by ``id``, each with its own ``status``, ``headers`` and ``body``. Sub-requests are
  throttled one by one: a 429/503 inside a batch carries its ``Retry-After`` in its own headers
  and only those sub-requests are sent again (/json-batching, /throttling); this part lives in
  :mod:`.graph_batch`.
- Throttling (429/503 and ``Retry-After``, "Microsoft Graph throttling guidance", /throttling),
  token renewal and network retries are :class:`~.http.RestClient`'s; a ``Retry-After``
  holds every download thread of the mailbox. Outlook's service limits allow 4 concurrent
  requests per app and mailbox ("Microsoft Graph service-specific throttling limits",
  /throttling-limits#outlook-service-limits), so raw downloads run on at most
  ``concurrency`` (4) threads.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal
from urllib.parse import quote

import httpx

from invoice_inbox.connectors.base import Changes
from invoice_inbox.connectors.graph_batch import IMMUTABLE_IDS, NO_MAILBOX, JsonBatching
from invoice_inbox.connectors.graph_folders import GraphFolders
from invoice_inbox.connectors.http import HttpError, RestClient, TokenFn
from invoice_inbox.connectors.ordered_fetch import ordered
from invoice_inbox.errors import FolderMissing, LoginFailed, ProtocolFailed
from invoice_inbox.json_types import JsonObject

GRAPH_URL = "https://graph.microsoft.com/v1.0"
DELTA_SELECT = "id,isRead,receivedDateTime"


@dataclass(frozen=True, kw_only=True)
class GraphSettings:
    """How to reach one mailbox through Microsoft Graph.

    *mailbox* is a user principal name or a mailbox address (a shared mailbox's too); requests
    go to ``/users/{mailbox}``, which works for the signed-in user's own mailbox, for one shared
    with that user (delegated token) and for any mailbox the app may read (application token).
    """

    mailbox: str
    token: TokenFn
    base_url: str = GRAPH_URL
    page_size: int = 50  # Prefer: odata.maxpagesize for delta pages
    retries: int = 5
    sleep: Callable[[float], None] = time.sleep
    concurrency: int = 4  # Outlook: at most 4 concurrent requests per app and mailbox


class GraphConnector(GraphFolders, JsonBatching):
    """One mailbox through Microsoft Graph for one source. Not thread-safe; one per worker."""

    cursor_kind: Literal["token"] = "token"

    def __init__(
        self, settings: GraphSettings, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.settings = settings
        self._rest = RestClient(
            settings.base_url,
            settings.token,
            service="Microsoft Graph",
            headers={"Prefer": IMMUTABLE_IDS},
            retries=settings.retries,
            sleep=settings.sleep,
            transport=transport,
        )
        self._origin = _origin(settings.base_url)
        self._user = "/users/" + quote(settings.mailbox, safe="@")
        self._ids: dict[str, str] | None = None  # display-name path -> folder id
        self._paths: dict[str, str] = {}  # folder id -> display-name path
        self._well_known: dict[str, str | None] = {}  # well-known name -> folder id
        self._open: str | None = None  # id of the open folder

    # -- requests -----------------------------------------------------------------------

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:  # httpx's
        """One request through the RestClient; a refusal of the mailbox becomes LoginFailed.
        Other error answers stay :class:`HttpError` for the caller to judge (404, 409, 410)."""
        try:
            return self._rest.request(method, url, **kwargs)
        except HttpError as exc:
            refused = self._refusal(exc)
            if refused is not None:
                raise refused from exc
            raise

    def _refusal(self, exc: HttpError) -> LoginFailed | None:
        """The LoginFailed an error answer stands for, if it refuses the mailbox itself."""
        mailbox = self.settings.mailbox
        if exc.status == 403:
            return LoginFailed(
                f'Microsoft Graph refused access to the mailbox "{mailbox}"'
                f" ({exc.code or exc.status}):"
                " grant the app the Mail.ReadWrite permission (application permissions need"
                " admin consent), or, when signed in as a user, give that user Full Access"
                " to the mailbox"
            )
        if exc.status == 404 and exc.code in NO_MAILBOX:
            return LoginFailed(
                f'mailbox "{mailbox}" not found by Microsoft Graph ({exc.code}): check the'
                " address; it must be an Exchange Online user or shared mailbox of the"
                " tenant the app signs in to"
            )
        return None

    def _json(self, method: str, url: str, **kwargs: Any) -> JsonObject:  # httpx's arguments
        response = self._request(method, url, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ProtocolFailed(f"Microsoft Graph answered {method} {url} with no JSON object")
        return body

    def _pages(self, url: str, **kwargs: Any) -> Iterator[JsonObject]:  # httpx's arguments
        """GET *url* and every ``@odata.nextLink`` after it ("Paging Microsoft Graph data")."""
        next_url: str | None = url
        while next_url is not None:
            page = self._json("GET", next_url, **kwargs)
            yield page
            link = page.get("@odata.nextLink")
            next_url = link if isinstance(link, str) else None
            if next_url is not None:
                self._check_link(next_url)

    def _check_link(self, url: str) -> None:
        """Links and cursors are followed with the bearer token: only to the service itself."""
        if _origin(url) != self._origin:
            raise ProtocolFailed(
                f"refusing to follow a Microsoft Graph link to another host: {url[:80]}"
            )

    # -- connection ---------------------------------------------------------------------

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._rest.close()

    def __enter__(self) -> GraphConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- folders ------------------------------------------------------------------------

    def check(self) -> list[str]:
        return self.list_folders()

    def open_folder(self, folder: str) -> None:
        folder_id = self._find(folder)
        if folder_id is None:
            raise FolderMissing(folder, list(self._ids or {}))
        self._open = folder_id

    def ensure_folder(self, folder: str) -> None:
        self._ensure(folder)

    # -- messages -----------------------------------------------------------------------

    def changes(
        self, cursor: str | None, *, unread_only: bool = False, since: date | None = None
    ) -> Changes:
        """Ids in the open folder since *cursor* (a deltaLink), oldest first.

        Without a cursor: a full delta round on ``.../mailFolders/{id}/messages/delta``
        (``$select`` and, with *since*, ``$filter=receivedDateTime ge``; both are then encoded
        in the links Graph returns). With one: the round starting at that deltaLink, which
        lists messages created, moved in or changed (e.g. marked read) since; the caller's
        ledger skips those it knows. *unread_only* is applied here, delta cannot filter isRead.
        An expired cursor (410) gives a full listing with ``full=True``."""
        folder_id = self._require_open()
        if cursor is not None:
            self._check_link(cursor)
            try:
                return self._round(cursor, unread_only=unread_only, full=False)
            except HttpError as exc:
                if exc.status != 410:  # syncStateNotFound, resyncRequired: start again
                    raise
        query = f"$select={DELTA_SELECT}"
        if since is not None:
            when = f"receivedDateTime ge {since.isoformat()}T00:00:00Z"
            query += "&$filter=" + quote(when, safe=":")
        url = f"{self._folder_url(folder_id)}/messages/delta?{query}"
        return self._round(url, unread_only=unread_only, full=True)

    def _round(self, url: str, *, unread_only: bool, full: bool) -> Changes:
        """Follow one delta round to its end; the cursor is the last page's deltaLink."""
        prefer = f"{IMMUTABLE_IDS}, odata.maxpagesize={self.settings.page_size}"
        listed: dict[str, datetime | None] = {}
        last: JsonObject = {}
        for page in self._pages(url, headers={"Prefer": prefer}):
            last = page
            for item in page.get("value") or []:
                message_id = item.get("id")
                if not isinstance(message_id, str):
                    continue
                if "@removed" in item:  # moved out or deleted (possibly after being listed)
                    listed.pop(message_id, None)
                elif message_id not in listed and not (unread_only and item.get("isRead")):
                    listed[message_id] = _when(item.get("receivedDateTime"))
        delta_link = last.get("@odata.deltaLink")
        if not isinstance(delta_link, str):
            raise ProtocolFailed("Microsoft Graph ended a delta round without an @odata.deltaLink")
        self._check_link(delta_link)
        oldest_first = sorted(listed, key=lambda i: _sort_key(listed[i]))
        return Changes(ids=oldest_first, cursor=delta_link, full=full)

    def _require_open(self) -> str:
        if self._open is None:
            raise ProtocolFailed("no folder is open: call open_folder first")
        return self._open

    def _message_url(self, message_id: str) -> str:
        return f"{self._user}/messages/{quote(message_id, safe='=')}"

    def fetch(self, ids: Iterable[str], *, batch: int = 100) -> Iterator[tuple[str, bytes]]:
        """``GET /users/{m}/messages/{id}/$value`` per message: the exact MIME bytes.

        One request per message, up to ``settings.concurrency`` at once, yielded in the order
        of *ids* (*batch* is not used: JSON batching would hand the bytes back re-encoded
        inside JSON). A 404 (``ErrorItemNotFound``) means the message is gone meanwhile; it is
        not yielded. Any other error is raised at that message's place, as one at a time."""
        yield from ordered(self._raw, ids, workers=max(1, self.settings.concurrency))

    def _raw(self, message_id: str) -> bytes | None:
        """The MIME bytes of one message, None when it is gone (404)."""
        try:
            response = self._request("GET", f"{self._message_url(message_id)}/$value")
        except HttpError as exc:
            if exc.status == 404:
                return None
            raise
        return response.content

    def move(self, ids: Iterable[str], target: str) -> None:
        """``POST /users/{m}/messages/{id}/move`` with ``destinationId`` per message
        ("message: move"), sent in JSON batches of up to 20, creating *target* first when
        missing. With immutable ids the message keeps its id, so a move repeated after a crash
        finds it again and is harmless; a 404 means it was moved or deleted meanwhile and is
        ignored."""
        pending = list(ids)
        if not pending:
            return
        destination = self._ensure(target)
        missed = self._move_each(pending, destination)
        if missed and not self._folder_exists(destination):
            # the target was deleted since it was listed: the 404s were about it, not the mail
            self._ids = None
            self._move_each(missed, self._ensure(target))

    def _move_each(self, ids: list[str], destination: str) -> list[str]:
        """Move each message (in JSON batches); the ids that answered 404."""
        body = {"destinationId": destination}
        calls = [(i, f"{self._message_url(i)}/move", body) for i in ids]
        return self._batched("POST", calls)

    def _folder_exists(self, folder_id: str) -> bool:
        try:
            self._request("GET", f"{self._folder_url(folder_id)}?$select=id")
        except HttpError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def mark_seen(self, ids: Iterable[str]) -> None:
        """``PATCH /users/{m}/messages/{id}`` with ``{"isRead": true}`` ("Update message") per
        message, sent in JSON batches of up to 20; messages gone meanwhile (404) are skipped."""
        calls = [(i, self._message_url(i), {"isRead": True}) for i in ids]
        self._batched("PATCH", calls)


def _origin(url: str) -> tuple[str, str, int | None]:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "", "", None
    return parsed.scheme, parsed.host, parsed.port


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _sort_key(when: datetime | None) -> tuple[bool, datetime]:
    """Oldest first; entries without a usable receivedDateTime last, in listing order."""
    return when is None, when or datetime.min.replace(tzinfo=UTC)
