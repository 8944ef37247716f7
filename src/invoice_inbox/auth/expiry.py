"""Warnings about credentials that are about to stop working (Entra client secrets expire)."""

from __future__ import annotations

from datetime import date

from invoice_inbox.i18n import _, ngettext

WARN_DAYS = 30


def secret_expiry_warning(expires: date | None, today: date) -> str | None:
    """A sentence from WARN_DAYS days before the client secret's expiry date, else None."""
    if expires is None:
        return None
    left = (expires - today).days
    if left < 0:
        return _(
            "the client secret expired on %(date)s: create a new one in the app registration and"
            " set it with: %(command)s"
        ) % {
            "date": expires.isoformat(),
            "command": "invoice-inbox source set NAME --client-secret-env VAR",
        }
    if left <= WARN_DAYS:
        if left == 0:
            sentence = _(
                "the client secret expires today (%(date)s): create a new one in the app"
                " registration before then"
            )
        else:
            sentence = ngettext(
                "the client secret expires in %(n)s day (%(date)s): create a new one in the app"
                " registration before then",
                "the client secret expires in %(n)s days (%(date)s): create a new one in the app"
                " registration before then",
                left,
            )
        return sentence % {"n": left, "date": expires.isoformat()}
    return None
