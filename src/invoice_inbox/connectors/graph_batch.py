"""Microsoft Graph JSON batching for moves and ``isRead`` changes (a mixin of GraphConnector).

"Combine multiple HTTP requests using JSON batching" (learn.microsoft.com/graph/json-batching):
``POST /$batch`` with ``{"requests": [...]}``, at most 20 per batch, each with its own ``id``,
``method``, relative ``url``, ``headers`` and ``body``; the answer ``{"responses": [...]}``
comes in any order, matched by ``id``. Sub-requests are throttled one by one: a 429/503 inside
a batch carries its ``Retry-After`` in its own headers and only those are sent again.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from invoice_inbox.connectors.http import MAX_WAIT, HttpError, RestClient, retry_after
from invoice_inbox.errors import LoginFailed, ProtocolFailed
from invoice_inbox.json_types import JsonObject

if TYPE_CHECKING:
    from invoice_inbox.connectors.graph import GraphSettings

IMMUTABLE_IDS = 'IdType="ImmutableId"'
BATCH_LIMIT = 20  # requests per JSON batch ("Combine multiple HTTP requests using JSON batching")
# 404 codes that mean the mailbox itself is unknown, not an item in it ("Microsoft Graph error
# responses", /errors, and Outlook's own codes)
NO_MAILBOX = frozenset(
    {
        "ErrorInvalidUser",
        "ErrorNonExistentMailbox",
        "MailboxNotEnabledForRESTAPI",
        "MailboxNotFound",
        "Request_ResourceNotFound",
    }
)


class JsonBatching:
    """``_batched`` for GraphConnector, which provides the attributes declared here."""

    settings: GraphSettings
    _rest: RestClient

    def _json(self, method: str, url: str, **kwargs: Any) -> JsonObject:  # httpx's arguments
        raise NotImplementedError

    def _refusal(self, exc: HttpError) -> LoginFailed | None:
        raise NotImplementedError

    def _batched(self, method: str, calls: list[tuple[str, str, JsonObject]]) -> list[str]:
        """Send ``(key, url, body)`` calls as *method* sub-requests of ``POST /$batch``, at
        most :data:`BATCH_LIMIT` per batch; the keys whose sub-request answered 404. Any other
        error answer is raised as the same request sent alone would raise it."""
        missed: list[str] = []
        for start in range(0, len(calls), BATCH_LIMIT):
            missed += self._batch(method, calls[start : start + BATCH_LIMIT])
        return missed

    def _batch(self, method: str, calls: list[tuple[str, str, JsonObject]]) -> list[str]:
        """One batch; throttled sub-requests (429/503, other 5xx) are sent again, alone, after
        the longest ``Retry-After`` among them (exponential backoff with jitter without one),
        up to ``retries`` times."""
        pending = {str(n): call for n, call in enumerate(calls, 1)}
        missed: list[str] = []
        attempt = 0
        while pending:
            requests = [
                {
                    "id": n,
                    "method": method,
                    "url": url,
                    "headers": {"Content-Type": "application/json", "Prefer": IMMUTABLE_IDS},
                    "body": body,
                }
                for n, (_key, url, body) in pending.items()
            ]
            answer = self._json("POST", "/$batch", json={"requests": requests})
            responses = answer.get("responses")
            if not isinstance(responses, list):
                raise ProtocolFailed("Microsoft Graph answered a batch without responses")
            by_id = {
                r["id"]: r
                for r in responses
                if isinstance(r, dict) and isinstance(r.get("id"), str)
            }
            again: dict[str, tuple[str, str, JsonObject]] = {}
            waits: list[float | None] = []
            last: HttpError | None = None
            for n, call in pending.items():
                sub = by_id.get(n)
                status = sub.get("status") if sub is not None else None
                if sub is None or not isinstance(status, int):
                    raise ProtocolFailed(f"Microsoft Graph's batch answer lacks request {n}")
                if 200 <= status < 300:
                    continue
                error = self._sub_error(method, call[1], status, sub.get("body"))
                if status == 404 and error.code not in NO_MAILBOX:
                    missed.append(call[0])  # moved or deleted meanwhile
                elif status in (429, 503) or status >= 500:
                    again[n] = call
                    waits.append(retry_after(_header(sub.get("headers"), "Retry-After")))
                    last = error
                else:
                    if status == 401:
                        raise LoginFailed(f"Microsoft Graph refused the access token: {error}")
                    raise self._refusal(error) or error
            if not again:
                break
            if attempt >= self.settings.retries:
                assert last is not None
                raise last
            self._pause(attempt, waits)
            attempt += 1
            pending = again
        return missed

    def _sub_error(self, method: str, url: str, status: int, body: object) -> HttpError:
        code: str | None = None
        message = f"HTTP {status}"
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code = str(error["code"]) if error.get("code") is not None else None
            message = str(error.get("message") or message)
        text = f"Microsoft Graph answered {status} {code or ''}: {message} ({method} {url})"
        return HttpError(text.replace("  ", " "), status=status, code=code)

    def _pause(self, attempt: int, waits: list[float | None]) -> None:
        """Wait as the throttled sub-requests ask, recorded like RestClient's own pauses."""
        known = [w for w in waits if w is not None]
        wait = max(known) if known else random.uniform(0, 2**attempt)  # full jitter
        wait = min(wait, MAX_WAIT)
        self._rest.waits.append(wait)
        self.settings.sleep(wait)


def _header(headers: object, name: str) -> str | None:
    """A sub-response header, by case-insensitive name."""
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name.lower() and isinstance(value, str):
            return value
    return None
