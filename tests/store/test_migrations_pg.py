"""Schema migrations on both databases: an empty PostgreSQL database migrates to exactly the
models' schema; a database of the last release (revision 0009) keeps its rows through the
upgrade to head, on SQLite and PostgreSQL; and processes migrating one empty PostgreSQL
database at once take turns (advisory lock) instead of failing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from invoice_inbox.runtime.context import App
from invoice_inbox.store.db import DB_FILE, Database, alembic_config, make_engine
from invoice_inbox.store.models import ApiToken, Base, Company, Document, Message, Run, Source, User
from invoice_inbox.store.models_events import Webhook

LAST_RELEASE = "0009"

# One of each kind of row a 0009 database holds, in plain SQL both databases take; ids come
# from the database, as the application lets them ({company} etc.: the one row's id).
RELEASE_0009_ROWS = [
    "INSERT INTO company (name, created_at, import_token, notify_emails)"
    " VALUES ('ACME Ltd', '2026-11-02 08:00:00', 'acme-k7p2q9', '[\"ap@acme.example\"]')",
    "INSERT INTO app_user (email, password_hash, role, active, created_at, time_zone)"
    " VALUES ('clerk@acme.example', '$argon2id$v=19$x', 'clerk', TRUE,"
    " '2026-11-02 08:01:00', 'Europe/Berlin')",
    "INSERT INTO user_company (user_id, company_id) VALUES ({app_user}, {company})",
    "INSERT INTO api_token (user_id, name, token_sha256, prefix, created_at)"
    " VALUES ({app_user}, 'erp', '" + "a" * 64 + "', 'ii_abcd', '2026-11-02 08:02:00')",
    "INSERT INTO source (name, description, company_id, active, provider, host, port,"
    " security, username, folders, unread_only, allowed_senders, require_attachment,"
    " require_pdf, created_at, updated_at, schedule, recheck_wanted, recheck_done)"
    " VALUES ('ap-inbox', 'AP mailbox', {company}, TRUE, 'imap', 'imap.acme.example', 993,"
    " 'tls', 'ap@acme.example', '[\"INBOX\", \"Rechnungen\"]', FALSE,"
    " '[\"billing@supplier.example\"]', TRUE, TRUE, '2026-11-02 08:03:00',"
    " '2026-11-03 09:00:00', 'every 15m', 2, 1)",
    "INSERT INTO folder_state (source_id, folder, uidvalidity, last_uid, updated_at)"
    " VALUES ({source}, 'INBOX', 1700000000, 42, '2026-11-03 09:00:00')",
    "INSERT INTO run (source_id, trigger, status, started_at, finished_at, messages_seen,"
    " imported, not_imported, quarantined, duplicates, documents_created, errors)"
    " VALUES ({source}, 'schedule', 'succeeded', '2026-11-03 09:00:00',"
    " '2026-11-03 09:00:02.5', 1, 1, 0, 0, 0, 1, 0)",
    "INSERT INTO message (source_id, run_id, folder, uidvalidity, uid, raw_sha256, raw_size,"
    " message_id, sender, subject, sent_at, received_at, decision, reason, hits, state, filed_to)"
    " VALUES ({source}, {run}, 'INBOX', 1700000000, 42, '" + "b" * 64 + "', 5120,"
    " '<inv-1@supplier>', 'billing@supplier.example', 'Rechnung INV-1 für Oktober',"
    " '2026-11-03 08:59:00', '2026-11-03 09:00:01', 'import', 'allowed sender',"
    " '[\"sender\"]', 'disposed', 'Imported')",
    "INSERT INTO document (message_id, company_id, sha256, size, media_type, filename, kind,"
    " created_at, einvoice, origin_sender)"
    " VALUES ({message}, {company}, '" + "c" * 64 + "', 2048, 'application/pdf', 'INV-1.pdf',"
    " 'pdf', '2026-11-03 09:00:01', '{{\"invoice_number\": \"INV-1\"}}',"
    " 'billing@supplier.example')",
    "INSERT INTO event (company_id, kind, payload, created_at, dispatched)"
    " VALUES ({company}, 'document.created', '{{\"document_id\": 1}}',"
    " '2026-11-03 09:00:01', TRUE)",
    "INSERT INTO webhook (company_id, url, events, secret, description, active, created_at)"
    " VALUES ({company}, 'https://erp.acme.example/hook', '[\"document.created\"]', 'whsec',"
    " 'ERP', TRUE, '2026-11-02 08:04:00')",
    "INSERT INTO webhook_delivery (webhook_id, event_id, state, attempts, last_status,"
    " created_at, delivered_at)"
    " VALUES ({webhook}, {event}, 'delivered', 1, 200, '2026-11-03 09:00:01',"
    " '2026-11-03 09:00:03')",
    "INSERT INTO notification (company_id, source_id, kind, subject, body, created_at,"
    " email_state, webhook_state, attempts)"
    " VALUES ({company}, {source}, 'source.failing', 'ap-inbox fails', 'login refused',"
    " '2026-11-03 10:00:00', 'sent', 'none', 1)",
    "INSERT INTO setting (key, value) VALUES ('smtp.host', 'mail.acme.example')",
]
_ONE_ID = {
    t: f"(SELECT id FROM {t})"
    for t in ("company", "app_user", "source", "run", "message", "webhook", "event")
}


def _head() -> str:
    return str(
        ScriptDirectory.from_config(alembic_config(make_engine("sqlite://"))).get_current_head()
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def app_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty database of either kind, which App.open(tmp_path / "data") will open."""
    if request.param == "sqlite":
        monkeypatch.delenv("INVOICE_INBOX_DATABASE_URL", raising=False)
        (tmp_path / "data").mkdir(mode=0o700)
        return f"sqlite:///{tmp_path / 'data' / DB_FILE}"
    url: str = request.getfixturevalue("pg_empty_url")
    monkeypatch.setenv("INVOICE_INBOX_DATABASE_URL", url)
    return url


def test_empty_postgresql_migrates_to_the_models_schema(pg_empty_url: str) -> None:
    db = Database(pg_empty_url)
    try:
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version == _head()
    finally:
        db.close()


def test_a_last_release_database_keeps_its_rows_through_the_upgrade(
    app_url: str, tmp_path: Path
) -> None:
    engine = make_engine(app_url)
    command.upgrade(alembic_config(engine), LAST_RELEASE)
    with engine.begin() as conn:
        for sql in RELEASE_0009_ROWS:
            conn.execute(text(sql.format(**_ONE_ID).replace(":", r"\:")))
    engine.dispose()

    app = App.open(tmp_path / "data")  # migrates to head
    try:
        with app.db.session() as s:
            assert s.scalar(text("SELECT version_num FROM alembic_version")) == _head()
            company = s.execute(select(Company)).scalar_one()
            assert (company.name, company.notify_emails) == ("ACME Ltd", ["ap@acme.example"])
            assert company.created_at.tzinfo is not None
            source = s.execute(select(Source)).scalar_one()
            assert source.folders == ["INBOX", "Rechnungen"]
            assert source.allowed_senders == ["billing@supplier.example"]
            assert (source.active, source.unread_only, source.schedule) == (
                True,
                False,
                "every 15m",
            )
            assert (source.recheck_wanted, source.recheck_done) == (2, 1)
            message = s.execute(select(Message)).scalar_one()
            assert message.subject == "Rechnung INV-1 für Oktober"
            assert (message.uid, message.hits) == (42, ["sender"])
            document = s.execute(select(Document)).scalar_one()
            assert document.filename == "INV-1.pdf"
            assert document.einvoice == {"invoice_number": "INV-1"}
            run = s.execute(select(Run)).scalar_one()
            assert run.finished_at is not None
            assert (run.finished_at - run.started_at).total_seconds() == 2.5
            user = s.execute(select(User)).scalar_one()
            assert (user.email, user.time_zone) == ("clerk@acme.example", "Europe/Berlin")
            assert [c.name for c in user.companies] == ["ACME Ltd"]
            assert s.execute(select(ApiToken)).scalar_one().prefix == "ii_abcd"
            assert s.execute(select(Webhook)).scalar_one().events == ["document.created"]
            # the new schema takes new rows next to the old ones
            s.add(Company(name="Globex"))
        with app.db.session() as s:
            assert s.scalars(select(Company.name).order_by(Company.id)).all() == [
                "ACME Ltd",
                "Globex",
            ]
    finally:
        app.close()


_MIGRATE = textwrap.dedent(
    """
    import sys
    from invoice_inbox.store.db import Database
    print("ready", flush=True)
    sys.stdin.readline()  # all start migrating together, their imports done
    Database(sys.argv[1]).close()
    """
)


def test_three_processes_migrating_one_empty_database_at_once_all_succeed(
    pg_empty_url: str,
) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _MIGRATE, pg_empty_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results = [p.communicate(timeout=120) for p in procs]
    codes = [p.returncode for p in procs]
    assert codes == [0, 0, 0], "\n".join(err for _, err in results)
    engine = make_engine(pg_empty_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [v for (v,) in versions] == [_head()]
    finally:
        engine.dispose()
