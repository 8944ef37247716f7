"""What the SMTP receiver makes of one received mail before it is stored: who sent it (SPF, DKIM
and DMARC with the envelope we saw), our own ``Authentication-Results`` header, and whether a
source's policy refuses it at DATA.

The stored mail is the received bytes with our ``Authentication-Results: <authserv-id>; ...``
on top, and without any header that claims our authserv-id: one a sender wrote itself to look
checked (RFC 8601 §5: a border MTA must delete those). DKIM is verified on the bytes as received.
The authserv-id is ``InboundSettings.authserv_id``, by default the import domain, the same on
every receiver of a deployment (so it identifies the service, not one host).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from invoice_inbox.pipeline.trust.result import AuthStatus, Envelope, Lookup, SenderAuth

log = logging.getLogger(__name__)

REQUIRE = "require"  # the source policy that refuses mail failing a DMARC p=reject at DATA

Authenticate = Callable[[bytes, Envelope], tuple[SenderAuth, str]]
"""(the mail as received, its envelope) -> what authentication found and the value of our
``Authentication-Results`` header (without the field name)."""


@dataclass(frozen=True)
class Terms:
    """What the receiver needs to know of one import source at RCPT: its sender policy (off,
    flag, require) and, when its company's daily cap is reached, the sentence that says so."""

    sender_auth: str = "flag"
    over_cap: str | None = None


@dataclass(frozen=True)
class Arrival:
    """One received mail as handed to ``deliver``: the exact bytes the client sent, the bytes to
    store (``raw``: ours on top, forged results removed; the same as ``received`` when senders
    are not checked), the envelope, and the sender authentication (None: not checked)."""

    received: bytes
    raw: bytes
    envelope: Envelope
    auth: SenderAuth | None = None

    @property
    def mail_from(self) -> str:
        return self.envelope.mail_from


def client_ip(peer: object) -> str:
    """The client's address from an aiosmtpd ``session.peer``; an IPv4-mapped IPv6 address
    as the IPv4 address SPF records name."""
    host = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def authenticator(authserv_id: str, lookup: Lookup) -> Authenticate:
    """SPF, DKIM and DMARC as the receiving server (``pipeline.trust.authenticate``): no
    ``Authentication-Results`` in the mail is trusted, we are the border."""
    from invoice_inbox.pipeline.trust.authenticate import authenticate, authentication_results

    def check(received: bytes, envelope: Envelope) -> tuple[SenderAuth, str]:
        auth = authenticate(received, lookup=lookup, envelope=envelope, trusted_authserv_ids=())
        return auth, authentication_results(auth, authserv_id)

    return check


def with_envelope(auth: SenderAuth, envelope: Envelope) -> SenderAuth:
    """*auth* whose results also keep the envelope it was found with (client address, HELO,
    MAIL FROM), so the ledger shows what the receiver saw and SPF can be asked again."""
    seen = {"client_ip": envelope.client_ip, "helo": envelope.helo, "mail_from": envelope.mail_from}
    return dataclasses.replace(auth, results={**auth.results, "envelope": seen})


def dmarc_rejects(auth: SenderAuth) -> bool:
    """Whether the mail fails DMARC and its From domain's policy, as it applies to this mail
    (``pct`` sampled), is ``reject``."""
    if auth.status is not AuthStatus.FAIL or (auth.dmarc_policy or "").lower() != "reject":
        return False
    dmarc = auth.results.get("dmarc")
    result = dmarc.get("result") if isinstance(dmarc, dict) else None
    return result is None or str(result).lower() == "fail"


def refusal(auth: SenderAuth) -> str:
    """The 550 reply for a mail refused under ``require``: one plain ASCII line."""
    why = " ".join(auth.reason.split()) or f"{auth.from_domain} publishes DMARC p=reject"
    text = f"550 5.7.1 this mail fails DMARC: {why}"
    return text.encode("ascii", "replace").decode()[:510]


# -- the header section ------------------------------------------------------------------------

_FIELD_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:")


def _fields(raw: bytes) -> tuple[list[bytes], bytes]:
    """The header fields of *raw*, each with its continuation lines and line ends, and the rest
    (the empty line and the body)."""
    fields: list[bytes] = []
    pos = 0
    while pos < len(raw):
        end = raw.find(b"\n", pos)
        end = len(raw) if end < 0 else end + 1
        line = raw[pos:end]
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
        pos = end
    return fields, raw[pos:]


def authserv_id_of(value: str) -> str | None:
    """The authserv-id an ``Authentication-Results`` value starts with (comments and folding
    skipped, a quoted string unquoted), lower-cased; None when there is none."""
    i, depth, n = 0, 0, len(value)
    while i < n:
        c = value[i]
        if depth:
            if c == "\\":
                i += 1
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
        elif c == "(":
            depth = 1
        elif not c.isspace():
            break
        i += 1
    if i >= n:
        return None
    if value[i] == '"':
        end = value.find('"', i + 1)
        token = value[i + 1 : end if end > 0 else n]
    else:
        token = re.split(r"[\s;()]", value[i:], maxsplit=1)[0]
    token = token.strip().lower().rstrip(".")
    return token or None


def forged_removed(raw: bytes, authserv_id: str) -> tuple[bytes, int]:
    """*raw* without the ``Authentication-Results`` fields that claim *authserv_id*, and how
    many there were. Every other byte is kept as it was."""
    ours = authserv_id.lower().rstrip(".")
    fields, rest = _fields(raw)
    kept: list[bytes] = []
    for field in fields:
        name = _FIELD_NAME.match(field)
        if name and name[1].lower() == b"authentication-results":
            value = field[name.end() :].decode("latin-1")
            if authserv_id_of(value) == ours:
                continue
        kept.append(field)
    dropped = len(fields) - len(kept)
    return (raw if not dropped else b"".join(kept) + rest), dropped


def _folded(value: str, eol: str) -> str:
    """*value* folded after each ``;`` outside quotes and comments (RFC 8601's examples)."""
    parts, start, depth, quoted, i = [], 0, 0, False, 0
    while i < len(value):
        c = value[i]
        if c == "\\" and (quoted or depth):
            i += 1
        elif quoted:
            quoted = c != '"'
        elif c == '"' and not depth:
            quoted = True
        elif c == "(":
            depth += 1
        elif c == ")" and depth:
            depth -= 1
        elif c == ";" and not depth:
            parts.append(value[start : i + 1].strip())
            start = i + 1
        i += 1
    parts.append(value[start:].strip())
    return f"{eol}\t".join(p for p in parts if p)


def with_results(received: bytes, authserv_id: str, value: str) -> bytes:
    """The mail to store: our ``Authentication-Results: value`` on top of *received*, whose
    fields claiming *authserv_id* are removed."""
    raw, dropped = forged_removed(received, authserv_id)
    if dropped:
        log.warning(
            "removed %d Authentication-Results claiming %s from a mail", dropped, authserv_id
        )
    first = raw.find(b"\n")
    eol = "\n" if first >= 0 and raw[first - 1 : first] != b"\r" else "\r\n"
    line = " ".join(value.split())  # one line whatever came in; folded below
    header = f"Authentication-Results: {_folded(line, eol)}{eol}"
    return header.encode("utf-8") + raw
