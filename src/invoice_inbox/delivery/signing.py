"""Webhook signatures: how a delivery is signed, and what a receiver checks (``verify``).

The signature is the hex HMAC-SHA256, keyed with the subscription's signing secret (shown once
when the subscription is made), of the timestamp, a dot, and the body exactly as received:
``hmac(secret, f"{timestamp}.{body}")``. A receiver recomputes it over the raw body (before any
JSON parsing), compares in constant time, and rejects timestamps more than 5 minutes old, so a
recorded request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as random_secrets
import time

TOLERANCE = 300  # seconds: how old a signed timestamp may be (``verify``)
SIGNATURE_VERSION = "v1"


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Invoice-Inbox-Signature`` value for *body* sent at *timestamp*."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    header: str,
    *,
    tolerance: int = TOLERANCE,
    now: float | None = None,
) -> bool:
    """What a receiver checks: the signature *header* matches *body* and *timestamp* (the raw
    header values), and the timestamp is at most *tolerance* seconds away from *now*."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return False
    expected = signature(secret, sent, body).encode()
    return any(hmac.compare_digest(expected, part.strip().encode()) for part in header.split(","))


def new_secret() -> str:
    return "whsec_" + random_secrets.token_urlsafe(32)
