"""What reaching a mail server can raise, as one plain sentence naming the server."""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator

from invoice_inbox.errors import ConnectFailed, TLSFailed


@contextlib.contextmanager
def connect_errors(where: str) -> Iterator[None]:
    """Translate socket and TLS errors raised while connecting to *where* (``host:port``)."""
    try:
        yield
    except ssl.SSLCertVerificationError as exc:
        raise TLSFailed(
            f"TLS certificate not trusted for {where}: {exc.verify_message}"
            " (use --ca-file for a private CA)"
        ) from exc
    except ssl.SSLError as exc:
        raise TLSFailed(f"TLS handshake with {where} failed: {exc.reason}") from exc
    except socket.gaierror as exc:
        raise ConnectFailed(f"cannot connect to {where}: unknown host ({exc.strerror})") from exc
    except TimeoutError as exc:
        raise ConnectFailed(f"cannot connect to {where}: timed out") from exc
    except OSError as exc:
        raise ConnectFailed(f"cannot connect to {where}: {exc.strerror or exc}") from exc
