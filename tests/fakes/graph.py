"""A local fake of the Microsoft Graph v1.0 mail API, for connector tests without a tenant.

It serves ``http://127.0.0.1:PORT/v1.0`` from a daemon thread and answers the way the
documentation says Graph answers (learn.microsoft.com/graph/...):

- ``GET /users/{m}/mailFolders`` and ``.../mailFolders/{id}/childFolders``: pages of
  ``$top`` folders (default 10) chained by ``@odata.nextLink`` (``$skip``); folders are
  addressed by id or by well-known name (``api/resources/mailfolder``, "List mailFolders").
  ``POST`` on either collection creates a folder: 201, or 409 ``ErrorFolderExists``.
- ``GET .../mailFolders/{id}/messages/delta`` ("Get incremental changes to messages in a
  folder", ``api/message-delta``): pages of ``Prefer: odata.maxpagesize`` items (default 10),
  ``@odata.nextLink`` with an opaque ``$skiptoken`` on all but the last page, which carries an
  ``@odata.deltaLink`` with an opaque ``$deltatoken``. A deltaLink replays what changed after
  its round began: new messages, messages moved in and messages whose isRead changed as items;
  messages moved out or deleted as ``{"id": ..., "@removed": {"reason": "deleted"}}``. Only
  ``$select`` and ``$filter=receivedDateTime ge|gt {value}`` are honoured, as documented. The
  order inside a round is newest first: Graph guarantees none, so clients must sort.
- ``GET /users/{m}/messages/{id}/$value``: the stored bytes unchanged, ``Content-Type:
  text/plain`` as Graph sends ("Get MIME content of a message"); ``PATCH`` of a message
  (isRead); ``POST .../move`` with ``destinationId`` (``api/message-move``): 201.
- Ids ("Obtain immutable identifiers for Outlook resources"): a message has a default REST id
  that changes whenever it is moved, and an immutable id that never does; a request carrying
  ``Prefer: IdType="ImmutableId"`` sees immutable ids, any other sees REST ids. Both kinds are
  accepted in URLs; a REST id from before a move answers 404 like real Graph.
- ``POST /v1.0/$batch`` ("Combine multiple HTTP requests using JSON batching",
  ``graph/json-batching``): ``{"requests": [{"id", "method", "url", "headers", "body"}]}``, at
  most 20 (else 400 ``BadRequest``), ``url`` relative to ``/v1.0``, ``Content-Type`` required
  with a ``body``. Each sub-request is answered as if sent alone, with the outer request's
  ``Authorization`` but only its own other headers (``Prefer`` too), and is recorded in
  ``requests`` after the batch itself. The answer is 200 ``{"responses": [{"id", "status",
  "headers", "body"}]}`` in reverse order (Graph promises none); a non-JSON body is base64.
  ``dependsOn`` is not supported (400). ``throttle_batch_items`` makes sub-requests answer 429
  with ``Retry-After`` in their own headers, as throttled sub-requests do on Graph.
- Errors are ``{"error": {"code", "message", "innerError"}}`` ("Microsoft Graph error
  responses"): 401 InvalidAuthenticationToken, 403 ErrorAccessDenied, 404 ErrorInvalidUser for
  an unknown mailbox and ErrorItemNotFound for an unknown item, 409 ErrorFolderExists, 410
  syncStateNotFound for an expired delta token, and 429/503 with ``Retry-After`` on demand
  (``throttle``), as in "Microsoft Graph throttling guidance".

Latency and concurrency, as a tenant's Outlook service would: ``latency`` (seconds) delays every
answer, and ``concurrency_limit`` (4 on Graph: "Microsoft Graph service-specific throttling
limits", Outlook service limits) makes a request to a mailbox that already has that many in
flight answer 429 ``ApplicationThrottled`` "Application is over its MailboxConcurrency limit."
with ``Retry-After``; ``peak_in_flight`` records the most requests one mailbox had at once.

Several ``Prefer`` preferences may come in one header, comma-separated, or in several headers
(RFC 7240 §2); both are read. The store is guarded by one lock; nothing is logged.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import itertools
import json
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

API_ROOT = "/v1.0"
DEFAULT_PAGE = 10  # Graph's default page size for mail folders and delta pages
BATCH_LIMIT = 20  # requests in one JSON batch
WELL_KNOWN: dict[str, str] = {  # well-known name -> display name of a new mailbox
    "inbox": "Inbox",
    "archive": "Archive",
    "deleteditems": "Deleted Items",
    "sentitems": "Sent Items",
    "drafts": "Drafts",
    "junkemail": "Junk Email",
}
SEEN = "\\Seen"
JSON_TYPE = "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8"

Authorize = Callable[[str, str], int]


class GraphError(Exception):
    """An error answer: status, Graph error code, message and extra response headers."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        inner = {"date": now, "request-id": str(uuid.uuid4())}
        return {"error": {"code": self.code, "message": self.message, "innerError": inner}}


def _not_found(what: str = "object") -> GraphError:
    return GraphError(404, "ErrorItemNotFound", f"The specified {what} was not found in the store.")


def _new_id(prefix: str) -> str:
    """An opaque id shaped like Graph's: base64url text with '=' padding."""
    return f"{prefix}{secrets.token_urlsafe(24)}="


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the store ----------------------------------------------------------------------------


@dataclass
class _Folder:
    id: str
    display_name: str
    parent_id: str | None  # None only for the root (msgfolderroot)
    well_known: str | None = None


@dataclass
class _Message:
    immutable_id: str
    rest_id: str  # the default id: a new one on every move
    folder_id: str
    raw: bytes
    is_read: bool
    received: datetime
    changed: int  # change sequence number of the last create, move-in or isRead change

    def fields(self) -> dict[str, Any]:
        """The message's properties except ``id``, as Graph names them."""
        try:
            headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(
                self.raw
            )
            subject = str(headers.get("Subject") or "")
            message_id = str(headers.get("Message-ID") or "")
        except Exception:  # a damaged header: Graph would still list the message
            subject = message_id = ""
        return {
            "receivedDateTime": _iso(self.received),
            "subject": subject,
            "isRead": self.is_read,
            "parentFolderId": self.folder_id,
            "internetMessageId": message_id,
        }


@dataclass
class _Removal:
    changed: int
    folder_id: str
    immutable_id: str
    rest_id: str  # the REST id it had in that folder


@dataclass
class _Entry:
    """One line of a delta round, captured when the round began."""

    immutable_id: str
    rest_id: str
    fields: dict[str, Any] | None  # None: "@removed"


@dataclass
class _Round:
    mailbox: str
    folder_id: str
    select: tuple[str, ...] | None
    since: tuple[str, datetime] | None  # ("ge" | "gt", when)
    entries: list[_Entry]
    seq: int  # the mailbox's change sequence when the round began


@dataclass
class _DeltaState:
    mailbox: str
    folder_id: str
    select: tuple[str, ...] | None
    since: tuple[str, datetime] | None
    seq: int
    expired: bool = False


class FakeGraphMailbox:
    """One mailbox of the fake; the same test-facing shape as the Dovecot harness's Mailbox,
    with Graph's immutable ids where IMAP has uids. Folders are display-name paths ``A/B``;
    ``INBOX`` (any case) and the well-known names address the well-known folders."""

    def __init__(self, address: str, lock: threading.RLock) -> None:
        self.address = address
        self._lock = lock
        self._seq = itertools.count(1)
        self.seq = 0
        self._last_received: datetime | None = None
        root = _Folder(_new_id("AQMkRoot"), "Top of Information Store", None, "msgfolderroot")
        self.root_id = root.id
        self.folder_by_id: dict[str, _Folder] = {root.id: root}
        for name, display in WELL_KNOWN.items():
            folder = _Folder(_new_id("AQMk"), display, root.id, name)
            self.folder_by_id[folder.id] = folder
        self.messages: dict[str, _Message] = {}  # by immutable id
        self.rest_ids: dict[str, str] = {}  # current REST id -> immutable id
        self.removals: list[_Removal] = []

    # -- test-facing helpers (same shape as harness.dovecot.Mailbox) -----------------

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: tuple[str, ...] = (),
        *,
        received: datetime | None = None,
    ) -> str:
        """Deliver *raw* into *folder* (created if missing); returns its immutable id.
        ``received`` defaults to now, kept strictly increasing between appends."""
        with self._lock:
            folder_id = self._path_to_id(folder, create=True)
            assert folder_id is not None
            if received is None:
                received = datetime.now(UTC).replace(microsecond=0)
                if self._last_received is not None and received <= self._last_received:
                    received = self._last_received + timedelta(seconds=1)
                self._last_received = received
            message = _Message(
                immutable_id=_new_id("AAMkImm"),
                rest_id=_new_id("AAMkRest"),
                folder_id=folder_id,
                raw=bytes(raw),
                is_read=SEEN in flags,
                received=received.astimezone(UTC),
                changed=self._tick(),
            )
            self.messages[message.immutable_id] = message
            self.rest_ids[message.rest_id] = message.immutable_id
            return message.immutable_id

    def count(self, folder: str = "INBOX") -> int:
        return len(self.ids(folder))

    def ids(self, folder: str = "INBOX") -> list[str]:
        """Immutable ids of the messages in *folder*, in delivery order."""
        with self._lock:
            folder_id = self._path_to_id(folder, create=False)
            if folder_id is None:
                raise KeyError(folder)
            return [m.immutable_id for m in self.messages.values() if m.folder_id == folder_id]

    def flags(self, folder: str = "INBOX") -> dict[str, set[str]]:
        with self._lock:
            return {i: ({SEEN} if self.messages[i].is_read else set()) for i in self.ids(folder)}

    def folders(self) -> list[str]:
        """Display-name paths of every folder, parents before their children."""
        with self._lock:
            return [path for path, _folder in self._walk(self.root_id, "")]

    def create_folder(self, path: str) -> None:
        """Create *path* and any missing parents (an existing folder is left alone)."""
        with self._lock:
            self._path_to_id(path, create=True)

    def delete(self, message_id: str) -> None:
        """Delete a message for good, as another client would (delta lists it "@removed")."""
        with self._lock:
            message = self.message(message_id)
            self._record_removal(message)
            del self.messages[message.immutable_id]
            del self.rest_ids[message.rest_id]

    def delete_folder(self, path: str) -> None:
        """Delete a folder with its subfolders and their mail, as another client would."""
        with self._lock:
            folder_id = self._path_to_id(path, create=False)
            if folder_id is None:
                raise KeyError(path)
            doomed = {folder_id} | {f.id for _p, f in self._walk(folder_id, "")}
            for message in [m for m in self.messages.values() if m.folder_id in doomed]:
                self.delete(message.immutable_id)
            for gone in doomed:
                del self.folder_by_id[gone]

    # -- store operations used by the server -------------------------------------------

    def _tick(self) -> int:
        self.seq = next(self._seq)
        return self.seq

    def _walk(self, parent_id: str, prefix: str) -> Iterator[tuple[str, _Folder]]:
        for folder in self.children(parent_id):
            path = prefix + folder.display_name
            yield path, folder
            yield from self._walk(folder.id, path + "/")

    def children(self, parent_id: str) -> list[_Folder]:
        return [f for f in self.folder_by_id.values() if f.parent_id == parent_id]

    def _child_named(self, parent_id: str, name: str) -> _Folder | None:
        for folder in self.children(parent_id):
            if folder.display_name.casefold() == name.casefold():
                return folder
        return None

    def _path_to_id(self, path: str, *, create: bool) -> str | None:
        parts = path.split("/")
        if not all(parts):
            raise ValueError(f"bad folder path {path!r}")
        folder = self.folder(parts[0]) if parts[0].casefold() in WELL_KNOWN else None
        parent_id = self.root_id
        for index, part in enumerate(parts):
            if index > 0 or folder is None:
                folder = self._child_named(parent_id, part)
            if folder is None:
                if not create:
                    return None
                folder = self.add_folder(parent_id, part)
            parent_id = folder.id
        return parent_id

    def folder(self, key: str) -> _Folder:
        """A folder by id or well-known name; 404 ErrorItemNotFound when there is none."""
        if key in self.folder_by_id:
            return self.folder_by_id[key]
        for folder in self.folder_by_id.values():
            if folder.well_known == key.casefold():
                return folder
        raise _not_found()

    def add_folder(self, parent_id: str, name: str) -> _Folder:
        if not name or "/" in name:
            raise GraphError(400, "ErrorInvalidRequest", "The folder name is invalid.")
        if self._child_named(parent_id, name) is not None:
            raise GraphError(
                409, "ErrorFolderExists", "A folder with the specified name already exists."
            )
        folder = _Folder(_new_id("AQMk"), name, parent_id)
        self.folder_by_id[folder.id] = folder
        return folder

    def folder_json(self, folder: _Folder) -> dict[str, Any]:
        inside = [m for m in self.messages.values() if m.folder_id == folder.id]
        return {
            "id": folder.id,
            "displayName": folder.display_name,
            "parentFolderId": folder.parent_id,
            "childFolderCount": len(self.children(folder.id)),
            "unreadItemCount": sum(1 for m in inside if not m.is_read),
            "totalItemCount": len(inside),
            "isHidden": False,
        }

    def message(self, message_id: str) -> _Message:
        """A message by immutable id or current REST id; 404 ErrorItemNotFound otherwise."""
        found = self.messages.get(self.rest_ids.get(message_id, message_id))
        if found is None:
            raise _not_found()
        return found

    def _record_removal(self, message: _Message) -> None:
        self.removals.append(
            _Removal(self._tick(), message.folder_id, message.immutable_id, message.rest_id)
        )

    def move(self, message: _Message, destination: _Folder) -> None:
        """A move makes a new item in the destination: new REST id, same immutable id."""
        self._record_removal(message)
        del self.rest_ids[message.rest_id]
        message.rest_id = _new_id("AAMkRest")
        self.rest_ids[message.rest_id] = message.immutable_id
        message.folder_id = destination.id
        message.changed = self._tick()

    def set_read(self, message: _Message, is_read: bool) -> None:
        if message.is_read != is_read:
            message.is_read = is_read
            message.changed = self._tick()

    def delta_entries(
        self, folder_id: str, since: tuple[str, datetime] | None, after: int | None
    ) -> list[_Entry]:
        """What a delta round lists: every message (after=None) or the changes after *after*."""

        def wanted(m: _Message) -> bool:
            if since is not None:
                op, when = since
                if m.received < when or (op == "gt" and m.received == when):
                    return False
            return after is None or m.changed > after

        inside = [m for m in self.messages.values() if m.folder_id == folder_id and wanted(m)]
        inside.sort(key=lambda m: m.received, reverse=True)  # Graph promises no order
        entries = [_Entry(m.immutable_id, m.rest_id, m.fields()) for m in inside]
        if after is not None:
            present = {m.immutable_id for m in self.messages.values() if m.folder_id == folder_id}
            gone: dict[str, _Removal] = {}
            for removal in self.removals:
                if removal.folder_id == folder_id and removal.changed > after:
                    gone.setdefault(removal.immutable_id, removal)
            entries += [
                _Entry(r.immutable_id, r.rest_id, None)
                for r in gone.values()
                if r.immutable_id not in present
            ]
        return entries


# -- the HTTP server ----------------------------------------------------------------------


def _preferences(headers: Mapping[str, str]) -> dict[str, str]:
    """``Prefer`` preferences (RFC 7240): name (lower case) -> value without quotes."""
    prefs: dict[str, str] = {}
    for item in re.findall(r'(?:[^,"]|"[^"]*")+', headers.get("prefer", "")):
        name, _, value = item.split(";", 1)[0].partition("=")
        if name.strip():
            prefs[name.strip().lower()] = value.strip().strip('"')
    return prefs


@dataclass
class _Request:
    method: str
    segments: list[str]
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    immutable: bool = field(init=False)
    prefs: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.prefs = _preferences(self.headers)
        self.immutable = self.prefs.get("idtype", "").lower() == "immutableid"

    def json(self) -> dict[str, Any]:
        try:
            payload = json.loads(self.body or b"{}")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise GraphError(400, "BadRequest", "Unable to read JSON request payload.")
        return payload


Answer = tuple[int, dict[str, Any] | bytes, dict[str, str]]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeGraph


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every answer
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self.server.fake._serve(self, "GET")

    def do_POST(self) -> None:
        self.server.fake._serve(self, "POST")

    def do_PATCH(self) -> None:
        self.server.fake._serve(self, "PATCH")

    def do_DELETE(self) -> None:
        self.server.fake._serve(self, "DELETE")


class FakeGraph:
    """The fake Graph service; see the module docstring. Use as a context manager.

    *authorize* decides on each request from (bearer token, mailbox address): 200 to serve
    it, 401 or 403 to refuse it; by default any non-empty token is accepted."""

    def __init__(self, authorize: Authorize | None = None) -> None:
        self._authorize: Authorize = authorize or (lambda token, _mailbox: 200 if token else 401)
        self._lock = threading.RLock()
        self._mailboxes: dict[str, FakeGraphMailbox] = {}
        self._rounds: dict[str, _Round] = {}
        self._deltas: dict[str, _DeltaState] = {}
        self._throttle_left = 0
        self._throttle_status = 429
        self._throttle_retry_after: str | None = None
        self._item_throttle_left = 0
        self._item_throttle_status = 429
        self._item_throttle_retry_after: str | None = None
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # header names lower case
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.latency = 0.0  # seconds added to every answer
        self.concurrency_limit: int | None = None  # per mailbox; Graph's is 4
        self.concurrency_retry_after = "1"
        self.peak_in_flight: dict[str, int] = {}  # mailbox (case-folded) -> most at once
        self.broken: dict[str, int] = {}  # message id -> status its $value answers (a fault)
        self.refused_for_concurrency = 0
        self._in_flight: dict[str, int] = {}
        self._flight_lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeGraph:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeGraph is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}{API_ROOT}"

    # -- test controls --------------------------------------------------------------------

    def mailbox(self, address: str) -> FakeGraphMailbox:
        with self._lock:
            key = address.casefold()
            if key not in self._mailboxes:
                self._mailboxes[key] = FakeGraphMailbox(address, self._lock)
            return self._mailboxes[key]

    def throttle(self, count: int, *, status: int = 429, retry_after: str | None = "1") -> None:
        """The next *count* requests are answered *status* (with ``Retry-After`` if given)."""
        with self._lock:
            self._throttle_left = count
            self._throttle_status = status
            self._throttle_retry_after = retry_after

    def throttle_batch_items(
        self, count: int, *, status: int = 429, retry_after: str | None = "1"
    ) -> None:
        """The next *count* sub-requests of JSON batches are answered *status* (with
        ``Retry-After`` in the sub-response's headers if given); the batch itself is 200."""
        with self._lock:
            self._item_throttle_left = count
            self._item_throttle_status = status
            self._item_throttle_retry_after = retry_after

    def expire_delta_tokens(self) -> None:
        """Every deltaLink issued so far answers 410 syncStateNotFound from now on."""
        with self._lock:
            for state in self._deltas.values():
                state.expired = True

    # -- serving --------------------------------------------------------------------------

    def _serve(self, handler: _Handler, method: str) -> None:
        headers: dict[str, str] = {}
        for name, value in handler.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        length = int(headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        key = _mailbox_of(handler.path)
        with self._flight_lock:
            now = self._in_flight[key] = self._in_flight.get(key, 0) + 1
            self.peak_in_flight[key] = max(self.peak_in_flight.get(key, 0), now)
        try:
            if self.latency:
                time.sleep(self.latency)
            with self._lock:
                self.requests.append((method, handler.path, headers))
                try:
                    if self.concurrency_limit is not None and now > self.concurrency_limit:
                        self.refused_for_concurrency += 1
                        raise GraphError(
                            429,
                            "ApplicationThrottled",
                            "Application is over its MailboxConcurrency limit.",
                            {"Retry-After": self.concurrency_retry_after},
                        )
                    status, payload, extra = self._answer(method, handler.path, headers, body)
                except GraphError as err:
                    status, payload, extra = err.status, err.body(), err.headers
        finally:
            with self._flight_lock:  # before the answer goes out: the client may send again
                self._in_flight[key] -= 1
        if isinstance(payload, bytes):
            data, content_type = payload, "text/plain"
        else:
            data, content_type = json.dumps(payload).encode(), JSON_TYPE
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("request-id", str(uuid.uuid4()))
        for name, value in extra.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        if self._throttle_left > 0:
            self._throttle_left -= 1
            raise _throttled(self._throttle_status, self._throttle_retry_after)
        if urlsplit(target).path == f"{API_ROOT}/$batch" and method == "POST":
            return self._batch(headers, body)
        return self._dispatch(method, target, headers, body)

    def _dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        """One request, sent alone or inside a batch."""
        parts = urlsplit(target)
        if not parts.path.startswith(API_ROOT + "/"):
            raise GraphError(400, "BadRequest", "Invalid version.")
        segments = [unquote(s) for s in parts.path[len(API_ROOT) + 1 :].split("/")]
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        request = _Request(method, segments, query, headers, body)
        if len(segments) < 3 or segments[0].lower() != "users" or not segments[1]:
            raise GraphError(400, "BadRequest", f"Resource not found for the segment '{target}'.")
        address = segments[1]
        self._check_auth(headers, address)
        box = self._mailboxes.get(address.casefold())
        if box is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{address}' is invalid.")
        return self._route(box, request)

    def _check_auth(self, headers: Mapping[str, str], address: str | None) -> None:
        """Refuse a missing or invalid token (401) and, for a mailbox, a token that may not
        open it (403). A batch (*address* None) needs only a valid token."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        verdict = self._authorize(token, address or "") if token else 401
        if address is None and verdict != 401:
            return
        if verdict == 401:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure." if token else "Access token is empty.",
                {"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'},
            )
        if verdict == 403:
            raise GraphError(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )

    def _route(self, box: FakeGraphMailbox, request: _Request) -> Answer:
        method = request.method
        rest = request.segments[2:]
        names = [s.lower() for s in rest]
        if names[0] == "mailfolders":
            if len(rest) == 1:
                if method == "GET":
                    return self._list_folders(box, box.root_id, request)
                if method == "POST":
                    return self._create_folder(box, box.root_id, request)
            elif len(rest) == 2 and method == "GET":
                return 200, box.folder_json(box.folder(rest[1])), {}
            elif names[2:] == ["childfolders"]:
                parent = box.folder(rest[1])
                if method == "GET":
                    return self._list_folders(box, parent.id, request)
                if method == "POST":
                    return self._create_folder(box, parent.id, request)
            elif names[2:] == ["messages", "delta"] and method == "GET":
                return self._delta(box, box.folder(rest[1]), request)
        elif names[0] == "messages" and len(rest) >= 2:
            message = box.message(rest[1])
            if len(rest) == 2 and method == "GET":
                return 200, self._message_json(message, request), {}
            if len(rest) == 2 and method == "PATCH":
                return self._update(box, message, request)
            if names[2:] == ["$value"] and method == "GET":
                if message.immutable_id in self.broken:
                    status = self.broken[message.immutable_id]
                    raise GraphError(status, "ErrorInjectedFault", "Injected fault.")
                return 200, message.raw, {}
            if names[2:] == ["move"] and method == "POST":
                return self._move(box, message, request)
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[-1]}'.")

    # -- JSON batching --------------------------------------------------------------------

    def _batch(self, headers: dict[str, str], body: bytes) -> Answer:
        self._check_auth(headers, None)
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = None
        requests = payload.get("requests") if isinstance(payload, dict) else None
        if not isinstance(requests, list) or not requests:
            raise GraphError(400, "BadRequest", "Invalid batch payload format.")
        if len(requests) > BATCH_LIMIT:
            raise GraphError(
                400,
                "BadRequest",
                f"Number of batch request steps exceeds the maximum of {BATCH_LIMIT}.",
            )
        seen: set[str] = set()
        for item in requests:
            if not (
                isinstance(item, dict)
                and isinstance(item.get("id"), str)
                and item["id"]
                and isinstance(item.get("method"), str)
                and isinstance(item.get("url"), str)
                and isinstance(item.get("headers", {}), dict)
            ):
                raise GraphError(400, "BadRequest", "Invalid batch payload format.")
            if item["id"] in seen:
                raise GraphError(400, "BadRequest", "Batch request ids must be unique.")
            if "dependsOn" in item:
                raise GraphError(400, "BadRequest", "dependsOn is not supported by the fake.")
            seen.add(item["id"])
        responses = [self._batch_item(item, headers) for item in requests]
        return 200, {"responses": responses[::-1]}, {}

    def _batch_item(self, item: dict[str, Any], outer: Mapping[str, str]) -> dict[str, Any]:
        method = item["method"].upper()
        headers = {str(k).lower(): str(v) for k, v in item.get("headers", {}).items()}
        if "authorization" in outer:
            headers["authorization"] = outer["authorization"]
        target = f"{API_ROOT}/{item['url'].lstrip('/')}"
        self.requests.append((method, target, headers))
        try:
            if "body" in item and "content-type" not in headers:
                raise GraphError(
                    400, "BadRequest", "Content-Type header must be specified with a body."
                )
            body = json.dumps(item["body"]).encode() if "body" in item else b""
            if urlsplit(target).path == f"{API_ROOT}/$batch" or "://" in item["url"]:
                raise GraphError(400, "BadRequest", "Invalid request URL in a batch.")
            if self._item_throttle_left > 0:
                self._item_throttle_left -= 1
                raise _throttled(self._item_throttle_status, self._item_throttle_retry_after)
            status, payload, extra = self._dispatch(method, target, headers, body)
        except GraphError as err:
            status, payload, extra = err.status, err.body(), err.headers
        answer: dict[str, Any] = {"id": item["id"], "status": status}
        if isinstance(payload, bytes):
            answer["headers"] = {"Content-Type": "text/plain", **extra}
            answer["body"] = base64.b64encode(payload).decode()
        else:
            answer["headers"] = {"Content-Type": JSON_TYPE, **extra}
            answer["body"] = payload
        return answer

    # -- folders --------------------------------------------------------------------------

    def _list_folders(self, box: FakeGraphMailbox, parent_id: str, request: _Request) -> Answer:
        try:
            top = int(request.query.get("$top", DEFAULT_PAGE))
            skip = int(request.query.get("$skip", 0))
        except ValueError as exc:
            raise GraphError(400, "BadRequest", "Invalid $top or $skip.") from exc
        if top < 1 or skip < 0:
            raise GraphError(400, "BadRequest", "Invalid $top or $skip.")
        children = box.children(parent_id)
        page = {"value": [box.folder_json(f) for f in children[skip : skip + top]]}
        if skip + top < len(children):
            query = {**request.query, "$top": str(top), "$skip": str(skip + top)}
            path = "/".join(quote(s, safe="@") for s in request.segments)
            link = f"{self.url}/{path}?{urlencode(query, safe='$,', quote_via=quote)}"
            page["@odata.nextLink"] = link
        return 200, page, {}

    def _create_folder(self, box: FakeGraphMailbox, parent_id: str, request: _Request) -> Answer:
        name = request.json().get("displayName")
        if not isinstance(name, str):
            raise GraphError(400, "ErrorInvalidRequest", "displayName is required.")
        return 201, box.folder_json(box.add_folder(parent_id, name)), {}

    # -- messages -------------------------------------------------------------------------

    def _message_json(
        self, message: _Message, request: _Request, fields: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        shown = message.immutable_id if request.immutable else message.rest_id
        return {"id": shown, **(fields if fields is not None else message.fields())}

    def _update(self, box: FakeGraphMailbox, message: _Message, request: _Request) -> Answer:
        changes = request.json()
        if "isRead" in changes:
            if not isinstance(changes["isRead"], bool):
                raise GraphError(400, "BadRequest", "isRead must be a boolean.")
            box.set_read(message, changes["isRead"])
        return 200, self._message_json(message, request), {}

    def _move(self, box: FakeGraphMailbox, message: _Message, request: _Request) -> Answer:
        destination = request.json().get("destinationId")
        if not isinstance(destination, str) or not destination:
            raise GraphError(400, "ErrorInvalidRequest", "destinationId is required.")
        box.move(message, box.folder(destination))
        return 201, self._message_json(message, request), {}

    # -- delta ----------------------------------------------------------------------------

    def _delta(self, box: FakeGraphMailbox, folder: _Folder, request: _Request) -> Answer:
        if "$skiptoken" in request.query:
            round_ = self._rounds.get(request.query["$skiptoken"])
            if round_ is None or round_.folder_id != folder.id:
                raise GraphError(410, "syncStateNotFound", "The sync state was not found.")
        elif "$deltatoken" in request.query:
            state = self._deltas.get(request.query["$deltatoken"])
            if state is None or state.expired or state.folder_id != folder.id:
                raise GraphError(
                    410, "syncStateNotFound", "The sync state generation was not found."
                )
            round_ = self._begin(box, folder, state.select, state.since, after=state.seq)
        else:
            select = request.query.get("$select")
            columns = tuple(c.strip() for c in select.split(",")) if select else None
            since = _parse_filter(request.query.get("$filter"))
            round_ = self._begin(box, folder, columns, since, after=None)
        try:
            size = int(request.prefs.get("odata.maxpagesize", DEFAULT_PAGE))
        except ValueError:
            size = DEFAULT_PAGE
        size = max(1, size)
        page, left = round_.entries[:size], round_.entries[size:]
        base = f"{self.url}/users/{quote(box.address, safe='@')}/mailFolders/{quote(folder.id)}"
        answer: dict[str, Any] = {"value": [self._render(e, round_, request) for e in page]}
        if left:
            token = secrets.token_urlsafe(18)
            self._rounds[token] = _Round(
                round_.mailbox, round_.folder_id, round_.select, round_.since, left, round_.seq
            )
            answer["@odata.nextLink"] = f"{base}/messages/delta?$skiptoken={token}"
        else:
            token = secrets.token_urlsafe(18)
            self._deltas[token] = _DeltaState(
                round_.mailbox, round_.folder_id, round_.select, round_.since, round_.seq
            )
            answer["@odata.deltaLink"] = f"{base}/messages/delta?$deltatoken={token}"
        return 200, answer, {"Preference-Applied": f"odata.maxpagesize={size}"}

    def _begin(
        self,
        box: FakeGraphMailbox,
        folder: _Folder,
        select: tuple[str, ...] | None,
        since: tuple[str, datetime] | None,
        *,
        after: int | None,
    ) -> _Round:
        entries = box.delta_entries(folder.id, since, after)
        return _Round(box.address, folder.id, select, since, entries, box.seq)

    def _render(self, entry: _Entry, round_: _Round, request: _Request) -> dict[str, Any]:
        shown = entry.immutable_id if request.immutable else entry.rest_id
        item: dict[str, Any] = {"@odata.type": "#microsoft.graph.message", "id": shown}
        if entry.fields is None:
            item["@removed"] = {"reason": "deleted"}
        elif round_.select is None:
            item.update(entry.fields)
        else:
            item.update({k: v for k, v in entry.fields.items() if k in round_.select})
        return item


def _mailbox_of(target: str) -> str:
    """The mailbox a request goes to (case-folded), "" for a batch or anything else."""
    segments = urlsplit(target).path[len(API_ROOT) + 1 :].split("/")
    if len(segments) >= 2 and segments[0].lower() == "users":
        return unquote(segments[1]).casefold()
    return ""


def _throttled(status: int, retry_after: str | None) -> GraphError:
    extra = {"Retry-After": retry_after} if retry_after is not None else {}
    if status == 429:
        return GraphError(429, "TooManyRequests", "Too many requests.", extra)
    return GraphError(status, "serviceNotAvailable", "Service unavailable.", extra)


def _parse_filter(expression: str | None) -> tuple[str, datetime] | None:
    """The one ``$filter`` delta on messages supports: ``receivedDateTime ge|gt {value}``."""
    if expression is None:
        return None
    match = re.fullmatch(r"\s*receivedDateTime\s+(ge|gt)\s+(\S+)\s*", expression, re.IGNORECASE)
    if match is None:
        raise GraphError(
            400,
            "ErrorInvalidUrlQueryFilter",
            "The query filter contains one or more invalid nodes.",
        )
    try:
        when = datetime.fromisoformat(match.group(2))
    except ValueError as exc:
        raise GraphError(400, "ErrorInvalidUrlQueryFilter", "Invalid date in the filter.") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return match.group(1).lower(), when
