"""What reaching a mail server can raise, as one plain sentence naming the server.

The sentences are the product's own: "nothing answered on that port", "that port answered, but
not as an IMAP server", "the TLS handshake with host:port failed: …". What a remote service
sends before it has proved to be a mail server of the expected kind (its greeting) is never
repeated, so a connection check cannot be used to read the banners of other services. Words a
mail server says after a valid greeting (a refused login, a refused command) can help the
user; they pass through :func:`server_words`: control characters out, at most
:data:`MAX_SERVER_WORDS` characters.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import unicodedata
from collections.abc import Iterator

from invoice_inbox.errors import ConnectFailed, TLSFailed

MAX_SERVER_WORDS = 160
NOTHING_ANSWERED = "nothing answered on that port (connection refused)"
NO_GREETING = "that port answered, but closed the connection without a greeting"


def not_a(service: str) -> str:
    """The words for a port whose greeting is not *service*'s ("an IMAP server")."""
    return f"that port answered, but not as {service}"


def server_words(text: str | bytes, limit: int = MAX_SERVER_WORDS) -> str:
    """A mail server's own words, safe to show: decoded, control and format characters turned
    into spaces, white space collapsed, cut to *limit* characters (ending in "…")."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    shown = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)
    shown = " ".join(shown.split())
    return shown if len(shown) <= limit else shown[: limit - 1].rstrip() + "…"


def _tls_reason(exc: ssl.SSLError) -> str:
    """OpenSSL's reason code in words, with what usually causes it (our words, not the peer's)."""
    reason = (exc.reason or "").upper()
    if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"):
        return "that port does not speak TLS (try security starttls or none)"
    if reason:
        return reason.replace("_", " ").lower()
    if isinstance(exc, ssl.SSLEOFError):
        return "the server closed the connection during the handshake"
    return "no reason given"


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
        raise TLSFailed(f"the TLS handshake with {where} failed: {_tls_reason(exc)}") from exc
    except socket.gaierror as exc:
        raise ConnectFailed(f"cannot connect to {where}: unknown host ({exc.strerror})") from exc
    except TimeoutError as exc:
        raise ConnectFailed(f"cannot connect to {where}: no answer in time") from exc
    except ConnectionRefusedError as exc:
        raise ConnectFailed(f"cannot connect to {where}: {NOTHING_ANSWERED}") from exc
    except (ConnectionResetError, EOFError) as exc:
        raise ConnectFailed(f"cannot connect to {where}: {NO_GREETING}") from exc
    except OSError as exc:
        raise ConnectFailed(
            f"cannot connect to {where}: {exc.strerror or 'network error'}"
        ) from exc
