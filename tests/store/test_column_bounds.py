"""Values fit their columns on every database: PostgreSQL refuses text longer than a VARCHAR
and integers beyond 32 bits in an INTEGER, where SQLite keeps both. Text from mail is shortened,
text a person typed is refused in one sentence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from invoice_inbox.cli import app as cli
from invoice_inbox.runtime.context import App
from invoice_inbox.store import bounded, ledger
from invoice_inbox.store.models import Company, Document, Message, Run, Source

MAX_UINT32 = 2**32 - 1  # RFC 3501: UIDs and UIDVALIDITY are 32-bit unsigned (nz-number)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    a = App.open(tmp_path / "data")
    yield a
    a.close()


def _source(app: App) -> tuple[int, int, int]:
    with app.db.session() as s:
        company = Company(name="ACME")
        s.add(company)
        s.flush()
        source = Source(name="ap", company_id=company.id, host="h", port=993, username="u")
        s.add(source)
        s.flush()
        run = Run(source_id=source.id, trigger="manual")
        s.add(run)
        s.flush()
        return company.id, source.id, run.id


def _message(source_id: int, run_id: int, uid: int, **fields: object) -> Message:
    base: dict[str, object] = dict(
        source_id=source_id,
        run_id=run_id,
        folder="INBOX",
        uidvalidity=1,
        uid=uid,
        raw_sha256=f"{uid:064x}",
        raw_size=1,
        subject="s",
        decision="import",
        reason="r",
        hits=[],
    )
    return Message(**{**base, **fields})


def test_imap_uids_and_uidvalidity_up_to_32_bits_are_kept(app: App) -> None:
    _, source_id, run_id = _source(app)
    with app.db.session() as s:
        s.add(_message(source_id, run_id, MAX_UINT32, uidvalidity=MAX_UINT32))
        state = ledger.folder_state(s, source_id, "INBOX")
        state.uidvalidity, state.last_uid, state.uidnext = MAX_UINT32, MAX_UINT32 - 1, MAX_UINT32
    with app.db.session() as s:
        row = s.execute(select(Message)).scalar_one()
        assert (row.uidvalidity, row.uid) == (MAX_UINT32, MAX_UINT32)
        state = ledger.folder_state(s, source_id, "INBOX")
        assert (state.uidvalidity, state.last_uid, state.uidnext) == (
            MAX_UINT32,
            MAX_UINT32 - 1,
            MAX_UINT32,
        )


def test_mail_text_longer_than_its_column_is_stored_shortened_and_distinct(app: App) -> None:
    company_id, source_id, run_id = _source(app)
    long_a = "billing-" + "x" * 400 + "-a@supplier.example"
    long_b = "billing-" + "x" * 400 + "-b@supplier.example"
    key = "DE123456789|" + "INV-" * 150 + "|380"
    with app.db.session() as s:
        for uid, sender in ((1, long_a), (2, long_b), (3, "ap@acme.example")):
            s.add(_message(source_id, run_id, uid, sender=sender))
        s.flush()
        first = s.scalar(select(Message.id).where(Message.uid == 1))
        s.add(
            Document(
                message_id=first,
                company_id=company_id,
                sha256="f" * 64,
                size=1,
                media_type="application/xml",
                filename="invoice.xml",
                kind="xrechnung",
                einvoice_key=key,
                origin_sender=long_b,
            )
        )
    length = bounded.column_length(Message.sender)
    with app.db.session() as s:
        a, b, short = s.scalars(select(Message.sender).order_by(Message.uid)).all()
        assert short == "ap@acme.example"  # what fits is untouched
        assert a and b and a != b and len(a) == len(b) == length
        assert a.startswith("billing-xxxx") and a == bounded.fit(long_a, length)
        doc = s.execute(select(Document)).scalar_one()
        assert doc.einvoice_key == bounded.fit(key, bounded.column_length(Document.einvoice_key))
        assert doc.origin_sender == b
        # a later copy of the invoice gets the same key, so it is found as a probable duplicate
        probe = Document(einvoice_key=key)
        assert probe.einvoice_key == doc.einvoice_key


def test_typed_text_longer_than_its_column_is_refused_in_one_sentence(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = CliRunner().invoke(cli, ["--data-dir", str(data), "company", "add", "C" * 201])
    assert r.exit_code == 1
    assert (
        r.stderr.splitlines()[-1] == "error: the company name is too long: at most 200 characters"
    )
    assert "Traceback" not in r.stderr
    r = CliRunner().invoke(cli, ["--data-dir", str(data), "company", "add", "C" * 200])
    assert r.exit_code == 0, r.stderr
    a = App.open(data)
    try:
        with a.db.session() as s:
            assert s.scalars(select(Company.name)).all() == ["C" * 200]
    finally:
        a.close()
