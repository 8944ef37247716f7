"""A JSON-over-HTTPS client for the mail REST APIs (Microsoft Graph, Gmail), on httpx.

It adds what both APIs ask of a well-behaved client:

- a fresh bearer token on every request from a *token* callable (which refreshes it when due);
  a 401 gets one retry with a token fetched anew, then ``LoginFailed``;
- throttling: 429 and 503 wait for ``Retry-After`` (seconds or an HTTP date, capped), other
  5xx and network errors back off exponentially with full jitter, up to ``retries`` times;
  a ``Retry-After`` holds every thread using the client, not only the one that got it
  (the client may be shared by a few download threads; Graph's throttling guidance asks
  that no request be sent to the mailbox until the time has passed);
- errors become ConnectorErrors carrying the service's own message
  (``{"error": {"code": ..., "message": ...}}`` on both services), cleaned and cut like a
  mail server's words (``network.server_words``); a body that is not such an object is never
  repeated, only the status.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from invoice_inbox.connectors.network import server_words
from invoice_inbox.errors import (
    ConnectFailed,
    ConnectorError,
    LoginFailed,
    ProtocolFailed,
)
from invoice_inbox.i18n import _


class TokenFn(Protocol):
    """Gives a valid access token; ``renew=True`` asks for a new one even if the cached one
    looks valid (the service refused it)."""

    def __call__(self, renew: bool = False) -> str: ...


MAX_WAIT = 120.0  # never sleep longer than this for one Retry-After


class HttpError(ProtocolFailed):
    """The service answered with an error status; ``status`` and ``code`` say which."""

    def __init__(self, message: str, *, status: int, code: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    return max(0.0, (when - current).total_seconds())


def error_of(response: httpx.Response) -> tuple[str | None, str]:
    """(code, message) from an error body of Graph or Google, else the status text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        err = body.get("error")
        if isinstance(err, Mapping):
            code = err.get("code") or err.get("status")
            code = server_words(str(code), 60) if code is not None else None
            return code, server_words(str(err.get("message") or ""))
        if isinstance(err, str):  # OAuth-style {"error": "invalid_grant", ...}
            return server_words(err, 60), server_words(str(body.get("error_description") or err))
    return None, response.reason_phrase or f"HTTP {response.status_code}"


class RestClient:
    """One service, one mailbox. ``request`` returns the httpx.Response (2xx).

    Safe to share between a few threads of one connector (concurrent downloads): the token
    callable is called by one thread at a time, and a ``Retry-After`` pauses them all."""

    def __init__(
        self,
        base_url: str,
        token: TokenFn,
        *,
        service: str,
        headers: Mapping[str, str] | None = None,
        retries: int = 5,
        backoff: float = 1.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        throttled: Callable[[httpx.Response], bool] | None = None,
    ) -> None:
        self.service = service
        self._token = token
        self._retries = retries
        self._backoff = backoff
        self._sleep = sleep
        # a service-specific "slow down" answer besides 429/503 (Gmail: 403 rateLimitExceeded)
        self._throttled = throttled or (lambda _response: False)
        self._http = httpx.Client(
            base_url=base_url,
            headers=dict(headers or {}),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )
        self.waits: list[float] = []  # every throttling / backoff pause, for runs and tests
        self._token_lock = threading.Lock()
        self._hold_lock = threading.Lock()
        self._hold_until = 0.0  # time.monotonic() before which no request is sent
        self._local = threading.local()  # .waited: the hold this thread has already waited for

    def _hold(self, seconds: float) -> None:
        """No thread sends before *seconds* from now; this thread is the one waiting it."""
        with self._hold_lock:
            self._hold_until = max(self._hold_until, time.monotonic() + seconds)
            self._local.waited = self._hold_until

    def _await_hold(self) -> None:
        """Wait out a Retry-After another thread was given (once per hold and thread)."""
        with self._hold_lock:
            until = self._hold_until
            if until <= getattr(self._local, "waited", 0.0):
                return
            self._local.waited = until
        remaining = until - time.monotonic()
        if remaining > 0:
            self.waits.append(remaining)
            self._sleep(remaining)

    def fresh_token(self, renew: bool = False) -> str:
        with self._token_lock:
            return self._token(renew=renew)

    def close(self) -> None:
        self._http.close()

    def _pause(self, attempt: int, response: httpx.Response | None) -> None:
        wait = retry_after(response.headers.get("Retry-After")) if response is not None else None
        if wait is None:
            wait = random.uniform(0, self._backoff * (2**attempt))  # full jitter
            wait = min(wait, MAX_WAIT)
        else:
            wait = min(wait, MAX_WAIT)
            self._hold(wait)  # the others wait for it too
        self.waits.append(wait)
        self._sleep(wait)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:  # httpx's
        """Send with auth, retries and throttling; raise a ConnectorError on failure."""
        extra = dict(kwargs.pop("headers", None) or {})
        fresh_token = False  # a new token was asked for once already in this request
        renew = False  # ask for a new token on this attempt (right after a 401)
        attempt = 0
        while True:
            try:
                headers = {**extra, "Authorization": f"Bearer {self.fresh_token(renew)}"}
                renew = False
                self._await_hold()
                response = self._http.request(method, url, headers=headers, **kwargs)
            except ConnectorError:
                raise
            except httpx.TransportError as exc:
                if attempt >= self._retries:
                    raise ConnectFailed(
                        _("cannot reach %(service)s: %(why)s")
                        % {"service": self.service, "why": exc}
                    ) from exc
                self._pause(attempt, None)
                attempt += 1
                continue
            status = response.status_code
            if status < 400:
                return response
            code, message = error_of(response)
            if status == 401 and not fresh_token:
                fresh_token = renew = True  # revoked or expired early: try one new token
                continue
            if status == 401:
                raise LoginFailed(
                    _("%(service)s refused the access token: %(answer)s")
                    % {"service": self.service, "answer": message}
                )
            retryable = status in (429, 503) or status >= 500 or self._throttled(response)
            if retryable and attempt < self._retries:
                self._pause(attempt, response)
                attempt += 1
                continue
            raise HttpError(
                (
                    _("%(service)s answered %(status)s: %(answer)s")
                    % {
                        "service": self.service,
                        "status": f"{status} {code or ''}",
                        "answer": message,
                    }
                ).replace("  ", " "),
                status=status,
                code=code,
            )

    def json(self, method: str, url: str, **kwargs: Any) -> Any:  # httpx's arguments; JSON
        response = self.request(method, url, **kwargs)
        return response.json() if response.content else None
