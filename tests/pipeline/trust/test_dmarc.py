"""DMARC pieces (pipeline.trust.dmarc): organizational domains, alignment, records, pct."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from trust_mail import resolver

from harness.dns_server import DnsServer
from invoice_inbox.pipeline.trust import dmarc


def test_organizational_domain() -> None:
    assert dmarc.org_domain("billing.supplier.test") == "supplier.test"
    assert dmarc.org_domain("mail.supplier.co.uk") == "supplier.co.uk"
    assert dmarc.org_domain("a.b.supplier.com.au") == "supplier.com.au"
    assert dmarc.org_domain("Supplier.DE.") == "supplier.de"


def test_alignment_relaxed_and_strict() -> None:
    assert dmarc.aligned("mail.supplier.test", "supplier.test", "r")
    assert not dmarc.aligned("mail.supplier.test", "supplier.test", "s")
    assert dmarc.aligned("supplier.test", "SUPPLIER.test", "s")
    assert not dmarc.aligned("supplier.co.uk", "other.co.uk", "r")  # a public suffix is no org
    assert not dmarc.aligned("", "supplier.test", "r")


def test_record_tags() -> None:
    rec = dmarc.parse_record(
        "v=DMARC1; p=quarantine; sp=reject; pct=30; adkim=s; aspf=s", "supplier.test"
    )
    assert rec is not None
    assert (rec.p, rec.sp, rec.pct, rec.adkim, rec.aspf) == ("quarantine", "reject", 30, "s", "s")
    plain = dmarc.parse_record("v=DMARC1; p=reject", "supplier.test")
    assert plain is not None
    assert (plain.sp, plain.pct, plain.adkim, plain.aspf) == ("reject", 100, "r", "r")
    assert dmarc.parse_record("v=spf1 -all", "x.test") is None
    assert dmarc.parse_record("v=DMARC1; p=bogus", "x.test") is None
    rua_only = dmarc.parse_record("v=DMARC1; rua=mailto:d@x.test", "x.test")
    assert rua_only is not None and rua_only.p == "none"


def test_record_found_at_the_organizational_domain(dns_server: DnsServer) -> None:
    dns_server.add("_dmarc.supplier.test", "TXT", "v=DMARC1; p=reject; sp=quarantine")
    rec = dmarc.find_record("billing.supplier.test", resolver(dns_server))
    assert rec is not None and rec.domain == "supplier.test"
    assert rec.policy_for("billing.supplier.test") == "quarantine"
    assert rec.policy_for("supplier.test") == "reject"
    dns_server.add("_dmarc.billing.supplier.test", "TXT", "v=DMARC1; p=none")
    own = dmarc.find_record("billing.supplier.test", resolver(dns_server))
    assert own is not None and own.policy_for("billing.supplier.test") == "none"


def test_two_records_count_as_none(dns_server: DnsServer) -> None:
    dns_server.add("_dmarc.supplier.test", "TXT", "v=DMARC1; p=reject")
    dns_server.add("_dmarc.supplier.test", "TXT", "v=DMARC1; p=none")
    assert dmarc.find_record("supplier.test", resolver(dns_server)) is None


def test_pct_sampling_is_deterministic_and_proportional() -> None:
    ids = [f"<{n}@supplier.test>" for n in range(2000)]
    inside = sum(dmarc.applied_policy("reject", 30, i) == "reject" for i in ids)
    assert 500 < inside < 700  # about 30 %
    # the sample is the documented hash, so it is the same in every process and after a recheck
    assert [dmarc.sample(i) for i in ids[:3]] == [70, 53, 75]
    assert dmarc.applied_policy("reject", 71, ids[0]) == "reject"
    assert dmarc.applied_policy("reject", 70, ids[0]) == "quarantine"
    assert {dmarc.applied_policy("reject", 0, i) for i in ids[:50]} == {"quarantine"}
    assert {dmarc.applied_policy("quarantine", 0, i) for i in ids[:50]} == {"none"}
    assert {dmarc.applied_policy("reject", 100, i) for i in ids[:50]} == {"reject"}


def test_the_public_suffix_list_is_built_once_by_threads_starting_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[int] = []
    real = dmarc.PublicSuffixList

    def slow_build() -> object:
        built.append(1)
        time.sleep(0.05)  # long enough for every thread to ask meanwhile
        return real()

    monkeypatch.setattr(dmarc, "PublicSuffixList", slow_build)
    monkeypatch.setattr(dmarc, "_PSL", [])
    with ThreadPoolExecutor(8) as pool:
        lists = list(pool.map(lambda _: dmarc._psl(), range(8)))
    assert len(built) == 1 and all(x is lists[0] for x in lists)
