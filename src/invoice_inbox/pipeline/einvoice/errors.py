"""Why e-invoice bytes were not read: one exception family, each message one plain sentence."""

from __future__ import annotations


class EInvoiceError(ValueError):
    """The bytes claim to be XML / an e-invoice but are refused or unreadable.

    ``str(exc)`` is one plain sentence saying why, fit to show a user as a quarantine reason.
    """


class XmlRefused(EInvoiceError):
    """Readable XML that we will not parse on principle (a DOCTYPE, too large)."""


class XmlMalformed(EInvoiceError):
    """Bytes that are not well-formed XML."""
