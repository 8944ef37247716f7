"""authenticate(): DMARC with and without alignment (DKIM and SPF, relaxed and strict), the
published policy (reject, quarantine, none, sp, pct), temporary DNS failures, and bad input; the
Authentication-Results header our receiver adds."""

from __future__ import annotations

import json

import authres
import pytest
from trust_mail import mail, resolver, supplier_zone

from harness.dkim_keys import DkimKey
from harness.dns_server import DnsServer
from invoice_inbox.pipeline.trust.authenticate import authenticate, authentication_results
from invoice_inbox.pipeline.trust.provider import parse
from invoice_inbox.pipeline.trust.result import AuthStatus, Envelope, SenderAuth

GOOD_CLIENT = Envelope("127.0.0.2", "mx.supplier.test", "billing@supplier.test")
SPOOFER = Envelope("127.0.0.66", "mx.evil.test", "attacker@evil.test")


def test_dkim_pass_with_dmarc(dns_server: DnsServer) -> None:
    key = supplier_zone(dns_server)
    auth = authenticate(key.sign(mail()), lookup=resolver(dns_server))
    assert auth.status is AuthStatus.PASS
    assert auth.reason == "DKIM signature by supplier.test verified; DMARC pass"
    assert (auth.from_domain, auth.authenticated_domain) == ("supplier.test", "supplier.test")
    assert auth.dmarc_policy == "reject"
    assert auth.results["dkim"][0]["aligned"] is True
    assert SenderAuth.from_json(auth.to_json()) == auth  # JSON-able for the ledger


def test_spoofed_from_fails_under_reject(dns_server: DnsServer) -> None:
    supplier_zone(dns_server)
    dns_server.add("evil.test", "TXT", "v=spf1 ip4:127.0.0.66 -all")
    auth = authenticate(mail(), lookup=resolver(dns_server), envelope=SPOOFER)
    assert auth.status is AuthStatus.FAIL
    assert auth.reason.startswith(
        "From domain supplier.test publishes DMARC p=reject; no aligned SPF or DKIM"
    )
    assert "SPF pass for evil.test but not aligned with supplier.test" in auth.reason
    assert auth.dmarc_policy == "reject"
    assert auth.results["spf"]["result"] == "pass"
    assert auth.results["dmarc"]["result"] == "fail"


def test_spf_pass_aligned_is_enough(dns_server: DnsServer) -> None:
    supplier_zone(dns_server)
    auth = authenticate(mail(), lookup=resolver(dns_server), envelope=GOOD_CLIENT)
    assert auth.status is AuthStatus.PASS
    assert auth.reason == "SPF pass for supplier.test; DMARC pass"


def test_spf_fail_from_another_client(dns_server: DnsServer) -> None:
    supplier_zone(dns_server)
    envelope = Envelope("127.0.0.3", "mx.supplier.test", "billing@supplier.test")
    auth = authenticate(mail(), lookup=resolver(dns_server), envelope=envelope)
    assert auth.status is AuthStatus.FAIL
    assert "SPF fail for supplier.test" in auth.reason


@pytest.mark.parametrize("policy", ["reject", "quarantine", "none"])
def test_published_policy_is_reported(dns_server: DnsServer, policy: str) -> None:
    supplier_zone(dns_server, dmarc=f"v=DMARC1; p={policy}")
    failing = authenticate(mail(), lookup=resolver(dns_server), envelope=SPOOFER)
    assert failing.status is AuthStatus.FAIL
    assert failing.dmarc_policy == policy
    assert f"publishes DMARC p={policy};" in failing.reason
    passing = authenticate(mail(), lookup=resolver(dns_server), envelope=GOOD_CLIENT)
    assert passing.status is AuthStatus.PASS and passing.dmarc_policy == policy


def test_dkim_alignment_relaxed_and_strict(dns_server: DnsServer) -> None:
    supplier_zone(dns_server)
    sub = DkimKey.generate("mail.supplier.test", "s1")
    sub.publish(dns_server)
    raw = sub.sign(mail())
    relaxed = authenticate(raw, lookup=resolver(dns_server))
    assert relaxed.status is AuthStatus.PASS
    assert relaxed.reason == "DKIM signature by mail.supplier.test verified; DMARC pass"
    dns_server.remove("_dmarc.supplier.test")
    dns_server.add("_dmarc.supplier.test", "TXT", "v=DMARC1; p=reject; adkim=s")
    strict = authenticate(raw, lookup=resolver(dns_server))
    assert strict.status is AuthStatus.FAIL
    assert "no aligned SPF or DKIM" in strict.reason


def test_spf_alignment_relaxed_and_strict(dns_server: DnsServer) -> None:
    supplier_zone(dns_server)
    dns_server.add("bounces.supplier.test", "TXT", "v=spf1 ip4:127.0.0.8 -all")
    envelope = Envelope("127.0.0.8", "mx.supplier.test", "b-17@bounces.supplier.test")
    assert authenticate(mail(), lookup=resolver(dns_server), envelope=envelope).passed
    dns_server.remove("_dmarc.supplier.test")
    dns_server.add("_dmarc.supplier.test", "TXT", "v=DMARC1; p=reject; aspf=s")
    strict = authenticate(mail(), lookup=resolver(dns_server), envelope=envelope)
    assert strict.status is AuthStatus.FAIL


def test_unaligned_signature_does_not_prove_the_from_domain(dns_server: DnsServer) -> None:
    esp = DkimKey.generate("esp.test", "k1")
    esp.publish(dns_server)  # supplier.test publishes nothing
    auth = authenticate(esp.sign(mail()), lookup=resolver(dns_server))
    assert auth.status is AuthStatus.NONE
    assert auth.reason == (
        "no aligned DKIM signature and supplier.test publishes no DMARC record;"
        " DKIM signature by esp.test verified but not aligned with supplier.test"
    )


def test_subdomain_policy(dns_server: DnsServer) -> None:
    dns_server.add("_dmarc.supplier.test", "TXT", "v=DMARC1; p=reject; sp=quarantine")
    auth = authenticate(mail("billing@invoices.supplier.test"), lookup=resolver(dns_server))
    assert auth.status is AuthStatus.FAIL
    assert auth.dmarc_policy == "quarantine"
    assert "publishes DMARC p=quarantine" in auth.reason


def test_pct_applies_the_policy_to_a_sample(dns_server: DnsServer) -> None:
    supplier_zone(dns_server, dmarc="v=DMARC1; p=reject; pct=50")
    lookup = resolver(dns_server)
    # dmarc.sample: <0@...> -> 70 (outside 50 %: one step milder), <6@...> -> 19 (inside)
    outside = authenticate(mail(message_id="<0@supplier.test>"), lookup=lookup, envelope=SPOOFER)
    assert outside.status is AuthStatus.FAIL and outside.dmarc_policy == "quarantine"
    assert "p=reject pct=50" in outside.reason
    inside = authenticate(mail(message_id="<6@supplier.test>"), lookup=lookup, envelope=SPOOFER)
    assert inside.dmarc_policy == "reject"


def test_no_signature_no_record_is_none(dns_server: DnsServer) -> None:
    auth = authenticate(mail(), lookup=resolver(dns_server))
    assert auth.status is AuthStatus.NONE
    assert auth.reason == "no DKIM signature and supplier.test publishes no DMARC record"


def test_broken_signature_without_dmarc_fails(dns_server: DnsServer) -> None:
    key = supplier_zone(dns_server, dmarc=None)
    raw = key.sign(mail()).replace(b"2026-17 attached", b"2026-17 attached, new IBAN")
    auth = authenticate(raw, lookup=resolver(dns_server))
    assert auth.status is AuthStatus.FAIL
    assert auth.reason == (
        "DKIM signature by supplier.test failed: the body was changed after signing"
    )


def test_missing_key_fails_with_a_sentence(dns_server: DnsServer) -> None:
    dns_server.add("_dmarc.supplier.test", "TXT", "v=DMARC1; p=quarantine")
    key = DkimKey.generate("supplier.test", "old")
    auth = authenticate(key.sign(mail()), lookup=resolver(dns_server))
    assert auth.status is AuthStatus.FAIL
    assert "no DKIM key is published at old._domainkey.supplier.test" in auth.reason


def test_two_signatures_one_broken_still_passes(dns_server: DnsServer) -> None:
    key = supplier_zone(dns_server)
    stale = DkimKey.generate("supplier.test", "s1", label="rotated")
    auth = authenticate(stale.sign(key.sign(mail())), lookup=resolver(dns_server))
    assert auth.status is AuthStatus.PASS
    assert [d["result"] for d in auth.results["dkim"]] == ["fail", "pass"]


def test_dns_timeout_is_temperror_not_an_exception(dns_server: DnsServer) -> None:
    key = supplier_zone(dns_server)
    dns_server.timeout_names.add("_dmarc.supplier.test")
    dns_server.timeout_names.add("s1._domainkey.supplier.test")
    auth = authenticate(key.sign(mail()), lookup=resolver(dns_server))
    assert auth.status is AuthStatus.TEMPERROR
    assert auth.reason == (
        "DNS did not answer for the DMARC record of supplier.test; try again later"
    )


def test_key_timeout_is_temperror(dns_server: DnsServer) -> None:
    key = supplier_zone(dns_server, dmarc=None)
    dns_server.timeout_names.add("s1._domainkey.supplier.test")
    auth = authenticate(key.sign(mail()), lookup=resolver(dns_server))
    assert auth.status is AuthStatus.TEMPERROR
    assert "DKIM key of supplier.test" in auth.reason


def test_unreadable_or_odd_mail_is_none(dns_server: DnsServer) -> None:
    lookup = resolver(dns_server)
    for raw in (
        b"",
        b"\x00\xff garbage",
        b"Subject: no from\r\n\r\nbody",
        b"From: nobody\r\n\r\n",
        b"From: =?utf-8?q?billing=40supplier.test?= <x@evil>\r\n\r\n",
    ):
        auth = authenticate(raw, lookup=lookup)
        assert auth.status is AuthStatus.NONE, raw
        assert auth.reason == "the mail has no From address with a domain to check"
    two = authenticate(b"From: a@supplier.test, b@evil.test\r\n\r\nhi", lookup=lookup)
    assert two.status is AuthStatus.NONE
    assert "several domains (evil.test, supplier.test)" in two.reason


def test_our_authentication_results_header(dns_server: DnsServer) -> None:
    key = supplier_zone(dns_server)
    auth = authenticate(key.sign(mail()), lookup=resolver(dns_server), envelope=GOOD_CLIENT)
    value = authentication_results(auth, "inbox.buyer.test")
    header = authres.AuthenticationResultsHeader.parse_value(value)  # RFC 8601 syntax
    assert header.authserv_id == "inbox.buyer.test"
    assert [(r.method, r.result) for r in header.results] == [
        ("spf", "pass"),
        ("dkim", "pass"),
        ("dmarc", "pass"),
    ]
    authserv, results = parse(value)
    assert authserv == "inbox.buyer.test"
    assert results[0]["props"] == {"smtp.mailfrom": "supplier.test"}
    assert results[1]["props"] == {"header.d": "supplier.test", "header.s": "s1"}


def test_our_header_for_a_spoofed_and_a_temperror_mail(dns_server: DnsServer) -> None:
    supplier_zone(dns_server)
    spoofed = authenticate(mail(), lookup=resolver(dns_server), envelope=SPOOFER)
    value = authentication_results(spoofed, "inbox.buyer.test")
    header = authres.AuthenticationResultsHeader.parse_value(value)
    assert [(r.method, r.result) for r in header.results] == [
        ("spf", "none"),
        ("dkim", "none"),
        ("dmarc", "fail"),
    ]
    temp = authentication_results(SenderAuth(AuthStatus.TEMPERROR, "DNS"), "inbox.buyer.test")
    assert "dmarc=temperror" in temp
    authres.AuthenticationResultsHeader.parse_value(temp)


def test_cut_or_mangled_mail_never_raises_and_stays_json(dns_server: DnsServer) -> None:
    key = supplier_zone(dns_server)
    signed = key.sign(mail(extra="Authentication-Results: x; dkim=pass (((\r\n"))
    lookup = resolver(dns_server)
    variants = [signed[:n] for n in range(0, len(signed), 37)]
    variants += [signed.replace(b"\r\n", b"\n"), signed.replace(b": ", b":\x00"), signed * 3]
    for raw in variants:
        auth = authenticate(raw, lookup=lookup, envelope=GOOD_CLIENT, trusted_authserv_ids=["x"])
        assert isinstance(auth.status, AuthStatus)
        assert auth.reason and "\n" not in auth.reason
        assert SenderAuth.from_json(json.loads(json.dumps(auth.to_json()))) == auth
