"""A mailbox provider's Authentication-Results and ARC (pipeline.trust.provider through
authenticate): believed only from a trusted authserv-id, only the topmost header, and an ARC
chain only when it verifies and its sealer is the trusted server's organization. Header texts
follow what Gmail and Exchange Online write."""

from __future__ import annotations

import json

from trust_mail import mail, resolver, supplier_zone

from harness.dkim_keys import DkimKey
from harness.dns_server import DnsServer
from invoice_inbox.connectors.presets import PRESETS
from invoice_inbox.pipeline.trust.authenticate import authenticate
from invoice_inbox.pipeline.trust.provider import parse, summarize
from invoice_inbox.pipeline.trust.result import AuthStatus

GMAIL = tuple(PRESETS["gmail"].authserv_ids)
MICROSOFT = tuple(PRESETS["microsoft365"].authserv_ids)

GOOGLE_PASS = (
    "Authentication-Results: mx.google.com;\r\n"
    "       spf=pass (google.com: domain of billing@supplier.test designates 127.0.0.2 as"
    " permitted sender) smtp.mailfrom=billing@supplier.test;\r\n"
    "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=supplier.test\r\n"
)
GOOGLE_FAIL = (
    "Authentication-Results: mx.google.com;\r\n"
    "       spf=fail (google.com: domain of billing@supplier.test does not designate 127.0.0.66"
    " as permitted sender) smtp.mailfrom=billing@supplier.test;\r\n"
    "       dmarc=fail (p=REJECT sp=REJECT dis=QUARANTINE) header.from=supplier.test\r\n"
)
SENDER_FORGED = (
    "Authentication-Results: mx.google.com; spf=pass smtp.mailfrom=billing@supplier.test;"
    " dkim=pass header.d=supplier.test; dmarc=pass header.from=supplier.test\r\n"
)
EXCHANGE_PASS = (
    "Authentication-Results: spf=pass (sender IP is 127.0.0.2)\r\n"
    " smtp.mailfrom=supplier.test; dkim=none (message not signed)\r\n"
    " header.d=none;dmarc=pass action=none header.from=supplier.test;compauth=pass\r\n"
    " reason=100\r\n"
)


def test_parse_real_formats() -> None:
    authserv, results = parse(GOOGLE_PASS.split(":", 1)[1])
    assert authserv == "mx.google.com"
    assert summarize(results) == {
        "dkim": [],
        "spf": {"result": "pass", "domain": "supplier.test"},
        "dmarc": {"result": "pass", "from": "supplier.test"},
    }
    authserv, results = parse(EXCHANGE_PASS.split(":", 1)[1])
    assert authserv is None  # Exchange Online writes no authserv-id
    assert [r["method"] for r in results] == ["spf", "dkim", "dmarc", "compauth"]
    assert summarize(results)["dmarc"] == {"result": "pass", "from": "supplier.test"}
    aar = (
        "i=1; mx.microsoft.com 1; spf=pass (sender ip is 127.0.0.2; note) smtp.mailfrom="
        "supplier.test; dmarc=pass (p=none sp=none pct=100) action=none header.from="
        "supplier.test; dkim=pass (signature was verified) header.d=supplier.test; arc=none"
    )
    authserv, results = parse(aar)
    assert authserv == "mx.microsoft.com"
    assert summarize(results)["dkim"] == [{"result": "pass", "domain": "supplier.test"}]
    assert parse("") == (None, [])
    assert parse("example.net; none") == ("example.net", [])
    assert parse("((((;;;;") == (None, [])


def test_trusted_provider_result_is_honoured(dns_server: DnsServer) -> None:
    supplier_zone(dns_server)
    raw = mail(extra=GOOGLE_PASS)
    auth = authenticate(raw, lookup=resolver(dns_server), trusted_authserv_ids=GMAIL)
    assert auth.status is AuthStatus.PASS
    assert auth.reason == "mx.google.com reports SPF pass for supplier.test; DMARC pass"
    assert auth.results["provider"]["used"][0]["authserv_id"] == "mx.google.com"


def test_provider_result_without_trust_is_ignored(dns_server: DnsServer) -> None:
    supplier_zone(dns_server)
    auth = authenticate(mail(extra=GOOGLE_PASS), lookup=resolver(dns_server))
    assert auth.status is AuthStatus.FAIL
    assert "Authentication-Results by mx.google.com ignored" in auth.reason


def test_forged_header_from_the_sender_is_ignored(dns_server: DnsServer) -> None:
    supplier_zone(dns_server)
    lookup = resolver(dns_server)
    # The spoofer wrote a "pass" claiming Gmail's id; Gmail's own header, on top, says fail.
    raw = mail(extra=GOOGLE_FAIL + SENDER_FORGED)
    auth = authenticate(raw, lookup=lookup, trusted_authserv_ids=GMAIL)
    assert auth.status is AuthStatus.FAIL
    assert "mx.google.com reports DMARC fail for supplier.test" in auth.reason
    assert auth.results["provider"]["ignored"] == [
        {"authserv_id": "mx.google.com", "why": "only the topmost header is believed"}
    ]
    # A header with the sender's own id on top (the provider added none) is not believed.
    own = mail(extra=SENDER_FORGED.replace("mx.google.com", "mx.supplier.test"))
    auth = authenticate(own, lookup=lookup, trusted_authserv_ids=GMAIL)
    assert auth.status is AuthStatus.FAIL
    assert "Authentication-Results by mx.supplier.test ignored" in auth.reason


def test_exchange_online_header_without_authserv_id(dns_server: DnsServer) -> None:
    supplier_zone(dns_server)
    lookup = resolver(dns_server)
    raw = mail(extra=EXCHANGE_PASS)
    trusted = authenticate(raw, lookup=lookup, trusted_authserv_ids=MICROSOFT)
    assert trusted.status is AuthStatus.PASS
    assert trusted.reason.startswith("(no authserv-id) reports SPF pass for supplier.test")
    assert authenticate(raw, lookup=lookup, trusted_authserv_ids=GMAIL).status is AuthStatus.FAIL
    # below the topmost header an id-less one is a sender's, whatever the trust
    hidden = mail(extra=GOOGLE_FAIL + EXCHANGE_PASS)
    auth = authenticate(hidden, lookup=lookup, trusted_authserv_ids=MICROSOFT + GMAIL)
    assert auth.status is AuthStatus.FAIL


def _forwarded(dns: DnsServer, sealer: DkimKey, authserv_id: str) -> bytes:
    """supplier.test signs; a forwarder checks it (its Authentication-Results), adds a footer
    (the signature breaks) and seals; Gmail then says DKIM and DMARC fail, ARC pass."""
    key = supplier_zone(dns)
    sealer.publish(dns)
    checked = (
        f"Authentication-Results: {authserv_id}; dkim=pass header.d=supplier.test header.s=s1;"
        " spf=pass smtp.mailfrom=billing@supplier.test; dmarc=pass header.from=supplier.test\r\n"
    ).encode()
    changed = checked + key.sign(mail()) + b"-- \r\nforwarded by the AP list\r\n"
    sealed = sealer.arc_seal(changed, authserv_id)
    google = (
        b"Authentication-Results: mx.google.com; dkim=fail header.d=supplier.test;"
        b" arc=pass (i=1); dmarc=fail (p=REJECT) header.from=supplier.test\r\n"
    )
    return google + sealed


def test_arc_sealed_forward_from_a_trusted_sealer(dns_server: DnsServer) -> None:
    raw = _forwarded(dns_server, DkimKey.generate("forwarder.test", "arc"), "mx.forwarder.test")
    lookup = resolver(dns_server)
    auth = authenticate(raw, lookup=lookup, trusted_authserv_ids=(*GMAIL, "mx.forwarder.test"))
    assert auth.status is AuthStatus.PASS
    assert auth.reason == (
        "ARC chain sealed by forwarder.test (mx.forwarder.test) reports a DKIM pass for"
        " supplier.test; DMARC pass"
    )
    assert auth.results["arc"]["cv"] == "pass"
    assert json.loads(json.dumps(auth.results))["arc"]["sealer"] == "forwarder.test"
    assert auth.results["dkim"][0]["result"] == "fail"  # our own check still says so
    untrusted = authenticate(raw, lookup=lookup, trusted_authserv_ids=GMAIL)
    assert untrusted.status is AuthStatus.FAIL
    why = "the ARC sealer's authserv-id is not trusted"
    ignored = untrusted.results["provider"]["ignored"]
    assert {"authserv_id": "mx.forwarder.test", "why": why} in ignored


def test_arc_seal_by_another_organization_is_ignored(dns_server: DnsServer) -> None:
    # evil.test seals with its own key and claims the trusted forwarder's authserv-id
    raw = _forwarded(dns_server, DkimKey.generate("evil.test", "arc"), "mx.forwarder.test")
    auth = authenticate(
        raw, lookup=resolver(dns_server), trusted_authserv_ids=(*GMAIL, "mx.forwarder.test")
    )
    assert auth.status is AuthStatus.FAIL
    assert {
        "authserv_id": "mx.forwarder.test",
        "why": "the ARC seal is by evil.test, not by mx.forwarder.test",
    } in auth.results["provider"]["ignored"]


def test_arc_chain_broken_after_sealing_is_ignored(dns_server: DnsServer) -> None:
    raw = _forwarded(dns_server, DkimKey.generate("forwarder.test", "arc"), "mx.forwarder.test")
    tampered = raw.replace(b"forwarded by the AP list", b"new bank details: GB29 NWBK")
    auth = authenticate(
        tampered, lookup=resolver(dns_server), trusted_authserv_ids=(*GMAIL, "mx.forwarder.test")
    )
    assert auth.status is AuthStatus.FAIL
    assert auth.results["arc"]["cv"] == "fail"
