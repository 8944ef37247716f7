"""``inspect`` says who sent a mail: DKIM and DMARC through the DNS server it is given
(``--dns-server``), and with ``--source`` the decision under that source's sender policy, as its
run would make it. A bare document file has no sender to check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from builders import make_pdf
from harness.dkim_keys import DkimKey
from harness.dns_server import DnsServer
from sync.conftest import AP
from sync.test_sender_auth import altered, signed


def inspect(ap: AP, path: Path, *args: str) -> dict[str, Any]:
    return ap.ok("inspect", str(path), "--json", *args).json()  # type: ignore[no-any-return]


def test_inspect_authenticates_the_sender_and_applies_the_sources_policy(
    ap: AP, dns_server: DnsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INVOICE_INBOX_DNS_SERVER", "")  # --dns-server sets it: restored after
    DkimKey.generate("supplier.test").publish(dns_server)
    dns_server.add("_dmarc.supplier.test", "TXT", "v=DMARC1; p=reject")
    good, bad = tmp_path / "good.eml", tmp_path / "bad.eml"
    good.write_bytes(signed("inspected"))
    bad.write_bytes(altered("inspected"))
    at = ("--dns-server", dns_server.address)

    result = inspect(ap, good, *at)
    assert result["decision"] == "import"
    assert result["sender_auth"]["status"] == "pass"
    assert "DKIM signature by supplier.test verified" in result["sender_auth"]["reason"]
    text = ap.ok("inspect", str(good), *at).stdout
    assert "  sender: pass: DKIM signature by supplier.test verified" in text

    result = inspect(ap, bad, *at)
    assert result["sender_auth"]["status"] == "fail"
    assert result["decision"] == "import"  # no source: the decision alone

    ap.add_source("--sender-auth", "require")
    result = inspect(ap, bad, "--source", "ap", *at)
    assert result["decision"] == "not_imported"
    assert "is not authenticated" in result["reason"]
    assert inspect(ap, good, "--source", "ap", *at)["decision"] == "import"

    assert inspect(ap, bad, "--no-check-sender")["sender_auth"] is None
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(make_pdf("Invoice 1"))
    assert inspect(ap, pdf, *at)["sender_auth"] is None  # a bare file: nobody sent it
