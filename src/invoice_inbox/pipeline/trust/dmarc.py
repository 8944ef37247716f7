"""DMARC (RFC 7489): the policy record, identifier alignment and ``pct``.

The record is looked up at ``_dmarc.<From domain>``, else at ``_dmarc.<organizational domain>``
(the registrable domain by the public suffix list bundled with ``publicsuffixlist``, offline; an
unknown suffix such as ``.test`` counts as a public suffix). For a From domain below the
organizational domain, ``sp`` applies when the record came from the organizational domain.

Alignment: relaxed (default) when both domains have the same organizational domain, strict when
they are equal.

``pct``: a failing mail falls under the published policy when ``sample(message_id) < pct``, where
``sample`` is the first two bytes of the SHA-256 of the Message-ID modulo 100: the same mail always
gets the same answer (a recheck does not change it). Outside the sample the policy is one step
milder (reject -> quarantine -> none), as RFC 7489 6.6.4 says.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from dataclasses import dataclass

from publicsuffixlist import PublicSuffixList

from invoice_inbox.json_types import JsonObject
from invoice_inbox.pipeline.trust.headers import normalize_domain
from invoice_inbox.pipeline.trust.result import Lookup

POLICIES = ("none", "quarantine", "reject")


_PSL: list[PublicSuffixList] = []  # built once per process, on first use (it takes ~0.3 s)
_PSL_LOCK = threading.Lock()


def _psl() -> PublicSuffixList:
    """The public suffix list, built by the first caller while the others wait: a run's sender
    checks start on several threads at once (``lru_cache`` would let each build its own)."""
    if not _PSL:
        with _PSL_LOCK:
            if not _PSL:
                _PSL.append(PublicSuffixList())
    return _PSL[0]


@functools.lru_cache(maxsize=4096)
def org_domain(domain: str) -> str:
    """The organizational (registrable) domain: ``billing.supplier.co.uk`` -> ``supplier.co.uk``."""
    domain = normalize_domain(domain)
    try:
        found = _psl().privatesuffix(domain)
    except Exception:
        found = None
    return found or domain


def aligned(a: str, b: str, mode: str) -> bool:
    """Whether two domains align: strict (``s``) equal, relaxed (``r``) same organization."""
    a, b = normalize_domain(a), normalize_domain(b)
    if not a or not b:
        return False
    return a == b if mode == "s" else org_domain(a) == org_domain(b)


@dataclass(frozen=True)
class DmarcRecord:
    domain: str  # where it was found
    p: str
    sp: str
    pct: int
    adkim: str
    aspf: str
    raw: str

    def policy_for(self, from_domain: str) -> str:
        return self.sp if normalize_domain(from_domain) != self.domain else self.p

    def to_json(self) -> JsonObject:
        return {
            "domain": self.domain,
            "p": self.p,
            "sp": self.sp,
            "pct": self.pct,
            "adkim": self.adkim,
            "aspf": self.aspf,
        }


def parse_record(text: str, domain: str) -> DmarcRecord | None:
    """A DMARC record's tags; None when ``text`` is not one (no ``v=DMARC1`` first)."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        key, eq, value = part.partition("=")
        if eq:
            tags.setdefault(key.strip().lower(), value.strip())
    if tags.get("v", "").upper() != "DMARC1" or not text.strip().lower().startswith("v"):
        return None
    p = tags.get("p", "").lower()
    if p not in POLICIES:
        # RFC 7489 6.6.3: a record without a valid p= but with rua= counts as p=none
        if "rua" not in tags:
            return None
        p = "none"
    sp = tags.get("sp", "").lower()
    pct_text = tags.get("pct", "100")
    pct = int(pct_text) if pct_text.isdigit() else 100
    return DmarcRecord(
        domain=domain,
        p=p,
        sp=sp if sp in POLICIES else p,
        pct=max(0, min(100, pct)),
        adkim="s" if tags.get("adkim", "r").lower() == "s" else "r",
        aspf="s" if tags.get("aspf", "r").lower() == "s" else "r",
        raw=text[:300],
    )


def find_record(from_domain: str, lookup: Lookup) -> DmarcRecord | None:
    """The record that governs ``from_domain``; raises ``DnsTempError`` when DNS did not answer."""
    from_domain = normalize_domain(from_domain)
    candidates = [from_domain]
    org = org_domain(from_domain)
    if org != from_domain:
        candidates.append(org)
    for domain in candidates:
        records = [
            r for r in lookup(f"_dmarc.{domain}", "TXT") if r.strip().lower().startswith("v=dmarc1")
        ]
        if len(records) == 1:  # more than one: as if none (RFC 7489 6.6.3)
            found = parse_record(records[0], domain)
            if found is not None:
                return found
    return None


def sample(message_id: str) -> int:
    """0-99, the same for the same Message-ID (see the module docstring)."""
    digest = hashlib.sha256(message_id.strip().encode("utf-8", "replace")).digest()
    return int.from_bytes(digest[:2], "big") % 100


def applied_policy(policy: str, pct: int, message_id: str) -> str:
    """The policy a failing mail gets after ``pct`` sampling."""
    if pct >= 100 or sample(message_id) < pct:
        return policy
    return {"reject": "quarantine", "quarantine": "none"}.get(policy, "none")
