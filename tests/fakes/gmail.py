"""A local fake of the Gmail API v1 (REST), on 127.0.0.1, for connector and contract tests.

It follows the documented wire behaviour, not Google's implementation:

- ``GET users/{userId}/profile``: ``emailAddress``, ``messagesTotal``, ``threadsTotal`` and
  the mailbox's current ``historyId`` (a string).
- ``GET|POST users/{userId}/labels``: system labels (id == name, ``type: system``) and user
  labels (``Label_N``, ``type: user``); creating a name that exists, ignoring case, answers
  409 "Label name exists or conflicts" (reason ``aborted``).
- ``GET users/{userId}/messages``: newest first, ``labelIds`` (all must match), ``q``
  (``is:unread``, ``is:read``, ``after:``/``before:`` with ``YYYY/MM/DD`` taken as midnight
  PST or epoch seconds, ``in:``/``label:``), ``maxResults`` (default 100, max 500),
  ``pageToken``/``nextPageToken``, ``resultSizeEstimate``; SPAM and TRASH only with
  ``includeSpamTrash=true`` or when asked for by label.
- ``GET users/{userId}/messages/{id}``: ``format=raw`` (``raw`` is base64url *without*
  padding, so clients must not rely on it), ``minimal`` or ``metadata``; 404 when gone.
- ``POST users/{userId}/messages/batchModify`` (≤ 1000 ids, 204 No Content) and
  ``POST users/{userId}/messages/{id}/modify``.
- ``GET users/{userId}/history``: records after ``startHistoryId`` in chronological order,
  filtered by ``labelId`` and ``historyTypes``, paged by ``maxResults``/``pageToken``, with
  the current ``historyId``; a ``startHistoryId`` older than the retained history answers
  404 NOT_FOUND. History ids grow with gaps, as Gmail's do.

Every change to a message (added, labels added or removed, deleted) bumps the mailbox's
historyId and leaves a history record whose message carries its labels as they were then.
Errors have Google's shape: ``{"error": {"code", "message", "errors": [{"reason", "domain",
"message"}], "status"}}``. ``throttle`` makes the next requests answer 429 or 403
rateLimitExceeded; ``expire_history`` makes every historyId issued so far too old.
``latency`` (seconds) delays every answer, as a real service's round trip does;
``concurrency_limit`` makes a request beyond that many in flight answer 429 "Too many
concurrent requests for user." (RESOURCE_EXHAUSTED, with ``Retry-After``), and
``peak_in_flight`` records the most requests that were in flight at once.
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

SYSTEM_LABELS = (
    "INBOX",
    "SENT",
    "SPAM",
    "TRASH",
    "DRAFT",
    "UNREAD",
    "STARRED",
    "IMPORTANT",
    "CHAT",
    "CATEGORY_PERSONAL",
    "CATEGORY_SOCIAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
)
FOLDER_LABELS = ("INBOX", "SENT", "SPAM", "TRASH", "DRAFT")
HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")
_TYPE_FIELDS = {
    "messageAdded": "messagesAdded",
    "messageDeleted": "messagesDeleted",
    "labelAdded": "labelsAdded",
    "labelRemoved": "labelsRemoved",
}
PST = timezone(timedelta(hours=-8))  # "dates ... are interpreted as midnight ... PST"

SCOPE_PREFIX = "https://www.googleapis.com/auth/"
FULL_SCOPE = "https://mail.google.com/"
READ_SCOPES = frozenset({"gmail.readonly", "gmail.modify", FULL_SCOPE})
WRITE_SCOPES = frozenset({"gmail.modify", FULL_SCOPE})
LABEL_SCOPES = WRITE_SCOPES | {"gmail.labels"}
LIST_SCOPES = READ_SCOPES | {"gmail.metadata"}  # metadata may list, not read bodies or use q

Authorize = Callable[[str, str], int]


class ApiError(Exception):
    """An error answer in Google's JSON shape."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str,
        status: str,
        domain: str = "global",
        headers: Mapping[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.headers = dict(headers or {})
        error: dict[str, Any] = {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
            "status": status,
        }
        if details:
            error["details"] = details
        self.body = {"error": error}


def not_found() -> ApiError:
    return ApiError(404, "Requested entity was not found.", reason="notFound", status="NOT_FOUND")


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, reason="invalidArgument", status="INVALID_ARGUMENT")


def _normal_scope(scope: str) -> str:
    return scope.removeprefix(SCOPE_PREFIX)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _encode_token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode("ascii")


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request("Invalid pageToken") from exc


@dataclass
class FakeMessage:
    id: str
    raw: bytes
    labels: set[str]
    internal_date: int  # ms since the epoch
    seq: int
    history_id: int = 0

    def ref(self) -> dict[str, Any]:
        return {"id": self.id, "threadId": self.id}

    def snapshot(self) -> dict[str, Any]:
        return {**self.ref(), "labelIds": sorted(self.labels)}

    def resource(self, fmt: str) -> dict[str, Any]:
        text = self.raw.decode("utf-8", "replace")
        body = text.split("\r\n\r\n", 1)[-1] if "\r\n\r\n" in text else text.split("\n\n", 1)[-1]
        out: dict[str, Any] = {
            **self.ref(),
            "labelIds": sorted(self.labels),
            "snippet": " ".join(body.split())[:100],
            "historyId": str(self.history_id),
            "internalDate": str(self.internal_date),
            "sizeEstimate": len(self.raw),
        }
        if fmt == "raw":
            out["raw"] = _b64url(self.raw)
        return out


@dataclass
class _Record:
    id: int
    kind: str  # one of HISTORY_TYPES
    message: dict[str, Any]  # {id, threadId, labelIds} as it was after the change
    label_ids: list[str] = field(default_factory=list)  # for labelAdded / labelRemoved


class FakeGmailMailbox:
    """One user's mailbox; the same shape as the Dovecot harness's ``Mailbox`` (folder names
    are label names) so one contract suite can drive IMAP, Graph and Gmail."""

    def __init__(self, server: FakeGmail, address: str, seed: int) -> None:
        self.server = server
        self.address = address
        self._lock = server.lock
        self._rng = random.Random(seed)
        self._labels: dict[str, dict[str, Any]] = {
            name: {
                "id": name,
                "name": name,
                "type": "system",
                **(
                    {"messageListVisibility": "hide", "labelListVisibility": "labelHide"}
                    if name.startswith("CATEGORY_") or name == "CHAT"
                    else {}
                ),
            }
            for name in SYSTEM_LABELS
        }
        self._next_label = 1
        self._messages: dict[str, FakeMessage] = {}
        self._records: list[_Record] = []
        self._seq = 0
        self._last_date = 0
        self.history_id = 1000 + self._rng.randrange(1000)
        self.history_floor = 0  # startHistoryId below this answers 404

    # -- internals (call with the lock held) ---------------------------------------------

    def _bump(self) -> int:
        self.history_id += self._rng.randint(1, 9)  # ids grow, not contiguously
        return self.history_id

    def _label_by_name(self, name: str) -> dict[str, Any] | None:
        for label in self._labels.values():
            if label["name"] == name:
                return label
        for label in self._labels.values():
            if label["name"].casefold() == name.casefold():
                return label
        return None

    def _create_label(self, name: str) -> dict[str, Any]:
        if not name or name != name.strip() or name.startswith("/") or name.endswith("/"):
            raise bad_request("Invalid label name")
        if self._label_by_name(name) is not None:
            raise ApiError(
                409, "Label name exists or conflicts", reason="aborted", status="ABORTED"
            )
        label_id = f"Label_{self._next_label}"
        self._next_label += 1
        label = {
            "id": label_id,
            "name": name,
            "type": "user",
            "messageListVisibility": "show",
            "labelListVisibility": "labelShow",
        }
        self._labels[label_id] = label
        return label

    def _folder_label(self, folder: str, *, create: bool) -> str:
        label = self._label_by_name(folder)
        if label is None:
            if not create:
                raise KeyError(f"no label {folder!r} in {self.address}")
            label = self._create_label(folder)
        return str(label["id"])

    def _change_labels(
        self, message: FakeMessage, add: Iterable[str], remove: Iterable[str]
    ) -> None:
        added = [lab for lab in dict.fromkeys(add) if lab not in message.labels]
        message.labels.update(added)
        removed = [lab for lab in dict.fromkeys(remove) if lab in message.labels]
        message.labels.difference_update(removed)
        if not added and not removed:
            return
        message.history_id = self._bump()
        if added:
            self._records.append(
                _Record(message.history_id, "labelAdded", message.snapshot(), added)
            )
        if removed:
            self._records.append(
                _Record(message.history_id, "labelRemoved", message.snapshot(), removed)
            )

    def _in(self, folder: str) -> list[FakeMessage]:
        label = self._folder_label(folder, create=False)
        found = [m for m in self._messages.values() if label in m.labels]
        return sorted(found, key=lambda m: (m.internal_date, m.seq))

    # -- the harness interface ------------------------------------------------------------

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: tuple[str, ...] = (),
        *,
        internal_date: datetime | None = None,
    ) -> str:
        """Add a message with the label *folder* (a missing user label is created) and UNREAD
        unless ``\\Seen`` is among *flags*; ``\\Flagged`` adds STARRED. Returns its id."""
        with self._lock:
            labels = {self._folder_label(folder, create=True)}
            if "\\Seen" not in flags:
                labels.add("UNREAD")
            if "\\Flagged" in flags:
                labels.add("STARRED")
            if internal_date is None:
                ms = max(int(datetime.now(UTC).timestamp() * 1000), self._last_date + 1)
                self._last_date = ms
            else:
                ms = int(internal_date.timestamp() * 1000)
            self._seq += 1
            message_id = f"{0x18C0000000000000 + self._seq * 0x1F3D + self._rng.randrange(16):x}"
            message = FakeMessage(message_id, bytes(raw), labels, ms, self._seq)
            message.history_id = self._bump()
            self._messages[message_id] = message
            self._records.append(_Record(message.history_id, "messageAdded", message.snapshot()))
            return message_id

    def count(self, folder: str = "INBOX") -> int:
        with self._lock:
            return len(self._in(folder))

    def ids(self, folder: str = "INBOX") -> list[str]:
        """Message ids carrying the label *folder*, oldest first."""
        with self._lock:
            return [m.id for m in self._in(folder)]

    def flags(self, folder: str = "INBOX") -> dict[str, set[str]]:
        """id -> IMAP-style flags: ``\\Seen`` when not UNREAD, ``\\Flagged`` when STARRED."""
        with self._lock:
            return {
                m.id: ({"\\Seen"} if "UNREAD" not in m.labels else set())
                | ({"\\Flagged"} if "STARRED" in m.labels else set())
                for m in self._in(folder)
            }

    def folders(self) -> list[str]:
        """User label names plus the system labels that are places (INBOX, SENT, ...)."""
        with self._lock:
            return [
                str(label["name"])
                for label in self._labels.values()
                if label["type"] == "user" or label["id"] in FOLDER_LABELS
            ]

    def create_folder(self, name: str) -> None:
        with self._lock:
            if self._label_by_name(name) is None:
                self._create_label(name)

    # -- extra test controls --------------------------------------------------------------

    def labels(self, message_id: str) -> set[str]:
        """The label names of a message."""
        with self._lock:
            message = self._messages[message_id]
            return {str(self._labels[lab]["name"]) for lab in message.labels}

    def relabel(
        self, message_id: str, *, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> None:
        """Another client changing labels by name (e.g. moving a message elsewhere)."""
        with self._lock:
            message = self._messages[message_id]
            self._change_labels(
                message,
                [self._folder_label(n, create=True) for n in add],
                [self._folder_label(n, create=False) for n in remove],
            )

    def delete(self, message_id: str) -> None:
        """Another client deleting a message for good."""
        with self._lock:
            message = self._messages.pop(message_id)
            self._records.append(_Record(self._bump(), "messageDeleted", message.snapshot()))

    def expire_history(self) -> None:
        with self._lock:
            self.history_floor = self.history_id + 1
            self._bump()
            self._records.clear()

    # -- API -------------------------------------------------------------------------------

    def api_profile(self) -> dict[str, Any]:
        return {
            "emailAddress": self.address,
            "messagesTotal": len(self._messages),
            "threadsTotal": len(self._messages),
            "historyId": str(self.history_id),
        }

    def api_labels(self) -> dict[str, Any]:
        return {"labels": [dict(label) for label in self._labels.values()]}

    def api_create_label(self, body: Mapping[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if not isinstance(name, str):
            raise bad_request("Invalid label name")
        label = self._create_label(name)
        for key in ("labelListVisibility", "messageListVisibility"):
            if key in body:
                label[key] = body[key]
        return dict(label)

    def api_list(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        label_ids = query.get("labelIds", [])
        for label_id in label_ids:
            if label_id not in self._labels:
                raise bad_request(f"Invalid label: {label_id}")
        include_spam_trash = query.get("includeSpamTrash", ["false"])[0] == "true"
        wanted = set(label_ids)
        if not include_spam_trash and not wanted & {"SPAM", "TRASH"}:
            exclude = {"SPAM", "TRASH"}
        else:
            exclude = set()
        match = self._query(" ".join(query.get("q", [])))
        found = [
            m
            for m in self._messages.values()
            if wanted <= m.labels and not m.labels & exclude and match(m)
        ]
        found.sort(key=lambda m: (m.internal_date, m.seq), reverse=True)
        if "pageToken" in query:
            last_date, last_seq = (int(x) for x in _decode_token(query["pageToken"][0]).split(":"))
            found = [m for m in found if (m.internal_date, m.seq) < (last_date, last_seq)]
        size = _page_size(query)
        page = found[:size]
        out: dict[str, Any] = {"resultSizeEstimate": len(found)}
        if page:
            out["messages"] = [m.ref() for m in page]
        if len(found) > size:
            out["nextPageToken"] = _encode_token(f"{page[-1].internal_date}:{page[-1].seq}")
        return out

    def _query(self, q: str) -> Callable[[FakeMessage], bool]:
        tests: list[Callable[[FakeMessage], bool]] = []
        for term in q.split():
            key, _, value = term.partition(":")
            key = key.lower()
            if term.lower() == "is:unread":
                tests.append(lambda m: "UNREAD" in m.labels)
            elif term.lower() == "is:read":
                tests.append(lambda m: "UNREAD" not in m.labels)
            elif key in ("after", "before") and value:
                bound = _date_bound(value)
                if key == "after":
                    tests.append(lambda m, b=bound: m.internal_date >= b)
                else:
                    tests.append(lambda m, b=bound: m.internal_date < b)
            elif key in ("in", "label") and value:
                label = self._label_by_name(value.replace("-", "/"))
                label_id = label["id"] if label else None
                tests.append(lambda m, i=label_id: i in m.labels)
            else:
                raise bad_request(f"the fake Gmail does not understand the query term {term!r}")
        return lambda m: all(t(m) for t in tests)

    def api_get(self, message_id: str, query: Mapping[str, list[str]]) -> dict[str, Any]:
        if not re.fullmatch(r"[0-9a-f]{1,32}", message_id):
            raise bad_request("Invalid id value")
        message = self._messages.get(message_id)
        if message is None:
            raise not_found()
        fmt = query.get("format", ["full"])[0].lower()
        if fmt not in ("raw", "minimal", "metadata"):
            raise bad_request(f"the fake Gmail serves format=raw, minimal or metadata, not {fmt}")
        return message.resource(fmt)

    def api_modify(self, ids: list[str], body: Mapping[str, Any]) -> None:
        add = list(body.get("addLabelIds") or [])
        remove = list(body.get("removeLabelIds") or [])
        for label_id in add + remove:
            if label_id not in self._labels:
                raise bad_request(f"Invalid label: {label_id}")
        for message_id in ids:
            message = self._messages.get(message_id)
            if message is not None:
                self._change_labels(message, add, remove)

    def api_history(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        start_text = query.get("startHistoryId", [""])[0]
        if not start_text:
            raise bad_request("Missing required parameter: startHistoryId")
        if not start_text.isdigit():
            raise bad_request("Invalid startHistoryId")
        start = int(start_text)
        if start < self.history_floor:
            raise not_found()
        types = query.get("historyTypes") or list(HISTORY_TYPES)
        for kind in types:
            if kind not in HISTORY_TYPES:
                raise bad_request(f"Invalid historyTypes value: {kind}")
        label = query.get("labelId", [None])[0]
        after = start
        if "pageToken" in query:
            after = max(after, int(_decode_token(query["pageToken"][0])))
        records = [
            r
            for r in self._records
            if r.id > after
            and r.kind in types
            and (label is None or label in r.message["labelIds"] or label in r.label_ids)
        ]
        by_id: dict[int, dict[str, Any]] = {}
        for r in records:
            entry = by_id.setdefault(r.id, {"id": str(r.id), "messages": []})
            if r.message["id"] not in {m["id"] for m in entry["messages"]}:
                entry["messages"].append({"id": r.message["id"], "threadId": r.message["id"]})
            change: dict[str, Any] = {"message": dict(r.message)}
            if r.kind in ("labelAdded", "labelRemoved"):
                change["labelIds"] = list(r.label_ids)
            entry.setdefault(_TYPE_FIELDS[r.kind], []).append(change)
        entries = list(by_id.values())
        size = _page_size(query)
        out: dict[str, Any] = {"historyId": str(self.history_id)}
        if entries[:size]:
            out["history"] = entries[:size]
        if len(entries) > size:
            out["nextPageToken"] = _encode_token(entries[size - 1]["id"])
        return out


def _page_size(query: Mapping[str, list[str]]) -> int:
    text = query.get("maxResults", ["100"])[0]
    if not text.isdigit() or int(text) < 1:
        raise bad_request("Invalid maxResults")
    return min(int(text), 500)


def _date_bound(value: str) -> int:
    """ms since the epoch: epoch seconds, or YYYY/MM/DD at midnight PST."""
    if value.isdigit():
        return int(value) * 1000
    m = re.fullmatch(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})", value)
    if not m:
        raise bad_request(f"Invalid date in query: {value}")
    day = datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=PST)
    return int(day.timestamp() * 1000)


@dataclass
class _Throttle:
    count: int
    status: int
    reason: str
    retry_after: str | None


class FakeGmail:
    """The fake API server. ``authorize(token, address)`` answers 200, 401 or 403 (default:
    any non-empty token is fine); ``who(token)`` names the token's mailbox, which ``me`` in a
    path means (default: the only mailbox); ``scopes(token)``, when given, are the granted
    OAuth scopes (full URLs or short ``gmail.modify``): reads need gmail.readonly or more,
    changes need gmail.modify or https://mail.google.com/."""

    def __init__(
        self,
        authorize: Authorize | None = None,
        *,
        who: Callable[[str], str | None] | None = None,
        scopes: Callable[[str], set[str]] | None = None,
    ) -> None:
        self.authorize: Authorize = authorize or (lambda token, _user: 200 if token else 401)
        self.who = who
        self.scopes = scopes
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._mailboxes: dict[str, FakeGmailMailbox] = {}
        self._throttles: list[_Throttle] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.latency = 0.0  # seconds added to every answer
        self.concurrency_limit: int | None = None
        self.concurrency_retry_after = "1"
        self.peak_in_flight = 0
        self.broken: dict[str, int] = {}  # message id -> status its messages.get answers
        self.refused_for_concurrency = 0
        self._in_flight = 0
        self._flight_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeGmail is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        if self._httpd is not None:
            return
        self._httpd = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},  # stop() waits up to one poll
            name="fake-gmail",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeGmail:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls ---------------------------------------------------------------------

    def mailbox(self, address: str) -> FakeGmailMailbox:
        with self.lock:
            key = address.casefold()
            if key not in self._mailboxes:
                self._mailboxes[key] = FakeGmailMailbox(self, address, seed=len(self._mailboxes))
            return self._mailboxes[key]

    def throttle(
        self,
        count: int,
        *,
        status: int = 429,
        reason: str = "rateLimitExceeded",
        retry_after: str | None = None,
    ) -> None:
        """The next *count* authorized requests answer *status* (429, or 403 with *reason*)."""
        with self.lock:
            self._throttles.append(_Throttle(count, status, reason, retry_after))

    def expire_history(self) -> None:
        """Every historyId issued so far becomes too old: ``history.list`` answers 404."""
        with self.lock:
            for mailbox in self._mailboxes.values():
                mailbox.expire_history()

    # -- request handling ------------------------------------------------------------------

    def _user_of(self, token: str) -> str | None:
        if self.who is not None:
            return self.who(token)
        with self.lock:
            boxes = list(self._mailboxes.values())
        return boxes[0].address if len(boxes) == 1 else None

    def _authenticate(self, headers: Mapping[str, str]) -> tuple[str, str]:
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        user = self._user_of(token) if token else None
        verdict = self.authorize(token, user or "") if user else 401
        if verdict == 401:
            raise ApiError(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token,"
                " login cookie or other valid authentication credential.",
                reason="authError",
                status="UNAUTHENTICATED",
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        if verdict == 403:
            raise ApiError(
                403,
                "The caller does not have permission",
                reason="forbidden",
                status="PERMISSION_DENIED",
            )
        assert user is not None
        return token, user

    def _throttled(self) -> ApiError | None:
        with self.lock:
            if not self._throttles:
                return None
            current = self._throttles[0]
            current.count -= 1
            if current.count <= 0:
                self._throttles.pop(0)
        headers = {"Retry-After": current.retry_after} if current.retry_after else {}
        if current.status == 429:
            return ApiError(
                429,
                "Too many concurrent requests for user.",
                reason=current.reason,
                status="RESOURCE_EXHAUSTED",
                domain="usageLimits",
                headers=headers,
            )
        return ApiError(
            current.status,
            "User Rate Limit Exceeded" if "user" in current.reason else "Rate Limit Exceeded",
            reason=current.reason,
            status="PERMISSION_DENIED",
            domain="usageLimits",
            headers=headers,
        )

    def _require_scope(self, token: str, allowed: frozenset[str]) -> None:
        if self.scopes is None:
            return
        granted = {_normal_scope(s) for s in self.scopes(token)}
        if granted & allowed:
            return
        raise ApiError(
            403,
            "Request had insufficient authentication scopes.",
            reason="insufficientPermissions",
            status="PERMISSION_DENIED",
            headers={
                "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/",'
                ' error="insufficient_scope",'
                f' scope="{" ".join(SCOPE_PREFIX + s if "/" not in s else s for s in allowed)}"'
            },
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                    "domain": "googleapis.com",
                    "metadata": {"service": "gmail.googleapis.com"},
                }
            ],
        )

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        """(status, headers, JSON body or None) for one request."""
        with self._flight_lock:
            self._in_flight += 1
            now = self._in_flight
            self.peak_in_flight = max(self.peak_in_flight, now)
        try:
            if self.latency:
                time.sleep(self.latency)
            return self._handle(method, target, headers, body, now)
        finally:
            with self._flight_lock:  # before the answer goes out: the client may send again
                self._in_flight -= 1

    def _handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes, in_flight: int
    ) -> tuple[int, dict[str, str], Any]:
        with self.lock:
            self.requests.append((method, target, dict(headers)))
        try:
            if self.concurrency_limit is not None and in_flight > self.concurrency_limit:
                with self.lock:
                    self.refused_for_concurrency += 1
                raise ApiError(
                    429,
                    "Too many concurrent requests for user.",
                    reason="rateLimitExceeded",
                    status="RESOURCE_EXHAUSTED",
                    domain="usageLimits",
                    headers={"Retry-After": self.concurrency_retry_after},
                )
            return 200, {}, self._route(method, target, headers, body)
        except ApiError as exc:
            return exc.code, exc.headers, exc.body
        except _NoContent:
            return 204, {}, None
        except Exception as exc:  # a bug in the fake: say so instead of dropping the connection
            error = ApiError(
                500, f"fake Gmail failed: {exc!r}", reason="backendError", status="INTERNAL"
            )
            return 500, {}, error.body

    def _route(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Any:
        parts = urlsplit(target)
        m = re.fullmatch(r"/gmail/v1/users/([^/]+)/(.+)", parts.path)
        if m is None:
            raise not_found()
        token, user = self._authenticate(headers)
        user_id, rest = unquote(m[1]), m[2]
        if user_id != "me" and user_id.casefold() != user.casefold():
            raise ApiError(
                403, f"Delegation denied for {user}", reason="forbidden", status="PERMISSION_DENIED"
            )
        throttled = self._throttled()
        if throttled is not None:
            raise throttled
        query = parse_qs(parts.query, keep_blank_values=True)
        payload = _json_body(body) if method == "POST" else {}
        with self.lock:
            mailbox = self.mailbox(user)
            route = (method, rest)
            if route == ("GET", "profile"):
                self._require_scope(token, LIST_SCOPES)
                return mailbox.api_profile()
            if route == ("GET", "labels"):
                self._require_scope(token, LIST_SCOPES)
                return mailbox.api_labels()
            if route == ("POST", "labels"):
                self._require_scope(token, LABEL_SCOPES)
                return mailbox.api_create_label(payload)
            if route == ("GET", "messages"):
                self._require_scope(token, READ_SCOPES if "q" in query else LIST_SCOPES)
                return mailbox.api_list(query)
            if route == ("GET", "history"):
                self._require_scope(token, LIST_SCOPES)
                return mailbox.api_history(query)
            if route == ("POST", "messages/batchModify"):
                self._require_scope(token, WRITE_SCOPES)
                ids = payload.get("ids")
                if not isinstance(ids, list) or not ids:
                    raise bad_request("ids must be a non-empty list")
                if len(ids) > 1000:
                    raise bad_request("Too many ids: at most 1000 per request")
                mailbox.api_modify([str(i) for i in ids], payload)
                raise _NoContent
            single = re.fullmatch(r"messages/([^/]+)(/modify)?", rest)
            if single and method == "GET" and not single[2]:
                fmt = query.get("format", ["full"])[0].lower()
                self._require_scope(token, READ_SCOPES if fmt == "raw" else LIST_SCOPES)
                if unquote(single[1]) in self.broken:
                    code = self.broken[unquote(single[1])]
                    raise ApiError(code, "Injected fault.", reason="failed", status="INTERNAL")
                return mailbox.api_get(unquote(single[1]), query)
            if single and method == "POST" and single[2]:
                self._require_scope(token, WRITE_SCOPES)
                message_id = unquote(single[1])
                mailbox.api_get(message_id, {"format": ["minimal"]})  # 404 when gone
                mailbox.api_modify([message_id], payload)
                return mailbox.api_get(message_id, {"format": ["minimal"]})
        raise not_found()


class _NoContent(Exception):
    """Answer 204 No Content."""


def _json_body(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise bad_request("Invalid JSON payload received.") from exc
    if not isinstance(value, dict):
        raise bad_request("Invalid JSON payload received.")
    return value


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that went away is no test failure."""


def _handler_for(fake: FakeGmail) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, payload = fake.handle(
                self.command, self.path, dict(self.headers.items()), body
            )
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            if data:
                self.send_header("Content-Type", "application/json; charset=UTF-8")
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
