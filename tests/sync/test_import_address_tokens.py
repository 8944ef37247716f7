"""Import addresses that cannot be found by trying: a new company's address has twelve random
characters after its slug, and an address made with six by an older version keeps receiving
mail through the real receiver of a started Service."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select

from harness.dns_server import DnsServer
from invoice_inbox.store.models import Company
from sync.test_import_address import DOMAIN, Receiver, invoice

NEW_TOKEN = re.compile(r"acme-[a-hjkmnp-z2-9]{12}")  # no 0/o, 1/l/i


def test_new_addresses_have_twelve_random_characters_and_old_ones_keep_working(
    tmp_path: Path, dns_server: DnsServer
) -> None:
    r = Receiver(tmp_path / "data", 25 * 1024 * 1024, dns_server)
    try:
        tokens = {r.add_company(name)["import_local_part"] for name in ("ACME", "Acme!", "acme.")}
        assert len(tokens) == 3 and all(NEW_TOKEN.fullmatch(t) for t in tokens), tokens
        r.add_company("Globex")
        with r.app.db.session() as s:  # as an older version made it
            s.scalars(
                select(Company).where(Company.name == "Globex")
            ).one().import_token = "globex-k7p2q9"
        assert r.address("Globex") == f"globex-k7p2q9@{DOMAIN}"
        assert r.send([r.address("Globex")], invoice("old-address")) == {}
        assert [d["filename"] for d in r.documents("Globex")] == ["INV-old-address.pdf"]
    finally:
        r.stop()
