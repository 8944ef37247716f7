"""Gmail API connector (REST, v1): labels are the folders, message ids and historyIds the cursor.

Gmail has no folders, only labels; a "folder" here is a user label (nested ones are names with
``/``, such as ``Invoices/2026``) or one of the system labels that behave like folders: INBOX,
SENT, SPAM, TRASH, DRAFT. Labels that are states rather than places (UNREAD, STARRED,
IMPORTANT, CHAT, CATEGORY_*) are not folders. "Moving" a message means adding the target's
label and removing the open folder's label in one ``messages.batchModify``; the message id
does not change.

Listing follows "Synchronize clients with Gmail"
(https://developers.google.com/workspace/gmail/api/guides/sync): a full sync lists the folder
with ``messages.list``; later runs ask ``history.list`` for what happened since the stored
``historyId``; a 404 from ``history.list`` means that id is too old, and a full sync follows.

Reading never changes a message: ``messages.get?format=raw`` does not touch UNREAD. All HTTP
goes through :class:`~invoice_inbox.connectors.http.RestClient` (token renewal, Retry-After,
backoff, a ``Retry-After`` holding every download thread); raw downloads run on at most
``concurrency`` (4) threads, in the order asked for. Gmail's own "slow down" answer, a 403
with reason ``rateLimitExceeded`` or ``userRateLimitExceeded`` ("Resolve errors",
https://developers.google.com/workspace/gmail/api/guides/handle-errors), is backed off like a
429.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

import httpx

from invoice_inbox.connectors.base import Changes
from invoice_inbox.connectors.gmail_wire import GoogleError, decode_raw, google_error
from invoice_inbox.connectors.http import HttpError, RestClient, TokenFn
from invoice_inbox.connectors.ordered_fetch import ordered
from invoice_inbox.errors import FolderMissing, LoginFailed, ProtocolFailed
from invoice_inbox.i18n import _
from invoice_inbox.json_types import JsonObject

API = "/gmail/v1/users/me"  # "me": the user the delegated OAuth token belongs to
MODIFY_SCOPE = "https://www.googleapis.com/auth/gmail.modify"

# System labels that behave like folders (a message is *in* them); the others are states.
FOLDER_SYSTEM_LABELS = ("INBOX", "SENT", "SPAM", "TRASH", "DRAFT")
UNREAD = "UNREAD"

# users.messages.batchModify takes at most 1000 ids per request; list pages at most 500 items.
MODIFY_BATCH = 1000
MAX_PAGE = 500


@dataclass(frozen=True, kw_only=True)
class GmailSettings:
    """How to reach one Gmail mailbox with a delegated OAuth token.

    Requests go to ``/gmail/v1/users/me``, the token's own mailbox; *user* names that mailbox
    in messages to the user. Reading needs the ``gmail.readonly`` scope, moving and marking
    read need ``gmail.modify`` (or the full ``https://mail.google.com/``)."""

    user: str
    token: TokenFn
    base_url: str = "https://gmail.googleapis.com"
    page_size: int = 100
    retries: int = 5
    sleep: Callable[[float], None] = time.sleep
    # concurrent messages.get: Gmail answers "Too many concurrent requests for user" (429)
    # beyond a few, and messages.get costs 5 of the 250 quota units a user may spend a second
    concurrency: int = 4


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class GmailConnector:
    """One Gmail mailbox over the REST API for one source. Not thread-safe; one per worker."""

    cursor_kind: Literal["token"] = "token"

    def __init__(
        self, settings: GmailSettings, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.settings = settings
        self._page = max(1, min(settings.page_size, MAX_PAGE))
        self._labels: dict[str, str] | None = None  # folder name -> label id
        self._open: str | None = None  # the open folder's label id
        self._errors = threading.local()  # .last: the error being judged, per thread
        self._client = RestClient(
            settings.base_url,
            settings.token,
            service="Gmail",
            headers={"Accept": "application/json"},
            retries=settings.retries,
            sleep=settings.sleep,
            transport=transport,
            throttled=self._throttled,
        )

    @property
    def waits(self) -> list[float]:
        """Every throttling / backoff pause so far (seconds)."""
        return self._client.waits

    # -- HTTP ---------------------------------------------------------------------------

    def _throttled(self, response: httpx.Response) -> bool:
        """RestClient's hook for error answers other than 401, 429 and 5xx: Gmail also says
        "slow down" as a 403 with reason rateLimitExceeded / userRateLimitExceeded ("Usage
        limits", https://developers.google.com/workspace/gmail/api/reference/quota). The parsed
        error is kept so that :meth:`_call` can tell a too-narrow scope from other refusals."""
        error = self._errors.last = google_error(response)
        return response.status_code == 403 and error.rate_limited

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:  # httpx's arguments; JSON
        """One API call; a 403 that is not throttling becomes LoginFailed (not transient)."""
        self._errors.last = None
        try:
            return self._client.json(method, API + path, **kwargs)
        except HttpError as exc:
            err: GoogleError | None = self._errors.last
            if exc.status != 403 or err is None or err.rate_limited:
                raise
            if err.scope_too_narrow:
                raise LoginFailed(
                    _(
                        "Gmail refused %(request)s for %(user)s: the access granted is too narrow"
                        " (gmail.readonly can read but not move mail or mark it read; that needs"
                        " gmail.modify, %(scope)s). Sign in again and grant it."
                        " Gmail said: %(answer)s"
                    )
                    % {
                        "request": f"{method} {path}",
                        "user": self.settings.user,
                        "scope": MODIFY_SCOPE,
                        "answer": err.message,
                    }
                ) from exc
            raise LoginFailed(
                _("Gmail refused access to %(user)s (%(request)s): %(answer)s")
                % {"user": self.settings.user, "request": f"{method} {path}", "answer": err.message}
            ) from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()

    def __enter__(self) -> GmailConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- folders (labels) -----------------------------------------------------------------

    def check(self) -> list[str]:
        return self.list_folders()

    def list_folders(self) -> list[str]:
        """``GET users/me/labels`` ("Manage labels",
        https://developers.google.com/workspace/gmail/api/guides/labels): user labels plus the
        system labels that are places (INBOX, SENT, SPAM, TRASH, DRAFT). System label ids
        equal their names; user label ids look like ``Label_12``."""
        data = self._call("GET", "/labels") or {}
        system: dict[str, str] = {}
        user: dict[str, str] = {}
        for label in data.get("labels", []):
            label_id, name = str(label.get("id", "")), str(label.get("name", ""))
            if not label_id or not name:
                continue
            if label.get("type") == "system" or (label_id == name and name.isupper()):
                if label_id in FOLDER_SYSTEM_LABELS:
                    system[name] = label_id
            else:
                user[name] = label_id
        ordered = [n for n in FOLDER_SYSTEM_LABELS if n in system]
        ordered += sorted(user, key=lambda n: (n.casefold(), n))
        self._labels = {name: system.get(name) or user[name] for name in ordered}
        return ordered

    def _resolve(self, folder: str, *, refresh: bool = False) -> str | None:
        """The label id of *folder*: the exact name, else the one name equal ignoring case
        (Gmail refuses labels that differ only in case, so there is at most one)."""
        if self._labels is None or refresh:
            self.list_folders()
        assert self._labels is not None
        if folder in self._labels:
            return self._labels[folder]
        folded = [i for n, i in self._labels.items() if n.casefold() == folder.casefold()]
        return folded[0] if len(folded) == 1 else None

    def _resolve_or_missing(self, folder: str) -> str:
        label = self._resolve(folder) or self._resolve(folder, refresh=True)
        if label is None:
            raise FolderMissing(folder, list(self._labels or {}))
        return label

    def open_folder(self, folder: str) -> None:
        """Make the label *folder* the open folder ("inbox" in any case is INBOX)."""
        self._open = self._resolve_or_missing(folder)

    def _require_open(self) -> str:
        if self._open is None:
            raise ProtocolFailed("no folder is open on Gmail: call open_folder first")
        return self._open

    def ensure_folder(self, folder: str) -> None:
        """``POST users/me/labels`` unless the label exists; for ``A/B`` the parent ``A`` is
        created first, as Gmail's own UI does (it nests by the ``/`` in names). A 409 "Label
        name exists or conflicts" (someone else created it meanwhile) is not an error."""
        if self._resolve(folder, refresh=True) is not None:
            return
        parts = folder.split("/")
        for depth in range(1, len(parts) + 1):
            name = "/".join(parts[:depth])
            if self._resolve(name) is None:
                self._create_label(name)

    def _create_label(self, name: str) -> None:
        body = {"name": name, "labelListVisibility": "labelShow", "messageListVisibility": "show"}
        try:
            label = self._call("POST", "/labels", json=body)
        except HttpError as exc:
            if exc.status != 409:
                raise
            if self._resolve(name, refresh=True) is None:
                raise ProtocolFailed(
                    f'cannot create the Gmail label "{name}": it conflicts with an existing'
                    f" label ({exc})"
                ) from exc
            return
        assert self._labels is not None
        self._labels[str(label.get("name") or name)] = str(label["id"])

    # -- listing --------------------------------------------------------------------------

    def changes(
        self, cursor: str | None, *, unread_only: bool = False, since: date | None = None
    ) -> Changes:
        """Ids that arrived in the open folder since the historyId *cursor*, oldest first.

        With a cursor: ``history.list`` (partial sync); *since* does not apply there, as
        everything after the cursor is newer than the run that stored it. Without one, or when
        Gmail answers 404 because the historyId is too old: a full listing, ``full=True``."""
        label = self._require_open()
        if cursor is not None and cursor.isdigit():
            found = self._history(cursor, label, unread_only)
            if found is not None:
                return found
        return self._full(label, unread_only, since)

    def _pages(self, path: str, params: list[tuple[str, str]]) -> Iterator[JsonObject]:
        """Every page of a list call, following ``nextPageToken``."""
        token: str | None = None
        while True:
            extra = [("pageToken", token)] if token else []
            page = self._call("GET", path, params=params + extra) or {}
            yield page
            token = page.get("nextPageToken")
            if not token:
                return

    def _full(self, label: str, unread_only: bool, since: date | None) -> Changes:
        """Full sync: ``users.getProfile`` first, then ``users.messages.list`` of the label.

        The sync guide suggests storing the historyId of the newest listed message; reading the
        mailbox's historyId *before* listing instead means a message arriving while the pages
        are read is found again by the next ``history.list`` rather than lost, and an empty
        folder gets a cursor too. ``messages.list`` returns newest first, so the ids are
        reversed. *since* is sent as ``after:<epoch seconds>`` because dates in queries
        (``after:YYYY/MM/DD``) are taken as midnight PST ("Search and filter messages",
        https://developers.google.com/workspace/gmail/api/guides/filtering)."""
        profile = self._call("GET", "/profile") or {}
        start = str(profile.get("historyId") or "")
        if not start.isdigit():
            raise ProtocolFailed(f"Gmail profile of {self.settings.user} has no historyId")
        params = [("labelIds", label), ("maxResults", str(self._page))]
        query = []
        if unread_only:
            query.append("is:unread")
        if since is not None:
            midnight = datetime(since.year, since.month, since.day, tzinfo=UTC)
            query.append(f"after:{int(midnight.timestamp())}")
        if query:
            params.append(("q", " ".join(query)))
        if label in ("SPAM", "TRASH"):
            params.append(("includeSpamTrash", "true"))
        newest_first = [
            str(m["id"])
            for page in self._pages("/messages", params)
            for m in page.get("messages", [])
        ]
        return Changes(ids=_unique(reversed(newest_first)), cursor=start, full=True)

    def _history(self, cursor: str, label: str, unread_only: bool) -> Changes | None:
        """Partial sync with ``users.history.list`` (startHistoryId=cursor, labelId=label,
        historyTypes messageAdded and labelAdded); None when Gmail answers 404 (the id is too
        old or unknown, https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.history/list).

        A message counts when it was added with the label, or the label was added to it (moved
        in); with *unread_only* it must also have been UNREAD then. The new cursor is the
        ``historyId`` of the first page: the mailbox's history id when the listing began, so
        every record up to it has been seen, however the later pages are cut. Records after it
        may be listed again next time, which the ledger skips."""
        params = [
            ("startHistoryId", cursor),
            ("labelId", label),
            ("historyTypes", "messageAdded"),
            ("historyTypes", "labelAdded"),
            ("maxResults", str(self._page)),
        ]
        ids: list[str] = []
        new_cursor: str | None = None

        def take(message: JsonObject) -> None:
            labels = message.get("labelIds") or []
            if label in labels and (not unread_only or UNREAD in labels):
                ids.append(str(message["id"]))

        try:
            for page in self._pages("/history", params):
                if new_cursor is None:
                    new_cursor = str(page.get("historyId") or "")
                for record in page.get("history", []):
                    for added in record.get("messagesAdded", []):
                        take(added.get("message") or {})
                    for added in record.get("labelsAdded", []):
                        if label in (added.get("labelIds") or []):
                            take(added.get("message") or {})
        except HttpError as exc:
            if exc.status == 404:
                return None
            raise
        if not new_cursor or not new_cursor.isdigit():
            raise ProtocolFailed("Gmail history.list answered without a historyId")
        return Changes(ids=_unique(ids), cursor=new_cursor, full=False)

    # -- reading --------------------------------------------------------------------------

    def fetch(self, ids: Iterable[str], *, batch: int = 100) -> Iterator[tuple[str, bytes]]:
        """``GET users/me/messages/{id}?format=raw`` for each id, yielding the exact bytes.

        Messages that are gone (404) or no longer carry the open folder's label (moved away
        by someone else since they were listed) are not yielded. One request per message, up
        to ``settings.concurrency`` at once, yielded in the order of *ids*; any other error is
        raised at that message's place, as one at a time. *batch* is accepted for the
        contract; Gmail's multipart batch endpoint is not used (it would hand the bytes back
        as base64 inside JSON inside MIME, and Google counts each part against the quota)."""
        label = self._open

        def raw(message_id: str) -> bytes | None:
            try:
                message = self._call("GET", f"/messages/{message_id}", params={"format": "raw"})
            except HttpError as exc:
                if exc.status == 404:
                    return None
                raise
            if not message or "raw" not in message:
                raise ProtocolFailed(f"Gmail sent message {message_id} without its raw content")
            if label is not None and label not in (message.get("labelIds") or []):
                return None
            return decode_raw(str(message["raw"]))

        yield from ordered(raw, ids, workers=max(1, self.settings.concurrency))

    # -- changing -------------------------------------------------------------------------

    def _modify(self, ids: Iterable[str], add: list[str], remove: list[str]) -> None:
        """``POST users/me/messages/batchModify`` (204 No Content), up to 1000 ids a request
        (https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages/batchModify)."""
        pending = _unique(ids)
        for chunk in _chunks(pending, MODIFY_BATCH):
            body = {"ids": list(chunk), "addLabelIds": add, "removeLabelIds": remove}
            self._call("POST", "/messages/batchModify", json=body)

    def move(self, ids: Iterable[str], target: str) -> None:
        """Add *target*'s label and remove the open folder's, in one batchModify per 1000 ids;
        the ids stay the same. Repeating a move is harmless (labels are a set)."""
        source = self._require_open()
        destination = self._resolve_or_missing(target)
        if destination == source:
            return
        self._modify(ids, [destination], [source])

    def mark_seen(self, ids: Iterable[str]) -> None:
        """Remove the UNREAD label."""
        self._modify(ids, [], [UNREAD])
