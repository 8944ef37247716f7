"""Warnings about credentials that are about to stop working (Entra client secrets expire)."""

from __future__ import annotations

from datetime import date

WARN_DAYS = 30


def secret_expiry_warning(expires: date | None, today: date) -> str | None:
    """A sentence from WARN_DAYS days before the client secret's expiry date, else None."""
    if expires is None:
        return None
    left = (expires - today).days
    if left < 0:
        return (
            f"the client secret expired on {expires.isoformat()}: create a new one in the app"
            " registration and set it with: invoice-inbox source set NAME --client-secret-env VAR"
        )
    if left <= WARN_DAYS:
        when = "today" if left == 0 else f"in {left} day{'s' if left != 1 else ''}"
        return (
            f"the client secret expires {when} ({expires.isoformat()}): create a new one in the"
            " app registration before then"
        )
    return None
