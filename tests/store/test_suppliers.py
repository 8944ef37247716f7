"""The supplier registry on a real database (SQLite, or PostgreSQL with ``--db=postgresql``):
suppliers learned from committed documents, known IBANs, bank-detail change alerts (flag,
notification, one ``supplier.bank_details_changed`` event), look-alike notifications, and the
admin actions with their one-sentence errors."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from invoice_inbox.store import events, suppliers
from invoice_inbox.store.db import Database
from invoice_inbox.store.errors import StoreError
from invoice_inbox.store.models import Company, Document, Message, Run, Source
from invoice_inbox.store.models_events import Event, Notification
from invoice_inbox.store.models_trust import BlockedSender, Supplier

DE = "DE89370400440532013000"
GB = "GB29NWBK60161331926819"
FR = "FR1420041010050500013M02606"
_n = itertools.count(1)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.in_data_dir(tmp_path)  # on a --db=postgresql run: the test's database
    yield database
    database.close()


@pytest.fixture
def ids(db: Database) -> dict[str, int]:
    with db.session() as s:
        company = Company(name="ACME", notify_emails=["ap@acme.test"])
        s.add(company)
        s.flush()
        source = Source(
            name="ap",
            company_id=company.id,
            host="h",
            port=993,
            username="u",
            allowed_senders=["*@supplier.test", "someone@gmail.com", "ar@parts.test"],
        )
        s.add(source)
        s.flush()
        run = Run(source_id=source.id, trigger="manual")
        s.add(run)
        s.flush()
        return {"company": company.id, "source": source.id, "run": run.id}


def commit_mail(
    db: Database,
    ids: dict[str, int],
    *,
    sender: str = "billing@supplier.test",
    ibans: tuple[str | None, ...] = (DE,),
    einvoice: dict[str, Any] | None = None,
    sender_auth: str | None = "pass",
    lookalike_of: str | None = None,
    duplicate_kind: str | None = None,
    origin_sender: str | None = None,
) -> int:
    """A ledger row with one document per IBAN, committed with ``learn`` as sync does."""
    n = next(_n)
    with db.session() as s:
        row = Message(
            source_id=ids["source"],
            run_id=ids["run"],
            folder="INBOX",
            uidvalidity=1,
            uid=n,
            raw_sha256=f"{n:064x}",
            raw_size=1,
            sender=sender,
            subject=f"Invoice {n}",
            decision="import",
            reason="r",
            hits=[],
            sender_auth=sender_auth,
            lookalike_of=lookalike_of,
        )
        row.documents = [
            Document(
                company_id=ids["company"],
                sha256=f"{n:032x}{i:032x}",
                size=1,
                media_type="application/pdf",
                filename=f"invoice-{n}-{i}.pdf",
                kind="pdf",
                einvoice=einvoice,
                iban=iban,
                duplicate_kind=duplicate_kind,
                duplicate_of_id=None,
                origin_sender=origin_sender,
            )
            for i, iban in enumerate(ibans)
        ]
        s.add(row)
        s.flush()
        if duplicate_kind == "exact":
            for doc in row.documents:
                doc.duplicate_of_id = doc.id  # any queued original will do here
        suppliers.learn(s, row, company_id=ids["company"])
        return row.id


def docs_of(s: Session, message_id: int) -> list[Document]:
    return list(s.scalars(select(Document).where(Document.message_id == message_id)))


def count(s: Session, model: Any, *where: Any) -> int:
    return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def bank_events(s: Session) -> list[Event]:
    return list(s.scalars(select(Event).where(Event.kind == events.BANK_DETAILS_CHANGED)))


def test_a_first_iban_is_recorded_unconfirmed_and_a_change_is_flagged_once(
    db: Database, ids: dict[str, int]
) -> None:
    first = commit_mail(db, ids, ibans=(DE,))
    with db.session() as s:
        (supplier,) = suppliers.list_for(s, [ids["company"]])
        assert supplier.name == "supplier.test"
        assert supplier.domains == ["supplier.test"]
        assert [(i.iban, i.confirmed) for i in supplier.ibans] == [(DE, False)]
        assert supplier.documents_count == 1
        (doc,) = docs_of(s, first)
        assert doc.supplier_id == supplier.id and doc.bank_alert is None

    commit_mail(db, ids, ibans=(DE,))  # the same account again: nothing to say
    changed = commit_mail(db, ids, ibans=(GB,))
    with db.session() as s:
        (doc,) = docs_of(s, changed)
        assert doc.bank_alert == "changed"
        assert doc.bank_alert_known == [DE]
        (event,) = bank_events(s)
        data = event.payload
        assert data["reason"] == "bank details changed: DE89 …3000 → GB29 …6819"
        assert data["document"]["id"] == doc.id and data["document"]["iban"] == GB
        assert data["supplier"]["name"] == "supplier.test"
        (note,) = s.scalars(select(Notification).where(Notification.kind == "bank_details_changed"))
        assert "supplier.test" in note.subject and GB in note.body
        info = suppliers.list_for(s, [ids["company"]])[0]
        assert info.documents_count == 3
        assert [i.iban for i in info.ibans] == [DE]  # a flagged IBAN is not known
        assert info.open_alerts == 1 and info.pending_ibans == [GB]
        # learning the same committed mail again (a recheck, a replay) says nothing new
        row = s.get(Message, changed)
        assert row is not None
        suppliers.learn(s, row, company_id=ids["company"])
    with db.session() as s:
        assert len(bank_events(s)) == 1
        assert count(s, Notification, Notification.kind == "bank_details_changed") == 1
        assert suppliers.list_for(s, [ids["company"]])[0].documents_count == 3


def test_a_changed_iban_stays_flagged_until_confirmed_then_it_is_known(
    db: Database, ids: dict[str, int]
) -> None:
    commit_mail(db, ids, ibans=(DE,))
    changed = commit_mail(db, ids, ibans=(GB,))
    again = commit_mail(db, ids, ibans=(GB,))  # still not known: flagged again
    with db.session() as s:
        assert [d.bank_alert for d in docs_of(s, again)] == ["changed"]
        (doc,) = docs_of(s, changed)
        info = suppliers.confirm_document_iban(s, doc.id, by="admin@acme.test")
        assert {(i.iban, i.confirmed) for i in info.ibans} == {(DE, False), (GB, True)}
        assert info.open_alerts == 0
    with db.session() as s:
        assert [d.bank_alert for d in docs_of(s, changed)] == ["confirmed"]
        assert [d.bank_alert for d in docs_of(s, again)] == ["confirmed"]
    later = commit_mail(db, ids, ibans=(GB,))
    with db.session() as s:
        assert [d.bank_alert for d in docs_of(s, later)] == [None]
        assert len(bank_events(s)) == 2  # the two flagged documents, none since


def test_fraud_blocks_the_sender_domain_for_the_company(db: Database, ids: dict[str, int]) -> None:
    commit_mail(db, ids, ibans=(DE,))
    changed = commit_mail(db, ids, sender="billing@supplier.test", ibans=(FR,))
    with db.session() as s:
        (doc,) = docs_of(s, changed)
        assert suppliers.mark_fraud(s, doc.id, by="admin@acme.test") == "supplier.test"
    with db.session() as s:
        (doc,) = docs_of(s, changed)
        assert doc.bank_alert == "fraud"
        assert suppliers.blocked_domains(s, ids["company"]) == {
            "supplier.test": f"document #{doc.id} marked as fraud by admin@acme.test"
        }
        (blocked,) = suppliers.blocked_for(s, [ids["company"]])
        assert blocked.document_id == doc.id
        suppliers.unblock(s, ids["company"], "supplier.test")
    with db.session() as s:
        assert suppliers.blocked_domains(s, ids["company"]) == {}
        with pytest.raises(StoreError, match=r"supplier\.test is not blocked for this company"):
            suppliers.unblock(s, ids["company"], "supplier.test")


def test_a_free_mail_sender_is_never_blocked_nor_a_supplier_by_itself(
    db: Database, ids: dict[str, int]
) -> None:
    plain = commit_mail(db, ids, sender="someone@gmail.com", ibans=(DE,))
    invoice = {"seller_name": "Handwerk Meier", "seller_vat_id": "DE 123 456 789"}
    with_vat = commit_mail(db, ids, sender="someone@gmail.com", ibans=(DE,), einvoice=invoice)
    with db.session() as s:
        assert [d.supplier_id for d in docs_of(s, plain)] == [None]
        (supplier,) = suppliers.list_for(s, [ids["company"]])
        assert (supplier.name, supplier.vat_id, supplier.domains) == (
            "Handwerk Meier",
            "DE123456789",
            [],
        )
        assert [d.supplier_id for d in docs_of(s, with_vat)] == [supplier.id]
        (doc,) = docs_of(s, with_vat)
        assert suppliers.mark_fraud(s, doc.id, by="admin") is None
        assert count(s, BlockedSender) == 0


def test_the_vat_id_identifies_a_supplier_across_domains(db: Database, ids: dict[str, int]) -> None:
    invoice = {"seller_name": "Supplier GmbH", "seller_vat_id": "DE123456789"}
    commit_mail(db, ids, sender="billing@supplier.test", einvoice=invoice, ibans=(DE,))
    commit_mail(db, ids, sender="invoices@supplier-group.test", einvoice=invoice, ibans=(DE,))
    commit_mail(db, ids, sender="noreply@mail.supplier.test", ibans=(DE,))  # a subdomain
    with db.session() as s:
        (supplier,) = suppliers.list_for(s, [ids["company"]])
        assert supplier.name == "Supplier GmbH"
        assert supplier.domains == ["supplier-group.test", "supplier.test"]
        assert supplier.documents_count == 3
        assert [(i.iban, i.seen_count) for i in supplier.ibans] == [(DE, 3)]


def test_unauthenticated_or_lookalike_mail_teaches_nothing_but_is_compared(
    db: Database, ids: dict[str, int]
) -> None:
    spoofed = commit_mail(db, ids, sender="billing@supplier.test", sender_auth="fail")
    with db.session() as s:
        assert [d.supplier_id for d in docs_of(s, spoofed)] == [None]  # nobody known yet
        assert count(s, Supplier) == 0
    commit_mail(db, ids, ibans=(DE,))
    spoofed = commit_mail(db, ids, sender="billing@supplier.test", sender_auth="fail", ibans=(GB,))
    lookalike = commit_mail(
        db, ids, sender="billing@supp1ier.test", lookalike_of="supplier.test", ibans=(GB,)
    )
    with db.session() as s:
        assert [d.bank_alert for d in docs_of(s, spoofed)] == ["changed"]
        assert [d.supplier_id for d in docs_of(s, lookalike)] == [None]  # not a supplier
        (supplier,) = suppliers.list_for(s, [ids["company"]])
        assert supplier.domains == ["supplier.test"]
        (note,) = s.scalars(select(Notification).where(Notification.kind == "lookalike_sender"))
        assert note.subject == "invoice-inbox: a sender looks like supplier.test"
        assert "billing@supp1ier.test" in note.body
        row = s.get(Message, lookalike)
        assert row is not None
        suppliers.learn(s, row, company_id=ids["company"])  # once per mail
        assert count(s, Notification, Notification.kind == "lookalike_sender") == 1


def test_an_impostor_domain_is_notified_once_a_day_however_many_mails_it_sends(
    db: Database, ids: dict[str, int]
) -> None:
    def notes(s: Session) -> list[Notification]:
        return list(
            s.scalars(
                select(Notification)
                .where(Notification.kind == "lookalike_sender")
                .order_by(Notification.id)
            )
        )

    commit_mail(db, ids)  # supplier.test is known
    flood = [
        commit_mail(db, ids, sender=f"ar{i}@supp1ier.test", lookalike_of="supplier.test")
        for i in range(5)
    ]
    commit_mail(db, ids, sender="billing@supplier-test.com", lookalike_of="supplier.test")
    with db.session() as s:
        assert [n.body.count("@supp1ier.test") for n in notes(s)] == [1, 0]
        assert "billing@supplier-test.com" in notes(s)[1].body
        for row_id in flood:  # every mail stays flagged on the ledger
            row = s.get(Message, row_id)
            assert row is not None and row.lookalike_of == "supplier.test"
        for n in notes(s):  # a day later ...
            n.created_at = n.created_at - timedelta(hours=25)
    commit_mail(db, ids, sender="ar9@supp1ier.test", lookalike_of="supplier.test")
    with db.session() as s:  # ... the impostor is notified again
        assert len(notes(s)) == 3
        assert "ar9@supp1ier.test" in notes(s)[2].body


def test_a_forwarded_invoice_belongs_to_the_forwarded_mails_sender(
    db: Database, ids: dict[str, int]
) -> None:
    commit_mail(db, ids, sender="ar@parts.test", ibans=(DE,))
    forwarded = commit_mail(
        db, ids, sender="colleague@acme.test", origin_sender="ar@parts.test", ibans=(GB,)
    )
    with db.session() as s:
        (supplier,) = suppliers.list_for(s, [ids["company"]])
        assert supplier.domains == ["parts.test"]  # the colleague's domain is no supplier's
        (doc,) = docs_of(s, forwarded)
        assert (doc.supplier_id, doc.bank_alert) == (supplier.id, "changed")
        assert suppliers.mark_fraud(s, doc.id, by="admin") == "parts.test"


def test_exact_duplicates_are_not_learned(db: Database, ids: dict[str, int]) -> None:
    commit_mail(db, ids, ibans=(DE,))
    copy = commit_mail(db, ids, ibans=(GB,), duplicate_kind="exact")
    with db.session() as s:
        assert [(d.supplier_id, d.bank_alert) for d in docs_of(s, copy)] == [(None, None)]
        assert bank_events(s) == []


def test_known_domains_hold_suppliers_and_allowed_senders_but_no_free_mail(
    db: Database, ids: dict[str, int]
) -> None:
    with db.session() as s:
        assert suppliers.known_domains(s, ids["company"]) == {"supplier.test", "parts.test"}
        assert suppliers.seed_from_allowed_senders(s, ids["company"]) == 2
        assert suppliers.seed_from_allowed_senders(s, ids["company"]) == 0
        names = sorted(x.name for x in suppliers.list_for(s, [ids["company"]]))
        assert names == ["parts.test", "supplier.test"]
    commit_mail(db, ids, sender="ar@parts.test", ibans=(FR,))
    invoice = {"seller_name": "Supplier GmbH", "seller_vat_id": "DE123456789"}
    commit_mail(db, ids, sender="billing@supplier.test", ibans=(DE,), einvoice=invoice)
    with db.session() as s:
        found = {x.name: x for x in suppliers.list_for(s, [ids["company"]])}
        assert sorted(found) == ["Supplier GmbH", "parts.test"]  # named by its invoice now
        parts = found["parts.test"]
        assert parts.documents_count == 1 and [i.iban for i in parts.ibans] == [FR]
        assert found["Supplier GmbH"].vat_id == "DE123456789"


def test_admin_edits_merge_and_their_errors(db: Database, ids: dict[str, int]) -> None:
    commit_mail(db, ids, sender="billing@supplier.test", ibans=(DE,))
    commit_mail(db, ids, sender="billing@supplier-billing.test", ibans=(GB,))
    with db.session() as s:
        a, b = sorted(suppliers.list_for(s, [ids["company"]]), key=lambda x: x.id)
        with pytest.raises(StoreError, match="'DE00 1234' is not a valid IBAN"):
            suppliers.add_iban(s, a.id, "DE00 1234")
        info = suppliers.add_iban(s, a.id, "fr14 2004 1010 0505 0001 3m02 606")
        assert {(i.iban, i.confirmed) for i in info.ibans} == {(DE, False), (FR, True)}
        info = suppliers.confirm_iban(s, a.id, "DE89 3704 0044 0532 0130 00")
        assert all(i.confirmed for i in info.ibans)
        info = suppliers.remove_iban(s, a.id, FR)
        assert [i.iban for i in info.ibans] == [DE]
        with pytest.raises(StoreError, match=f"supplier #{a.id} has no IBAN {FR}"):
            suppliers.remove_iban(s, a.id, FR)
        with pytest.raises(StoreError, match="there is no supplier #999999"):
            suppliers.get(s, 999999)
        with pytest.raises(StoreError, match="there is no document #999999"):
            suppliers.mark_fraud(s, 999999, by="admin")
        with pytest.raises(StoreError, match=r"supplier-billing\.test is a domain of the supplier"):
            suppliers.update(s, a.id, domains=["supplier.test", "supplier-billing.test"])
        with pytest.raises(StoreError, match="'not a domain' is not a domain name"):
            suppliers.update(s, a.id, domains=["not a domain"])
        info = suppliers.update(
            s, a.id, name=" Supplier GmbH ", vat_id="de 999", domains=["*@supplier.test", "s.test"]
        )
        assert (info.name, info.vat_id, info.domains) == (
            "Supplier GmbH",
            "DE999",
            ["s.test", "supplier.test"],
        )
        with pytest.raises(StoreError, match="cannot be merged with itself"):
            suppliers.merge(s, a.id, a.id)
        merged = suppliers.merge(s, a.id, b.id)
        assert merged.domains == ["s.test", "supplier-billing.test", "supplier.test"]
        assert {i.iban for i in merged.ibans} == {DE, GB}
        assert merged.documents_count == 2
        assert merged.first_seen == min(a.first_seen, b.first_seen)
        assert [x.id for x in suppliers.list_for(s, [ids["company"]])] == [a.id]
        assert count(s, Document, Document.supplier_id == a.id) == 2
