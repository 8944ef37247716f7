"""What reaching a mail server can raise, as one plain sentence naming the server.

The sentences are the product's own: "nothing answered on that port", "that port answered, but
not as an IMAP server", "the TLS handshake with host:port failed: …". What a remote service
sends before it has proved to be a mail server of the expected kind (its greeting) is never
repeated, so a connection check cannot be used to read the banners of other services. Words a
mail server says after a valid greeting (a refused login, a refused command) can help the
user; they pass through :func:`server_words`: control characters out, at most
:data:`MAX_SERVER_WORDS` characters.

A failure that a setting explains names it: :class:`WrongPort` (the port answered as another
service, or nothing answered) concerns the port, :class:`ExpectsTLS` (a plain connection to a
port that waits for a TLS handshake: no greeting comes, so after the greeting timeout the port
is probed once with TLS) the security choice, and an untrusted certificate the CA certificate.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import unicodedata
from collections.abc import Iterator

from invoice_inbox.errors import ConnectFailed, TLSFailed
from invoice_inbox.i18n import N_, _

MAX_SERVER_WORDS = 160
NOTHING_ANSWERED = N_("nothing answered on that port (connection refused)")
NO_GREETING = N_("that port answered, but closed the connection without a greeting")
EXPECTS_TLS = N_("this port expects TLS: choose SSL/TLS")
NOT_TLS = N_("this port does not speak TLS: choose STARTTLS or none")
UNTRUSTED = N_(
    "if the server uses your organisation's own certificate authority, add its CA certificate"
    " (on the source's form, or --ca-file)"
)
PROBE_TIMEOUT = 1.0  # a TLS port answers a ClientHello at once


class WrongPort(ConnectFailed):
    """The port answered as another service, or nothing answered there: the port is wrong."""

    field = "port"


class ExpectsTLS(ConnectFailed):
    """A plain connection to a port that waits for a TLS handshake: the security is wrong."""

    field = "security"
    transient = False


class Untrusted(TLSFailed):
    """The server's certificate is not trusted: a private CA needs its certificate."""

    field = "ca_pem"


def speaks_tls(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether *port* completes a TLS handshake (certificate not checked, nothing sent after
    it): the probe that tells a TLS port from a silent one."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as sock,
            ctx.wrap_socket(sock, server_hostname=host),
        ):
            return True
    except (OSError, ValueError):
        return False


def not_a(service: str) -> str:
    """The words for a port whose greeting is not *service*'s (``N_("an IMAP server")``)."""
    return _("that port answered, but not as %(service)s") % {"service": _(service)}


def lost_during(where: str, command: str, why: str) -> str:
    """The sentence for a connection that broke while *command* (a protocol word) ran."""
    return _("connection to %(where)s lost during %(command)s: %(why)s") % {
        "where": where,
        "command": command,
        "why": why,
    }


def command_failed(where: str, command: str, why: str) -> str:
    """The sentence for a command (a protocol word) the server answered with an error."""
    return _("%(command)s failed on %(where)s: %(why)s") % {
        "command": command,
        "where": where,
        "why": why,
    }


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
        return _(NOT_TLS)
    if reason:
        return reason.replace("_", " ").lower()
    if isinstance(exc, ssl.SSLEOFError):
        return _("the server closed the connection during the handshake")
    return _("no reason given")


@contextlib.contextmanager
def connect_errors(where: str, plain: tuple[str, int] | None = None) -> Iterator[None]:
    """Translate socket and TLS errors raised while connecting to *where* (``host:port``);
    *plain* (host, port) for a connection without TLS from the first byte: a timeout there is
    probed for a TLS port."""
    try:
        yield
    except ssl.SSLCertVerificationError as exc:
        raise Untrusted(
            _("TLS certificate not trusted for %(where)s: %(why)s; %(advice)s")
            % {"where": where, "why": exc.verify_message, "advice": _(UNTRUSTED)}
        ) from exc
    except ssl.SSLError as exc:
        raise TLSFailed(
            _("the TLS handshake with %(where)s failed: %(why)s")
            % {"where": where, "why": _tls_reason(exc)}
        ) from exc
    except socket.gaierror as exc:
        raise ConnectFailed(
            cannot_connect(where, _("unknown host (%(why)s)") % {"why": exc.strerror})
        ) from exc
    except TimeoutError as exc:
        if plain is not None and speaks_tls(*plain):
            raise ExpectsTLS(cannot_connect(where, _(EXPECTS_TLS))) from exc
        raise ConnectFailed(cannot_connect(where, _("no answer in time"))) from exc
    except ConnectionRefusedError as exc:
        raise WrongPort(cannot_connect(where, _(NOTHING_ANSWERED))) from exc
    except (ConnectionResetError, EOFError) as exc:
        raise ConnectFailed(cannot_connect(where, _(NO_GREETING))) from exc
    except OSError as exc:
        raise ConnectFailed(cannot_connect(where, exc.strerror or _("network error"))) from exc


def cannot_connect(where: str, why: str) -> str:
    """The sentence for a server that could not be reached, in the reader's language."""
    return _("cannot connect to %(where)s: %(why)s") % {"where": where, "why": why}
