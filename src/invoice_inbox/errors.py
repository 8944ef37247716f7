"""Errors from reaching a mail service or its sign-in, each with a sentence a user can act on.

Below every layer (it imports nothing of ours): connectors raise them, and so does ``auth``
when a token endpoint refuses or cannot be reached, so that sync, the scheduler and the CLI
handle a refused token like a refused password.

    ConnectorError
    ├── ConnectFailed       the server could not be reached (DNS, refused, timeout)
    ├── TLSFailed           the TLS handshake or certificate check failed
    ├── LoginFailed         the server refused the credentials
    ├── FolderMissing       a configured folder does not exist on the server
    └── ProtocolFailed      the server answered a command with an error
        └── LoginDelayed    a login too soon after the last one (POP3 [LOGIN-DELAY])

``transient`` says whether retrying later may help (network trouble) or not (a wrong password).
Our own sentences are translated into the reader's locale when raised (``i18n``, as low as this
module); a server's answer quoted in them stays as the server wrote it.
"""

from __future__ import annotations

from invoice_inbox.i18n import _


class ConnectorError(Exception):
    """Something went wrong talking to a mail server."""

    transient = True


class ConnectFailed(ConnectorError):
    """The server could not be reached."""


class TLSFailed(ConnectorError):
    """The TLS handshake or the certificate check failed."""

    transient = False


class LoginFailed(ConnectorError):
    """The server refused the credentials."""

    transient = False


class FolderMissing(ConnectorError):
    """A configured folder does not exist on the server."""

    transient = False

    def __init__(self, folder: str, existing: list[str]) -> None:
        self.folder = folder
        self.existing = existing
        super().__init__(
            _('folder "%(folder)s" does not exist; folders are: %(folders)s')
            % {"folder": folder, "folders": ", ".join(existing) or _("(none)")}
        )


class ProtocolFailed(ConnectorError):
    """The server answered a command with an error."""


class LoginDelayed(ProtocolFailed):
    """The server allows a login only every so many seconds and refused one that came too soon
    (POP3 ``[LOGIN-DELAY]``, RFC 2449 §8.1.2): not a failure, the mailbox can be read
    ``retry_after`` seconds later."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
