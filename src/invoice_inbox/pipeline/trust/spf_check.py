"""SPF (RFC 7208) with pyspf, its DNS through the ``Lookup`` of the current check.

pyspf looks records up through its module global ``spf.DNSLookup``. It is set once, here, to a
dispatcher that reads the ``Lookup`` from a context variable set by ``check_spf`` for the
duration of one check; without one (pyspf used elsewhere) it calls pyspf's own function. No other
part of pyspf is changed.
"""

from __future__ import annotations

import contextvars
import ipaddress
from typing import Any

import spf

from invoice_inbox.json_types import JsonObject
from invoice_inbox.pipeline.trust.headers import address_domain, normalize_domain
from invoice_inbox.pipeline.trust.result import DnsTempError, Envelope, Lookup

RESULTS = ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")
QUERY_SECONDS = 20  # RFC 7208 4.6.4: the whole check; each lookup has the Lookup's own timeout

_current: contextvars.ContextVar[Lookup | None] = contextvars.ContextVar("spf_lookup", default=None)
_pyspf_lookup = spf.DNSLookup


# pyspf's DNSLookup hook: untyped; its answers' values are of several shapes by query type
def _dispatch(
    name: Any, qtype: str, *args: Any, **kwargs: Any
) -> list[tuple[tuple[str, str], Any]]:
    lookup = _current.get()
    if lookup is None:
        return _pyspf_lookup(name, qtype, *args, **kwargs)  # type: ignore[no-any-return]  # pyspf
    name = str(name).rstrip(".")
    if qtype not in ("TXT", "A", "AAAA", "MX", "PTR"):
        return []  # the old SPF type (99) and anything else: not published any more
    try:
        records = lookup(name, qtype)
    except DnsTempError as exc:
        raise spf.TempError(f"DNS {exc}") from None
    except ValueError:
        return []
    out: list[tuple[tuple[str, str], Any]] = []
    for record in records:
        if qtype == "TXT":
            value: Any = (record.encode("utf-8", "replace"),)
        elif qtype == "MX":
            pref, _, exchange = record.partition(" ")
            value = (int(pref) if pref.isdigit() else 0, exchange.strip())
        else:
            value = record
        out.append(((name, qtype), value))
    return out


spf.DNSLookup = _dispatch


def check_spf(envelope: Envelope, lookup: Lookup) -> JsonObject:
    """SPF for what our receiver saw: ``result``, the ``domain`` checked (MAIL FROM's, or the
    HELO name's for a bounce), ``identity`` (mailfrom | helo) and pyspf's ``reason``."""
    mail_from = envelope.mail_from.strip().strip("<>")
    helo = envelope.helo.strip()
    domain = address_domain(mail_from) if mail_from else normalize_domain(helo)
    identity = "mailfrom" if mail_from else "helo"
    base = {"domain": domain or "", "identity": identity}
    try:
        ip = str(ipaddress.ip_address(envelope.client_ip.strip().strip("[]")))
    except ValueError:
        return {**base, "result": "none", "reason": "the client address is not an IP address"}
    if not domain:
        return {**base, "result": "none", "reason": "no domain to check (MAIL FROM and HELO)"}
    sender = mail_from if mail_from else f"postmaster@{domain}"
    token = _current.set(lookup)
    try:
        query = spf.query(
            i=ip, s=sender, h=helo or domain, receiver="invoice-inbox", querytime=QUERY_SECONDS
        )
        result, _code, explanation = query.check()
    except Exception as exc:  # pyspf on odd input: recorded, never raised
        return {**base, "result": "permerror", "reason": f"SPF check failed ({type(exc).__name__})"}
    finally:
        _current.reset(token)
    result = str(result).lower()
    if result not in RESULTS:
        result = "permerror"
    return {**base, "result": result, "reason": str(explanation)[:200]}
