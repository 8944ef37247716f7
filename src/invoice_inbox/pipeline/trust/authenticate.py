"""Sender authentication of one raw mail: who really sent it, as one ``SenderAuth``.

``authenticate(raw, lookup=..., envelope=..., trusted_authserv_ids=...)`` is what the runtime
calls for every mail; it never raises on bad input (an unreadable header is ``none`` with a
reason) and a DNS failure that matters is ``temperror``.

- DKIM: every signature is verified here (``dkim_check``), with keys from DNS.
- SPF: only with an ``Envelope`` (our own SMTP receiver saw the client address, HELO and MAIL
  FROM); a mailbox source takes SPF from its provider's headers (``provider``).
- ARC: checked only when nothing else proves the sender (it costs about two DKIM checks).
- DMARC: the From domain is proven when an aligned DKIM or SPF pass exists (ours, or reported by
  a trusted provider, or by a trusted ARC sealer); the policy record decides alignment modes and
  the policy reported in ``dmarc_policy`` (after ``pct``, see ``dmarc``).

Status: ``pass`` with a proof; else ``temperror`` when DNS failed where it mattered (the DMARC
record, a key or SPF of the From domain's organization); else ``fail`` when the From domain
publishes DMARC, or a signature or SPF of its organization failed, or the trusted provider says
DMARC fail; else ``none``.
"""

from __future__ import annotations

from collections.abc import Sequence

from invoice_inbox.json_types import JsonObject
from invoice_inbox.pipeline.trust import dmarc
from invoice_inbox.pipeline.trust.dkim_check import check_arc, check_dkim
from invoice_inbox.pipeline.trust.headers import (
    address_domain,
    from_addresses,
    message_id,
    read_headers,
)
from invoice_inbox.pipeline.trust.provider import provider_results
from invoice_inbox.pipeline.trust.result import (
    AuthStatus,
    DnsTempError,
    Envelope,
    Lookup,
    SenderAuth,
)
from invoice_inbox.pipeline.trust.spf_check import check_spf

__all__ = ["authenticate", "authentication_results"]

# the header fields read here and by what is called with them (check_dkim, provider_results)
FIELDS = frozenset(("from", "message-id", "dkim-signature", "authentication-results", "arc-seal"))


def authenticate(
    raw: bytes,
    *,
    lookup: Lookup,
    envelope: Envelope | None = None,
    trusted_authserv_ids: Sequence[str] = (),
) -> SenderAuth:
    """Authenticate the sender of ``raw`` (see the module docstring)."""
    try:
        return _authenticate(bytes(raw), lookup, envelope, tuple(trusted_authserv_ids or ()))
    except DnsTempError as exc:
        return SenderAuth(AuthStatus.TEMPERROR, f"DNS did not answer ({exc}); try again later")
    except Exception as exc:  # hostile input we did not foresee: recorded, never raised
        return SenderAuth(
            AuthStatus.NONE,
            f"sender authentication could not read the message ({type(exc).__name__})",
        )


def _authenticate(
    raw: bytes, lookup: Lookup, envelope: Envelope | None, trusted: tuple[str, ...]
) -> SenderAuth:
    headers = read_headers(raw, FIELDS)
    domains = {d for d in (address_domain(a) for a in from_addresses(headers)) if d}
    if not domains:
        return SenderAuth(AuthStatus.NONE, "the mail has no From address with a domain to check")
    if len(domains) > 1:
        listed = ", ".join(sorted(domains))
        return SenderAuth(
            AuthStatus.NONE, f"the mail has From addresses in several domains ({listed})"
        )
    from_domain = domains.pop()
    mid = message_id(headers)

    dkim_results = check_dkim(raw, lookup, headers=headers)
    spf_result = check_spf(envelope, lookup) if envelope is not None else None
    arc = None
    provider = provider_results(headers, trusted, None)

    record: dmarc.DmarcRecord | None = None
    dmarc_temp = False
    try:
        record = dmarc.find_record(from_domain, lookup)
    except DnsTempError:
        dmarc_temp = True
    adkim = record.adkim if record else "r"
    aspf = record.aspf if record else "r"

    for item in dkim_results:
        item["aligned"] = dmarc.aligned(item["domain"], from_domain, adkim)
    if spf_result is not None:
        spf_result["aligned"] = dmarc.aligned(spf_result["domain"], from_domain, aspf)

    proofs = _proofs(from_domain, dkim_results, spf_result, provider["used"], adkim, aspf)
    if not proofs and trusted and headers.first("ARC-Seal") is not None:
        # ARC costs a body hash and two signatures: checked only when it can change the answer
        arc = check_arc(raw, lookup)
        provider = provider_results(headers, trusted, arc)
        proofs = _proofs(from_domain, dkim_results, spf_result, provider["used"], adkim, aspf)
    results: JsonObject = {
        "from_domain": from_domain,
        "dkim": dkim_results,
        "spf": spf_result,
        "dmarc": {"record": record.to_json() if record else None, "result": "none"},
        "provider": provider,
    }
    if arc is not None:
        results["arc"] = {k: v for k, v in arc.items() if k != "aar"}

    published = record.policy_for(from_domain) if record else None
    org = dmarc.org_domain(from_domain)
    if proofs:
        results["dmarc"]["result"] = "pass"
        tail = "DMARC pass" if record else f"{from_domain} publishes no DMARC record"
        return SenderAuth(
            AuthStatus.PASS, f"{proofs[0]}; {tail}", from_domain, from_domain, published, results
        )

    temp = _temp_errors(dkim_results, spf_result, org, dmarc_temp, from_domain)
    if temp:
        results["dmarc"]["result"] = "temperror"
        return SenderAuth(
            AuthStatus.TEMPERROR, f"{temp}; try again later", from_domain, None, published, results
        )

    failures, remarks = _failures(dkim_results, spf_result, provider["used"], from_domain)
    notes = failures + remarks + _ignored(provider["ignored"])
    if record is not None:
        applied = dmarc.applied_policy(published or "none", record.pct, mid)
        results["dmarc"]["result"] = "fail"
        results["dmarc"]["policy_applied"] = applied
        pct = f" pct={record.pct}" if record.pct < 100 else ""
        reason = (
            f"From domain {from_domain} publishes DMARC p={published}{pct}; no aligned SPF or DKIM"
        )
        return SenderAuth(
            AuthStatus.FAIL, _join(reason, notes), from_domain, None, applied, results
        )
    if failures:
        return SenderAuth(
            AuthStatus.FAIL, _join(failures[0], notes[1:]), from_domain, None, None, results
        )
    what = ["no DKIM signature" if not dkim_results else "no aligned DKIM signature"]
    if spf_result is not None:
        what.append(f"SPF {spf_result['result']}")
    reason = f"{', '.join(what)} and {from_domain} publishes no DMARC record"
    return SenderAuth(AuthStatus.NONE, _join(reason, notes), from_domain, None, None, results)


def _proofs(
    from_domain: str,
    dkim_results: list[JsonObject],
    spf_result: JsonObject | None,
    used: list[JsonObject],
    adkim: str,
    aspf: str,
) -> list[str]:
    """Sentences naming each aligned pass, ours first."""
    found = [
        f"DKIM signature by {d['domain']} verified"
        for d in dkim_results
        if d["result"] == "pass" and d["aligned"]
    ]
    if spf_result and spf_result["result"] == "pass" and spf_result["aligned"]:
        found.append(f"SPF pass for {spf_result['domain']}")
    for entry in used:
        who = (
            f"ARC chain sealed by {entry.get('sealer')} ({entry['authserv_id']}) reports"
            if entry["via"] == "arc"
            else f"{entry['authserv_id']} reports"
        )
        for d in entry["dkim"]:
            if d["result"] == "pass" and dmarc.aligned(d["domain"], from_domain, adkim):
                found.append(f"{who} a DKIM pass for {d['domain']}")
        spf = entry.get("spf")
        if spf and spf["result"] == "pass" and dmarc.aligned(spf["domain"], from_domain, aspf):
            found.append(f"{who} SPF pass for {spf['domain']}")
        verdict = entry.get("dmarc")
        if verdict and verdict["result"] == "pass" and verdict["from"] == from_domain:
            found.append(f"{who} DMARC pass for {from_domain}")
    return found


def _temp_errors(
    dkim_results: list[JsonObject],
    spf_result: JsonObject | None,
    org: str,
    dmarc_temp: bool,
    from_domain: str,
) -> str:
    if dmarc_temp:
        return f"DNS did not answer for the DMARC record of {from_domain}"
    for d in dkim_results:
        if d["result"] == "temperror" and dmarc.org_domain(d["domain"]) == org:
            return f"DNS did not answer for the DKIM key of {d['domain']}"
    if spf_result and spf_result["result"] == "temperror":
        return f"DNS did not answer for the SPF record of {spf_result['domain']}"
    return ""


def _failures(
    dkim_results: list[JsonObject],
    spf_result: JsonObject | None,
    used: list[JsonObject],
    from_domain: str,
) -> tuple[list[str], list[str]]:
    """(a sentence for each failed proof of the From domain's organization, remarks on passes
    for other domains, which prove nothing about the From domain)."""
    org = dmarc.org_domain(from_domain)
    out: list[str] = []
    remarks: list[str] = []
    for d in dkim_results:
        if d["result"] in ("fail", "permerror") and d["domain"]:
            mine = dmarc.org_domain(d["domain"]) == org
            if mine:
                out.append(f"DKIM signature by {d['domain']} failed: {d['reason']}")
        elif d["result"] == "pass" and not d["aligned"]:
            remarks.append(
                f"DKIM signature by {d['domain']} verified but not aligned with {from_domain}"
            )
    if spf_result and spf_result["result"] in ("fail", "softfail"):
        out.append(f"SPF {spf_result['result']} for {spf_result['domain']}")
    elif spf_result and spf_result["result"] == "pass":
        remarks.append(f"SPF pass for {spf_result['domain']} but not aligned with {from_domain}")
    for entry in used:
        verdict = entry.get("dmarc")
        if verdict and verdict["result"] == "fail":
            out.append(
                f"{entry['authserv_id']} reports DMARC fail for {verdict['from'] or from_domain}"
            )
    return out, remarks


def _ignored(ignored: list[dict[str, str]]) -> list[str]:
    if not ignored:
        return []
    names = sorted({i["authserv_id"] for i in ignored})
    return [f"Authentication-Results by {', '.join(names)} ignored (not from a trusted server)"]


def _join(first: str, rest: list[str]) -> str:
    parts = [first, *[r for r in rest if r and r != first]]
    return "; ".join(parts[:3])


# -- our own Authentication-Results header ---------------------------------------------------


def _value(text: str) -> str:
    """A property value: a token as is, anything else quoted."""
    text = str(text or "")
    if text and all(c.isalnum() or c in "-._@+" for c in text):
        return text
    cleaned = "".join(c for c in text if c.isprintable() and c not in '"\\')
    return f'"{cleaned}"'


def authentication_results(auth: SenderAuth, authserv_id: str) -> str:
    """The value (after ``Authentication-Results:``) of the RFC 8601 header our receiver adds:
    ``authserv-id; spf=...; dkim=...; dmarc=...``, from ``auth.results``."""
    parts = [authserv_id]
    results = auth.results or {}
    spf = results.get("spf")
    if spf:
        identity = "smtp.mailfrom" if spf.get("identity") == "mailfrom" else "smtp.helo"
        parts.append(f"spf={spf.get('result', 'none')} {identity}={_value(spf.get('domain', ''))}")
    else:
        parts.append("spf=none")
    dkims = [d for d in results.get("dkim") or [] if d.get("domain")]
    for d in dkims:
        parts.append(
            f"dkim={_pretty_dkim(d.get('result', 'none'))} header.d={_value(d['domain'])}"
            f" header.s={_value(d.get('selector', ''))}"
        )
    if not dkims:
        parts.append("dkim=none")
    verdict = (results.get("dmarc") or {}).get("result") or "none"
    if auth.status is AuthStatus.TEMPERROR:
        verdict = "temperror"
    dmarc_part = f"dmarc={verdict}"
    if auth.from_domain:
        dmarc_part += f" header.from={_value(auth.from_domain)}"
    if auth.dmarc_policy:
        dmarc_part += f" policy.dmarc={auth.dmarc_policy}"
    parts.append(dmarc_part)
    return ";\r\n\t".join(parts)


def _pretty_dkim(result: str) -> str:
    return (
        result
        if result in ("pass", "fail", "none", "temperror", "permerror", "neutral")
        else "neutral"
    )
