"""What Gmail's API answers say, read for the connector (``connectors.gmail``): a Google error
body (``{"error": {"code", "message", "status", "errors": [{"reason"}], "details": [...]}}``,
"Resolve errors", https://developers.google.com/workspace/gmail/api/guides/handle-errors) as the
facts that decide what to do with it, and a message's ``raw`` field as its exact bytes."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from invoice_inbox.errors import ProtocolFailed

# Gmail's "slow down" (403 or 429), backed off like a 429; a token without the scope it needs
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})


@dataclass(frozen=True, slots=True)
class GoogleError:
    """The parts of a Google error body that decide what to do with it.

    ``{"error": {"code": 403, "message": ..., "status": "PERMISSION_DENIED",
    "errors": [{"reason": "insufficientPermissions", ...}], "details": [{"@type":
    ".../google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}]}}``
    """

    http_status: int
    status: str  # the google.rpc status name, e.g. RESOURCE_EXHAUSTED
    reasons: frozenset[str]  # errors[].reason and details[].reason
    message: str

    @property
    def rate_limited(self) -> bool:
        return bool(self.reasons & RATE_REASONS) or self.status == "RESOURCE_EXHAUSTED"

    @property
    def scope_too_narrow(self) -> bool:
        return bool(self.reasons & SCOPE_REASONS) or "insufficient_scope" in self.reasons


def google_error(response: httpx.Response) -> GoogleError:
    """Parse a Google JSON error body (and a ``WWW-Authenticate: ... insufficient_scope``)."""
    reasons: set[str] = set()
    status, message = "", ""
    try:
        body = response.json()
    except ValueError:
        body = None
    err = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(err, Mapping):
        status = str(err.get("status") or "")
        message = str(err.get("message") or "")
        for key in ("errors", "details"):
            items = err.get(key)
            if isinstance(items, list):
                reasons.update(
                    str(item["reason"])
                    for item in items
                    if isinstance(item, Mapping) and item.get("reason")
                )
    if "insufficient_scope" in response.headers.get("WWW-Authenticate", ""):
        reasons.add("insufficient_scope")
    return GoogleError(
        http_status=response.status_code,
        status=status,
        reasons=frozenset(reasons),
        message=message or response.reason_phrase,
    )


def decode_raw(value: str) -> bytes:
    """The exact bytes of a ``raw`` field: base64url, its ``=`` padding possibly left out."""
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ProtocolFailed(f"Gmail sent a raw message that is not base64url: {exc}") from exc
