"""What sender authentication found for one mail, as plain data the ledger keeps.

``SenderAuth.status`` is the one word the policy looks at:

- ``pass``: the From domain is proven (DMARC pass: an aligned DKIM signature or SPF pass, ours
  or reported by a provider the source trusts);
- ``fail``: the proof was tried and failed (a broken signature, SPF fail, DMARC fail);
- ``none``: nothing proves the sender (no signature, no SPF or DMARC published);
- ``temperror``: DNS did not answer in time; never an import failure by itself.

``results`` holds what the status came from (JSON-able), so a recheck can apply a changed policy
without asking DNS again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from invoice_inbox.json_types import JsonObject


class AuthStatus(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NONE = "none"
    TEMPERROR = "temperror"


class DnsTempError(Exception):
    """DNS did not answer (timeout, SERVFAIL, no server reachable): try again later."""


# A DNS lookup: (name, record type "TXT" | "A" | "AAAA" | "MX" | "PTR" | "CNAME") -> the records
# in text form (TXT: its strings joined; MX: "preference exchange"; A/AAAA: the address; PTR and
# CNAME: the target, without the final dot); [] for NXDOMAIN or no such record;
# DnsTempError when DNS did not answer.
Lookup = Callable[[str, str], list[str]]


@dataclass(frozen=True)
class Envelope:
    """What our own SMTP receiver saw of a delivery: the client's address, its HELO name and
    the MAIL FROM address ("" for a bounce)."""

    client_ip: str
    helo: str
    mail_from: str


@dataclass(frozen=True)
class SenderAuth:
    """The result for one mail: status, one sentence why, the From domain, the domain proven
    (the From domain when status is pass), the DMARC policy the From domain publishes, and the
    results it came from."""

    status: AuthStatus
    reason: str
    from_domain: str | None = None
    authenticated_domain: str | None = None
    dmarc_policy: str | None = None  # none | quarantine | reject, as it applies to this mail
    results: JsonObject = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status is AuthStatus.PASS

    def to_json(self) -> JsonObject:
        return {
            "status": str(self.status),
            "reason": self.reason,
            "from_domain": self.from_domain,
            "authenticated_domain": self.authenticated_domain,
            "dmarc_policy": self.dmarc_policy,
            "results": self.results,
        }

    @classmethod
    def from_json(cls, data: JsonObject) -> SenderAuth:
        return cls(
            status=AuthStatus(data.get("status", "none")),
            reason=str(data.get("reason", "")),
            from_domain=data.get("from_domain"),
            authenticated_domain=data.get("authenticated_domain"),
            dmarc_policy=data.get("dmarc_policy"),
            results=dict(data.get("results") or {}),
        )
