"""What the mailbox provider found: ``Authentication-Results`` (RFC 8601) and ARC, believed only
from servers the source trusts.

We did not receive mail fetched from a mailbox, so SPF and DMARC as the provider's receiving
server saw them come from its headers. Anyone can write such a header into a mail, so:

- only the **topmost** ``Authentication-Results`` field is read (the provider adds its own on
  top when the mail arrives; a sender's can only be below it), and only when its authserv-id is
  one of ``trusted``. Every other one is ignored and reported as such.
- Exchange Online writes its header **without** an authserv-id (``spf=pass ... ; dmarc=pass
  action=none header.from=...``). Such a header is believed only as the topmost one and only when
  ``trusted`` names ``protection.outlook.com`` (``EXCHANGE_ONLINE``, in the Microsoft 365 preset).
- ARC (RFC 8617): when the chain verifies (``dkim_check.check_arc``), the newest set's
  ARC-Authentication-Results stands in when its authserv-id is trusted **and** the sealing key's
  domain (ARC-Seal ``d=``) belongs to the same organization as that authserv-id: only Google can
  seal with ``d=google.com`` for ``mx.google.com``.

The parser is lenient (Microsoft's ``action=none``, ``compauth``, versions after the id) and never
raises: what it cannot read it skips.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from invoice_inbox.json_types import JsonObject
from invoice_inbox.pipeline.trust.dmarc import org_domain
from invoice_inbox.pipeline.trust.headers import Headers, address_domain, normalize_domain

EXCHANGE_ONLINE = "protection.outlook.com"
MAX_RESULTS = 20  # resinfo entries read from one header
_INSTANCE = re.compile(r"^i\s*=\s*\d+$", re.I)


def _strip_comments(value: str) -> str:
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for ch in value[:8000]:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if quoted:
            quoted = ch != '"'
            out.append(ch)
        elif ch == '"' and depth == 0:
            quoted = True
            out.append(ch)
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def parse(value: str) -> tuple[str | None, list[JsonObject]]:
    """(authserv-id or None when the header has none, [{method, result, props}])."""
    parts = [p.strip() for p in _strip_comments(value).split(";")]
    parts = [p for p in parts if p]
    if parts and _INSTANCE.match(parts[0]):  # ARC-Authentication-Results: i=N; id; ...
        parts = parts[1:]
    if not parts:
        return None, []
    authserv: str | None = None
    if "=" not in parts[0].split()[0]:
        authserv = normalize_domain(parts[0].split()[0])
        parts = parts[1:]
    results: list[JsonObject] = []
    for part in parts[:MAX_RESULTS]:
        tokens = part.split()
        method, eq, result = tokens[0].partition("=")
        if not eq:
            continue
        props: dict[str, str] = {}
        for token in tokens[1:]:
            key, eq, val = token.partition("=")
            if eq:
                props.setdefault(key.lower(), val.strip('"'))
        results.append(
            {"method": method.split("/")[0].lower(), "result": result.lower(), "props": props}
        )
    return authserv, results


def summarize(results: list[JsonObject]) -> JsonObject:
    """The SPF, DKIM and DMARC results of one header, with the domains they are about."""
    out: JsonObject = {"dkim": []}
    for item in results:
        method, result, props = item["method"], item["result"], item["props"]
        if method == "spf" and "spf" not in out:
            who = props.get("smtp.mailfrom") or props.get("smtp.helo") or ""
            domain = address_domain(who) if "@" in who else normalize_domain(who)
            out["spf"] = {"result": result, "domain": domain or ""}
        elif method == "dkim" and len(out["dkim"]) < 10:
            domain = props.get("header.d") or ""
            if not domain and props.get("header.i"):
                domain = props["header.i"].rpartition("@")[2]
            out["dkim"].append({"result": result, "domain": normalize_domain(domain)})
        elif method == "dmarc" and "dmarc" not in out:
            out["dmarc"] = {
                "result": result,
                "from": normalize_domain(props.get("header.from", "")),
            }
    return out


def _trusted(authserv: str | None, trusted: Sequence[str]) -> bool:
    wanted = {normalize_domain(t) for t in trusted if t and t.strip()}
    if authserv is None:
        return EXCHANGE_ONLINE in wanted
    return authserv in wanted


def provider_results(
    headers: Headers, trusted: Sequence[str], arc: JsonObject | None
) -> JsonObject:
    """``{"used": [...], "ignored": [...]}``: each used entry is a ``summarize`` dict with
    ``authserv_id`` and ``via`` ("authentication-results" | "arc"); each ignored one says why."""
    used: list[JsonObject] = []
    ignored: list[dict[str, str]] = []
    fields = headers.get_all("Authentication-Results")
    for position, value in enumerate(fields[:20]):
        authserv, results = parse(value)
        shown = authserv or "(no authserv-id)"
        if position == 0 and _trusted(authserv, trusted):
            used.append(
                {"authserv_id": shown, "via": "authentication-results", **summarize(results)}
            )
        elif position == 0:
            ignored.append({"authserv_id": shown, "why": "its authserv-id is not trusted"})
        else:
            ignored.append({"authserv_id": shown, "why": "only the topmost header is believed"})
    if arc is not None and arc.get("aar"):
        authserv, results = parse(str(arc["aar"]))
        shown = authserv or "(no authserv-id)"
        sealer = str(arc.get("sealer") or "")
        if arc.get("cv") != "pass":
            ignored.append(
                {"authserv_id": shown, "why": f"the ARC chain did not verify ({arc.get('cv')})"}
            )
        elif not authserv or not _trusted(authserv, trusted):
            ignored.append(
                {"authserv_id": shown, "why": "the ARC sealer's authserv-id is not trusted"}
            )
        elif org_domain(sealer) != org_domain(authserv):
            ignored.append(
                {"authserv_id": shown, "why": f"the ARC seal is by {sealer}, not by {authserv}"}
            )
        else:
            used.append(
                {"authserv_id": authserv, "via": "arc", "sealer": sealer, **summarize(results)}
            )
    return {"used": used, "ignored": ignored}
