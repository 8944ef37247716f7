"""``supplier_views.sender_domains``: what a run's sender check reads for each batch is exactly
``known_domains`` and ``blocked_domains`` (in their order), for the company asked only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from invoice_inbox.store import supplier_views, suppliers
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import Company, Source, utcnow
from invoice_inbox.store.models_trust import BlockedSender, Supplier, SupplierDomain


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.in_data_dir(tmp_path)  # on a --db=postgresql run: the test's database
    yield database
    database.close()


def company(db: Database, name: str, tag: str, *, blocked: bool = True) -> int:
    with db.session() as s:
        c = Company(name=name, notify_emails=[])
        s.add(c)
        s.flush()
        for n, allowed in enumerate(
            [[f"*@{tag}-allowed.test", "someone@gmail.com", f"ar@{tag}-parts.test"], None, []]
        ):
            s.add(
                Source(
                    name=f"{tag}{n}",
                    company_id=c.id,
                    host="h",
                    port=993,
                    username="u",
                    allowed_senders=allowed,
                )
            )
        now = utcnow()
        supplier = Supplier(
            company_id=c.id, name=tag, first_seen=now, last_seen=now, documents_count=0
        )
        for domain in (f"z-{tag}.test", f"a-{tag}.test", f"{tag}-parts.test"):
            supplier.domains.append(SupplierDomain(company_id=c.id, domain=domain))
        s.add(supplier)
        if blocked:
            for domain, reason in [
                (f"mail.evil-{tag}.test", "document #3 marked as fraud by a@b.test"),
                (f"evil-{tag}.test", "by hand"),
                (f"b-{tag}.test", ""),
            ]:
                s.add(BlockedSender(company_id=c.id, domain=domain, reason=reason))
        return c.id


def test_sender_domains_are_the_known_and_blocked_domains_of_the_company(db: Database) -> None:
    first = company(db, "ACME", "acme")
    second = company(db, "Other", "other")
    bare = company(db, "Bare", "bare", blocked=False)
    with db.session() as s:
        for company_id in (first, second, bare, 999):
            known, blocked = supplier_views.sender_domains(s, company_id)
            assert known == suppliers.known_domains(s, company_id)
            assert blocked == suppliers.blocked_domains(s, company_id)
            assert list(blocked) == list(suppliers.blocked_domains(s, company_id))
        known, blocked = supplier_views.sender_domains(s, first)
    assert known == {"z-acme.test", "a-acme.test", "acme-parts.test", "acme-allowed.test"}
    assert blocked == {
        "mail.evil-acme.test": "document #3 marked as fraud by a@b.test",
        "evil-acme.test": "by hand",
        "b-acme.test": "",
    }
