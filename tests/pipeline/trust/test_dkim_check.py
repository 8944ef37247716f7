"""DKIM verification (pipeline.trust.dkim_check) with real keys published on the test DNS
server: every signature checked, each with its result and why; never an exception."""

from __future__ import annotations

import dkim
from trust_mail import mail, resolver, supplier_zone

from harness.dkim_keys import DkimKey
from harness.dns_server import DnsServer
from invoice_inbox.pipeline.trust.dkim_check import MAX_SIGNATURES, check_dkim


def test_signature_verifies(dns_server: DnsServer) -> None:
    key = supplier_zone(dns_server)
    [found] = check_dkim(key.sign(mail()), resolver(dns_server))
    assert found == {
        "domain": "supplier.test",
        "selector": "s1",
        "result": "pass",
        "reason": "signature verified",
    }


def test_body_changed_after_signing_fails(dns_server: DnsServer) -> None:
    key = supplier_zone(dns_server)
    signed = key.sign(mail()).replace(b"invoice 2026-17", b"invoice 2026-18")
    [found] = check_dkim(signed, resolver(dns_server))
    assert found["result"] == "fail"
    assert found["reason"] == "the body was changed after signing"


def test_signed_header_changed_fails(dns_server: DnsServer) -> None:
    key = supplier_zone(dns_server)
    signed = key.sign(mail()).replace(b"Subject: Invoice 2026-17", b"Subject: New bank details")
    [found] = check_dkim(signed, resolver(dns_server))
    assert found["result"] == "fail"
    assert "signed header changed" in found["reason"]


def test_wrong_key_fails(dns_server: DnsServer) -> None:
    supplier_zone(dns_server)  # publishes the real key
    impostor = DkimKey.generate("supplier.test", "s1", label="impostor")
    [found] = check_dkim(impostor.sign(mail()), resolver(dns_server))
    assert found["result"] == "fail"


def test_missing_key_is_a_permerror_with_a_sentence(dns_server: DnsServer) -> None:
    key = DkimKey.generate("supplier.test", "gone")
    [found] = check_dkim(key.sign(mail()), resolver(dns_server))
    assert found["result"] == "permerror"
    assert found["reason"] == "no DKIM key is published at gone._domainkey.supplier.test"


def test_no_signature_gives_no_results(dns_server: DnsServer) -> None:
    assert check_dkim(mail(), resolver(dns_server)) == []
    assert dns_server.count() == 0


def test_every_signature_is_checked(dns_server: DnsServer) -> None:
    key = supplier_zone(dns_server)
    esp = DkimKey.generate("esp.test", "mail")
    esp.publish(dns_server)
    broken = DkimKey.generate("esp.test", "mail", label="other")
    raw = broken.sign(key.sign(mail()))  # top: a broken esp.test signature; below: supplier's
    found = check_dkim(raw, resolver(dns_server))
    assert [(f["domain"], f["result"]) for f in found] == [
        ("esp.test", "fail"),
        ("supplier.test", "pass"),
    ]


def test_number_of_signatures_checked_is_capped(dns_server: DnsServer) -> None:
    key = supplier_zone(dns_server)
    raw = mail()
    for _ in range(MAX_SIGNATURES + 3):
        raw = key.sign(raw)
    found = check_dkim(raw, resolver(dns_server))
    assert len(found) == MAX_SIGNATURES + 1
    assert found[-1]["result"] == "neutral" and "3 more" in found[-1]["reason"]
    assert dns_server.count("s1._domainkey.supplier.test", "TXT") == 1  # cached after the first


def test_dns_timeout_is_a_temperror(dns_server: DnsServer) -> None:
    key = DkimKey.generate("slow.test", "s1")
    dns_server.timeout_names.add("s1._domainkey.slow.test")
    [found] = check_dkim(key.sign(mail("billing@slow.test")), resolver(dns_server))
    assert found["result"] == "temperror"
    assert "s1._domainkey.slow.test" in found["reason"]


def test_malformed_signatures_never_raise(dns_server: DnsServer) -> None:
    for header in (
        b"DKIM-Signature: v=1; a=rsa-sha256; d=supplier.test; s=s1; b=!!!; bh=???\r\n",
        b"DKIM-Signature: garbage\r\n",
        b"DKIM-Signature: v=1; a=rsa-md5; d=supplier.test; s=s1; h=from; b=AA==; bh=AA==\r\n",
        b"DKIM-Signature: \xff\xfe\r\n",
    ):
        [found] = check_dkim(header + mail(), resolver(dns_server))
        assert found["result"] == "permerror", found


def test_text_added_after_a_length_limited_signature_fails(dns_server: DnsServer) -> None:
    key = supplier_zone(dns_server)
    raw = mail()
    header = dkim.sign(raw, b"s1", b"supplier.test", key.private_pem, length=True)
    signed = header + raw
    [intact] = check_dkim(signed, resolver(dns_server))
    assert intact["result"] == "pass"
    appended = signed + b"\r\nOur bank details changed: GB29 NWBK 6016 1331 9268 19\r\n"
    [found] = check_dkim(appended, resolver(dns_server))
    assert found["result"] == "fail"
    assert found["reason"] == "text was added after the signed part of the body (l=)"
