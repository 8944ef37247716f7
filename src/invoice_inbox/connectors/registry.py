"""Build the connector for a source's protocol from plain settings."""

from __future__ import annotations

from invoice_inbox.connectors.base import Connector
from invoice_inbox.connectors.imap import ImapConnector, ImapSettings

PROVIDERS = ("imap",)


def open_connector(
    *,
    provider: str,
    host: str,
    port: int | None,
    security: str,
    ca_file: str | None,
    username: str,
    password: str,
) -> Connector:
    """A connector for *provider*; it connects lazily, on the first command."""
    if provider != "imap":
        raise ValueError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
    return ImapConnector(
        ImapSettings(
            host=host,
            port=port,
            security=security,  # type: ignore[arg-type]
            ca_file=ca_file,
            username=username,
            password=password,
        )
    )
