"""A notification's subject and body as codes with parameters, written in each recipient's
language when it is sent.

What a notification says is decided when something happens (``runtime.health``,
``store.supplier_alerts``); it is sent later, to people whose languages differ (a user's
``locale``, else the company's, else English: ``store.notifications.recipients``). So the
English subject and body are stored on the notification (screens, the operator's webhook, rows
of older versions) and its ``Texts`` beside it (``notification.texts``, JSON; None for rows of
older versions); ``written`` gives subject and body in a locale, with dates and reasons as that
language writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from invoice_inbox import i18n, reasons
from invoice_inbox.i18n import N_, formats

TEMPLATES: dict[str, str] = {
    "attention_subject": N_('invoice-inbox: source "%(source)s" cannot sign in'),
    "attention_body": N_(
        'The source "%(source)s" of %(company)s could not sign in to its mailbox:\n\n'
        "    %(error)s\n\n"
        "invoice-inbox will not try again until the sign-in is fixed, so no invoices arrive "
        "from this mailbox meanwhile. Fix it with one of:\n"
        "    invoice-inbox source set %(source)s --password-env VAR   (a new password)\n"
        "    invoice-inbox source authenticate %(source)s             (OAuth2: sign in again)\n"
    ),
    "deactivated_subject": N_(
        'invoice-inbox: source "%(source)s" was switched off after %(failures)s failed fetches'
    ),
    "deactivated_body": N_(
        'The source "%(source)s" of %(company)s failed %(failures)s times in a row '
        "(since %(since)s) and has been switched off; no mail is fetched from it now.\n\n"
        "Last error: %(error)s\n\n"
        "When the mail server is reachable again, switch it back on with:\n"
        "    invoice-inbox source activate %(source)s\n"
    ),
    "bank_subject": N_("invoice-inbox: bank details changed for %(supplier)s"),
    "bank_body": N_(
        'The document %(file)s (#%(document_id)s) from %(sender)s, "%(subject)s", asks payment '
        "to %(iban)s, which is not among the bank accounts known for the supplier "
        "%(supplier)s: %(known)s.\n\n"
        "Check with the supplier through a channel you already know (not the mail's), then "
        "confirm the new IBAN or mark the document as fraud.\n\n"
    ),
    "lookalike_subject": N_("invoice-inbox: a sender looks like %(known)s"),
    "lookalike_body": N_(
        'A mail from %(sender)s, "%(subject)s", came from a domain that looks like '
        "%(known)s, a sender domain you know; it may be an impostor. Decision: "
        "%(decision)s (%(reason)s). Further mail from this domain in the next 24 hours is "
        "flagged in the queue without another notification.\n\n"
    ),
    "unknown_sender": N_("an unknown sender"),
}

# parameters holding a time (ISO text), written as the reader's language writes times (UTC)
_TIMES = ("since",)
# a parameter holding a ledger row's reason: {"reason": English, "parts": [...] or None}
_REASONS = ("reason",)


@dataclass(frozen=True)
class Texts:
    """A notification's subject and body: codes with parameters; *tail* is appended as it is
    (lines that tie the notification to its mail, matched by ``store.supplier_alerts``)."""

    subject: str
    body: str
    params: dict[str, Any] = field(default_factory=dict)
    tail: str = ""

    def __post_init__(self) -> None:
        for code in (self.subject, self.body):
            if code not in TEMPLATES:
                raise KeyError(f"no notification template for the code {code!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "body": self.body,
            "params": self.params,
            "tail": self.tail,
        }

    @classmethod
    def from_json(cls, data: object) -> Texts | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(data["subject"], data["body"], dict(data["params"]), str(data["tail"]))
        except (ValueError, KeyError, TypeError):  # a code this version does not know
            return None

    def written(self, locale: str | None = None) -> tuple[str, str]:
        """Subject and body in *locale* (the current one when None)."""
        with i18n.use_locale(locale or i18n.current_locale()):
            params = {k: _shown(k, v) for k, v in self.params.items()}
            subject = _fill(self.subject, params)
            return subject, _fill(self.body, params) + self.tail


def since(value: datetime | None) -> str | None:
    """A time as a parameter (ISO text; None: unknown, shown as "?")."""
    return value.isoformat() if value else None


def reason_of(reason: str, parts: object) -> dict[str, Any]:
    """A ledger row's reason as a parameter: shown in the reader's language."""
    return {"reason": reason, "parts": parts}


def of(stored: object) -> Texts | None:
    """The texts stored on a notification (``notification.texts``); None: made by an older
    version (its English is all there is)."""
    return Texts.from_json(stored)


def _fill(code: str, params: dict[str, Any]) -> str:
    try:
        return i18n.gettext(TEMPLATES[code]) % params
    except (KeyError, ValueError, TypeError):  # a translation naming another parameter
        return TEMPLATES[code] % params


def _shown(key: str, value: Any) -> Any:
    if key in _TIMES:
        return formats.when(datetime.fromisoformat(value)) if value else "?"
    if key in _REASONS and isinstance(value, dict):
        return reasons.text(str(value.get("reason", "")), value.get("parts"))
    if key == "sender" and not value:
        return i18n.gettext(TEMPLATES["unknown_sender"])
    return value
