"""Settings of the inbound SMTP receiver (``smtp_inbound``): where it listens, its limits, its
STARTTLS certificate."""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass

from invoice_inbox.connectors.dns import parse_server

_AUTHSERV_ID = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?")


@dataclass(frozen=True, kw_only=True)
class InboundSettings:
    """Where and how the receiver listens.

    *port* 0 picks a free port (see :attr:`InboundServer.port`). STARTTLS is offered when
    *certfile* and *keyfile* are both set; *require_tls* then refuses MAIL before STARTTLS.
    *hostname* is the name in the banner and EHLO reply (default: ``socket.getfqdn()``).
    The ``unknown_*`` bounds on refused recipients: ``smtp_throttle``.

    Senders (``smtp_arrival``): with *check_senders*, SPF, DKIM and DMARC are evaluated at DATA
    with DNS from *dns_server* (``HOST:PORT``; None: ``INVOICE_INBOX_DNS_SERVER``, else the
    system's), and the stored mail carries our ``Authentication-Results`` by *authserv_id*
    (default: the import domain). Abuse bounds: a client (an IPv4 address, an IPv6 /64) starts
    at most *mails_per_client* mails a minute in this process (more: 421); a company takes at
    most *daily_cap* mails a day (UTC) on its import address, counted on the ledger so every
    receiver on the database sees the same count, unless the company has its own
    ``smtp_daily_cap`` (more: 452; 0: no cap).
    """

    host: str = "127.0.0.1"
    port: int = 2525
    domain: str
    max_size: int = 25 * 1024 * 1024
    certfile: str | None = None
    keyfile: str | None = None
    require_tls: bool = False
    hostname: str | None = None
    unknown_per_session: int = 5
    unknown_per_client: int = 20
    unknown_window: float = 600.0
    check_senders: bool = True
    dns_server: str | None = None
    authserv_id: str | None = None
    mails_per_client: int = 60
    daily_cap: int = 5000

    def __post_init__(self) -> None:
        if not self.domain or "@" in self.domain:
            raise ValueError(f"the import domain must be a bare domain name, not {self.domain!r}")
        if self.max_size <= 0:
            raise ValueError("max_size must be positive")
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("STARTTLS needs both certfile and keyfile")
        if self.require_tls and self.certfile is None:
            raise ValueError("require_tls needs certfile and keyfile")
        if min(self.unknown_per_session, self.unknown_per_client, self.unknown_window) <= 0:
            raise ValueError("the bounds on unknown recipients must be positive")
        if self.mails_per_client <= 0:
            raise ValueError("the mails a client may send a minute must be positive")
        if self.daily_cap < 0:
            raise ValueError("the daily cap must be 0 (none) or positive")
        if self.dns_server is not None:
            parse_server(self.dns_server)  # ValueError with the sentence
        if self.authserv_id is not None and not _AUTHSERV_ID.fullmatch(self.authserv_id):
            raise ValueError(
                f"the authserv-id must be a domain name, such as {self.domain}, "
                f"not {self.authserv_id!r}"
            )

    @property
    def authserv(self) -> str:
        """The authserv-id of our ``Authentication-Results`` (lower-cased)."""
        return (self.authserv_id or self.domain).lower().rstrip(".")


def tls_context(settings: InboundSettings) -> ssl.SSLContext | None:
    """A server context for STARTTLS, or None without a certificate."""
    if settings.certfile is None or settings.keyfile is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    what = f"cannot load the TLS certificate {settings.certfile} / key {settings.keyfile}"
    try:
        ctx.load_cert_chain(settings.certfile, settings.keyfile)
    except ssl.SSLError as exc:  # unreadable PEM, or the key does not match
        raise OSError(f"{what}: {exc.reason or exc}") from exc
    except OSError as exc:
        raise OSError(exc.errno, f"{what}: {exc.strerror or exc}") from exc
    return ctx
